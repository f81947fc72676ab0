/**
 * Vision Transformer (Dosovitskiy et al.), laid out as Hugging Face's
 * ViTForImageClassification: patch embedding (a conv with stride = patch), class token,
 * position embeddings, pre-norm blocks (attention, GELU MLP), final LayerNorm, and a
 * linear classifier on the class token. Weight names follow HF, so patterns like
 * `*.attention.*` or `*.intermediate.*` mean what users expect.
 */
import { gelu } from '../tensor/ops/activations';
import { multiHeadAttention } from '../tensor/ops/attention';
import type { ChannelGroup } from './channels/types';
import { tf, type Tensor } from '../tensor/tf';
import { add, firstPosition } from '../tensor/ops/elementwise';
import { customOp } from '../tensor/ops/grad';
import { AdaptableLayer, type ForwardContext } from './layer';
import { vitSpec } from './specs';
import { block, checkedWeights, Model, stage, takeOptional, takeWeight, type ModelInput, type RawWeights, type WeightEntry } from './model';

export interface VitConfig {
  model_type: 'vit';
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  image_size: number;
  patch_size: number;
  num_channels: number;
  layer_norm_eps?: number;
  qkv_bias?: boolean;
  num_labels?: number;
  id2label?: Record<string, string>;
  [key: string]: unknown;
}

interface VitBlock {
  norm1: AdaptableLayer;
  query: AdaptableLayer;
  key: AdaptableLayer;
  value: AdaptableLayer;
  attnOut: AdaptableLayer;
  norm2: AdaptableLayer;
  up: AdaptableLayer;
  down: AdaptableLayer;
}

export class VitModel extends Model {
  readonly architecture = 'vit';
  readonly input: ModelInput;
  readonly layers: AdaptableLayer[] = [];
  private readonly patch: AdaptableLayer;
  private readonly blocks: VitBlock[] = [];
  private readonly finalNorm: AdaptableLayer;
  private readonly classifier: AdaptableLayer;
  private clsToken: Tensor;
  private positions: Tensor;

  constructor(name: string, sourcePath: string, readonly config: VitConfig, raw: RawWeights) {
    super(name, 'hf', sourcePath);
    const where = `${sourcePath}/model.safetensors`;
    const c = config;
    // config.json against the weights (specs.ts): every tensor, named by key and shape.
    ({ raw } = checkedWeights(vitSpec(c, `${sourcePath}/config.json`), raw, where));
    const eps = c.layer_norm_eps ?? 1e-12;
    this.input = { kind: 'image', height: c.image_size, width: c.image_size, channels: c.num_channels };
    const linear = (n: string, head = false) => new AdaptableLayer({
      name: n, kind: 'linear', head,
      weight: takeWeight(raw, `${n}.weight`, where, 'same', 2), bias: takeOptional(raw, `${n}.bias`, where),
    });
    const norm = (n: string) => new AdaptableLayer({
      name: n, kind: 'layernorm', eps, weight: takeWeight(raw, `${n}.weight`, where, 'same', 1), bias: takeWeight(raw, `${n}.bias`, where, 'same', 1),
    });
    const p = 'vit.embeddings.patch_embeddings.projection';
    this.patch = new AdaptableLayer({
      name: p, kind: 'conv2d', weight: takeWeight(raw, `${p}.weight`, where, 'oihw', 4), bias: takeOptional(raw, `${p}.bias`, where),
      conv: { strides: [c.patch_size, c.patch_size], pad: 'valid' },
    });
    this.clsToken = takeWeight(raw, 'vit.embeddings.cls_token', where);
    this.positions = takeWeight(raw, 'vit.embeddings.position_embeddings', where);
    this.layers.push(this.patch);
    for (let i = 0; i < c.num_hidden_layers; i++) {
      const b = `vit.encoder.layer.${i}`;
      const block: VitBlock = {
        norm1: norm(`${b}.layernorm_before`),
        query: linear(`${b}.attention.attention.query`),
        key: linear(`${b}.attention.attention.key`),
        value: linear(`${b}.attention.attention.value`),
        attnOut: linear(`${b}.attention.output.dense`),
        norm2: norm(`${b}.layernorm_after`),
        up: linear(`${b}.intermediate.dense`),
        down: linear(`${b}.output.dense`),
      };
      this.blocks.push(block);
      this.layers.push(block.norm1, block.query, block.key, block.value, block.attnOut, block.norm2, block.up, block.down);
    }
    this.finalNorm = norm('vit.layernorm');
    this.classifier = linear('classifier', true);
    this.layers.push(this.finalNorm, this.classifier);
  }

