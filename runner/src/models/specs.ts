/**
 * The checkpoint layouts of the Hugging Face language architectures, from config.json
 * alone (hfSpec.ts): Llama family (Llama, Mistral, Qwen2), GPT-2, BERT and RoBERTa.
 * And ViT and the MLP image classifier. Every size carries the config.json key it comes
 * from (Dim), so a checkpoint that disagrees is named by key and tensor (checkWeights).
 * TensorFlow.js-free, so that the language server and `spruft check` can use them; the
 * models (llama.ts, gpt2.ts, bert.ts) build on the same declarations.
 */
import { SpruftError } from '../errors';
import type { TransformerShape } from '../../../protocol/results';
import { configInt, configLabels, configNumber, dims, expectedTensors, fixedDim, type Dim, type HfArchitectureSpec, type HfLayerSpec } from './hfSpec';
import type { MlpConfig } from './mlp';
import type { VitConfig } from './vit';

/** The labels of a classification head, and the key they come from. */
const labelsDim = (c: Record<string, unknown>): Dim => ({ size: configLabels(c), from: typeof c.num_labels === 'number' ? 'num_labels' : 'id2label' });

export const LLAMA_FAMILY = ['llama', 'mistral', 'qwen2'] as const;
export type LlamaFamily = (typeof LLAMA_FAMILY)[number];

export const CAUSAL_LM: Record<LlamaFamily, string> = { llama: 'LlamaForCausalLM', mistral: 'MistralForCausalLM', qwen2: 'Qwen2ForCausalLM' };
export const SEQUENCE_CLASSIFICATION: Record<LlamaFamily, string> = {
  llama: 'LlamaForSequenceClassification', mistral: 'MistralForSequenceClassification', qwen2: 'Qwen2ForSequenceClassification',
};

export interface LlamaConfig {
  model_type: LlamaFamily;
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads?: number;
  rms_norm_eps?: number;
  rope_theta?: number;
  max_position_embeddings: number;
  tie_word_embeddings?: boolean;
  head_dim?: number;
  /** Llama: biases on q, k, v and o. (Qwen2 always has them on q, k and v.) */
  attention_bias?: boolean;
  mlp_bias?: boolean;
  /** Mistral (and Qwen2 with use_sliding_window): attention span. */
  sliding_window?: number | null;
  use_sliding_window?: boolean;
  [key: string]: unknown;
}

/** The sizes of a Llama-family config, checked (MODEL_INVALID names the key). */
export function llamaSizes(c: LlamaConfig, where: string) {
  if (!(LLAMA_FAMILY as readonly unknown[]).includes(c.model_type)) {
    throw new SpruftError('MODEL_INVALID', `config.json: model_type "${String(c.model_type)}" is not one of ${LLAMA_FAMILY.join(', ')}`, where);
  }
  const d = configInt(c, 'hidden_size', where);
  const heads = configInt(c, 'num_attention_heads', where);
  const kv = configInt(c, 'num_key_value_heads', where, heads);
  if (heads % kv !== 0) throw new SpruftError('MODEL_INVALID', `config.json: num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kv}`, where);
  if (c.head_dim === undefined && d % heads !== 0) throw new SpruftError('MODEL_INVALID', `config.json: hidden_size ${d} is not divisible by num_attention_heads ${heads}`, where);
  const headDim = configInt(c, 'head_dim', where, d / heads);
  if (c.rope_scaling !== undefined && c.rope_scaling !== null) {
    throw new SpruftError('UNSUPPORTED', `config.json: rope_scaling ${JSON.stringify(c.rope_scaling)} is not supported (plain RoPE only); the positions would be wrong`, where);
  }
  const window = c.model_type === 'mistral' || (c.model_type === 'qwen2' && c.use_sliding_window === true)
    ? (typeof c.sliding_window === 'number' ? c.sliding_window : undefined) : undefined;
  return {
    d, heads, kv, headDim, window,
    vocab: configInt(c, 'vocab_size', where),
    mlp: configInt(c, 'intermediate_size', where),
    layers: configInt(c, 'num_hidden_layers', where),
    positions: configInt(c, 'max_position_embeddings', where),
    eps: configNumber(c, 'rms_norm_eps', 1e-6, where),
    qkvBias: c.model_type === 'qwen2' || c.attention_bias === true,
    oBias: c.model_type === 'llama' && c.attention_bias === true,
    mlpBias: c.model_type === 'llama' && c.mlp_bias === true,
  };
}

