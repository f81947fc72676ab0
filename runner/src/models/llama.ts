/**
 * Llama-style decoder (Touvron et al.), laid out as Hugging Face's LlamaForCausalLM:
 * token embeddings, pre-norm blocks with RMSNorm, causal self-attention with rotary
 * position embeddings (and grouped key/value heads), a SwiGLU MLP
 * (down(silu(gate(x)) * up(x))), a final RMSNorm and the LM head. Names follow HF:
 * `model.layers.<i>.self_attn.q_proj`, `model.layers.<i>.mlp.up_proj`, `lm_head`.
 * The family members share the layout: MistralForCausalLM (sliding-window attention),
 * Qwen2ForCausalLM (biases on q, k and v), and Llama's own `attention_bias`/`mlp_bias`.
 */
import { silu } from '../tensor/ops/activations';
import { multiHeadAttention, ropeTables } from '../tensor/ops/attention';
import type { ChannelGroup } from './channels/types';
import { tf, type Tensor } from '../tensor/tf';
import { autoOp } from '../tensor/autodiff';
import { add, mul } from '../tensor/ops/elementwise';
import { customOp } from '../tensor/ops/grad';
import type { Rng } from '../tensor/rng';
import { AdaptableLayer, type ForwardContext } from './layer';
import { block, checkedWeights, Model, specLayer, stage, takeWeight, type ModelInput, type RawWeights, type WeightEntry } from './model';
import { CAUSAL_LM, llamaSizes, llamaSpec, SEQUENCE_CLASSIFICATION, type LlamaConfig, type LlamaFamily } from './specs';

export type { LlamaConfig, LlamaFamily };

interface LlamaBlock {
  inputNorm: AdaptableLayer;
  q: AdaptableLayer;
  k: AdaptableLayer;
  v: AdaptableLayer;
  o: AdaptableLayer;
  postNorm: AdaptableLayer;
  gate: AdaptableLayer;
  up: AdaptableLayer;
  down: AdaptableLayer;
}

export class LlamaModel extends Model {
  readonly architecture: LlamaFamily;
  /** Mistral's sliding attention window, when it applies. */
  private readonly window: number | undefined;
  readonly input: ModelInput;
  readonly layers: AdaptableLayer[] = [];
  private embed: Tensor;
  private readonly blocks: LlamaBlock[] = [];
  private readonly finalNorm: AdaptableLayer;
  private readonly lmHeadLayer: AdaptableLayer;
  /**
   * Sequence classification (HF LlamaForSequenceClassification): `score` maps the hidden
   * state of each sequence's last real token to label logits. Absent for causal LM.
   */
  private score: AdaptableLayer | undefined;
  private readonly tied: boolean;
  private readonly rope: { cos: Tensor; sin: Tensor };

