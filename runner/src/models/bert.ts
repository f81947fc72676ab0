/**
 * BERT (Devlin et al.) and RoBERTa (Liu et al.) encoders for sequence classification,
 * laid out as Hugging Face's BertForSequenceClassification and
 * RobertaForSequenceClassification: word, position and token-type embeddings summed and
 * LayerNorm'd, post-norm blocks (self-attention over the real tokens, padding masked;
 * `attention.output.LayerNorm(x + attention)`, then `output.LayerNorm(x + MLP)`), and a
 * classifier on the first token: BERT through its pooler (tanh(dense(h_0))) and a linear
 * `classifier`; RoBERTa through `classifier.dense`, tanh and `classifier.out_proj`.
 * RoBERTa numbers positions from padding_idx + 1 (padding tokens sit at padding_idx).
 * Token types: with type_vocab_size > 1 (BERT's 2) the ids carry each token's type,
 * packed (models/tokenTypes.ts: the second text of a pair is type 1); RoBERTa (one type)
 * reads plain ids, every token of type 0, as transformers' RoBERTa tokenizers give no
 * token_type_ids.
 *
 * A checkpoint without the classifier (or BERT's pooler), as pretrained-only checkpoints
 * are, gets new ones, initialised as transformers does (normal(0, 0.02), zero bias); the
 * pretraining heads it carries (`cls.*`, `lm_head.*`) are not read.
 */
import { SpruftError } from '../errors';
import { gelu, geluTanh, tanh } from '../tensor/ops/activations';
import { keyBiasOf, multiHeadAttention } from '../tensor/ops/attention';
import type { ChannelGroup } from './channels/types';
import { autoOp } from '../tensor/autodiff';
import { add, firstPosition, relu } from '../tensor/ops/elementwise';
import { Rng } from '../tensor/rng';
import { tf, type Tensor } from '../tensor/tf';
import { bertSizes, bertSpec, type BertConfig } from './specs';
import { unpackTokenTypes } from './tokenTypes';

export type { BertConfig };
import { AdaptableLayer, type ForwardContext } from './layer';
import { checkedWeights, Model, specLayer, stage, takeWeight, type ModelInput, type RawWeights, type WeightEntry } from './model';

interface BertBlock {
  query: AdaptableLayer;
  key: AdaptableLayer;
  value: AdaptableLayer;
  attnOut: AdaptableLayer;
  attnNorm: AdaptableLayer;
  up: AdaptableLayer;
  down: AdaptableLayer;
  outNorm: AdaptableLayer;
}

export class BertModel extends Model {
  readonly architecture: 'bert' | 'roberta';
  readonly input: ModelInput;
  readonly layers: AdaptableLayer[] = [];
  private words: Tensor;
  private positions: Tensor;
  private types: Tensor;
  private readonly embedNorm: AdaptableLayer;
  private readonly blocks: BertBlock[] = [];
  /** BERT: the pooler; RoBERTa: classifier.dense. */
  private readonly pooler: AdaptableLayer;
  private readonly classifier: AdaptableLayer;
  private readonly sizes: ReturnType<typeof bertSizes>;
  /** Tensors the checkpoint lacked, initialised fresh (the new head). */
  readonly initialised: string[];

