/**
 * A multilayer perceptron image classifier, stored as a Hugging Face style folder:
 * config.json `{ model_type: "spruft-mlp", image_size, num_channels, hidden_sizes,
 * num_labels }` and weights `mlp.layers.<i>.{weight,bias}`, `classifier.{weight,bias}`.
 */
import type { ChannelGroup } from './channels/types';
import { tf, type Tensor } from '../tensor/tf';
import { relu } from '../tensor/ops/elementwise';
import { AdaptableLayer, type ForwardContext } from './layer';
import { mlpSpec } from './specs';
import { checkedWeights, Model, stage, takeWeight, type ModelInput, type RawWeights, type WeightEntry } from './model';

export interface MlpConfig {
  model_type: 'spruft-mlp';
  image_size: number;
  num_channels: number;
  hidden_sizes: number[];
  num_labels: number;
  id2label?: Record<string, string>;
  [key: string]: unknown;
}

export class MlpModel extends Model {
  readonly architecture = 'mlp';
  readonly layers: AdaptableLayer[];
  readonly input: ModelInput;

  constructor(name: string, sourcePath: string, readonly config: MlpConfig, raw: RawWeights) {
    super(name, 'hf', sourcePath);
    const where = `${sourcePath}/model.safetensors`;
    // config.json against the weights (specs.ts): every tensor, named by key and shape.
    ({ raw } = checkedWeights(mlpSpec(config, `${sourcePath}/config.json`), raw, where));
    this.input = { kind: 'image', height: config.image_size, width: config.image_size, channels: config.num_channels };
    this.layers = config.hidden_sizes.map((_, i) => new AdaptableLayer({
      name: `mlp.layers.${i}`, kind: 'linear',
      weight: takeWeight(raw, `mlp.layers.${i}.weight`, where, 'same', 2),
      bias: takeWeight(raw, `mlp.layers.${i}.bias`, where, 'same', 1),
    }));
    this.layers.push(new AdaptableLayer({
      name: 'classifier', kind: 'linear', head: true,
      weight: takeWeight(raw, 'classifier.weight', where, 'same', 2),
      bias: takeWeight(raw, 'classifier.bias', where, 'same', 1),
    }));
  }

  forward(x: Tensor, ctx: ForwardContext): Tensor {
    let h: Tensor = tf.reshape(x, [x.shape[0], -1]);
    for (const [i, layer] of this.layers.entries()) {
      // The first stage's input is a view of the batch, not the model's to free.
      h = stage(h, () => (layer.head ? layer.apply(h, ctx) : relu(layer.apply(h, ctx))), i > 0);
    }
    return h;
  }

  weightEntries(): WeightEntry[] {
    return this.layers.flatMap((l) => [
      { fileName: `${l.name}.weight`, layout: 'same' as const, get: () => l.weight, set: (t: Tensor) => { l.weight = t; } },
      { fileName: `${l.name}.bias`, layout: 'same' as const, get: () => l.bias!, set: (t: Tensor) => { l.bias = t; } },
    ]);
  }

  /** Appendix B: hidden layer i's neurons are the input features of layer i + 1. */
  override dependencies(): ChannelGroup[] {
    return this.layers.slice(0, -1).map((l, i) => ({
      name: `${l.name} outputs`, channels: l.dOut, rows: [l.name], columns: [this.layers[i + 1].name],
    }));
  }

  protected override onHeadReplaced(numLabels: number): void {
    this.config.num_labels = numLabels;
  }

  exportConfig(): Record<string, unknown> {
    const id2label = this.labelNames ? Object.fromEntries(this.labelNames.map((n, i) => [String(i), n])) : this.config.id2label;
    return { ...this.config, architectures: ['SpruftMLPForImageClassification'], ...(id2label ? { id2label } : {}) };
  }
}