/**
 * The tensors of a Llama-family checkpoint from its config.json (hfSpec.ts). The LM head
 * is tied to the embeddings unless `tie_word_embeddings` is false; a `score` head
 * (sequence classification) may be present.
 */
export function llamaSpec(c: LlamaConfig, where = 'config.json'): HfArchitectureSpec {
  const z = llamaSizes(c, where);
  const d: Dim = { size: z.d, from: 'hidden_size' };
  const hd: Dim = c.head_dim !== undefined ? { size: z.headDim, from: 'head_dim' } : { size: z.headDim, from: 'hidden_size / num_attention_heads' };
  const q: Dim = { size: z.heads * z.headDim, from: `num_attention_heads x ${hd.from}` };
  const kv: Dim = { size: z.kv * z.headDim, from: `${c.num_key_value_heads !== undefined ? 'num_key_value_heads' : 'num_attention_heads'} x ${hd.from}` };
  const mlp: Dim = { size: z.mlp, from: 'intermediate_size' };
  const vocab: Dim = { size: z.vocab, from: 'vocab_size' };
  const layers: HfLayerSpec[] = [];
  const linear = (name: string, dOut: Dim, dIn: Dim, bias: boolean): HfLayerSpec => ({ name, kind: 'linear', ...dims(dOut, dIn), layout: 'same', bias });
  const norm = (name: string): HfLayerSpec => ({ name, kind: 'rmsnorm', ...dims(d), layout: 'same', bias: false });
  for (let i = 0; i < z.layers; i++) {
    const b = `model.layers.${i}`;
    layers.push(
      norm(`${b}.input_layernorm`),
      linear(`${b}.self_attn.q_proj`, q, d, z.qkvBias),
      linear(`${b}.self_attn.k_proj`, kv, d, z.qkvBias),
      linear(`${b}.self_attn.v_proj`, kv, d, z.qkvBias),
      linear(`${b}.self_attn.o_proj`, d, q, z.oBias),
      norm(`${b}.post_attention_layernorm`),
      linear(`${b}.mlp.gate_proj`, mlp, d, z.mlpBias),
      linear(`${b}.mlp.up_proj`, mlp, d, z.mlpBias),
      linear(`${b}.mlp.down_proj`, d, mlp, z.mlpBias),
    );
  }
  layers.push(norm('model.norm'), {
    ...linear('lm_head', vocab, d, false), head: true,
    ...(c.tie_word_embeddings === false ? {} : { tiedTo: 'model.embed_tokens.weight' }),
  });
  const extras = new Map<string, Dim[]>([['model.embed_tokens.weight', [vocab, d]], ['score.weight', [labelsDim(c), d]]]);
  const optionalExtras = new Set(['score.weight']);
  return {
    modelType: c.model_type, layers, extras, optionalExtras,
    // Rotary tables some older checkpoints saved as buffers.
    ignored: [/\.rotary_emb\.inv_freq$/],
    counted: [{ pattern: /^model\.layers\.(\d+)\./, key: 'num_hidden_layers', count: z.layers }],
  };
}

export interface Gpt2Config {
  model_type: 'gpt2';
  vocab_size: number;
  n_positions: number;
  n_embd: number;
  n_layer: number;
  n_head: number;
  n_inner?: number | null;
  activation_function?: string;
  layer_norm_epsilon?: number;
  tie_word_embeddings?: boolean;
  [key: string]: unknown;
}

/** HF's ACT2FN names GPT-2 configs use. */
const GPT2_ACTIVATIONS = ['gelu_new', 'gelu_pytorch_tanh', 'gelu', 'relu'] as const;
type Gpt2Activation = (typeof GPT2_ACTIVATIONS)[number];

