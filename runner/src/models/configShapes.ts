/**
 * config.json against the weights, before any work: each architecture declares the
 * tensors its config implies (name, and each dimension with the config key it comes
 * from), and one check compares them with the checkpoint's header. A config that
 * disagrees with the weights (hidden size, layer count, heads, vocabulary, a transposed
 * tensor) is MODEL_INVALID naming the key and the tensor, the same in `spruft inspect`,
 * `spruft check` (and the language server) and `spruft train`, instead of a TensorFlow.js
 * shape error deep in a forward pass. No TensorFlow.js here (the language server uses it).
 *
 * The same declarations lay a model out from config.json alone (`tensorsFromConfig`), so
 * that `spruft inspect`, `spruft check` and the language server plan a run, and estimate
 * its memory, for a model whose weights are not here (a Llama-2-7B config.json is a few
 * hundred bytes, its weights 27 GB).
 *
 * To add an architecture: write its ArchitectureShapes and add it to HF_ARCHITECTURE_SHAPES
 * under its `model_type` (and to transformerShapeOf for the memory estimate).
 * Architectures without an entry are not checked here.
 */
import { join } from 'node:path';
import type { TransformerShape } from '../../../protocol/results';
import { SpruftError } from '../errors';

/** One dimension the config implies: its size and where it comes from (`hidden_size`, `num_attention_heads x head_dim`). */
export interface ExpectedDim {
  size: number;
  from: string;
}

export interface ExpectedTensor {
  name: string;
  dims: ExpectedDim[];
  /** Absent is fine (a bias, a tied LM head). */
  optional?: boolean;
}

export type HfConfigObject = Record<string, unknown>;

export interface ArchitectureShapes {
  /** Keys that must be positive integers. */
  integerKeys: string[];
  /** Rules between keys; each finding names its key. */
  keyRules?(c: HfConfigObject): Array<{ key: string; message: string }>;
  /** The tensors the config implies (given the names present, for optional parts). */
  tensors(c: HfConfigObject, present: ReadonlySet<string>): ExpectedTensor[];
  /** Tensor families counted by a key: a tensor with an index at or past the count is an extra layer. */
  counted?: Array<{ pattern: RegExp; key: string }>;
}

const num = (c: HfConfigObject, key: string): number => c[key] as number;
const dim = (c: HfConfigObject, key: string): ExpectedDim => ({ size: num(c, key), from: key });

function headDim(c: HfConfigObject): ExpectedDim {
  if (typeof c.head_dim === 'number') return { size: c.head_dim, from: 'head_dim' };
  return { size: num(c, 'hidden_size') / num(c, 'num_attention_heads'), from: 'hidden_size / num_attention_heads' };
}

