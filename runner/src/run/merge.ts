/**
 * `spruft merge`: fold one or more adapters into their base model (SPruFT:
 * W[idx] += W_f; LoRA: W += (alpha/r) B A) and export the merged model in the base
 * model's format. Several adapters must all have been trained on the same base: each
 * is checked against the unmerged base (its content hash, recorded in the adapter)
 * before any is applied. The output may not be, hold or lie inside the base model's
 * folder unless forced: a merged model written over its base destroys the base, and
 * every adapter of it then no longer fits.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import type { ResolvedRunConfig } from '../../../protocol/config';
import type { MergeResult } from '../../../protocol/rpc';
import { parseByteSize } from '../../../protocol/format';
import type { FolderFile } from '../io/atomicWrite';
import { RUN_FILES } from '../../../protocol/runFolder';
import { SpruftError } from '../errors';
import { applyAdapter, baseMismatchMessage, exportModel, mergeTraining, readAdapterConfig } from '../engine/adapterIO';
import { resolveModelSource } from '../io/tfjsLayers';
import { detectFormat } from '../models/format';
import { loadModel } from '../models/load';
import { configDir } from '../io/npmPackage';
import { ensureBackend, readResolved } from './session';

/** What a model folder holds beside the weights that transformers reads back with it. */
const TOKENIZER_FILES = [
  'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt', 'vocab.txt',
  'tokenizer.model', 'added_tokens.json', 'generation_config.json',
];

/** The merged folder is a complete model: its tokenizer files come along (unchanged), written with the weights. */
function tokenizerFiles(fromDir: string): FolderFile[] {
  return TOKENIZER_FILES.filter((f) => existsSync(join(fromDir, f))).map((f) => ({ name: f, chunks: () => [readFileSync(join(fromDir, f))] }));
}

/** The largest shard of a merged checkpoint: the request's, else the run config's `output.maxShardSize`, else 5GB. */
export function maxShardBytesOf(requested: number | string | undefined, config: ResolvedRunConfig): number {
  const value = requested ?? config.output.maxShardSize ?? DEFAULT_MAX_SHARD_SIZE;
  const bytes = parseByteSize(value);
  if (bytes === undefined) {
    throw new SpruftError('CONFIG_INVALID', `max shard size ${JSON.stringify(value)} is not a size: give bytes or a number with KB, MB, GB (10^3...) or KiB, MiB, GiB (2^10...), e.g. "5GB"${requested === undefined ? ' (output.maxShardSize of the run config)' : ''}`);
  }
  return bytes;
}

/** transformers' `save_pretrained` default. */
const DEFAULT_MAX_SHARD_SIZE = '5GB';

function adapterDirOf(runDir: string): string {
  const inside = join(runDir, RUN_FILES.adapterDir);
  return existsSync(inside) ? inside : runDir;
}

/** The real path of `path`, which may not exist yet: its nearest existing folder's, resolved, plus the rest. */
function realPathOf(path: string): string {
  const absolute = resolve(path);
  let existing = absolute;
  const rest: string[] = [];
  while (!existsSync(existing)) {
    const parent = dirname(existing);
    if (parent === existing) break;
    rest.unshift(basename(existing));
    existing = parent;
  }
  return join(realpathSync(existing), ...rest);
}

/** Whether `inner` is `outer` or lies inside it. */
function isWithin(inner: string, outer: string): boolean {
  const rel = relative(outer, inner);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !rel.startsWith(sep) && !/^[a-zA-Z]:/.test(rel));
}

/** The folder that holds a config's base model files. */
export function baseModelFolder(config: ResolvedRunConfig): string {
  const format = detectFormat(config.model.path, config.model.format);
  if (format === 'hf') return config.model.path;
  return resolveModelSource(config.model.path, { from: configDir(config) }).dir;
}

/** Refuse an output that is, holds, or lies inside the base model's folder (unless `force`). */
export function checkMergeOutput(outDir: string, baseDir: string, force: boolean): void {
  if (force) return;
  const out = realPathOf(outDir);
  const base = realPathOf(baseDir);
  const relation = out === base ? 'is' : isWithin(out, base) ? 'lies inside' : isWithin(base, out) ? 'holds' : undefined;
  if (!relation) return;
  throw new SpruftError(
    'CONFIG_INVALID',
    `the output ${relation} the base model's folder ${baseDir}: the merged model would overwrite the base (and every adapter of it would no longer fit). Choose another --out, or add --force to write there anyway`,
    outDir,
  );
}

export async function mergeRuns(runDirs: string[], outDir: string, options: { force?: boolean; maxShardSize?: number | string } = {}): Promise<MergeResult> {
  if (runDirs.length === 0) throw new SpruftError('CONFIG_INVALID', 'name at least one run folder to merge');
  const config = readResolved(runDirs[0]);
  const maxShardBytes = maxShardBytesOf(options.maxShardSize, config);
  // Before anything is loaded or written.
  checkMergeOutput(outDir, baseModelFolder(config), options.force === true);
  for (const dir of runDirs.slice(1)) checkMergeOutput(outDir, baseModelFolder(readResolved(dir)), options.force === true);
  await ensureBackend(config.backend);
  const model = loadModel(config.model.path, { format: config.model.format, cutAt: config.model.cutAt, seed: config.training.seed, from: configDir(config) });
  try {
    const base = model.fingerprint();
    for (const dir of runDirs) {
      const adapter = readAdapterConfig(adapterDirOf(dir));
      if (adapter.baseModel.fingerprint !== base) {
        throw new SpruftError('ADAPTER_INVALID', `${baseMismatchMessage(adapter.baseModel, config.model.path, base)}; merge adapters of one base only`, dir);
      }
    }
    let mergedLayers = 0;
    for (const dir of runDirs) {
      applyAdapter(adapterDirOf(dir), model, { strict: false });
      mergedLayers += mergeTraining(model);
    }
    const format = exportModel(model, outDir, { maxShardBytes, extraFiles: model.format === 'hf' ? tokenizerFiles(config.model.path) : [] });
    return { outDir, format, mergedLayers };
  } finally {
    model.dispose();
  }
}