  constructor(name: string, sourcePath: string, readonly config: LlamaConfig, weights: RawWeights) {
    super(name, 'hf', sourcePath);
    const where = `${sourcePath}/model.safetensors`;
    const c = config;
    const z = llamaSizes(c, `${sourcePath}/config.json`);
    this.architecture = c.model_type;
    const spec = llamaSpec(c, `${sourcePath}/config.json`);
    const { raw } = checkedWeights(spec, weights, where);
    this.window = z.window;
    if (typeof c.pad_token_id === 'number') this.padTokenId = c.pad_token_id;
    this.input = { kind: 'tokens', vocabSize: z.vocab, maxLength: z.positions };
    const specs = new Map(spec.layers.map((l) => [l.name, l]));
    const noInit = (): Float32Array => { throw new Error('internal: no optional Llama layer'); };
    const layer = (n: string) => specLayer(specs.get(n)!, raw, where, noInit, { eps: z.eps });
    this.embed = takeWeight(raw, 'model.embed_tokens.weight', where, 'same', 2);
    for (let i = 0; i < z.layers; i++) {
      const b = `model.layers.${i}`;
      const block: LlamaBlock = {
        inputNorm: layer(`${b}.input_layernorm`),
        q: layer(`${b}.self_attn.q_proj`),
        k: layer(`${b}.self_attn.k_proj`),
        v: layer(`${b}.self_attn.v_proj`),
        o: layer(`${b}.self_attn.o_proj`),
        postNorm: layer(`${b}.post_attention_layernorm`),
        gate: layer(`${b}.mlp.gate_proj`),
        up: layer(`${b}.mlp.up_proj`),
        down: layer(`${b}.mlp.down_proj`),
      };
      this.blocks.push(block);
      this.layers.push(block.inputNorm, block.q, block.k, block.v, block.o, block.postNorm, block.gate, block.up, block.down);
    }
    this.finalNorm = layer('model.norm');
    // Unset tie_word_embeddings: tied when the file has no LM head of its own.
    this.tied = c.tie_word_embeddings === true || (c.tie_word_embeddings === undefined && !raw.has('lm_head.weight'));
    this.lmHeadLayer = this.tied
      ? new AdaptableLayer({ name: 'lm_head', kind: 'linear', head: true, weight: this.embed })
      : new AdaptableLayer({ name: 'lm_head', kind: 'linear', head: true, weight: takeWeight(raw, 'lm_head.weight', where, 'same', 2) });
    this.layers.push(this.finalNorm, this.lmHeadLayer);
    if (raw.has('score.weight')) this.attachScore(takeWeight(raw, 'score.weight', where, 'same', 2));
    this.rope = ropeTables(z.positions, z.headDim, c.rope_theta ?? 10000);
  }

  private attachScore(weight: Tensor): void {
    this.score = new AdaptableLayer({ name: 'score', kind: 'linear', head: true, weight });
    // The LM head stays (frozen, unused): only one head is "the" head.
    Object.assign(this.lmHeadLayer, { head: false });
    this.layers.splice(this.layers.indexOf(this.lmHeadLayer), 1);
    this.layers.push(this.score);
  }

  /** Classification: a new `score` head (normal(0, 0.02), no bias, as HF initialises it). */
  override replaceHead(numLabels: number, rng: Rng): void {
    const weight = tf.tensor(rng.fillNormal(new Float32Array(numLabels * this.config.hidden_size), 0.02), [numLabels, this.config.hidden_size]);
    if (this.score) {
      this.score.resetTraining();
      this.score.weight.dispose();
      this.score.weight = weight;
    } else {
      this.attachScore(weight);
    }
    this.config.num_labels = numLabels;
  }

  /** Hidden state of each sequence's last real (non-padding) token: [B, T, d] -> [B, d]. */
  private lastTokens(h: Tensor, ids: Tensor): Tensor {
    const [b, t, d] = h.shape as number[];
    const pad = this.padTokenId ?? 256;
    return customOp(
      [h],
      (save) => {
        const lengths = tf.sum(tf.cast(tf.notEqual(ids, pad), 'int32'), 1);
        const rows = tf.add(tf.mul(tf.range(0, b, 1, 'int32'), tf.scalar(t, 'int32')), tf.maximum(tf.sub(lengths, tf.scalar(1, 'int32')), tf.scalar(0, 'int32')));
        save([rows]);
        return tf.gather(tf.reshape(h, [b * t, d]), rows);
      },
      (dy, [rows]) => [tf.reshape(tf.scatterND(tf.reshape(rows, [-1, 1]), dy, [b * t, d]), [b, t, d])],
    );
  }

  /** Embeddings and blocks: the residual stream before the final norm. */
  private trunk(ids: Tensor, ctx: ForwardContext): Tensor {
    const c = this.config;
    // The embeddings train only under `full` (then they are a variable on the tape).
    let h = autoOp([this.embed], (e) => tf.gather(e, ids));
    for (const b of this.blocks) {
      h = block(h, ctx, (x, bctx) => {
        const n1 = b.inputNorm.apply(x, bctx);
        const attn = multiHeadAttention(b.q.apply(n1, bctx), b.k.apply(n1, bctx), b.v.apply(n1, bctx), {
          heads: c.num_attention_heads, kvHeads: c.num_key_value_heads, causal: true, rope: this.rope, window: this.window,
        });
        const mid = add(x, b.o.apply(attn, bctx));
        const n2 = b.postNorm.apply(mid, bctx);
        return add(mid, b.down.apply(mul(silu(b.gate.apply(n2, bctx)), b.up.apply(n2, bctx)), bctx));
      });
    }
    return h;
  }