export function gpt2Sizes(c: Gpt2Config, where: string) {
  const d = configInt(c, 'n_embd', where);
  const heads = configInt(c, 'n_head', where);
  if (d % heads !== 0) throw new SpruftError('MODEL_INVALID', `config.json: n_embd ${d} is not divisible by n_head ${heads}`, where);
  const act = (c.activation_function ?? 'gelu_new') as Gpt2Activation;
  if (!GPT2_ACTIVATIONS.includes(act)) {
    throw new SpruftError('UNSUPPORTED', `config.json: activation_function "${String(act)}" is not supported (supported: ${GPT2_ACTIVATIONS.join(', ')})`, where);
  }
  for (const key of ['scale_attn_by_inverse_layer_idx', 'add_cross_attention'] as const) {
    if (c[key] === true) throw new SpruftError('UNSUPPORTED', `config.json: ${key}: true is not supported`, where);
  }
  if (c.scale_attn_weights === false) throw new SpruftError('UNSUPPORTED', 'config.json: scale_attn_weights: false is not supported', where);
  if (c.tie_word_embeddings === false) throw new SpruftError('UNSUPPORTED', 'config.json: GPT-2 with an untied LM head (tie_word_embeddings: false) is not supported', where);
  return {
    d, heads, act,
    vocab: configInt(c, 'vocab_size', where),
    positions: configInt(c, 'n_positions', where),
    layers: configInt(c, 'n_layer', where),
    inner: typeof c.n_inner === 'number' ? configInt(c, 'n_inner', where) : 4 * d,
    eps: configNumber(c, 'layer_norm_epsilon', 1e-5, where),
  };
}

/** The tensors of a GPT2LMHeadModel checkpoint from its config.json (hfSpec.ts). */
export function gpt2Spec(c: Gpt2Config, where = 'config.json'): HfArchitectureSpec {
  const z = gpt2Sizes(c, where);
  const d: Dim = { size: z.d, from: 'n_embd' };
  const inner: Dim = { size: z.inner, from: typeof c.n_inner === 'number' ? 'n_inner' : '4 x n_embd' };
  const vocab: Dim = { size: z.vocab, from: 'vocab_size' };
  const conv1d = (name: string, dOut: Dim, dIn: Dim): HfLayerSpec => ({ name, kind: 'linear', ...dims(dOut, dIn), layout: 'io', bias: true });
  const norm = (name: string): HfLayerSpec => ({ name, kind: 'layernorm', ...dims(d), layout: 'same', bias: true });
  const layers: HfLayerSpec[] = [];
  for (let i = 0; i < z.layers; i++) {
    const b = `transformer.h.${i}`;
    layers.push(
      norm(`${b}.ln_1`),
      conv1d(`${b}.attn.c_attn`, { size: 3 * z.d, from: '3 x n_embd' }, d),
      conv1d(`${b}.attn.c_proj`, d, d),
      norm(`${b}.ln_2`),
      conv1d(`${b}.mlp.c_fc`, inner, d),
      conv1d(`${b}.mlp.c_proj`, d, inner),
    );
  }
  layers.push(norm('transformer.ln_f'), { name: 'lm_head', kind: 'linear', ...dims(vocab, d), layout: 'same', bias: false, head: true, tiedTo: 'transformer.wte.weight' });
  return {
    modelType: 'gpt2', layers,
    extras: new Map([['transformer.wte.weight', [vocab, d]], ['transformer.wpe.weight', [{ size: z.positions, from: 'n_positions' }, d]]]),
    // The causal-mask buffers older transformers saved with every block.
    ignored: [/(^|\.)h\.\d+\.attn\.(bias|masked_bias)$/],
    basePrefix: 'transformer.',
    counted: [{ pattern: /^transformer\.h\.(\d+)\./, key: 'n_layer', count: z.layers }],
  };
}

export interface BertConfig {
  model_type: 'bert' | 'roberta';
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  max_position_embeddings: number;
  type_vocab_size?: number;
  hidden_act?: string;
  layer_norm_eps?: number;
  pad_token_id?: number;
  num_labels?: number;
  id2label?: Record<string, string>;
  [key: string]: unknown;
}

const BERT_ACTIVATIONS = ['gelu', 'gelu_new', 'gelu_pytorch_tanh', 'relu'] as const;
type BertActivation = (typeof BERT_ACTIVATIONS)[number];

