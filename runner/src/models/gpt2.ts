/**
 * GPT-2 (Radford et al. 2019), laid out as Hugging Face's GPT2LMHeadModel: token and
 * learned position embeddings, pre-norm blocks (LayerNorm, causal self-attention from one
 * fused q|k|v projection, a GELU MLP), a final LayerNorm and the LM head tied to the token
 * embeddings. Names follow HF: `transformer.h.<i>.attn.c_attn`, `transformer.h.<i>.mlp.c_fc`,
 * `transformer.ln_f`, `transformer.wte`.
 *
 * GPT-2's projections are Conv1D modules: y = x W + b with W stored [d_in, d_out], the
 * transpose of nn.Linear's. Here they are ordinary linear layers whose rows are output
 * neurons (the SPruFT notion of a row, paper 4.1); the transpose happens once at load and
 * once at export/merge (file layout 'io'), so adapters and merges see [d_out, d_in].
 */
import { SpruftError } from '../errors';
import { gelu, geluTanh } from '../tensor/ops/activations';
import { multiHeadAttention } from '../tensor/ops/attention';
import type { ChannelGroup } from './channels/types';
import { autoOp } from '../tensor/autodiff';
import { add, relu, sliceLastAxis } from '../tensor/ops/elementwise';
import { tf, type Tensor } from '../tensor/tf';
import { gpt2Sizes, gpt2Spec, type Gpt2Config } from './specs';

export type { Gpt2Config };
import { AdaptableLayer, type ForwardContext } from './layer';
import { checkedWeights, Model, specLayer, stage, takeWeight, type ModelInput, type RawWeights, type WeightEntry } from './model';

interface Gpt2Block {
  ln1: AdaptableLayer;
  attn: AdaptableLayer;
  attnProj: AdaptableLayer;
  ln2: AdaptableLayer;
  fc: AdaptableLayer;
  mlpProj: AdaptableLayer;
}

export class Gpt2Model extends Model {
  readonly architecture = 'gpt2';
  readonly input: ModelInput;
  readonly layers: AdaptableLayer[] = [];
  private wte: Tensor;
  private wpe: Tensor;
  private readonly blocks: Gpt2Block[] = [];
  private readonly lnF: AdaptableLayer;
  private readonly lmHeadLayer: AdaptableLayer;
  private readonly sizes: ReturnType<typeof gpt2Sizes>;

  constructor(name: string, sourcePath: string, readonly config: Gpt2Config, weights: RawWeights) {
    super(name, 'hf', sourcePath);
    const where = `${sourcePath}/model.safetensors`;
    const spec = gpt2Spec(config, `${sourcePath}/config.json`);
    const z = (this.sizes = gpt2Sizes(config, `${sourcePath}/config.json`));
    const { raw } = checkedWeights(spec, weights, where);
    this.input = { kind: 'tokens', vocabSize: z.vocab, maxLength: z.positions };
    const specs = new Map(spec.layers.map((l) => [l.name, l]));
    const noInit = (): Float32Array => { throw new Error('internal: no optional GPT-2 layer'); };
    const layer = (n: string) => specLayer(specs.get(n)!, raw, where, noInit, { eps: z.eps });
    this.wte = takeWeight(raw, 'transformer.wte.weight', where);
    this.wpe = takeWeight(raw, 'transformer.wpe.weight', where);
    for (let i = 0; i < z.layers; i++) {
      const b = `transformer.h.${i}`;
      const block: Gpt2Block = {
        ln1: layer(`${b}.ln_1`), attn: layer(`${b}.attn.c_attn`), attnProj: layer(`${b}.attn.c_proj`),
        ln2: layer(`${b}.ln_2`), fc: layer(`${b}.mlp.c_fc`), mlpProj: layer(`${b}.mlp.c_proj`),
      };
      this.blocks.push(block);
      this.layers.push(block.ln1, block.attn, block.attnProj, block.ln2, block.fc, block.mlpProj);
    }
    this.lnF = layer('transformer.ln_f');
    this.lmHeadLayer = new AdaptableLayer({ name: 'lm_head', kind: 'linear', head: true, weight: this.wte });
    this.layers.push(this.lnF, this.lmHeadLayer);
  }

  private activation(x: Tensor): Tensor {
    switch (this.sizes.act) {
      case 'gelu_new':
      case 'gelu_pytorch_tanh': return geluTanh(x);
      case 'gelu': return gelu(x);
      case 'relu': return relu(x);
    }
  }

  forward(ids: Tensor, ctx: ForwardContext): Tensor {
    const h = this.trunk(ids, ctx);
    return stage(h, () => this.lmHeadLayer.apply(this.lnF.apply(h, ctx), ctx));
  }