const llamaShapes: ArchitectureShapes = {
  integerKeys: ['vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'max_position_embeddings'],
  keyRules(c) {
    const out: Array<{ key: string; message: string }> = [];
    const kv = c.num_key_value_heads ?? c.num_attention_heads;
    if (c.num_key_value_heads !== undefined && !(Number.isInteger(kv) && (kv as number) > 0)) out.push({ key: 'num_key_value_heads', message: `must be a positive integer (got ${JSON.stringify(kv)})` });
    else if (num(c, 'num_attention_heads') % (kv as number) !== 0) {
      out.push({ key: 'num_key_value_heads', message: `${String(kv)} does not divide num_attention_heads ${num(c, 'num_attention_heads')}` });
    }
    if (c.head_dim === undefined && num(c, 'hidden_size') % num(c, 'num_attention_heads') !== 0) {
      out.push({ key: 'num_attention_heads', message: `${num(c, 'num_attention_heads')} does not divide hidden_size ${num(c, 'hidden_size')}` });
    }
    return out;
  },
  tensors(c, present) {
    const hidden = dim(c, 'hidden_size');
    const inter = dim(c, 'intermediate_size');
    const hd = headDim(c);
    const heads: ExpectedDim = { size: num(c, 'num_attention_heads') * hd.size, from: `num_attention_heads x ${hd.from}` };
    const kvKey = c.num_key_value_heads !== undefined ? 'num_key_value_heads' : 'num_attention_heads';
    const kv: ExpectedDim = { size: num(c, kvKey) * hd.size, from: `${kvKey} x ${hd.from}` };
    const out: ExpectedTensor[] = [{ name: 'model.embed_tokens.weight', dims: [dim(c, 'vocab_size'), hidden] }];
    for (let i = 0; i < num(c, 'num_hidden_layers'); i++) {
      const b = `model.layers.${i}`;
      out.push(
        { name: `${b}.input_layernorm.weight`, dims: [hidden] },
        { name: `${b}.self_attn.q_proj.weight`, dims: [heads, hidden] },
        { name: `${b}.self_attn.k_proj.weight`, dims: [kv, hidden] },
        { name: `${b}.self_attn.v_proj.weight`, dims: [kv, hidden] },
        { name: `${b}.self_attn.o_proj.weight`, dims: [hidden, heads] },
        { name: `${b}.post_attention_layernorm.weight`, dims: [hidden] },
        { name: `${b}.mlp.gate_proj.weight`, dims: [inter, hidden] },
        { name: `${b}.mlp.up_proj.weight`, dims: [inter, hidden] },
        { name: `${b}.mlp.down_proj.weight`, dims: [hidden, inter] },
      );
    }
    out.push({ name: 'model.norm.weight', dims: [hidden] });
    out.push({ name: 'lm_head.weight', dims: [dim(c, 'vocab_size'), hidden], optional: true });
    if (!present.has('lm_head.weight') && c.tie_word_embeddings === false) out.push({ name: 'lm_head.weight', dims: [dim(c, 'vocab_size'), hidden] });
    return out;
  },
  counted: [{ pattern: /^model\.layers\.(\d+)\./, key: 'num_hidden_layers' }],
};

const vitShapes: ArchitectureShapes = {
  integerKeys: ['hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size', 'image_size', 'patch_size', 'num_channels'],
  keyRules(c) {
    const out: Array<{ key: string; message: string }> = [];
    if (num(c, 'hidden_size') % num(c, 'num_attention_heads') !== 0) out.push({ key: 'num_attention_heads', message: `${num(c, 'num_attention_heads')} does not divide hidden_size ${num(c, 'hidden_size')}` });
    if (num(c, 'image_size') % num(c, 'patch_size') !== 0) out.push({ key: 'patch_size', message: `${num(c, 'patch_size')} does not divide image_size ${num(c, 'image_size')}` });
    return out;
  },
  tensors(c) {
    const hidden = dim(c, 'hidden_size');
    const inter = dim(c, 'intermediate_size');
    const patch = dim(c, 'patch_size');
    const patches = (num(c, 'image_size') / num(c, 'patch_size')) ** 2;
    const p = 'vit.embeddings.patch_embeddings.projection';
    const out: ExpectedTensor[] = [
      { name: `${p}.weight`, dims: [hidden, dim(c, 'num_channels'), patch, patch] },
      { name: `${p}.bias`, dims: [hidden], optional: true },
      { name: 'vit.embeddings.cls_token', dims: [{ size: 1, from: '1' }, { size: 1, from: '1' }, hidden] },
      { name: 'vit.embeddings.position_embeddings', dims: [{ size: 1, from: '1' }, { size: patches + 1, from: '(image_size / patch_size)^2 + 1' }, hidden] },
    ];
    const linear = (n: string, rows: ExpectedDim, cols: ExpectedDim): ExpectedTensor[] => [
      { name: `${n}.weight`, dims: [rows, cols] },
      { name: `${n}.bias`, dims: [rows], optional: true },
    ];
    const norm = (n: string): ExpectedTensor[] => [{ name: `${n}.weight`, dims: [hidden] }, { name: `${n}.bias`, dims: [hidden] }];
    for (let i = 0; i < num(c, 'num_hidden_layers'); i++) {
      const b = `vit.encoder.layer.${i}`;
      out.push(
        ...norm(`${b}.layernorm_before`),
        ...linear(`${b}.attention.attention.query`, hidden, hidden),
        ...linear(`${b}.attention.attention.key`, hidden, hidden),
        ...linear(`${b}.attention.attention.value`, hidden, hidden),
        ...linear(`${b}.attention.output.dense`, hidden, hidden),
        ...norm(`${b}.layernorm_after`),
        ...linear(`${b}.intermediate.dense`, inter, hidden),
        ...linear(`${b}.output.dense`, hidden, inter),
      );
    }
    out.push(...norm('vit.layernorm'));
    return out;
  },
  counted: [{ pattern: /^vit\.encoder\.layer\.(\d+)\./, key: 'num_hidden_layers' }],
};

const mlpShapes: ArchitectureShapes = {
  integerKeys: ['image_size', 'num_channels', 'num_labels'],
  keyRules(c) {
    const sizes = c.hidden_sizes;
    if (!Array.isArray(sizes) || !sizes.every((s) => Number.isInteger(s) && s > 0)) return [{ key: 'hidden_sizes', message: `must be a list of positive layer widths (got ${JSON.stringify(sizes)})` }];
    return [];
  },
  tensors(c) {
    const sizes = c.hidden_sizes as number[];
    const out: ExpectedTensor[] = [];
    let input: ExpectedDim = { size: num(c, 'image_size') ** 2 * num(c, 'num_channels'), from: 'image_size^2 x num_channels' };
    sizes.forEach((width, i) => {
      const rows = { size: width, from: `hidden_sizes[${i}]` };
      out.push({ name: `mlp.layers.${i}.weight`, dims: [rows, input] }, { name: `mlp.layers.${i}.bias`, dims: [rows] });
      input = rows;
    });
    out.push({ name: 'classifier.weight', dims: [dim(c, 'num_labels'), input] }, { name: 'classifier.bias', dims: [dim(c, 'num_labels')] });
    return out;
  },
  counted: [{ pattern: /^mlp\.layers\.(\d+)\./, key: 'hidden_sizes' }],
};

/** By config.json `model_type`. */
export const HF_ARCHITECTURE_SHAPES: Record<string, ArchitectureShapes> = {
  llama: llamaShapes,
  vit: vitShapes,
  'spruft-mlp': mlpShapes,
};

const shapeText = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

/** The config keys an architecture's shapes are built from, each a positive integer, and their rules. */
function checkConfigKeys(spec: ArchitectureShapes, config: HfConfigObject, configPath: string): void {
  for (const key of spec.integerKeys) {
    const v = config[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new SpruftError('MODEL_INVALID', `"${key}" must be a positive integer (got ${JSON.stringify(v)})`, configPath);
    }
  }
  const rule = spec.keyRules?.(config)[0];
  if (rule) throw new SpruftError('MODEL_INVALID', `"${rule.key}" ${rule.message}`, configPath);
}

/**
 * An optional tensor is part of a config-only layout unless config.json says it is not:
 * a Llama's LM head with `tie_word_embeddings: true` (HF's LlamaConfig defaults it to
 * false), a ViT's q/k/v biases with `qkv_bias: false`.
 */
function impliedByConfig(c: HfConfigObject, name: string): boolean {
  if (name === 'lm_head.weight') return c.tie_word_embeddings !== true;
  if (/\.attention\.attention\.(query|key|value)\.bias$/.test(name)) return c.qkv_bias !== false;
  return true;
}

/**
 * Every weight of the model with its shape, as its safetensors would hold them, from
 * config.json alone (`configPath` names it in errors). A ViT's classifier is the
 * config's `num_labels` (or `id2label`) wide.
 */
export function tensorsFromConfig(config: HfConfigObject, configPath: string): Array<{ name: string; shape: number[] }> {
  const spec = HF_ARCHITECTURE_SHAPES[String(config.model_type)];
  if (!spec) {
    throw new SpruftError('UNSUPPORTED', `model_type "${String(config.model_type)}" cannot be laid out from config.json alone (without weights: ${Object.keys(HF_ARCHITECTURE_SHAPES).join(', ')}); put its model.safetensors beside config.json`, configPath);
  }
  checkConfigKeys(spec, config, configPath);
  const byName = new Map<string, ExpectedTensor>();
  for (const t of spec.tensors(config, new Set())) {
    const prev = byName.get(t.name);
    if (!prev || (prev.optional && !t.optional)) byName.set(t.name, t);
  }
  const out = [...byName.values()].filter((t) => !t.optional || impliedByConfig(config, t.name)).map((t) => ({ name: t.name, shape: t.dims.map((d) => d.size) }));
  if (config.model_type === 'vit') {
    const labels = typeof config.num_labels === 'number' ? config.num_labels
      : config.id2label && typeof config.id2label === 'object' ? Object.keys(config.id2label).length : 2;
    out.push({ name: 'classifier.weight', shape: [labels, num(config, 'hidden_size')] }, { name: 'classifier.bias', shape: [labels] });
  }
  return out;
}

/**
 * The transformer shape behind the memory estimate (blocks, widths, heads; a decoder's
 * vocabulary, an image encoder's tokens per example), or undefined for a model that is
 * no transformer. Assumes `tensorsFromConfig` or the weights check passed.
 */
export function transformerShapeOf(c: HfConfigObject): TransformerShape | undefined {
  // Qwen2 and Mistral blocks are Llama's (q/k/v biases, a sliding window: the same per-token cache).
  if (c.model_type === 'llama' || c.model_type === 'qwen2' || c.model_type === 'mistral') {
    const heads = num(c, 'num_attention_heads');
    return {
      kind: 'decoder', blocks: num(c, 'num_hidden_layers'), hidden: num(c, 'hidden_size'), intermediate: num(c, 'intermediate_size'),
      heads, kvHeads: typeof c.num_key_value_heads === 'number' ? c.num_key_value_heads : heads, gatedMlp: true, vocab: num(c, 'vocab_size'),
    };
  }
  if (c.model_type === 'vit') {
    const heads = num(c, 'num_attention_heads');
    const grid = Math.floor(num(c, 'image_size') / num(c, 'patch_size'));
    return {
      kind: 'encoder', blocks: num(c, 'num_hidden_layers'), hidden: num(c, 'hidden_size'), intermediate: num(c, 'intermediate_size'),
      heads, kvHeads: heads, gatedMlp: false, positions: grid * grid + 1,
    };
  }
  return undefined;
}

/**
 * Compare config.json (`config`) with the tensor shapes of the checkpoint (`shapes`) of
 * the model folder `dir`. Throws MODEL_INVALID at the first disagreement, naming the
 * config key and the tensor; does nothing for a `model_type` without declared shapes.
 */
export function checkConfigAgainstWeights(config: HfConfigObject, shapes: ReadonlyMap<string, readonly number[]>, dir: string): void {
  const spec = HF_ARCHITECTURE_SHAPES[String(config.model_type)];
  if (!spec) return;
  const configPath = join(dir, 'config.json');
  checkConfigKeys(spec, config, configPath);
  const weights = `the weights (${join(dir, 'model.safetensors')})`;
  for (const counted of spec.counted ?? []) {
    const value = config[counted.key];
    const count = Array.isArray(value) ? value.length : (value as number);
    for (const name of shapes.keys()) {
      const index = counted.pattern.exec(name)?.[1];
      if (index !== undefined && Number(index) >= count) {
        throw new SpruftError('MODEL_INVALID', `"${counted.key}" gives ${count} layers, but ${weights} hold tensor "${name}" of layer ${index}: the config and the weights disagree on the layer count`, configPath);
      }
    }
  }
  const present = new Set(shapes.keys());
  for (const t of spec.tensors(config, present)) {
    const actual = shapes.get(t.name);
    const expected = t.dims.map((d) => d.size);
    const formula = `[${t.dims.map((d) => (String(d.size) === d.from ? d.from : `${d.from} = ${d.size}`)).join(', ')}]`;
    if (!actual) {
      if (t.optional) continue;
      const keys = [...new Set(t.dims.map((d) => d.from).filter((f) => /^[a-z_]/.test(f)))];
      throw new SpruftError('MODEL_INVALID', `tensor "${t.name}" (shape ${formula} from config.json) is missing from ${weights}; does config.json${keys.length ? ` (${keys.map((k) => `"${k}"`).join(', ')})` : ''} describe these weights?`, configPath);
    }
    if (actual.length === expected.length && actual.every((n, i) => n === expected[i])) continue;
    if (actual.length === 2 && expected.length === 2 && actual[0] === expected[1] && actual[1] === expected[0]) {
      throw new SpruftError('MODEL_INVALID', `tensor "${t.name}" is transposed: the weights hold ${shapeText(actual)}, config.json gives ${formula} (out x in, as PyTorch stores linear weights); export the weights in Hugging Face's layout`, configPath);
    }
    const wrong = actual.length === expected.length ? t.dims.filter((d, i) => d.size !== actual[i]) : t.dims;
    const keys = [...new Set(wrong.map((d) => d.from))];
    throw new SpruftError(
      'MODEL_INVALID',
      `${keys.map((k) => `"${k}"`).join(', ')} disagree${keys.length === 1 ? 's' : ''} with the weights: tensor "${t.name}" has shape ${shapeText(actual)}, config.json gives ${formula}`,
      configPath,
    );
  }
}