export function bertSizes(c: BertConfig, where: string) {
  if (c.model_type !== 'bert' && c.model_type !== 'roberta') throw new SpruftError('MODEL_INVALID', `config.json: model_type "${String(c.model_type)}" is not bert or roberta`, where);
  const d = configInt(c, 'hidden_size', where);
  const heads = configInt(c, 'num_attention_heads', where);
  if (d % heads !== 0) throw new SpruftError('MODEL_INVALID', `config.json: hidden_size ${d} is not divisible by num_attention_heads ${heads}`, where);
  const act = (c.hidden_act ?? 'gelu') as BertActivation;
  if (!BERT_ACTIVATIONS.includes(act)) throw new SpruftError('UNSUPPORTED', `config.json: hidden_act "${String(act)}" is not supported (supported: ${BERT_ACTIVATIONS.join(', ')})`, where);
  if (c.position_embedding_type !== undefined && c.position_embedding_type !== 'absolute') {
    throw new SpruftError('UNSUPPORTED', `config.json: position_embedding_type "${String(c.position_embedding_type)}" is not supported (absolute only)`, where);
  }
  const roberta = c.model_type === 'roberta';
  const pad = c.pad_token_id ?? (roberta ? 1 : 0);
  if (typeof pad !== 'number' || !Number.isInteger(pad) || pad < 0) throw new SpruftError('MODEL_INVALID', `config.json: "pad_token_id" must be a token id, got ${JSON.stringify(pad)}`, where);
  return {
    d, heads, act, roberta, pad,
    vocab: configInt(c, 'vocab_size', where),
    layers: configInt(c, 'num_hidden_layers', where),
    inner: configInt(c, 'intermediate_size', where),
    positions: configInt(c, 'max_position_embeddings', where),
    types: configInt(c, 'type_vocab_size', where, roberta ? 1 : 2),
    eps: configNumber(c, 'layer_norm_eps', 1e-12, where),
    labels: configLabels(c),
    prefix: roberta ? 'roberta' : 'bert',
  };
}

/** The tensors of a Bert/RobertaForSequenceClassification checkpoint from its config.json. */
export function bertSpec(c: BertConfig, where = 'config.json'): HfArchitectureSpec {
  const z = bertSizes(c, where);
  const p = z.prefix;
  const d: Dim = { size: z.d, from: 'hidden_size' };
  const inner: Dim = { size: z.inner, from: 'intermediate_size' };
  const linear = (name: string, dOut: Dim, dIn: Dim, extra: Partial<HfLayerSpec> = {}): HfLayerSpec => ({ name, kind: 'linear', ...dims(dOut, dIn), layout: 'same', bias: true, ...extra });
  const norm = (name: string): HfLayerSpec => ({ name, kind: 'layernorm', ...dims(d), layout: 'same', bias: true });
  const layers: HfLayerSpec[] = [norm(`${p}.embeddings.LayerNorm`)];
  for (let i = 0; i < z.layers; i++) {
    const b = `${p}.encoder.layer.${i}`;
    layers.push(
      linear(`${b}.attention.self.query`, d, d),
      linear(`${b}.attention.self.key`, d, d),
      linear(`${b}.attention.self.value`, d, d),
      linear(`${b}.attention.output.dense`, d, d),
      norm(`${b}.attention.output.LayerNorm`),
      linear(`${b}.intermediate.dense`, inner, d),
      linear(`${b}.output.dense`, d, inner),
      norm(`${b}.output.LayerNorm`),
    );
  }
  if (z.roberta) {
    layers.push(linear('classifier.dense', d, d, { optional: true }), linear('classifier.out_proj', labelsDim(c), d, { optional: true, head: true }));
  } else {
    layers.push(linear(`${p}.pooler.dense`, d, d, { optional: true }), linear('classifier', labelsDim(c), d, { optional: true, head: true }));
  }
  return {
    modelType: c.model_type, layers,
    extras: new Map([
      [`${p}.embeddings.word_embeddings.weight`, [{ size: z.vocab, from: 'vocab_size' }, d]],
      [`${p}.embeddings.position_embeddings.weight`, [{ size: z.positions, from: 'max_position_embeddings' }, d]],
      [`${p}.embeddings.token_type_embeddings.weight`, [{ size: z.types, from: 'type_vocab_size' }, d]],
    ]),
    // Pretraining heads and buffers that checkpoints carry; RoBERTa's classifier has no pooler.
    ignored: z.roberta
      ? [/^lm_head\./, /(^|\.)pooler\.dense\.(weight|bias)$/, /(^|\.)embeddings\.position_ids$/]
      : [/^cls\./, /(^|\.)embeddings\.position_ids$/],
    basePrefix: `${p}.`,
    counted: [{ pattern: new RegExp(`^${p}\\.encoder\\.layer\\.(\\d+)\\.`), key: 'num_hidden_layers', count: z.layers }],
  };
}


