/**
 * The tokenizer of a model: its folder's Hugging Face tokenizer files when it has them,
 * the project's byte tokenizer for the project's own models, and otherwise an error that
 * names the folder (a real pretrained model fed byte ids would train on nonsense).
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SpruftError } from '../../errors';
import { readJsonFile } from '../../io/jsonText';
import { ByteTokenizer } from '../text';
import { hasHfTokenizer, readHfTokenizer } from './hfTokenizer';
import type { TextTokenizer } from './types';

export { HfTokenizer, readHfTokenizer, hasHfTokenizer } from './hfTokenizer';
export * from './types';

const BYTE_IDS = { pad_token_id: ByteTokenizer.PAD, bos_token_id: ByteTokenizer.BOS, eos_token_id: ByteTokenizer.EOS } as const;

export type TokenizerSource =
  | { kind: 'hf' }
  | { kind: 'byte'; why: string }
  | { kind: 'missing'; message: string };

/**
 * Which tokenizer a model folder gets, read from its files without building it (what the
 * language server checks as you type). The byte tokenizer serves a model whose
 * config.json names the byte tokenizer's special ids (256 PAD, 257 BOS, 258 EOS; the
 * project's pretrained models) or names none at all (the project's random test models);
 * a config that names other special ids belongs to a model trained with another tokenizer.
 */
export function tokenizerSource(modelDir: string): TokenizerSource {
  if (!existsSync(modelDir) || !statSync(modelDir).isDirectory()) {
    return { kind: 'missing', message: `${modelDir} is not a model folder, so it has no tokenizer files` };
  }
  if (hasHfTokenizer(modelDir)) return { kind: 'hf' };
  if (existsSync(join(modelDir, 'tokenizer.model'))) {
    return { kind: 'missing', message: 'only a SentencePiece tokenizer.model is here, which is not read; save the tokenizer with transformers (a fast tokenizer) to get tokenizer.json' };
  }
  const configPath = join(modelDir, 'config.json');
  const config = existsSync(configPath) ? (readJsonFile(configPath, 'MODEL_INVALID', 'model config') as Record<string, unknown>) : {};
  const vocab = typeof config.vocab_size === 'number' ? config.vocab_size : 0;
  const named = (Object.keys(BYTE_IDS) as Array<keyof typeof BYTE_IDS>).filter((k) => typeof config[k] === 'number');
  const foreign = named.filter((k) => config[k] !== BYTE_IDS[k]);
  const noTokenizer = 'it has no tokenizer.json (nor vocab.json + merges.txt, nor vocab.txt)';
  if (foreign.length > 0) {
    return { kind: 'missing', message: `${noTokenizer}, and its config.json names special tokens of another tokenizer (${foreign.map((k) => `${k} ${String(config[k])}`).join(', ')}); copy the model's tokenizer files into the folder` };
  }
  if (vocab < ByteTokenizer.VOCAB_SIZE) {
    return { kind: 'missing', message: `${noTokenizer}, and its vocabulary (${vocab}) is smaller than the byte tokenizer's (${ByteTokenizer.VOCAB_SIZE}); copy the model's tokenizer files into the folder` };
  }
  return { kind: 'byte', why: named.length ? 'config.json names the byte tokenizer\'s special ids' : 'no tokenizer files and no special ids: a project model' };
}

const TOKENIZER_FILE_NAMES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt', 'vocab.txt'];
const loaded = new Map<string, { stamp: string; tokenizer: TextTokenizer }>();

/**
 * The tokenizer of a model folder (see `tokenizerSource`); throws naming the folder when it
 * has none. Built once per folder and kept while its tokenizer files are unchanged (a run
 * asks for it for its data and again for its multiple-choice tasks; GPT-2's takes ~0.5 s).
 */
export function loadTokenizer(modelDir: string): TextTokenizer {
  const source = tokenizerSource(modelDir);
  if (source.kind === 'missing') throw new SpruftError('MODEL_INVALID', `this task needs a tokenizer: ${source.message}`, modelDir);
  if (source.kind === 'byte') return new ByteTokenizer();
  const stamp = TOKENIZER_FILE_NAMES.map((f) => {
    const p = join(modelDir, f);
    return existsSync(p) ? `${f}:${statSync(p).mtimeMs}:${statSync(p).size}` : '';
  }).join('|');
  const cached = loaded.get(modelDir);
  if (cached?.stamp === stamp) return cached.tokenizer;
  const tokenizer = readHfTokenizer(modelDir)!;
  loaded.set(modelDir, { stamp, tokenizer });
  return tokenizer;
}
