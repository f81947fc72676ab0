/**
 * Loading models: a Hugging Face style folder, a TensorFlow.js layers model.json, or an
 * `npm:` model reference.
 */
import { basename, join } from 'node:path';
import { detectFormat } from './format';
import type { ModelFormat } from '../../../protocol/config';
import { SpruftError } from '../errors';
import { readHfFolder, readHfHeader } from '../io/hfFolder';
import { checkHfHeader } from './inspect';
import { readLayersModel } from '../io/tfjsLayers';
import { KerasGraphModel } from './keras';
import { BertModel, type BertConfig } from './bert';
import { Gpt2Model, type Gpt2Config } from './gpt2';
import { LlamaModel, type LlamaConfig } from './llama';
import { MlpModel, type MlpConfig } from './mlp';
import type { Model, RawWeights } from './model';
import { VitModel, type VitConfig } from './vit';

/** config.json model_type -> the model class that reads it. */
const HF_ARCHITECTURES: Record<string, (name: string, path: string, config: Record<string, unknown>, raw: RawWeights) => Model> = {
  vit: (n, p, c, r) => new VitModel(n, p, c as VitConfig, r),
  llama: (n, p, c, r) => new LlamaModel(n, p, c as LlamaConfig, r),
  mistral: (n, p, c, r) => new LlamaModel(n, p, c as LlamaConfig, r),
  qwen2: (n, p, c, r) => new LlamaModel(n, p, c as LlamaConfig, r),
  gpt2: (n, p, c, r) => new Gpt2Model(n, p, c as Gpt2Config, r),
  bert: (n, p, c, r) => new BertModel(n, p, c as BertConfig, r),
  roberta: (n, p, c, r) => new BertModel(n, p, c as BertConfig, r),
  'spruft-mlp': (n, p, c, r) => new MlpModel(n, p, c as MlpConfig, r),
};

/** A Hugging Face model from its config and weights (a folder's, or a worker's copy). */
export function buildHfModel(name: string, path: string, config: Record<string, unknown>, raw: RawWeights): Model {
  const type = config.model_type;
  const make = typeof type === 'string' && Object.prototype.hasOwnProperty.call(HF_ARCHITECTURES, type) ? HF_ARCHITECTURES[type] : undefined;
  if (!make) {
    throw new SpruftError('UNSUPPORTED', `config.json: model_type "${String(type)}" is not supported (supported: ${Object.keys(HF_ARCHITECTURES).join(', ')})`, join(path, 'config.json'));
  }
  return make(name, path, config, raw);
}

export interface LoadOptions {
  format?: ModelFormat;
  cutAt?: string;
  /** Labels of a new head when the graph is cut. */
  numLabels?: number;
  seed?: number;
  /** Folder to look for npm packages from first (the run config's). */
  from?: string;
}

export function loadModel(path: string, options: LoadOptions = {}): Model {
  const format = detectFormat(path, options.format);
  if (format === 'tfjs-layers') {
    const layers = readLayersModel(path, { from: options.from });
    const name = layers.source.package ? `${layers.source.package.name}/${basename(layers.source.dir)}` : basename(layers.source.dir);
    return new KerasGraphModel(name, layers, { cutAt: options.cutAt, numLabels: options.numLabels, seed: options.seed });
  }
  // config.json against the header's shapes, before a weight is read or a tensor made.
  const header = readHfHeader(path);
  checkHfHeader(header, path);
  const hf = readHfFolder(path);
  const raw: RawWeights = new Map([...hf.tensors].map(([n, t]) => [n, { shape: t.shape, data: t.data }]));
  const model = buildHfModel(basename(path), path, hf.config, raw);
  // Merged models are written back in the dtypes they came in (fp16, bf16 or fp32).
  model.storedDtypes = new Map([...hf.tensors].map(([n, t]) => [n, t.storedAs]));
  return model;
}