/** The sizes of a ViT config, checked (MODEL_INVALID names the key). */
export function vitSizes(c: VitConfig, where: string) {
  const d = configInt(c, 'hidden_size', where);
  const heads = configInt(c, 'num_attention_heads', where);
  if (d % heads !== 0) throw new SpruftError('MODEL_INVALID', `config.json: hidden_size ${d} is not divisible by num_attention_heads ${heads}`, where);
  const image = configInt(c, 'image_size', where);
  const patch = configInt(c, 'patch_size', where);
  if (image % patch !== 0) throw new SpruftError('MODEL_INVALID', `config.json: image_size ${image} is not divisible by patch_size ${patch}`, where);
  return {
    d, heads, image, patch,
    layers: configInt(c, 'num_hidden_layers', where),
    inner: configInt(c, 'intermediate_size', where),
    channels: configInt(c, 'num_channels', where),
  };
}

/** The tensors of a ViTForImageClassification checkpoint from its config.json. */
export function vitSpec(c: VitConfig, where = 'config.json'): HfArchitectureSpec {
  const z = vitSizes(c, where);
  const d: Dim = { size: z.d, from: 'hidden_size' };
  const inner: Dim = { size: z.inner, from: 'intermediate_size' };
  const patch: Dim = { size: z.patch, from: 'patch_size' };
  const linear = (name: string, dOut: Dim, dIn: Dim, bias = true, head = false): HfLayerSpec => ({ name, kind: 'linear', ...dims(dOut, dIn), layout: 'same', bias, head });
  const norm = (name: string): HfLayerSpec => ({ name, kind: 'layernorm', ...dims(d), layout: 'same', bias: true });
  const qkvBias = c.qkv_bias !== false;
  const layers: HfLayerSpec[] = [{
    name: 'vit.embeddings.patch_embeddings.projection', kind: 'conv2d', ...dims(patch, patch, { size: z.channels, from: 'num_channels' }, d), layout: 'oihw', bias: true,
  }];
  for (let i = 0; i < z.layers; i++) {
    const b = `vit.encoder.layer.${i}`;
    layers.push(
      norm(`${b}.layernorm_before`),
      linear(`${b}.attention.attention.query`, d, d, qkvBias),
      linear(`${b}.attention.attention.key`, d, d, qkvBias),
      linear(`${b}.attention.attention.value`, d, d, qkvBias),
      linear(`${b}.attention.output.dense`, d, d),
      norm(`${b}.layernorm_after`),
      linear(`${b}.intermediate.dense`, inner, d),
      linear(`${b}.output.dense`, d, inner),
    );
  }
  layers.push(norm('vit.layernorm'), linear('classifier', labelsDim(c), d, true, true));
  const patches: Dim = { size: (z.image / z.patch) ** 2 + 1, from: '(image_size / patch_size)^2 + 1' };
  return {
    modelType: 'vit', layers,
    extras: new Map([['vit.embeddings.cls_token', [fixedDim(1), fixedDim(1), d]], ['vit.embeddings.position_embeddings', [fixedDim(1), patches, d]]]),
    // ViTModel checkpoints carry a pooler the classifier does not read.
    ignored: [/^vit\.pooler\./],
    counted: [{ pattern: /^vit\.encoder\.layer\.(\d+)\./, key: 'num_hidden_layers', count: z.layers }],
  };
}

