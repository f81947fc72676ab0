/**
 * `spruft merge`: fold one or more adapters into their base model (SPruFT:
 * W[idx] += W_f; LoRA: W += (alpha/r) B A) and export the merged model in the base
 * model's format. Several adapters must all have been trained on the same base: each
 * is checked against the unmerged base before any is applied.
 */
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ResolvedRunConfig } from '../../../protocol/config';
import type { MergeResult } from '../../../protocol/rpc';
import { RUN_FILES } from '../../../protocol/runFolder';
import { SpruftError } from '../errors';
import { applyAdapter, exportModel, mergeTraining, readAdapterConfig } from '../engine/adapterIO';
import { loadModel } from '../models/load';
import { configDir } from '../io/npmPackage';
import { ensureBackend } from './session';

/** What a model folder holds beside the weights that transformers reads back with it. */
const TOKENIZER_FILES = [
  'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt', 'vocab.txt',
  'tokenizer.model', 'added_tokens.json', 'generation_config.json',
];

/** The merged folder is a complete model: its tokenizer files come along (unchanged). */
function copyTokenizerFiles(fromDir: string, outDir: string): void {
  for (const f of TOKENIZER_FILES) {
    const src = join(fromDir, f);
    if (existsSync(src)) copyFileSync(src, join(outDir, f));
  }
}

function adapterDirOf(runDir: string): string {
  const inside = join(runDir, RUN_FILES.adapterDir);
  return existsSync(inside) ? inside : runDir;
}

export async function mergeRuns(runDirs: string[], outDir: string): Promise<MergeResult> {
  if (runDirs.length === 0) throw new SpruftError('CONFIG_INVALID', 'name at least one run folder to merge');
  const configPath = join(runDirs[0], RUN_FILES.config);
  if (!existsSync(configPath)) throw new SpruftError('FILE_NOT_FOUND', `not a run folder (no ${RUN_FILES.config})`, runDirs[0]);
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as ResolvedRunConfig;
  await ensureBackend(config.backend);
  const model = loadModel(config.model.path, { format: config.model.format, cutAt: config.model.cutAt, seed: config.training.seed, from: configDir(config) });
  try {
    const base = model.fingerprint();
    for (const dir of runDirs) {
      const adapter = readAdapterConfig(adapterDirOf(dir));
      if (adapter.baseModel.fingerprint !== base) {
        throw new SpruftError('ADAPTER_INVALID', `trained on another base model than ${config.model.path} (fingerprints differ); merge adapters of one base only`, dir);
      }
    }
    let mergedLayers = 0;
    for (const dir of runDirs) {
      applyAdapter(adapterDirOf(dir), model, { strict: false });
      mergedLayers += mergeTraining(model);
    }
    const format = exportModel(model, outDir);
    if (format === 'hf') copyTokenizerFiles(config.model.path, outDir);
    return { outDir, format, mergedLayers };
  } finally {
    model.dispose();
  }
}