  /** [cls; patches] + positions, as one op whose backward only slices and sums dy. */
  private embed(patches: Tensor): Tensor {
    const [b, gh, gw, d] = patches.shape as number[];
    const p = gh * gw;
    return customOp(
      [patches, this.clsToken, this.positions],
      () => tf.add(tf.concat([tf.tile(this.clsToken, [b, 1, 1]), tf.reshape(patches, [b, p, d])], 1), this.positions),
      (dy) => [
        tf.reshape(tf.slice(dy, [0, 1, 0], [b, p, d]), [b, gh, gw, d]),
        tf.sum(tf.slice(dy, [0, 0, 0], [b, 1, d]), 0, true),
        tf.sum(dy, 0, true),
      ],
    );
  }

  forward(x: Tensor, ctx: ForwardContext): Tensor {
    const heads = this.config.num_attention_heads;
    let h = stage(x, () => this.embed(this.patch.apply(x, ctx)), false);
    for (const b of this.blocks) {
      h = block(h, ctx, (x, bctx) => {
        const n1 = b.norm1.apply(x, bctx);
        const attn = multiHeadAttention(b.query.apply(n1, bctx), b.key.apply(n1, bctx), b.value.apply(n1, bctx), { heads });
        const mid = add(x, b.attnOut.apply(attn, bctx));
        const n2 = b.norm2.apply(mid, bctx);
        return add(mid, b.down.apply(gelu(b.up.apply(n2, bctx)), bctx));
      });
    }
    return stage(h, () => this.classifier.apply(firstPosition(this.finalNorm.apply(h, ctx)), ctx));
  }

  override extraWeights(): WeightEntry[] {
    return [
      { fileName: 'vit.embeddings.cls_token', layout: 'same', get: () => this.clsToken, set: (t) => { this.clsToken = t; } },
      { fileName: 'vit.embeddings.position_embeddings', layout: 'same', get: () => this.positions, set: (t) => { this.positions = t; } },
    ];
  }

  weightEntries(): WeightEntry[] {
    const entries: WeightEntry[] = this.extraWeights();
    for (const l of this.layers) {
      entries.push({ fileName: `${l.name}.weight`, layout: l.kind === 'conv2d' ? 'oihw' : 'same', get: () => l.weight, set: (t) => { l.weight = t; } });
      if (l.bias) entries.push({ fileName: `${l.name}.bias`, layout: 'same', get: () => l.bias!, set: (t) => { l.bias = t; } });
    }
    return entries;
  }

  /**
   * Appendix B for a ViT (as Torch-Pruning groups a transformer): the residual stream
   * (patch embedding, every block's attention output and MLP output rows, every
   * LayerNorm's channels; read by query/key/value, the MLP input and the classifier),
   * each block's query-key dimensions (paired by the dot product), its value dimensions
   * (read by the attention output), and its MLP neurons (read by the MLP output).
   */
  override dependencies(): ChannelGroup[] {
    const d = this.config.hidden_size;
    const residual: ChannelGroup = { name: 'residual stream', channels: d, rows: [this.patch.name], columns: [] };
    const groups: ChannelGroup[] = [residual];
    this.blocks.forEach((b, i) => {
      residual.rows.push(b.norm1.name, b.attnOut.name, b.norm2.name, b.down.name);
      residual.columns.push(b.query.name, b.key.name, b.value.name, b.up.name);
      groups.push(
        { name: `block ${i} query-key`, channels: d, rows: [b.query.name, b.key.name], columns: [] },
        { name: `block ${i} values`, channels: d, rows: [b.value.name], columns: [b.attnOut.name] },
        { name: `block ${i} mlp`, channels: this.config.intermediate_size, rows: [b.up.name], columns: [b.down.name] },
      );
    });
    residual.rows.push(this.finalNorm.name);
    residual.columns.push(this.classifier.name);
    return groups;
  }

  protected override onHeadReplaced(numLabels: number): void {
    this.config.num_labels = numLabels;
  }

  exportConfig(): Record<string, unknown> {
    const id2label = this.labelNames ? Object.fromEntries(this.labelNames.map((n, i) => [String(i), n])) : this.config.id2label;
    const label2id = id2label ? Object.fromEntries(Object.entries(id2label).map(([i, n]) => [n, Number(i)])) : undefined;
    return { ...this.config, architectures: ['ViTForImageClassification'], hidden_act: 'gelu', ...(id2label ? { id2label, label2id } : {}) };
  }
}