  forward(ids: Tensor, ctx: ForwardContext): Tensor {
    const h = this.trunk(ids, ctx);
    return stage(h, () => {
      const normed = this.finalNorm.apply(h, ctx);
      if (this.score) return this.score.apply(this.lastTokens(normed, ids), ctx);
      return this.lmHeadLayer.apply(normed, ctx);
    });
  }

  override get lmHead(): AdaptableLayer | undefined {
    return this.score ? undefined : this.lmHeadLayer;
  }

  override lmHeadInput(ids: Tensor, ctx: ForwardContext): Tensor {
    const h = this.trunk(ids, ctx);
    return stage(h, () => this.finalNorm.apply(h, ctx));
  }

  override extraWeights(): WeightEntry[] {
    return [
      { fileName: 'model.embed_tokens.weight', layout: 'same', get: () => this.embed, set: (t) => { this.embed = t; if (this.tied) this.lmHeadLayer.weight = t; } },
    ];
  }

  weightEntries(): WeightEntry[] {
    const entries: WeightEntry[] = this.extraWeights();
    // With a `score` head the LM head is no layer of the run, but still a weight of the model.
    const all = this.layers.includes(this.lmHeadLayer) ? this.layers : [...this.layers, this.lmHeadLayer];
    for (const l of all) {
      if (l === this.lmHeadLayer && this.tied) continue;
      entries.push({ fileName: `${l.name}.weight`, layout: 'same', get: () => l.weight, set: (t) => { l.weight = t; } });
      if (l.bias) entries.push({ fileName: `${l.name}.bias`, layout: 'same', get: () => l.bias!, set: (t) => { l.bias = t; } });
    }
    return entries;
  }

  /**
   * Appendix B for a Llama block (LLM-Pruner's grouping): the residual stream
   * (attention and MLP output rows, every RMSNorm's channels; read by q/k/v, gate/up and
   * the LM head), each block's MLP neurons (gate and up rows, read by down), and, without
   * grouped key/value heads, its query-key dimensions and its value dimensions (read by
   * o). With grouped heads, q and k/v have different widths and are left ungrouped.
   */
  override dependencies(): ChannelGroup[] {
    const c = this.config;
    const grouped = (c.num_key_value_heads ?? c.num_attention_heads) !== c.num_attention_heads;
    const residual: ChannelGroup = { name: 'residual stream', channels: c.hidden_size, rows: [], columns: [] };
    const groups: ChannelGroup[] = [residual];
    this.blocks.forEach((b, i) => {
      residual.rows.push(b.inputNorm.name, b.o.name, b.postNorm.name, b.down.name);
      residual.columns.push(b.q.name, b.k.name, b.v.name, b.gate.name, b.up.name);
      groups.push({ name: `block ${i} mlp`, channels: c.intermediate_size, rows: [b.gate.name, b.up.name], columns: [b.down.name] });
      if (!grouped) {
        groups.push(
          { name: `block ${i} query-key`, channels: b.q.dOut, rows: [b.q.name, b.k.name], columns: [] },
          { name: `block ${i} values`, channels: b.v.dOut, rows: [b.v.name], columns: [b.o.name] },
        );
      }
    });
    residual.rows.push(this.finalNorm.name);
    residual.columns.push(this.lmHeadLayer.name);
    return groups;
  }

  exportConfig(): Record<string, unknown> {
    const id2label = this.labelNames ? Object.fromEntries(this.labelNames.map((n, i) => [String(i), n])) : undefined;
    return {
      ...this.config, tie_word_embeddings: this.tied,
      architectures: [this.score ? SEQUENCE_CLASSIFICATION[this.architecture] : CAUSAL_LM[this.architecture]],
      ...(id2label ? { id2label } : {}),
      ...(this.score && this.problemType ? { problem_type: this.problemType } : {}),
    };
  }

  override dispose(): void {
    super.dispose();
    tf.dispose([this.rope.cos, this.rope.sin]);
  }
}
