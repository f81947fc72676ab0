/**
 * Fresh weights for the project's own architectures, initialised as Hugging Face
 * initialises them (normal(0, 0.02) for linear and embedding weights, zero biases,
 * norms at scale 1 / shift 0). Used to pretrain the small foundation models the project
 * keeps (scripts/pretrain-*.ts) and for random-weight benchmarks.
 */
import { Rng } from '../tensor/rng';
import type { LlamaConfig } from './llama';
import type { MlpConfig } from './mlp';
import type { RawWeights } from './model';
import type { VitConfig } from './vit';
import { expectedTensors, type HfArchitectureSpec } from './hfSpec';

const STD = 0.02;

class WeightMaker {
  readonly raw: RawWeights = new Map();
  constructor(private readonly rng: Rng) {}

  normal(name: string, shape: number[], std = STD): void {
    const n = shape.reduce((a, b) => a * b, 1);
    this.raw.set(name, { shape, data: this.rng.fillNormal(new Float32Array(n), std) });
  }

  constant(name: string, shape: number[], value: number): void {
    const n = shape.reduce((a, b) => a * b, 1);
    this.raw.set(name, { shape, data: new Float32Array(n).fill(value) });
  }

  linear(name: string, dOut: number, dIn: number, bias = true): void {
    this.normal(`${name}.weight`, [dOut, dIn]);
    if (bias) this.constant(`${name}.bias`, [dOut], 0);
  }

  norm(name: string, d: number, bias = true): void {
    this.constant(`${name}.weight`, [d], 1);
    if (bias) this.constant(`${name}.bias`, [d], 0);
  }
}

export function initVit(c: VitConfig, seed: number): RawWeights {
  const w = new WeightMaker(new Rng(seed));
  const d = c.hidden_size;
  const patches = (c.image_size / c.patch_size) ** 2;
  w.normal('vit.embeddings.cls_token', [1, 1, d]);
  w.normal('vit.embeddings.position_embeddings', [1, patches + 1, d]);
  w.normal('vit.embeddings.patch_embeddings.projection.weight', [d, c.num_channels, c.patch_size, c.patch_size]);
  w.constant('vit.embeddings.patch_embeddings.projection.bias', [d], 0);
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const b = `vit.encoder.layer.${i}`;
    w.norm(`${b}.layernorm_before`, d);
    for (const p of ['query', 'key', 'value']) w.linear(`${b}.attention.attention.${p}`, d, d, c.qkv_bias ?? true);
    w.linear(`${b}.attention.output.dense`, d, d);
    w.norm(`${b}.layernorm_after`, d);
    w.linear(`${b}.intermediate.dense`, c.intermediate_size, d);
    w.linear(`${b}.output.dense`, d, c.intermediate_size);
  }
  w.norm('vit.layernorm', d);
  w.linear('classifier', c.num_labels ?? 2, d);
  return w.raw;
}

export function initLlama(c: LlamaConfig, seed: number): RawWeights {
  const w = new WeightMaker(new Rng(seed));
  const d = c.hidden_size;
  const heads = c.num_attention_heads;
  const kv = c.num_key_value_heads ?? heads;
  const dh = d / heads;
  w.normal('model.embed_tokens.weight', [c.vocab_size, d]);
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const b = `model.layers.${i}`;
    w.norm(`${b}.input_layernorm`, d, false);
    w.linear(`${b}.self_attn.q_proj`, heads * dh, d, false);
    w.linear(`${b}.self_attn.k_proj`, kv * dh, d, false);
    w.linear(`${b}.self_attn.v_proj`, kv * dh, d, false);
    w.linear(`${b}.self_attn.o_proj`, d, heads * dh, false);
    w.norm(`${b}.post_attention_layernorm`, d, false);
    w.linear(`${b}.mlp.gate_proj`, c.intermediate_size, d, false);
    w.linear(`${b}.mlp.up_proj`, c.intermediate_size, d, false);
    w.linear(`${b}.mlp.down_proj`, d, c.intermediate_size, false);
  }
  w.norm('model.norm', d, false);
  if (c.tie_word_embeddings === false) w.linear('lm_head', c.vocab_size, d, false);
  return w.raw;
}

export function initMlp(c: MlpConfig, seed: number): RawWeights {
  const w = new WeightMaker(new Rng(seed));
  let dIn = c.image_size * c.image_size * c.num_channels;
  c.hidden_sizes.forEach((h, i) => {
    w.normal(`mlp.layers.${i}.weight`, [h, dIn], Math.sqrt(2 / dIn));
    w.constant(`mlp.layers.${i}.bias`, [h], 0);
    dIn = h;
  });
  w.linear('classifier', c.num_labels, dIn);
  return w.raw;
}

/**
 * Fresh weights for any architecture with a tensor spec (hfSpec.ts), in file layout:
 * linear weights and embeddings normal(0, 0.02), norms at scale 1 / shift 0, biases 0, as
 * transformers initialises them. Tests pass `biasStd`/`normStd` to make every path
 * carry a signal (random biases, norm scales around 1).
 */
export function initFromSpec(spec: HfArchitectureSpec, seed: number, options: { std?: number; biasStd?: number; normStd?: number } = {}): RawWeights {
  const w = new WeightMaker(new Rng(seed));
  const std = options.std ?? STD;
  const norms = new Set(spec.layers.filter((l) => l.kind === 'layernorm' || l.kind === 'rmsnorm').map((l) => l.name));
  for (const [name, e] of expectedTensors(spec)) {
    if (e.optional && !spec.layers.some((l) => `${l.name}.weight` === name || `${l.name}.bias` === name)) continue;
    if (spec.layers.some((l) => l.tiedTo && `${l.name}.weight` === name)) continue;
    const module = name.slice(0, name.lastIndexOf('.'));
    if (norms.has(module)) {
      if (name.endsWith('.weight')) {
        // Scales 1 (+ noise).
        w.normal(name, e.shape, options.normStd ?? 0);
        w.raw.get(name)!.data.forEach((v, i, a) => { a[i] = v + 1; });
      } else if (options.normStd) w.normal(name, e.shape, options.normStd);
      else w.constant(name, e.shape, 0);
    } else if (name.endsWith('.bias')) {
      if (options.biasStd) w.normal(name, e.shape, options.biasStd);
      else w.constant(name, e.shape, 0);
    } else {
      w.normal(name, e.shape, std);
    }
  }
  return w.raw;
}
