/**
 * Which reader a model path needs (no TensorFlow.js here: the language server and
 * `spruft check` use it).
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelFormat } from '../../../protocol/config';
import { SpruftError } from '../errors';

export function detectFormat(path: string, format: ModelFormat = 'auto'): 'hf' | 'tfjs-layers' {
  if (format !== 'auto') return format;
  if (path.startsWith('npm:')) return 'tfjs-layers';
  if (!existsSync(path)) throw new SpruftError('FILE_NOT_FOUND', 'model not found; model.path must name a model folder, a model.json, or npm:<package>/<model>', path);
  if (statSync(path).isDirectory()) {
    if (existsSync(join(path, 'config.json'))) return 'hf';
    if (existsSync(join(path, 'model.json'))) return 'tfjs-layers';
    throw new SpruftError('MODEL_INVALID', 'the folder holds neither config.json (Hugging Face) nor model.json (TensorFlow.js)', path);
  }
  return 'tfjs-layers';
}