  constructor(name: string, sourcePath: string, readonly config: BertConfig, weights: RawWeights) {
    super(name, 'hf', sourcePath);
    const where = `${sourcePath}/model.safetensors`;
    const spec = bertSpec(config, `${sourcePath}/config.json`);
    const z = (this.sizes = bertSizes(config, `${sourcePath}/config.json`));
    this.architecture = config.model_type;
    this.padTokenId = z.pad;
    const { raw, absent } = checkedWeights(spec, weights, where);
    this.initialised = [...absent];
    this.input = { kind: 'tokens', vocabSize: z.vocab, maxLength: z.roberta ? z.positions - z.pad - 1 : z.positions, ...(z.types > 1 ? { tokenTypes: z.types } : {}) };
    const specs = new Map(spec.layers.map((l) => [l.name, l]));
    const rng = new Rng(0);
    const init = (shape: number[]): Float32Array => rng.fillNormal(new Float32Array(shape.reduce((a, b) => a * b, 1)), 0.02);
    const layer = (n: string) => specLayer(specs.get(n)!, raw, where, init, { eps: z.eps });
    const p = z.prefix;
    this.words = takeWeight(raw, `${p}.embeddings.word_embeddings.weight`, where);
    this.positions = takeWeight(raw, `${p}.embeddings.position_embeddings.weight`, where);
    this.types = takeWeight(raw, `${p}.embeddings.token_type_embeddings.weight`, where);
    this.embedNorm = layer(`${p}.embeddings.LayerNorm`);
    this.layers.push(this.embedNorm);
    for (let i = 0; i < z.layers; i++) {
      const b = `${p}.encoder.layer.${i}`;
      const block: BertBlock = {
        query: layer(`${b}.attention.self.query`), key: layer(`${b}.attention.self.key`), value: layer(`${b}.attention.self.value`),
        attnOut: layer(`${b}.attention.output.dense`), attnNorm: layer(`${b}.attention.output.LayerNorm`),
        up: layer(`${b}.intermediate.dense`), down: layer(`${b}.output.dense`), outNorm: layer(`${b}.output.LayerNorm`),
      };
      this.blocks.push(block);
      this.layers.push(block.query, block.key, block.value, block.attnOut, block.attnNorm, block.up, block.down, block.outNorm);
    }
    this.pooler = layer(z.roberta ? 'classifier.dense' : `${p}.pooler.dense`);
    this.classifier = layer(z.roberta ? 'classifier.out_proj' : 'classifier');
    this.layers.push(this.pooler, this.classifier);
  }

  private activation(x: Tensor): Tensor {
    switch (this.sizes.act) {
      case 'gelu': return gelu(x);
      case 'gelu_new':
      case 'gelu_pytorch_tanh': return geluTanh(x);
      case 'relu': return relu(x);
    }
  }

  forward(input: Tensor, ctx: ForwardContext): Tensor {
    const [b, t] = input.shape as number[];
    const { d, heads, roberta, types, vocab } = this.sizes;
    const maxLength = roberta ? this.sizes.positions - this.sizes.pad - 1 : this.sizes.positions;
    if (t > maxLength) throw new SpruftError('DATA_INVALID', `sequences of ${t} tokens exceed the model's ${maxLength} positions; lower data.text.maxLength`);
    // Token ids and types are unpacked from `input` wherever they are read (the input is
    // still there when backward re-runs the embeddings; unpacked copies would not be).
    const tokenIds = (): Tensor => (types > 1 ? unpackTokenTypes(input, vocab).ids : input);
    // Padding tokens are masked out of attention; RoBERTa's position offset stays config.json's padding_idx.
    const pad = this.padTokenId ?? this.sizes.pad;
    const keyBias = tf.tidy(() => keyBiasOf(tf.notEqual(tokenIds(), pad)));
    // Position ids from the token ids alone.
    const positionIds = (ids: Tensor): Tensor => {
      if (!roberta) return tf.tile(tf.reshape(tf.range(0, t, 1, 'int32'), [1, t]), [b, 1]);
      // RoBERTa: real tokens at padding_idx + 1, 2, ...; padding at padding_idx.
      const real = tf.cast(tf.notEqual(ids, pad), 'int32');
      return tf.add(tf.mul(tf.cumsum(real, 1), real), tf.scalar(this.sizes.pad, 'int32'));
    };
    const embed = (w: Tensor, p: Tensor, ty: Tensor): Tensor => {
      if (types <= 1) return tf.add(tf.add(tf.gather(w, input), tf.gather(p, positionIds(input))), tf.reshape(tf.slice(ty, [0, 0], [1, d]), [1, 1, d]));
      const { ids, typeIds } = unpackTokenTypes(input, vocab);
      return tf.add(tf.add(tf.gather(w, ids), tf.gather(p, positionIds(ids))), tf.gather(ty, typeIds));
    };
    let h = stage(input, () => this.embedNorm.apply(autoOp([this.words, this.positions, this.types], embed), ctx), false);
    for (const blk of this.blocks) {
      h = stage(h, () => {
        const attn = multiHeadAttention(blk.query.apply(h, ctx), blk.key.apply(h, ctx), blk.value.apply(h, ctx), { heads, keyBias });
        const mid = blk.attnNorm.apply(add(h, blk.attnOut.apply(attn, ctx)), ctx);
        return blk.outNorm.apply(add(mid, blk.down.apply(this.activation(blk.up.apply(mid, ctx)), ctx)), ctx);
      });
    }
    const logits = stage(h, () => this.classifier.apply(tanh(this.pooler.apply(firstPosition(h), ctx)), ctx));
    keyBias.dispose();
    return logits;
  }

