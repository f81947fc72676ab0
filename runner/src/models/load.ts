/**
 * Loading models: a Hugging Face style folder, a TensorFlow.js layers model.json, or an
 * `npm:` model reference.
 */
import { basename, join } from 'node:path';
import { detectFormat } from './format';
import type { ModelFormat } from '../../../protocol/config';
import { SpruftError } from '../errors';
import { readHfFolder, readHfHeader } from '../io/hfFolder';
import { checkConfigAgainstWeights } from './configShapes';
import { readLayersModel } from '../io/tfjsLayers';
import { KerasGraphModel } from './keras';
import { LlamaModel, type LlamaConfig } from './llama';
import { MlpModel, type MlpConfig } from './mlp';
import type { Model, RawWeights } from './model';
import { VitModel, type VitConfig } from './vit';

const HF_ARCHITECTURES = ['vit', 'llama', 'spruft-mlp'];

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
  checkConfigAgainstWeights(header.config, new Map(header.tensors.map((t) => [t.name, t.shape])), path);
  const hf = readHfFolder(path);
  const raw: RawWeights = new Map([...hf.tensors].map(([n, t]) => [n, { shape: t.shape, data: t.data }]));
  const type = hf.config.model_type;
  const name = basename(path);
  switch (type) {
    case 'vit': return new VitModel(name, path, hf.config as VitConfig, raw);
    case 'llama': return new LlamaModel(name, path, hf.config as LlamaConfig, raw);
    case 'spruft-mlp': return new MlpModel(name, path, hf.config as MlpConfig, raw);
    default:
      throw new SpruftError('UNSUPPORTED', `config.json: model_type "${String(type)}" is not supported (supported: ${HF_ARCHITECTURES.join(', ')})`, join(path, 'config.json'));
  }
}
