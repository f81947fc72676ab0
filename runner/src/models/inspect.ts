/**
 * A model's layer list from its headers alone (config + tensor shapes; no weight is
 * read): what the language server uses for completion and checks, and `spruft inspect`.
 */
import { basename, join } from 'node:path';
import type { ModelFormat } from '../../../protocol/config';
import type { InspectResult, LayerKind } from '../../../protocol/results';
import { readHfHeader, type HfHeader } from '../io/hfFolder';
import { readLayersModelJson } from '../io/tfjsLayers';
import { isAttentionLayer } from '../config/targets';
import { detectFormat } from './format';
import { checkWeights, expectedTensors, specLayers, type HfArchitectureSpec } from './hfSpec';
import { hfModelSpec, languageModelSpec } from './specs';

/** Classifier / LM head names of the supported HF architectures. */
const HEAD_NAMES = new Set(['classifier', 'lm_head']);

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
    const header = readHfHeader(path);
    const checked = checkHfHeader(header, path);
    if (checked && languageModelSpec(header.config)) {
      // The architecture's own declaration: names, kinds and engine shapes (GPT-2's
      // transposed Conv1D included). ViT and the MLP keep the header's listing below.
      const { spec, fileNames } = checked;
      const layerWeights = new Set(spec.layers.flatMap((l) => [`${l.name}.weight`, `${l.name}.bias`]));
      // The other tensors the checkpoint holds (embeddings...), by the names the model gives them.
      const others = [...expectedTensors(spec)].filter(([n]) => !layerWeights.has(n) && fileNames.has(n)).map(([name, e]) => ({
        name, kind: (/embed|wte|wpe/.test(name) ? 'embedding' : 'other') as 'embedding' | 'other', shape: e.shape, params: e.shape.reduce((a, b) => a * b, 1),
      }));
      return { name: basename(path), architecture: spec.modelType, format: 'hf', params: header.parameterCount, layers: [...specLayers(spec), ...others] };
    }
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
        attention: isAttentionLayer(name), head: HEAD_NAMES.has(name),
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
    params,
    layers,
  };
}