  override extraWeights(): WeightEntry[] {
    const p = this.sizes.prefix;
    return [
      { fileName: `${p}.embeddings.word_embeddings.weight`, layout: 'same', get: () => this.words, set: (t) => { this.words = t; } },
      { fileName: `${p}.embeddings.position_embeddings.weight`, layout: 'same', get: () => this.positions, set: (t) => { this.positions = t; } },
      { fileName: `${p}.embeddings.token_type_embeddings.weight`, layout: 'same', get: () => this.types, set: (t) => { this.types = t; } },
    ];
  }

  weightEntries(): WeightEntry[] {
    const entries = this.extraWeights();
    for (const l of this.layers) {
      entries.push({ fileName: `${l.name}.weight`, layout: 'same', get: () => l.weight, set: (t) => { l.weight = t; } });
      if (l.bias) entries.push({ fileName: `${l.name}.bias`, layout: 'same', get: () => l.bias!, set: (t) => { l.bias = t; } });
    }
    return entries;
  }

  /**
   * Appendix B for a post-norm encoder: the residual stream (the embeddings' LayerNorm,
   * each block's attention output and MLP output rows and both LayerNorms; read by
   * query/key/value, the MLP input and the pooler), each block's query-key dimensions,
   * its value dimensions (read by the attention output) and its MLP neurons (read by the
   * MLP output), and the pooled features (pooler rows, read by the classifier).
   */
  override dependencies(): ChannelGroup[] {
    const d = this.sizes.d;
    const residual: ChannelGroup = { name: 'residual stream', channels: d, rows: [this.embedNorm.name], columns: [] };
    const groups: ChannelGroup[] = [residual];
    this.blocks.forEach((b, i) => {
      residual.rows.push(b.attnOut.name, b.attnNorm.name, b.down.name, b.outNorm.name);
      residual.columns.push(b.query.name, b.key.name, b.value.name, b.up.name);
      groups.push(
        { name: `block ${i} query-key`, channels: d, rows: [b.query.name, b.key.name], columns: [] },
        { name: `block ${i} values`, channels: d, rows: [b.value.name], columns: [b.attnOut.name] },
        { name: `block ${i} mlp`, channels: this.sizes.inner, rows: [b.up.name], columns: [b.down.name] },
      );
    });
    residual.columns.push(this.pooler.name);
    groups.push({ name: 'pooled', channels: d, rows: [this.pooler.name], columns: [this.classifier.name] });
    return groups;
  }

  protected override onHeadReplaced(numLabels: number): void {
    this.config.num_labels = numLabels;
    delete this.config.id2label;
    delete this.config.label2id;
  }

  exportConfig(): Record<string, unknown> {
    const id2label = this.labelNames ? Object.fromEntries(this.labelNames.map((n, i) => [String(i), n])) : this.config.id2label;
    const label2id = id2label ? Object.fromEntries(Object.entries(id2label).map(([i, n]) => [n, Number(i)])) : undefined;
    return {
      ...this.config, num_labels: this.classifier.dOut,
      architectures: [this.architecture === 'roberta' ? 'RobertaForSequenceClassification' : 'BertForSequenceClassification'],
      ...(id2label ? { id2label, label2id } : {}),
      ...(this.problemType ? { problem_type: this.problemType } : {}),
    };
  }
}
