/**
 * Float64 reference forward passes of the Hugging Face language architectures, written
 * from transformers' modeling code as plain loops over the checkpoint's tensors by their
 * file names and file layouts (GPT-2's Conv1D [in, out] read as such). Independent of the
 * engine: no TensorFlow.js, no layout conversion, no shared op. Tests compare the models'
 * logits against these (models/hfArchitectures.test.ts).
 */
import type { RawWeights } from './model';

type Vec = Float64Array;

export function get(raw: RawWeights, name: string): Vec {
  const w = raw.get(name);
  if (!w) throw new Error(`reference: no tensor ${name}`);
  return Float64Array.from(w.data);
}

/** y[n, out] = x[n, in] W^T + b with W [out, in] (nn.Linear), or x W + b with W [in, out] (Conv1D). */
function linear(x: Vec, n: number, dIn: number, w: Vec, b: Vec | undefined, dOut: number, conv1d = false): Vec {
  const y = new Float64Array(n * dOut);
  for (let r = 0; r < n; r++) {
    for (let o = 0; o < dOut; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < dIn; i++) s += x[r * dIn + i] * (conv1d ? w[i * dOut + o] : w[o * dIn + i]);
      y[r * dOut + o] = s;
    }
  }
  return y;
}

function layerNorm(x: Vec, n: number, d: number, g: Vec, b: Vec, eps: number): Vec {
  const y = new Float64Array(n * d);
  for (let r = 0; r < n; r++) {
    let mean = 0;
    for (let i = 0; i < d; i++) mean += x[r * d + i] / d;
    let v = 0;
    for (let i = 0; i < d; i++) v += (x[r * d + i] - mean) ** 2 / d;
    for (let i = 0; i < d; i++) y[r * d + i] = ((x[r * d + i] - mean) / Math.sqrt(v + eps)) * g[i] + b[i];
  }
  return y;
}

function rmsNorm(x: Vec, n: number, d: number, g: Vec, eps: number): Vec {
  const y = new Float64Array(n * d);
  for (let r = 0; r < n; r++) {
    let ms = 0;
    for (let i = 0; i < d; i++) ms += x[r * d + i] ** 2 / d;
    for (let i = 0; i < d; i++) y[r * d + i] = (x[r * d + i] / Math.sqrt(ms + eps)) * g[i];
  }
  return y;
}

