/**
 * Loading models (a Hugging Face style folder, a TensorFlow.js layers model.json, or an
 * `npm:` model) and inspecting them from their headers alone (config + tensor shapes,
 * no weights read: what the language server uses for completion and checks).
 */
import { existsSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { ModelFormat } from '../../../protocol/config';
import type { InspectResult, LayerKind } from '../../../protocol/results';
import { SpruftError } from '../errors';
import { readHfFolder, readHfHeader } from '../io/hfFolder';
import { readLayersModel, readLayersModelJson } from '../io/tfjsLayers';
import { KerasGraphModel } from './keras';
import { LlamaModel, type LlamaConfig } from './llama';
import { MlpModel, type MlpConfig } from './mlp';
import type { Model, RawWeights } from './model';
import { VitModel, type VitConfig } from './vit';

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

const HF_ARCHITECTURES = ['vit', 'llama', 'spruft-mlp'];

export interface LoadOptions {
  format?: ModelFormat;
  cutAt?: string;
  /** Labels of a new head when the graph is cut. */
  numLabels?: number;
  seed?: number;
}

export function loadModel(path: string, options: LoadOptions = {}): Model {
  const format = detectFormat(path, options.format);
  if (format === 'tfjs-layers') {
    const layers = readLayersModel(path);
    const name = layers.source.package ? `${layers.source.package.name}/${basename(layers.source.dir)}` : basename(layers.source.dir);
    return new KerasGraphModel(name, layers, { cutAt: options.cutAt, numLabels: options.numLabels, seed: options.seed });
  }
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

/** Classifier / LM head names of the supported HF architectures. */
const HEAD_NAMES = new Set(['classifier', 'lm_head']);

/** Attention layers by name, as HF and this project name them. */
function isAttentionName(name: string): boolean {
  return /(^|\.)(self_attn|attention|attn)(\.|$)/.test(name);
}

function hfLayerKind(name: string, shape: number[], names: Set<string>, modelType: unknown): LayerKind | undefined {
  const base = name.slice(0, -'.weight'.length);
  if (shape.length === 2 && !/embed/.test(base)) return 'linear';
  if (shape.length === 4) return shape[1] === 1 && shape[0] > 1 && !/patch_embeddings/.test(base) ? 'depthwise-conv2d' : 'conv2d';
  if (shape.length === 1 && /norm/.test(base)) {
    if (names.has(`${base}.running_mean`)) return 'batchnorm';
    return names.has(`${base}.bias`) || modelType !== 'llama' ? 'layernorm' : 'rmsnorm';
  }
  return undefined;
}

const KERAS_KINDS: Record<string, LayerKind> = {
  Conv2D: 'conv2d', DepthwiseConv2D: 'depthwise-conv2d', BatchNormalization: 'batchnorm', Dense: 'linear',
};

/**
 * The layer list of a model from its headers only: shapes from the safetensors header
 * or the model.json weight manifest; no weight is read.
 */
export function inspectModelHeader(path: string, options: { format?: ModelFormat; cutAt?: string } = {}): InspectResult {
  const format = detectFormat(path, options.format);
  if (format === 'hf') {
    const header = readHfHeader(path);
    const names = new Set(header.tensors.map((t) => t.name));
    const layers: InspectResult['layers'] = [];
    for (const t of header.tensors) {
      if (!t.name.endsWith('.weight')) continue;
      const kind = hfLayerKind(t.name, t.shape, names, header.config.model_type);
      const name = t.name.slice(0, -'.weight'.length);
      const params = t.shape.reduce((a, b) => a * b, 1);
      if (!kind) {
        layers.push({ name: t.name, kind: /embed/.test(t.name) ? 'embedding' : 'other', shape: t.shape, params });
        continue;
      }
      const dOut = t.shape[0];
      const bias = header.tensors.find((b) => b.name === `${name}.bias`);
      layers.push({
        name, kind, shape: t.shape, params: params + (bias ? dOut : 0), dOut, dIn: params / dOut,
        attention: isAttentionName(name), head: HEAD_NAMES.has(name),
      });
    }
    return {
      name: basename(path),
      architecture: String(header.config.model_type ?? 'unknown'),
      format: 'hf',
      params: header.parameterCount,
      layers,
    };
  }
  const { source, modelJson, topology } = readLayersModelJson(path);
  const specs = new Map(modelJson.weightsManifest.flatMap((g) => g.weights.map((w) => [w.name, w] as const)));
  const layers: InspectResult['layers'] = [];
  let params = 0;
  for (const spec of specs.values()) params += spec.shape.reduce((a, b) => a * b, 1);
  const all = topology.modelConfig.config.layers;
  const cut = options.cutAt ? all.findIndex((l) => l.name === options.cutAt) : all.length - 1;
  for (const layer of all.slice(0, cut + 1)) {
    const kind = KERAS_KINDS[layer.class_name];
    if (!kind) continue;
    const weightName = `${layer.name}/${kind === 'depthwise-conv2d' ? 'depthwise_kernel' : kind === 'batchnorm' ? 'moving_mean' : 'kernel'}`;
    const spec = specs.get(weightName);
    if (!spec) continue;
    const shape = spec.shape;
    const dOut = kind === 'linear' ? shape[1] : kind === 'conv2d' ? shape[3] : kind === 'depthwise-conv2d' ? shape[2] : shape[0];
    const n = shape.reduce((a, b) => a * b, 1);
    const engineShape = kind === 'linear' ? [shape[1], shape[0]] : shape;
    layers.push({ name: layer.name, kind, shape: engineShape, params: n + (specs.has(`${layer.name}/bias`) ? dOut : 0), dOut, dIn: n / dOut });
  }
  if (options.cutAt) {
    const last = [...layers].reverse().find((l) => l.kind !== 'batchnorm');
    const channels = last?.dOut ?? 0;
    layers.push({ name: 'classifier', kind: 'linear', shape: [0, channels], params: 0, dOut: 0, dIn: channels, head: true });
  }
  return {
    name: source.package ? `${source.package.name}/${basename(source.dir)}` : basename(source.dir),
    architecture: 'keras-functional',
    format: 'tfjs-layers',
    params,
    layers,
  };
}
