/**
 * A model's layer list from its headers alone (config + tensor shapes; no weight is
 * read): what the language server uses for completion and checks, and `spruft inspect`.
 */
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { ModelFormat } from '../../../protocol/config';
import type { InspectResult, LayerKind } from '../../../protocol/results';
import { readHfConfig, readHfHeader, type HfHeader } from '../io/hfFolder';
import { SAFETENSORS_INDEX_NAME, SAFETENSORS_SINGLE_NAME } from '../io/safetensors';
import { readLayersModelJson } from '../io/tfjsLayers';
import { isAttentionLayer } from '../config/targets';
import { detectFormat } from './format';
import { checkWeights, expectedTensors, specLayers, type HfArchitectureSpec } from './hfSpec';
import { hfModelSpec, languageModelSpec, tensorsFromConfig, transformerShapeOf } from './specs';

/** Classifier / LM head names of the supported HF architectures. */
const HEAD_NAMES = new Set(['classifier', 'lm_head']);

/** HF model types that read images (the header-listed ones; language models read tokens). */
const IMAGE_MODEL_TYPES = new Set(['vit', 'spruft-mlp']);

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

/** Whether an HF folder holds weights (a safetensors file or a sharded index). */
function hasSafetensors(dir: string): boolean {
  return existsSync(join(dir, SAFETENSORS_SINGLE_NAME)) || existsSync(join(dir, SAFETENSORS_INDEX_NAME));
}

const KERAS_KINDS: Record<string, LayerKind> = {
  Conv2D: 'conv2d', DepthwiseConv2D: 'depthwise-conv2d', BatchNormalization: 'batchnorm', Dense: 'linear',
};

/**
 * The layer list of an HF model from config.json alone (specs.ts: tensorsFromConfig): no weight
 * file is read or needed. `fromConfigOnly` says so.
 */
export function inspectConfig(name: string, config: Record<string, unknown>, where: string): InspectResult {
  const tensors = tensorsFromConfig(config, where);
  const spec = languageModelSpec(config, where);
  const listing = spec
    ? specListing(name, spec, config, new Set(tensors.map((t) => t.name)), tensors.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0))
    : inspectHfTensors(name, config, tensors);
  return { ...listing, fromConfigOnly: true };
}

/**
 * A language model's listing from its architecture's own declaration: names, kinds and
 * engine shapes (GPT-2's transposed Conv1D included), then the other tensors it holds
 * (embeddings...) by the names the model gives them.
 */
function specListing(name: string, spec: HfArchitectureSpec, config: Record<string, unknown>, held: ReadonlySet<string>, params: number): InspectResult {
  const layerWeights = new Set(spec.layers.flatMap((l) => [`${l.name}.weight`, `${l.name}.bias`]));
  const others = [...expectedTensors(spec)].filter(([n]) => !layerWeights.has(n) && held.has(n)).map(([n, e]) => ({
    name: n, kind: (/embed|wte|wpe/.test(n) ? 'embedding' : 'other') as 'embedding' | 'other', shape: e.shape, params: e.shape.reduce((a, b) => a * b, 1),
  }));
  const transformer = transformerShapeOf(config);
  return { name, architecture: spec.modelType, format: 'hf', input: 'tokens', params, layers: [...specLayers(spec), ...others], ...(transformer ? { transformer } : {}) };
}

function inspectHfTensors(
  name: string, config: Record<string, unknown>, tensors: ReadonlyArray<{ name: string; shape: number[] }>, parameterCount?: number,
): InspectResult {
  const names = new Set(tensors.map((t) => t.name));
  const layers: InspectResult['layers'] = [];
  for (const t of tensors) {
    if (!t.name.endsWith('.weight')) continue;
    const kind = hfLayerKind(t.name, t.shape, names, config.model_type);
    const layerName = t.name.slice(0, -'.weight'.length);
    const params = t.shape.reduce((a, b) => a * b, 1);
    if (!kind) {
      layers.push({ name: t.name, kind: /embed/.test(t.name) ? 'embedding' : 'other', shape: t.shape, params });
      continue;
    }
    const dOut = t.shape[0];
    const bias = names.has(`${layerName}.bias`);
    layers.push({
      name: layerName, kind, shape: t.shape, params: params + (bias ? dOut : 0), dOut, dIn: params / dOut,
      attention: isAttentionLayer(layerName), head: HEAD_NAMES.has(layerName),
    });
  }
  const transformer = transformerShapeOf(config);
  return {
    name,
    architecture: String(config.model_type ?? 'unknown'),
    format: 'hf',
    ...(IMAGE_MODEL_TYPES.has(String(config.model_type)) ? { input: 'image' as const } : {}),
    params: parameterCount ?? tensors.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0),
    layers,
    ...(transformer ? { transformer } : {}),
  };
}

