/**
 * A Keras functional graph (a TensorFlow.js layers model, e.g. the MobileNetV2 that npm
 * `nsfwjs` ships) run by the engine's own ops, so that its Conv2D, DepthwiseConv2D,
 * BatchNormalization and Dense layers can carry row adapters. Layer names are Keras'
 * (`block_1_expand`, `block_1_depthwise`, `Conv_1_bn`...).
 *
 * `cutAt` keeps the graph up to a layer (e.g. `out_relu`), then adds global average
 * pooling and a new Dense classifier: an ImageNet backbone at small inputs. Keras
 * Dropout layers are identities here: fine-tuning methods bring their own dropout
 * (LoRA) or none (SPruFT, paper 4.1). BatchNorm runs with its stored statistics.
 */
import { SpruftError } from '../errors';
import type { KerasLayer, LayersModel } from '../io/tfjsLayers';
import type { ChannelGroup } from './channels/types';
import { traceChannelGroups, type ChannelOp } from './channels/trace';
import { Rng } from '../tensor/rng';
import { autoOp } from '../tensor/autodiff';
import { relu6, silu } from '../tensor/ops/activations';
import { add, globalAvgPool, pad2d, relu } from '../tensor/ops/elementwise';
import { reshape } from '../tensor/ops/grad';
import { tf, type Tensor } from '../tensor/tf';
import { AdaptableLayer, type ForwardContext } from './layer';
import { Model, takeOptional, takeWeight, type ModelInput, type RawWeights, type WeightEntry } from './model';

interface GraphNode {
  layer: KerasLayer;
  inputs: string[];
  adaptable?: AdaptableLayer;
  /** Activation applied after the layer (Conv2D/Dense `activation`). */
  activation?: string;
}

const POOL_NAME = 'spruft_global_pool';
const HEAD_NAME = 'classifier';

function pair(v: unknown, what: string, where: string): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return [v[0], v[1]];
  throw new SpruftError('MODEL_INVALID', `${what} must be a number or a pair`, where);
}

function inboundNames(layer: KerasLayer): string[] {
  const nodes = layer.inbound_nodes as unknown[];
  if (!Array.isArray(nodes) || nodes.length === 0) return [];
  const first = nodes[0];
  // Keras 2: [[name, nodeIndex, tensorIndex, kwargs], ...]; Keras 3: { args: [...] }.
  if (Array.isArray(first)) return first.map((entry) => String((entry as unknown[])[0]));
  const args = (first as { args?: unknown[] }).args ?? [];
  const names: string[] = [];
  const visit = (a: unknown): void => {
    if (Array.isArray(a)) a.forEach(visit);
    else if (a && typeof a === 'object') {
      const history = (a as { config?: { keras_history?: unknown[] } }).config?.keras_history;
      if (history) names.push(String(history[0]));
    }
  };
  visit(args);
  return names;
}

function activate(x: Tensor, activation: string | undefined, where: string): Tensor {
  switch (activation ?? 'linear') {
    case 'linear': return x;
    case 'relu': return relu(x);
    case 'relu6': return relu6(x);
    case 'swish': case 'silu': return silu(x);
    case 'sigmoid': return autoOp([x], (v) => tf.sigmoid(v));
    case 'tanh': return autoOp([x], (v) => tf.tanh(v));
    case 'softmax': return autoOp([x], (v) => tf.softmax(v));
    default: throw new SpruftError('UNSUPPORTED', `activation "${activation}" is not supported`, where);
  }
}

export interface KerasOptions {
  cutAt?: string;
  /** Labels of the new classifier when cutting (replaceable later). */
  numLabels?: number;
  seed?: number;
}

export class KerasGraphModel extends Model {
  readonly architecture = 'keras-functional';
  readonly input: ModelInput;
  readonly layers: AdaptableLayer[] = [];
  private readonly nodes: GraphNode[] = [];
  private readonly inputName: string;
  private readonly outputName: string;
  private readonly entries: WeightEntry[] = [];
  private readonly topology: Record<string, unknown>;

