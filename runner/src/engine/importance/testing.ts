/**
 * Test support for the importance metrics: tiny models built from given weights (an MLP,
 * and a Keras graph shaped like a MobileNetV2 block: stem conv, expand, depthwise,
 * project, residual add), their float64 references with cross-entropy, and an
 * ImportanceContext over examples in memory. Only tests import this module.
 */
import { join } from 'node:path';
import { resolveRunConfig, type ResolvedRunConfig, type RunConfigFile } from '../../../../protocol/config';
import type { LayersModel, LayersWeight } from '../../io/tfjsLayers';
import { KerasGraphModel } from '../../models/keras';
import { MlpModel } from '../../models/mlp';
import type { RawWeights } from '../../models/model';
import type { Model } from '../../models/model';
import { BatchPlan, disposeBatch, makeBatch, type ImageExamples } from '../batches';
import { taskLoss } from '../loss';
import { conv64 } from '../../tensor/ops/testing';
import { targetLayers } from '../targets';
import type { ImportanceContext } from './metric';

export function runConfig(file: Partial<RunConfigFile>): ResolvedRunConfig {
  return resolveRunConfig({ model: { path: '/tmp/tiny' }, task: 'image-classification', data: { dataset: 'idx' }, ...file } as RunConfigFile, {
    baseDir: '/tmp', resolvePath: (b, p) => join(b, p),
  });
}

/** The calibration context `scoreRows` would build, for calling a metric directly. */
export function importanceContext(model: Model, config: ResolvedRunConfig, train: ImageExamples, extra: Partial<ImportanceContext> = {}): ImportanceContext {
  const options = config.spruft.importance;
  const plan = new BatchPlan(train.n, config.training.batchSize, options.seed);
  const count = options.metric === 'zo-taylor' ? options.calibrationSets : Math.min(options.calibrationBatches, plan.perEpoch);
  return {
    model,
    layers: targetLayers(model.layers, config.targets),
    options,
    batches: function* () {
      for (let m = 0; m < count; m++) {
        const batch = makeBatch(train, plan.indices(m));
        try {
          yield batch;
        } finally {
          disposeBatch(batch);
        }
      }
    },
    loss: taskLoss,
    numLabels: model.numLabels,
    ...extra,
  };
}

// ------------------------------------------------------------------ MLP

export interface MlpWeights {
  /** [d_out * d_in] row-major per layer, the last one the classifier. */
  w: Float32Array[];
  b: Float32Array[];
  sizes: number[];
}

/** An MLP on flattened [size, size, 1] images: sizes = [d_in, hidden..., labels]. */
export function mlpFrom(weights: MlpWeights, imageSize: number): MlpModel {
  const raw: RawWeights = new Map();
  const { sizes } = weights;
  const hidden = sizes.slice(1, -1);
  weights.w.forEach((w, i) => {
    const name = i === sizes.length - 2 ? 'classifier' : `mlp.layers.${i}`;
    raw.set(`${name}.weight`, { shape: [sizes[i + 1], sizes[i]], data: Float32Array.from(w) });
    raw.set(`${name}.bias`, { shape: [sizes[i + 1]], data: Float32Array.from(weights.b[i]) });
  });
  return new MlpModel('tiny-mlp', '/tmp/tiny-mlp', {
    model_type: 'spruft-mlp', image_size: imageSize, num_channels: 1, hidden_sizes: hidden, num_labels: sizes[sizes.length - 1],
  }, raw);
}

/** Mean cross-entropy of labels under logits, float64. */
export function crossEntropy64(logits: Float64Array, labels: ArrayLike<number>, k: number): number {
  let total = 0;
  for (let n = 0; n < labels.length; n++) {
    let max = -Infinity;
    for (let j = 0; j < k; j++) max = Math.max(max, logits[n * k + j]);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += Math.exp(logits[n * k + j] - max);
    total += max + Math.log(sum) - logits[n * k + labels[n]];
  }
  return total / labels.length;
}

/** Float64 MLP logits for `inputs` [n, d_in], ReLU between layers. */
export function mlp64(w: Float64Array[], b: Float64Array[], sizes: number[], inputs: Float64Array, n: number): Float64Array {
  let h = inputs;
  for (let l = 0; l < w.length; l++) {
    const dIn = sizes[l];
    const dOut = sizes[l + 1];
    const out = new Float64Array(n * dOut);
    for (let i = 0; i < n; i++) {
      for (let o = 0; o < dOut; o++) {
        let s = b[l][o];
        for (let j = 0; j < dIn; j++) s += w[l][o * dIn + j] * h[i * dIn + j];
        out[i * dOut + o] = l < w.length - 1 ? Math.max(0, s) : s;
      }
    }
    h = out;
  }
  return h;
}

// ------------------------------------------------------------------ a MobileNetV2-like Keras graph

export const CONV_NET = { size: 6, inputChannels: 2, stem: 4, expand: 8, labels: 3 };

export interface ConvNetWeights {
  /** Keras layouts: conv [kh, kw, c_in, c_out], depthwise [kh, kw, c, 1], dense [in, out]. */
  stem: Float32Array; expand: Float32Array; depthwise: Float32Array; project: Float32Array; dense: Float32Array; denseBias: Float32Array;
  /** BatchNorm gamma, beta, moving mean, moving variance per BN layer. */
  bn: Record<'stem_bn' | 'expand_bn' | 'dw_bn' | 'project_bn', { gamma: Float32Array; beta: Float32Array; mean: Float32Array; variance: Float32Array }>;
}

const BN_EPS = 1e-3;

const inbound = (...names: string[]): unknown[] => [names.map((n) => [n, 0, 0, {}])];

