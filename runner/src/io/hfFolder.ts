/**
 * Hugging Face style model folders: `config.json` + `model.safetensors` (or a sharded
 * `model.safetensors.index.json` + shards), as `save_pretrained` writes them. Reading gives
 * the config (loosely typed: each architecture's loader checks the keys it needs) and the
 * weights as float32 arrays; writing produces a folder transformers can load back (it
 * requires `__metadata__.format`, so "pt" is written unless told otherwise).
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SpruftError } from '../errors';
import { writeFolderAtomic, type FolderFile } from './atomicWrite';
import { readJsonFile } from './jsonText';
import {
  existingCheckpointFiles,
  planSafetensorsCheckpoint,
  readSafetensorsCheckpoint,
  readSafetensorsCheckpointHeader,
  type SafetensorsDtype,
  type SafetensorsFloatDtype,
  type SafetensorsTensor,
} from './safetensors';

/** The parsed `config.json`: architecture keys vary, so the engine's loaders check them. */
export type HfConfig = Record<string, unknown>;

/** A floating-point weight, widened to float32 whatever its stored dtype. */
export interface HfTensor {
  shape: number[];
  data: Float32Array;
  /** How the file stores it (F32, F16 or BF16). */
  storedAs: SafetensorsFloatDtype;
}

export interface HfModel {
  dir: string;
  config: HfConfig;
  /** Floating-point tensors (the weights), in file order. */
  tensors: Map<string, HfTensor>;
  /** Integer and boolean tensors (e.g. `position_ids` buffers), kept as they are. */
  buffers: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

export interface HfTensorHeader {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** The .safetensors file it lives in. */
  file: string;
}

export interface HfHeader {
  dir: string;
  config: HfConfig;
  tensors: HfTensorHeader[];
  /** Elements of the floating-point tensors. */
  parameterCount: number;
  metadata: Record<string, string>;
  files: string[];
}

export const HF_CONFIG_NAME = 'config.json';

function checkFolder(dir: string): void {
  if (!existsSync(dir)) throw new SpruftError('FILE_NOT_FOUND', 'model folder not found; check model.path', dir);
  if (!statSync(dir).isDirectory()) {
    throw new SpruftError('MODEL_INVALID', 'a Hugging Face model is a folder (config.json + model.safetensors); give the folder, not a file', dir);
  }
}

/** `config.json` of a model folder; bad JSON is MODEL_INVALID at `config.json:line:col`. */
export function readHfConfig(dir: string): HfConfig {
  checkFolder(dir);
  const path = join(dir, HF_CONFIG_NAME);
  if (!existsSync(path)) {
    throw new SpruftError('FILE_NOT_FOUND', 'config.json not found: a Hugging Face model folder needs config.json beside model.safetensors', path);
  }
  const json = readJsonFile(path, 'MODEL_INVALID', 'config.json');
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new SpruftError('MODEL_INVALID', 'config.json must hold a JSON object (e.g. {"model_type": ..., "hidden_size": ...})', path);
  }
  return json as HfConfig;
}

/** Config plus tensor names, dtypes and shapes, without reading any weights. */
export function readHfHeader(dir: string): HfHeader {
  const config = readHfConfig(dir);
  const header = readSafetensorsCheckpointHeader(dir);
  const tensors: HfTensorHeader[] = [];
  let parameterCount = 0;
  for (const info of header.tensors.values()) {
    tensors.push({ name: info.name, dtype: info.dtype, shape: info.shape, file: info.file });
    if (info.dtype === 'F32' || info.dtype === 'F16' || info.dtype === 'BF16') {
      parameterCount += info.shape.reduce((a, b) => a * b, 1);
    }
  }
  return { dir, config, tensors, parameterCount, metadata: header.metadata, files: header.files };
}

export interface ReadHfOptions {
  /** Only these tensors (e.g. the layers a run targets). */
  names?: Iterable<string>;
}

export function readHfFolder(dir: string, options: ReadHfOptions = {}): HfModel {
  const config = readHfConfig(dir);
  const file = readSafetensorsCheckpoint(dir, options);
  const tensors = new Map<string, HfTensor>();
  const buffers = new Map<string, SafetensorsTensor>();
  for (const [name, t] of file.tensors) {
    if (t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16') tensors.set(name, { shape: t.shape, data: t.data, storedAs: t.dtype });
    else buffers.set(name, t);
  }
  return { dir, config, tensors, buffers, metadata: file.metadata };
}

export interface WriteHfOptions {
  config: HfConfig;
  /** Float32 weights; written as `dtype`. */
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
  /** Integer/boolean tensors written as they are. */
  buffers?: Map<string, SafetensorsTensor>;
  /** How to store the weights (default F32). */
  dtype?: SafetensorsFloatDtype;
  /** Per-weight dtypes (e.g. as the source checkpoint stored them); others get `dtype`. */
  dtypes?: Map<string, SafetensorsFloatDtype>;
  /** Added to `{format: "pt"}`. */
  metadata?: Record<string, string>;
  /** Shard the weights like save_pretrained (default: one file up to 5 GB, its default). */
  maxShardBytes?: number;
  /** Other files of the folder (the tokenizer's), written in the same atomic step. */
  extraFiles?: FolderFile[];
}

/** JSON as transformers writes config.json: sorted keys, 2-space indent, final newline. */
function configText(config: HfConfig): string {
  const sortKeys = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sortKeys);
    if (typeof v !== 'object' || v === null) return v;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = sortKeys((v as Record<string, unknown>)[k]);
    return out;
  };
  return JSON.stringify(sortKeys(config), null, 2) + '\n';
}

/**
 * Write a model folder: the checkpoint first, `config.json` last. A new folder appears
 * complete or not at all; in an existing folder each file is replaced atomically, other
 * files (tokenizer, README) are left alone, and checkpoint files of an earlier export that
 * this one does not replace are removed. Returns the file names written.
 */
export function writeHfFolder(dir: string, options: WriteHfOptions): string[] {
  const dtype = options.dtype ?? 'F32';
  const all = new Map<string, SafetensorsTensor>();
  for (const [name, t] of options.tensors) all.set(name, { dtype: options.dtypes?.get(name) ?? dtype, shape: t.shape, data: t.data });
  for (const [name, t] of options.buffers ?? []) {
    if (all.has(name)) throw new SpruftError('MODEL_INVALID', `tensor '${name}' is given both as a weight and as a buffer`, dir);
    all.set(name, t);
  }
  const files = planSafetensorsCheckpoint(
    all,
    { maxShardBytes: options.maxShardBytes ?? 5e9, metadata: { format: 'pt', ...options.metadata } },
    dir,
  );
  const config = configText(options.config);
  files.push(...(options.extraFiles ?? []), { name: HF_CONFIG_NAME, chunks: () => [config] });
  writeFolderAtomic(dir, files, existingCheckpointFiles(dir));
  return files.map((f) => f.name);
}