  override get lmHead(): AdaptableLayer {
    return this.lmHeadLayer;
  }

  override lmHeadInput(ids: Tensor, ctx: ForwardContext): Tensor {
    const h = this.trunk(ids, ctx);
    return stage(h, () => this.lnF.apply(h, ctx));
  }

  /** Embeddings and blocks: the residual stream before the final norm. */
  private trunk(ids: Tensor, ctx: ForwardContext): Tensor {
    const t = ids.shape[1]!;
    const { d, heads, positions } = this.sizes;
    if (t > positions) throw new SpruftError('DATA_INVALID', `sequences of ${t} tokens exceed GPT-2's ${positions} positions (n_positions); lower data.text.maxLength`);
    // Embeddings train only under `full` (then they are variables on the tape).
    let h = autoOp([this.wte, this.wpe], (e, p) => tf.add(tf.gather(e, ids), tf.slice(p, [0, 0], [t, d])));
    for (const b of this.blocks) {
      h = stage(h, () => {
        const qkv = b.attn.apply(b.ln1.apply(h, ctx), ctx);
        const attn = multiHeadAttention(sliceLastAxis(qkv, 0, d), sliceLastAxis(qkv, d, d), sliceLastAxis(qkv, 2 * d, d), { heads, causal: true });
        const mid = add(h, b.attnProj.apply(attn, ctx));
        return add(mid, b.mlpProj.apply(this.activation(b.fc.apply(b.ln2.apply(mid, ctx), ctx)), ctx));
      });
    }
    return h;
  }

  override replaceHead(): void {
    throw new SpruftError('UNSUPPORTED', 'GPT-2 here is a causal LM (its head is tied to the token embeddings); for text classification use a BERT, RoBERTa or Llama-family model');
  }

  override extraWeights(): WeightEntry[] {
    return [
      { fileName: 'transformer.wte.weight', layout: 'same', get: () => this.wte, set: (t) => { this.wte = t; this.lmHeadLayer.weight = t; } },
      { fileName: 'transformer.wpe.weight', layout: 'same', get: () => this.wpe, set: (t) => { this.wpe = t; } },
    ];
  }

  weightEntries(): WeightEntry[] {
    const entries = this.extraWeights();
    for (const l of this.layers) {
      if (l === this.lmHeadLayer) continue; // tied: transformers saves it with the embeddings only
      const layout = l.kind === 'linear' ? 'io' : 'same';
      entries.push({ fileName: `${l.name}.weight`, layout, get: () => l.weight, set: (t) => { l.weight = t; } });
      if (l.bias) entries.push({ fileName: `${l.name}.bias`, layout: 'same', get: () => l.bias!, set: (t) => { l.bias = t; } });
    }
    return entries;
  }

  /**
   * Appendix B for GPT-2: the residual stream (both projections back into it, every
   * LayerNorm's channels; read by c_attn, c_fc and the LM head), each block's MLP neurons
   * (c_fc rows, read by mlp.c_proj), and its attention as in a Llama block: the fused
   * c_attn holds q, k and v as row blocks 0..d-1, d..2d-1, 2d..3d-1 (its Conv1D's column
   * blocks in the file), so the query-key dimensions are rows c and d + c of c_attn, and
   * the value dimensions rows 2d + c, read by attn.c_proj's column c.
   */
  override dependencies(): ChannelGroup[] {
    const d = this.sizes.d;
    const residual: ChannelGroup = { name: 'residual stream', channels: d, rows: [], columns: [] };
    const groups: ChannelGroup[] = [residual];
    this.blocks.forEach((b, i) => {
      residual.rows.push(b.ln1.name, b.attnProj.name, b.ln2.name, b.mlpProj.name);
      residual.columns.push(b.attn.name, b.fc.name);
      groups.push(
        { name: `block ${i} query-key`, channels: d, rows: [b.attn.name], rowBlocks: { [b.attn.name]: [0, d] }, columns: [] },
        { name: `block ${i} values`, channels: d, rows: [b.attn.name], rowBlocks: { [b.attn.name]: [2 * d] }, columns: [b.attnProj.name] },
        { name: `block ${i} mlp`, channels: this.sizes.inner, rows: [b.fc.name], columns: [b.mlpProj.name] },
      );
    });
    residual.rows.push(this.lnF.name);
    residual.columns.push(this.lmHeadLayer.name);
    return groups;
  }

  exportConfig(): Record<string, unknown> {
    return { ...this.config, architectures: ['GPT2LMHeadModel'] };
  }
}