/**
 * input -> stem 3x3 conv -> BN -> ReLU -> expand 1x1 -> BN -> ReLU -> depthwise 3x3 -> BN
 * -> ReLU -> project 1x1 -> BN -> add(stem path) -> global average pool -> dense.
 */
export function convNetFrom(w: ConvNetWeights): KerasGraphModel {
  const { size, inputChannels, stem, expand, labels } = CONV_NET;
  const layer = (class_name: string, name: string, config: Record<string, unknown>, ...inputs: string[]) => ({
    class_name, name, config: { name, ...config }, inbound_nodes: inputs.length ? inbound(...inputs) : [],
  });
  const conv = { padding: 'same', strides: [1, 1], use_bias: false, activation: 'linear' };
  const bn = { epsilon: BN_EPS, center: true, scale: true };
  const layers = [
    layer('InputLayer', 'input', { batch_input_shape: [null, size, size, inputChannels] }),
    layer('Conv2D', 'stem', { ...conv, filters: stem, kernel_size: [3, 3] }, 'input'),
    layer('BatchNormalization', 'stem_bn', bn, 'stem'),
    layer('ReLU', 'stem_relu', {}, 'stem_bn'),
    layer('Conv2D', 'expand', { ...conv, filters: expand, kernel_size: [1, 1] }, 'stem_relu'),
    layer('BatchNormalization', 'expand_bn', bn, 'expand'),
    layer('ReLU', 'expand_relu', {}, 'expand_bn'),
    layer('DepthwiseConv2D', 'dw', { ...conv, kernel_size: [3, 3], depth_multiplier: 1 }, 'expand_relu'),
    layer('BatchNormalization', 'dw_bn', bn, 'dw'),
    layer('ReLU', 'dw_relu', {}, 'dw_bn'),
    layer('Conv2D', 'project', { ...conv, filters: stem, kernel_size: [1, 1] }, 'dw_relu'),
    layer('BatchNormalization', 'project_bn', bn, 'project'),
    layer('Add', 'add', {}, 'project_bn', 'stem_relu'),
    layer('GlobalAveragePooling2D', 'pool', {}, 'add'),
    layer('Dense', 'dense', { units: labels, activation: 'linear', use_bias: true }, 'pool'),
  ];
  const weights = new Map<string, LayersWeight>();
  const put = (name: string, shape: number[], data: Float32Array) => weights.set(name, { shape, data, spec: { name, shape, dtype: 'float32' } });
  put('stem/kernel', [3, 3, inputChannels, stem], w.stem);
  put('expand/kernel', [1, 1, stem, expand], w.expand);
  put('dw/depthwise_kernel', [3, 3, expand, 1], w.depthwise);
  put('project/kernel', [1, 1, expand, stem], w.project);
  put('dense/kernel', [stem, labels], w.dense);
  put('dense/bias', [labels], w.denseBias);
  for (const [name, p] of Object.entries(w.bn)) {
    put(`${name}/gamma`, [p.gamma.length], p.gamma);
    put(`${name}/beta`, [p.gamma.length], p.beta);
    put(`${name}/moving_mean`, [p.gamma.length], p.mean);
    put(`${name}/moving_variance`, [p.gamma.length], p.variance);
  }
  const modelConfig = { class_name: 'Functional' as const, config: { name: 'tiny-conv', layers } };
  const source: LayersModel = {
    source: { spec: '/tmp/tiny-conv/model.json', kind: 'model-json', modelFile: '/tmp/tiny-conv/model.json', dir: '/tmp/tiny-conv' },
    modelJson: { modelTopology: { model_config: modelConfig }, weightsManifest: [] },
    topology: { modelConfig },
    weights,
  };
  return new KerasGraphModel('tiny-conv', source);
}

/** Float64 logits of the conv net; `w` in the same layouts as ConvNetWeights (as float64). */
export function convNet64(w: Record<string, Float64Array>, x: Float64Array, n: number): Float64Array {
  const { size, inputChannels, stem, expand, labels } = CONV_NET;
  const bn = (t: Float64Array, p: string, c: number, relu: boolean): Float64Array => t.map((v, i) => {
    const ch = i % c;
    const y = ((v - w[`${p}/moving_mean`][ch]) / Math.sqrt(w[`${p}/moving_variance`][ch] + BN_EPS)) * w[`${p}/gamma`][ch] + w[`${p}/beta`][ch];
    return relu ? Math.max(0, y) : y;
  });
  const s0 = conv64(x, [n, size, size, inputChannels], w['stem/kernel'], [3, 3, inputChannels, stem], 1, 'same').y;
  const a0 = bn(s0, 'stem_bn', stem, true);
  const e = bn(conv64(a0, [n, size, size, stem], w['expand/kernel'], [1, 1, stem, expand], 1, 'same').y, 'expand_bn', expand, true);
  const d = bn(conv64(e, [n, size, size, expand], w['dw/depthwise_kernel'], [3, 3, expand, 1], 1, 'same', true).y, 'dw_bn', expand, true);
  const p = bn(conv64(d, [n, size, size, expand], w['project/kernel'], [1, 1, expand, stem], 1, 'same').y, 'project_bn', stem, false);
  const sum = p.map((v, i) => v + a0[i]);
  const pooled = new Float64Array(n * stem);
  for (let i = 0; i < n; i++) {
    for (let px = 0; px < size * size; px++) for (let c = 0; c < stem; c++) pooled[i * stem + c] += sum[(i * size * size + px) * stem + c] / (size * size);
  }
  const logits = new Float64Array(n * labels);
  for (let i = 0; i < n; i++) {
    for (let o = 0; o < labels; o++) {
      let s = w['dense/bias'][o];
      for (let c = 0; c < stem; c++) s += pooled[i * stem + c] * w['dense/kernel'][c * labels + o];
      logits[i * labels + o] = s;
    }
  }
  return logits;
}