  constructor(name: string, source: LayersModel, readonly options: KerasOptions = {}) {
    super(name, 'tfjs-layers', source.source.spec);
    const where = source.source.modelFile;
    this.topology = source.modelJson.modelTopology;
    const all = source.topology.modelConfig.config.layers;
    const raw: RawWeights = new Map([...source.weights].map(([n, w]) => [n, { shape: w.shape, data: w.data }]));
    let kept = all;
    if (options.cutAt) {
      const cut = all.findIndex((l) => l.name === options.cutAt);
      if (cut < 0) {
        const near = all.map((l) => l.name).filter((n) => n.includes(options.cutAt!.split('_')[0])).slice(0, 5);
        throw new SpruftError('CONFIG_INVALID', `model.cutAt: no layer named "${options.cutAt}"${near.length ? ` (similar: ${near.join(', ')})` : ''}`, where);
      }
      const needed = new Set<string>([options.cutAt]);
      for (let i = cut; i >= 0; i--) {
        if (needed.has(all[i].name)) for (const n of inboundNames(all[i])) needed.add(n);
      }
      kept = all.slice(0, cut + 1).filter((l) => needed.has(l.name));
    }
    const inputLayer = kept.find((l) => l.class_name === 'InputLayer');
    if (!inputLayer) throw new SpruftError('MODEL_INVALID', 'the model has no InputLayer', where);
    this.inputName = inputLayer.name;
    const shape = (inputLayer.config.batch_input_shape ?? inputLayer.config.batch_shape) as Array<number | null> | undefined;
    if (!shape || shape.length !== 4) throw new SpruftError('UNSUPPORTED', 'only image models (input [batch, height, width, channels]) are supported', where);
    this.input = { kind: 'image', height: shape[1] ?? 224, width: shape[2] ?? 224, channels: shape[3] ?? 3 };

    for (const layer of kept) this.nodes.push(this.buildNode(layer, raw, `${where} (layer "${layer.name}")`));
    if (options.cutAt) {
      const last = this.nodes[this.nodes.length - 1].layer.name;
      this.nodes.push({ layer: { class_name: 'GlobalAveragePooling2D', name: POOL_NAME, config: { name: POOL_NAME, data_format: 'channels_last' }, inbound_nodes: [[[last, 0, 0, {}]]] }, inputs: [last] });
      const channels = this.channelsAt(last, raw, where);
      const labels = options.numLabels ?? 2;
      const rng = new Rng(options.seed ?? 0);
      const head = new AdaptableLayer({
        name: HEAD_NAME, kind: 'linear', head: true,
        weight: tf.tensor(rng.fillNormal(new Float32Array(labels * channels), 0.02), [labels, channels]),
        bias: tf.zeros([labels]),
      });
      this.layers.push(head);
      this.nodes.push({
        layer: { class_name: 'Dense', name: HEAD_NAME, config: { name: HEAD_NAME, units: labels, activation: 'softmax', use_bias: true }, inbound_nodes: [[[POOL_NAME, 0, 0, {}]]] },
        inputs: [POOL_NAME], adaptable: head, activation: 'softmax',
      });
      this.addEntries(head, `${HEAD_NAME}/kernel`, 'io', `${HEAD_NAME}/bias`);
    } else {
      const last = [...this.nodes].reverse().find((n) => n.adaptable?.kind === 'linear');
      if (last?.adaptable) Object.assign(last.adaptable, { head: true });
    }
    this.outputName = this.nodes[this.nodes.length - 1].layer.name;
  }

  /** Channels of a layer's output, from the last channel-producing layer before it. */
  private channelsAt(name: string, raw: RawWeights, where: string): number {
    const idx = this.nodes.findIndex((n) => n.layer.name === name);
    for (let i = idx; i >= 0; i--) {
      const a = this.nodes[i].adaptable;
      if (a) return a.dOut;
    }
    throw new SpruftError('MODEL_INVALID', `cannot tell the channels at "${name}" (${raw.size} weights)`, where);
  }

  private addEntries(l: AdaptableLayer, weightName: string, layout: 'same' | 'io', biasName?: string): void {
    this.entries.push({ fileName: weightName, layout, get: () => l.weight, set: (t) => { l.weight = t; } });
    if (biasName && l.bias) this.entries.push({ fileName: biasName, layout: 'same', get: () => l.bias!, set: (t) => { l.bias = t; } });
  }