/** erf to ~1e-15 (series for small |x|, continued fraction beyond). */
function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    let term = ax, sum = ax;
    for (let k = 1; k < 80; k++) {
      term *= (-ax * ax) / k;
      sum += term / (2 * k + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc continued fraction (Lentz), accurate for ax >= 2.5.
  let f = ax, c = ax, d = 0;
  for (let k = 1; k < 200; k++) {
    const a = k / 2;
    d = ax + a * d;
    d = 1 / d;
    c = ax + a / c;
    f *= c * d;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

export const act = {
  gelu: (x: number): number => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  geluTanh: (x: number): number => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  silu: (x: number): number => x / (1 + Math.exp(-x)),
};

function map(x: Vec, f: (v: number) => number): Vec {
  return x.map(f);
}

/**
 * Multi-head attention of one sequence: q [T, H*dh], k/v [T, KV*dh]; `visible(i, j)` says
 * whether query i may attend key j. Returns [T, H*dh].
 */
function attention(q: Vec, k: Vec, v: Vec, t: number, heads: number, kvHeads: number, dh: number, visible: (i: number, j: number) => boolean): Vec {
  const out = new Float64Array(t * heads * dh);
  const group = heads / kvHeads;
  for (let h = 0; h < heads; h++) {
    const g = Math.floor(h / group);
    for (let i = 0; i < t; i++) {
      const s = new Float64Array(t).fill(-Infinity);
      let max = -Infinity;
      for (let j = 0; j < t; j++) {
        if (!visible(i, j)) continue;
        let dot = 0;
        for (let e = 0; e < dh; e++) dot += q[i * heads * dh + h * dh + e] * k[j * kvHeads * dh + g * dh + e];
        s[j] = dot / Math.sqrt(dh);
        max = Math.max(max, s[j]);
      }
      let z = 0;
      for (let j = 0; j < t; j++) z += s[j] === -Infinity ? 0 : Math.exp(s[j] - max);
      for (let j = 0; j < t; j++) {
        if (s[j] === -Infinity) continue;
        const p = Math.exp(s[j] - max) / z;
        for (let e = 0; e < dh; e++) out[i * heads * dh + h * dh + e] += p * v[j * kvHeads * dh + g * dh + e];
      }
    }
  }
  return out;
}

/** Llama's rotate_half RoPE on [T, H*dh], in place. */
function rope(x: Vec, t: number, heads: number, dh: number, theta: number): void {
  const half = dh / 2;
  for (let p = 0; p < t; p++) {
    for (let h = 0; h < heads; h++) {
      const o = p * heads * dh + h * dh;
      for (let i = 0; i < half; i++) {
        const a = p / theta ** ((2 * i) / dh);
        const x1 = x[o + i], x2 = x[o + i + half];
        x[o + i] = x1 * Math.cos(a) - x2 * Math.sin(a);
        x[o + i + half] = x2 * Math.cos(a) + x1 * Math.sin(a);
      }
    }
  }
}

function addInto(a: Vec, b: Vec): Vec {
  for (let i = 0; i < a.length; i++) a[i] += b[i];
  return a;
}

const opt = (raw: RawWeights, name: string): Vec | undefined => (raw.has(name) ? get(raw, name) : undefined);

/** LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM logits of one sequence: [T, vocab]. */
export function llamaLogits64(c: Record<string, number | boolean | string | null | undefined>, raw: RawWeights, ids: number[]): Vec {
  const d = c.hidden_size as number, heads = c.num_attention_heads as number, kv = (c.num_key_value_heads as number) ?? heads;
  const dh = (c.head_dim as number) ?? d / heads, inner = c.intermediate_size as number, vocab = c.vocab_size as number;
  const eps = (c.rms_norm_eps as number) ?? 1e-6, t = ids.length;
  const window = c.model_type === 'mistral' && typeof c.sliding_window === 'number' ? c.sliding_window : Infinity;
  const emb = get(raw, 'model.embed_tokens.weight');
  let h: Vec = new Float64Array(t * d);
  ids.forEach((id, p) => h.set(emb.subarray(id * d, (id + 1) * d), p * d));
  for (let l = 0; l < (c.num_hidden_layers as number); l++) {
    const b = `model.layers.${l}`;
    const n = rmsNorm(h, t, d, get(raw, `${b}.input_layernorm.weight`), eps);
    const q = linear(n, t, d, get(raw, `${b}.self_attn.q_proj.weight`), opt(raw, `${b}.self_attn.q_proj.bias`), heads * dh);
    const k = linear(n, t, d, get(raw, `${b}.self_attn.k_proj.weight`), opt(raw, `${b}.self_attn.k_proj.bias`), kv * dh);
    const v = linear(n, t, d, get(raw, `${b}.self_attn.v_proj.weight`), opt(raw, `${b}.self_attn.v_proj.bias`), kv * dh);
    rope(q, t, heads, dh, (c.rope_theta as number) ?? 10000);
    rope(k, t, kv, dh, (c.rope_theta as number) ?? 10000);
    const a = attention(q, k, v, t, heads, kv, dh, (i, j) => j <= i && i - j < window);
    h = addInto(h, linear(a, t, heads * dh, get(raw, `${b}.self_attn.o_proj.weight`), opt(raw, `${b}.self_attn.o_proj.bias`), d));
    const n2 = rmsNorm(h, t, d, get(raw, `${b}.post_attention_layernorm.weight`), eps);
    const gate = map(linear(n2, t, d, get(raw, `${b}.mlp.gate_proj.weight`), undefined, inner), act.silu);
    const up = linear(n2, t, d, get(raw, `${b}.mlp.up_proj.weight`), undefined, inner);
    h = addInto(h, linear(gate.map((g, i) => g * up[i]), t, inner, get(raw, `${b}.mlp.down_proj.weight`), undefined, d));
  }
  const f = rmsNorm(h, t, d, get(raw, 'model.norm.weight'), eps);
  return linear(f, t, d, opt(raw, 'lm_head.weight') ?? emb, undefined, vocab);
}

/** GPT2LMHeadModel logits of one sequence: [T, vocab] (Conv1D weights read as [in, out]). */
export function gpt2Logits64(c: Record<string, number | string | null | undefined>, raw: RawWeights, ids: number[]): Vec {
  const d = c.n_embd as number, heads = c.n_head as number, vocab = c.vocab_size as number, t = ids.length;
  const inner = (c.n_inner as number | null) ?? 4 * d, eps = (c.layer_norm_epsilon as number) ?? 1e-5;
  const wte = get(raw, 'transformer.wte.weight'), wpe = get(raw, 'transformer.wpe.weight');
  let h: Vec = new Float64Array(t * d);
  ids.forEach((id, p) => { for (let i = 0; i < d; i++) h[p * d + i] = wte[id * d + i] + wpe[p * d + i]; });
  const ln = (x: Vec, name: string): Vec => layerNorm(x, t, d, get(raw, `${name}.weight`), get(raw, `${name}.bias`), eps);
  const conv = (x: Vec, name: string, dIn: number, dOut: number): Vec => linear(x, t, dIn, get(raw, `${name}.weight`), get(raw, `${name}.bias`), dOut, true);
  for (let l = 0; l < (c.n_layer as number); l++) {
    const b = `transformer.h.${l}`;
    const qkv = conv(ln(h, `${b}.ln_1`), `${b}.attn.c_attn`, d, 3 * d);
    const part = (s: number): Vec => Float64Array.from({ length: t * d }, (_, i) => qkv[Math.floor(i / d) * 3 * d + s * d + (i % d)]);
    const a = attention(part(0), part(1), part(2), t, heads, heads, d / heads, (i, j) => j <= i);
    h = addInto(h, conv(a, `${b}.attn.c_proj`, d, d));
    h = addInto(h, conv(map(conv(ln(h, `${b}.ln_2`), `${b}.mlp.c_fc`, d, inner), act.geluTanh), `${b}.mlp.c_proj`, inner, d));
  }
  return linear(ln(h, 'transformer.ln_f'), t, d, wte, undefined, vocab);
}

/**
 * Bert/RobertaForSequenceClassification logits of one sequence (padding by pad_token_id):
 * [labels]. `typeIds` are its token_type_ids (default all 0).
 */
export function bertLogits64(c: Record<string, unknown>, raw: RawWeights, ids: number[], typeIds: number[] = ids.map(() => 0)): Vec {
  const roberta = c.model_type === 'roberta', p = roberta ? 'roberta' : 'bert';
  const d = c.hidden_size as number, heads = c.num_attention_heads as number, inner = c.intermediate_size as number, t = ids.length;
  const eps = (c.layer_norm_eps as number) ?? 1e-12, pad = (c.pad_token_id as number) ?? (roberta ? 1 : 0);
  const words = get(raw, `${p}.embeddings.word_embeddings.weight`), pos = get(raw, `${p}.embeddings.position_embeddings.weight`);
  const types = get(raw, `${p}.embeddings.token_type_embeddings.weight`);
  let seen = 0;
  const positions = ids.map((id, i) => (roberta ? (id === pad ? pad : pad + ++seen) : i));
  let h: Vec = new Float64Array(t * d);
  ids.forEach((id, i) => { for (let e = 0; e < d; e++) h[i * d + e] = words[id * d + e] + pos[positions[i] * d + e] + types[typeIds[i] * d + e]; });
  const ln = (x: Vec, name: string): Vec => layerNorm(x, t, d, get(raw, `${name}.weight`), get(raw, `${name}.bias`), eps);
  const lin = (x: Vec, name: string, dIn: number, dOut: number, n = t): Vec => linear(x, n, dIn, get(raw, `${name}.weight`), get(raw, `${name}.bias`), dOut);
  h = ln(h, `${p}.embeddings.LayerNorm`);
  for (let l = 0; l < (c.num_hidden_layers as number); l++) {
    const b = `${p}.encoder.layer.${l}`;
    const q = lin(h, `${b}.attention.self.query`, d, d), k = lin(h, `${b}.attention.self.key`, d, d), v = lin(h, `${b}.attention.self.value`, d, d);
    const a = attention(q, k, v, t, heads, heads, d / heads, (_i, j) => ids[j] !== pad);
    h = ln(addInto(lin(a, `${b}.attention.output.dense`, d, d), h), `${b}.attention.output.LayerNorm`);
    const fn = c.hidden_act === 'gelu_new' ? act.geluTanh : act.gelu;
    h = ln(addInto(lin(map(lin(h, `${b}.intermediate.dense`, d, inner), fn), `${b}.output.dense`, inner, d), h), `${b}.output.LayerNorm`);
  }
  const first = h.slice(0, d);
  const pooled = map(lin(first, roberta ? 'classifier.dense' : `${p}.pooler.dense`, d, d, 1), Math.tanh);
  const head = roberta ? 'classifier.out_proj' : 'classifier';
  return lin(pooled, head, d, raw.get(`${head}.weight`)!.shape[0], 1);
}