/** The tensors of a spruft-mlp checkpoint (mlp.ts) from its config.json. */
export function mlpSpec(c: MlpConfig, where = 'config.json'): HfArchitectureSpec {
  const sizes = c.hidden_sizes as unknown;
  if (!Array.isArray(sizes) || !sizes.every((s) => Number.isInteger(s) && s > 0)) {
    throw new SpruftError('MODEL_INVALID', `config.json: "hidden_sizes" must be a list of positive layer widths, got ${JSON.stringify(sizes)}`, where);
  }
  const image = configInt(c, 'image_size', where);
  const channels = configInt(c, 'num_channels', where);
  const labels = configInt(c, 'num_labels', where);
  let input: Dim = { size: image * image * channels, from: 'image_size^2 x num_channels' };
  const layers: HfLayerSpec[] = [];
  (sizes as number[]).forEach((width, i) => {
    const rows: Dim = { size: width, from: `hidden_sizes[${i}]` };
    layers.push({ name: `mlp.layers.${i}`, kind: 'linear', ...dims(rows, input), layout: 'same', bias: true });
    input = rows;
  });
  layers.push({ name: 'classifier', kind: 'linear', ...dims({ size: labels, from: 'num_labels' }, input), layout: 'same', bias: true, head: true });
  return {
    modelType: 'spruft-mlp', layers, extras: new Map(),
    counted: [{ pattern: /^mlp\.layers\.(\d+)\./, key: 'hidden_sizes', count: sizes.length }],
  };
}

/** The spec of a supported language architecture, by config.json's model_type; undefined for others. */
export function languageModelSpec(config: Record<string, unknown>, where = 'config.json'): HfArchitectureSpec | undefined {
  switch (config.model_type) {
    case 'llama': case 'mistral': case 'qwen2': return llamaSpec(config as LlamaConfig, where);
    case 'gpt2': return gpt2Spec(config as Gpt2Config, where);
    case 'bert': case 'roberta': return bertSpec(config as BertConfig, where);
    default: return undefined;
  }
}

/** The spec of any Hugging Face architecture the runner builds (languageModelSpec's, ViT, the MLP); undefined for others. */
export function hfModelSpec(config: Record<string, unknown>, where = 'config.json'): HfArchitectureSpec | undefined {
  switch (config.model_type) {
    case 'vit': return vitSpec(config as VitConfig, where);
    case 'spruft-mlp': return mlpSpec(config as MlpConfig, where);
    default: return languageModelSpec(config, where);
  }
}

/**
 * The tensors a model will hold, from config.json alone (no weights: planning a run on a
 * model that is not here, `spruft check` and the language server's memory estimate): the
 * tensors the architecture's spec requires. Optional ones are left out: a tied head shares
 * the embedding, and a head another task would add (Llama's `score`) is no part of this one.
 */
export function tensorsFromConfig(config: Record<string, unknown>, where: string): Array<{ name: string; shape: number[] }> {
  const spec = hfModelSpec(config, where);
  if (!spec) {
    throw new SpruftError('UNSUPPORTED', `model_type "${String(config.model_type)}" cannot be laid out from config.json alone; put its model.safetensors beside config.json`, where);
  }
  return [...expectedTensors(spec)].filter(([, e]) => !e.optional).map(([name, e]) => ({ name, shape: e.shape }));
}

/**
 * The transformer shape behind the memory estimate (blocks, widths, heads; a decoder's
 * vocabulary, an image encoder's tokens per example), or undefined for a model that is
 * no transformer the estimate models. Assumes the config passed its spec's checks.
 */
export function transformerShapeOf(c: Record<string, unknown>): TransformerShape | undefined {
  const num = (key: string): number => c[key] as number;
  // Qwen2 and Mistral blocks are Llama's (q/k/v biases, a sliding window: the same per-token cache).
  if (c.model_type === 'llama' || c.model_type === 'qwen2' || c.model_type === 'mistral') {
    const heads = num('num_attention_heads');
    return {
      kind: 'decoder', blocks: num('num_hidden_layers'), hidden: num('hidden_size'), intermediate: num('intermediate_size'),
      heads, kvHeads: typeof c.num_key_value_heads === 'number' ? c.num_key_value_heads : heads, gatedMlp: true, vocab: num('vocab_size'),
    };
  }
  if (c.model_type === 'vit') {
    const heads = num('num_attention_heads');
    const grid = Math.floor(num('image_size') / num('patch_size'));
    return {
      kind: 'encoder', blocks: num('num_hidden_layers'), hidden: num('hidden_size'), intermediate: num('intermediate_size'),
      heads, kvHeads: heads, gatedMlp: false, positions: grid * grid + 1,
    };
  }
  return undefined;
}