/**
 * config.json against the checkpoint's header (the architecture's spec, hfSpec.ts), before
 * a weight is read or a tensor made: `spruft inspect`, `spruft check`, the language
 * server and the loader all fail the same way, MODEL_INVALID at `<path>/config.json`
 * naming the key and the tensor with both shapes. Returns the spec and the file name of
 * each expected tensor; nothing for architectures without a spec.
 */
export function checkHfHeader(header: HfHeader, path: string): { spec: HfArchitectureSpec; fileNames: Map<string, string> } | undefined {
  const configPath = join(path, 'config.json');
  const spec = hfModelSpec(header.config, configPath);
  if (!spec) return undefined;
  const floats = header.tensors.filter((t) => t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16');
  return { spec, fileNames: checkWeights(spec, new Map(floats.map((t) => [t.name, t.shape])), configPath).fileNames };
}

/**
 * The layer list of a model from its headers only: shapes from the safetensors header
 * or the model.json weight manifest; no weight is read.
 */
export function inspectModelHeader(path: string, options: { format?: ModelFormat; cutAt?: string; from?: string } = {}): InspectResult {
  const format = detectFormat(path, options.format);
  if (format === 'hf') {
    // Weights present: their header, checked against config.json. Only config.json: the
    // layout it implies (planning a run on a model that is not here).
    if (hasSafetensors(path)) {
      const header = readHfHeader(path);
      const checked = checkHfHeader(header, path);
      // ViT and the MLP keep the header's listing.
      if (checked && languageModelSpec(header.config)) {
        return specListing(basename(path), checked.spec, header.config, new Set(checked.fileNames.keys()), header.parameterCount);
      }
      return inspectHfTensors(basename(path), header.config, header.tensors, header.parameterCount);
    }
    return inspectConfig(basename(path), readHfConfig(path), join(path, 'config.json'));
  }
  const { source, modelJson, topology } = readLayersModelJson(path, { from: options.from });
  const specs = new Map(modelJson.weightsManifest.flatMap((g) => g.weights.map((w) => [w.name, w] as const)));
  const layers: InspectResult['layers'] = [];
  let params = 0;
  for (const spec of specs.values()) params += spec.shape.reduce((a, b) => a * b, 1);
  const all = topology.modelConfig.config.layers;
  const cut = options.cutAt ? all.findIndex((l) => l.name === options.cutAt) : all.length - 1;
  for (const layer of all.slice(0, cut + 1)) {
    const kind = KERAS_KINDS[layer.class_name];
    if (!kind) {
      // Weightless layers (ReLU, Add, pooling...): listed so that `model.cutAt` can name them.
      if (layer.class_name !== 'InputLayer') layers.push({ name: layer.name, kind: 'other', shape: [], params: 0 });
      continue;
    }
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
    const last = [...layers].reverse().find((l) => l.kind === 'conv2d' || l.kind === 'linear' || l.kind === 'depthwise-conv2d');
    const channels = last?.dOut ?? 0;
    layers.push({ name: 'classifier', kind: 'linear', shape: [0, channels], params: 0, dOut: 0, dIn: channels, head: true });
  }
  return {
    name: source.package ? `${source.package.name}/${basename(source.dir)}` : basename(source.dir),
    architecture: 'keras-functional',
    format: 'tfjs-layers',
    input: 'image',
    params,
    layers,
  };
}