  private buildNode(layer: KerasLayer, raw: RawWeights, where: string): GraphNode {
    const c = layer.config;
    const n = layer.name;
    const node: GraphNode = { layer, inputs: inboundNames(layer) };
    const activation = typeof c.activation === 'string' ? c.activation : undefined;
    switch (layer.class_name) {
      case 'Conv2D':
      case 'DepthwiseConv2D': {
        const depthwise = layer.class_name === 'DepthwiseConv2D';
        if (pair(c.dilation_rate ?? 1, 'dilation_rate', where).some((d) => d !== 1)) throw new SpruftError('UNSUPPORTED', 'dilated convolutions are not supported', where);
        if (depthwise && (c.depth_multiplier ?? 1) !== 1) throw new SpruftError('UNSUPPORTED', 'depthwise convolutions with depth_multiplier != 1 are not supported', where);
        const pad = c.padding === 'same' ? 'same' : 'valid';
        const weightName = `${n}/${depthwise ? 'depthwise_kernel' : 'kernel'}`;
        const l = new AdaptableLayer({
          name: n, kind: depthwise ? 'depthwise-conv2d' : 'conv2d',
          weight: takeWeight(raw, weightName, where, 'same', 4),
          bias: c.use_bias === false ? undefined : takeOptional(raw, `${n}/bias`, where),
          conv: { strides: pair(c.strides ?? 1, 'strides', where), pad },
        });
        this.layers.push(l);
        this.addEntries(l, weightName, 'same', `${n}/bias`);
        return { ...node, adaptable: l, activation };
      }
      case 'Dense': {
        const l = new AdaptableLayer({
          name: n, kind: 'linear', weight: takeWeight(raw, `${n}/kernel`, where, 'io', 2),
          bias: c.use_bias === false ? undefined : takeOptional(raw, `${n}/bias`, where),
        });
        this.layers.push(l);
        this.addEntries(l, `${n}/kernel`, 'io', `${n}/bias`);
        return { ...node, adaptable: l, activation };
      }
      case 'BatchNormalization': {
        const weight = c.scale === false ? tf.ones(raw.get(`${n}/moving_mean`)?.shape ?? [0]) : takeWeight(raw, `${n}/gamma`, where, 'same', 1);
        const l = new AdaptableLayer({
          name: n, kind: 'batchnorm', weight,
          bias: c.center === false ? undefined : takeWeight(raw, `${n}/beta`, where, 'same', 1),
          movingMean: takeWeight(raw, `${n}/moving_mean`, where, 'same', 1),
          movingVariance: takeWeight(raw, `${n}/moving_variance`, where, 'same', 1),
          eps: typeof c.epsilon === 'number' ? c.epsilon : 1e-3,
        });
        this.layers.push(l);
        if (c.scale !== false) this.entries.push({ fileName: `${n}/gamma`, layout: 'same', get: () => l.weight, set: (t) => { l.weight = t; } });
        if (l.bias) this.entries.push({ fileName: `${n}/beta`, layout: 'same', get: () => l.bias!, set: (t) => { l.bias = t; } });
        this.entries.push({ fileName: `${n}/moving_mean`, layout: 'same', get: () => l.movingMean!, set: () => undefined });
        this.entries.push({ fileName: `${n}/moving_variance`, layout: 'same', get: () => l.movingVariance!, set: () => undefined });
        return { ...node, adaptable: l };
      }
      case 'InputLayer': case 'ZeroPadding2D': case 'ReLU': case 'Activation': case 'Add': case 'Concatenate':
      case 'AveragePooling2D': case 'MaxPooling2D': case 'GlobalAveragePooling2D': case 'Flatten': case 'Dropout': case 'Reshape':
        return node;
      default:
        throw new SpruftError('UNSUPPORTED', `Keras layer class ${layer.class_name} is not supported (supported: Conv2D, DepthwiseConv2D, BatchNormalization, Dense, ReLU, Activation, Add, Concatenate, ZeroPadding2D, AveragePooling2D, MaxPooling2D, GlobalAveragePooling2D, Flatten, Dropout, Reshape)`, where);
    }
  }

  forward(x: Tensor, ctx: ForwardContext): Tensor {
    const values = new Map<string, Tensor>();
    values.set(this.inputName, x);
    // How many nodes still read each output: it is released after its last reader.
    const readers = new Map<string, number>();
    for (const node of this.nodes) for (const name of node.inputs) readers.set(name, (readers.get(name) ?? 0) + 1);
    for (const node of this.nodes) {
      const { layer } = node;
      if (layer.class_name === 'InputLayer') continue;
      const ins = node.inputs.map((name) => {
        const v = values.get(name);
        if (!v) throw new SpruftError('MODEL_INVALID', `layer "${layer.name}" reads "${name}", which is not computed before it`, this.sourcePath);
        return v;
      });
      const y = tf.tidy(() => {
        if (!node.adaptable) return this.plain(node, ins);
        const out = node.adaptable.apply(ins[0], ctx);
        // The head returns logits: its softmax belongs to the loss.
        return !node.adaptable.head && node.activation ? activate(out, node.activation, layer.name) : out;
      });
      values.set(layer.name, y);
      for (const name of node.inputs) {
        const left = (readers.get(name) ?? 1) - 1;
        readers.set(name, left);
        const v = values.get(name);
        if (left === 0 && name !== this.inputName && v && v !== y) {
          v.dispose();
          values.delete(name);
        }
      }
    }
    return values.get(this.outputName)!;
  }

  private plain(node: GraphNode, ins: Tensor[]): Tensor {
    const c = node.layer.config;
    const where = `${this.sourcePath} (layer "${node.layer.name}")`;
    const x = ins[0];
    switch (node.layer.class_name) {
      case 'ZeroPadding2D': {
        const p = c.padding;
        const [[t, b], [l, r]] = typeof p === 'number' ? [[p, p], [p, p]]
          : Array.isArray(p) && typeof p[0] === 'number' ? [[p[0] as number, p[0] as number], [p[1] as number, p[1] as number]]
          : (p as [[number, number], [number, number]]);
        return pad2d(x, t, b, l, r);
      }
      case 'ReLU': {
        const maxValue = typeof c.max_value === 'number' ? c.max_value : undefined;
        if ((c.negative_slope ?? 0) !== 0 || (c.threshold ?? 0) !== 0) throw new SpruftError('UNSUPPORTED', 'ReLU with negative_slope or threshold is not supported', where);
        if (maxValue === 6) return relu6(x);
        if (maxValue === undefined) return relu(x);
        return autoOp([x], (v) => tf.minimum(tf.relu(v), maxValue));
      }
      case 'Activation': return activate(x, String(c.activation), where);
      case 'Add': return ins.slice(1).reduce((acc, t) => add(acc, t), x);
      case 'Concatenate': return autoOp(ins, (...xs) => tf.concat(xs, typeof c.axis === 'number' ? c.axis : -1));
      case 'AveragePooling2D': case 'MaxPooling2D': {
        const size = pair(c.pool_size, 'pool_size', where);
        const strides = pair(c.strides ?? c.pool_size, 'strides', where);
        const pad = c.padding === 'same' ? 'same' : 'valid';
        const avg = node.layer.class_name === 'AveragePooling2D';
        return autoOp([x], (v) => (avg ? tf.avgPool(v as tf.Tensor4D, size, strides, pad) : tf.maxPool(v as tf.Tensor4D, size, strides, pad)));
      }
      case 'GlobalAveragePooling2D': return globalAvgPool(x);
      case 'Flatten': return reshape(x, [x.shape[0], -1]);
      case 'Dropout': return x;
      case 'Reshape': return reshape(x, [x.shape[0], ...(c.target_shape as number[])]);
      default: throw new SpruftError('UNSUPPORTED', `no forward for ${node.layer.class_name}`, where);
    }
  }

  weightEntries(): WeightEntry[] {
    return this.entries;
  }

  /** Appendix B: the channel groups found by tracing the graph (models/channels/trace.ts). */
  override dependencies(): ChannelGroup[] {
    return traceChannelGroups(this.nodes.map((node) => {
      const a = node.adaptable;
      let op: ChannelOp;
      switch (node.layer.class_name) {
        case 'InputLayer': op = { kind: 'input' }; break;
        case 'Conv2D': case 'Dense': op = { kind: 'mix', layer: a!.name, channels: a!.dOut }; break;
        case 'DepthwiseConv2D': case 'BatchNormalization': op = { kind: 'channelwise', layer: a!.name }; break;
        case 'Add': op = { kind: 'merge' }; break;
        case 'Concatenate': case 'Flatten': case 'Reshape': op = { kind: 'opaque' }; break;
        default: op = { kind: 'pass' };
      }
      return { name: node.layer.name, inputs: node.inputs, op };
    }));
  }

  protected override onHeadReplaced(numLabels: number): void {
    const node = this.nodes.find((n) => n.adaptable?.head);
    if (node) node.layer = { ...node.layer, config: { ...node.layer.config, units: numLabels } };
  }

  /** The topology of the graph as run (cut and new head included), for model.json. */
  exportConfig(): Record<string, unknown> {
    const original = this.topology as { model_config?: Record<string, unknown> };
    const layers = this.nodes.map((n) => ({ class_name: n.layer.class_name, name: n.layer.name, config: n.layer.config, inbound_nodes: n.layer.inbound_nodes }));
    const modelConfig = {
      class_name: 'Model',
      config: { name: this.name, layers, input_layers: [[this.inputName, 0, 0]], output_layers: [[this.outputName, 0, 0]] },
    };
    return { ...this.topology, model_config: { ...(original.model_config ?? {}), ...modelConfig } };
  }
}
