/**
 * A model's weights and transformer shape from its `config.json` alone: what a
 * safetensors header would list, derived from the architecture's published layout (the
 * same names and shapes the loaders in this folder read). It lets `spruft check`, the
 * language server and `spruft inspect` plan a run on a model whose weights are not here
 * (a Llama-2-7B config.json is a few hundred bytes; its weights are 27 GB).
 */
import type { TransformerShape } from '../../../protocol/results';
import { SpruftError } from '../errors';

export interface ConfigTensor {
  name: string;
  shape: number[];
}

type Config = Record<string, unknown>;

function int(c: Config, key: string, where: string, fallback?: number): number {
  const v = c[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new SpruftError('MODEL_INVALID', `config.json: "${key}" must be a positive integer${v === undefined ? ' (missing)' : ` (got ${JSON.stringify(v)})`}`, where);
  }
  return v;
}

/** Architectures whose weights this module can list from config.json. */
export const CONFIG_ARCHITECTURES = ['llama', 'vit', 'spruft-mlp'] as const;

/**
 * The transformer shape behind the memory estimate (blocks, widths, heads, tokens per
 * example), or undefined for a model that is no transformer (an MLP).
 */
export function transformerShapeOf(c: Config, where: string): TransformerShape | undefined {
  const type = c.model_type;
  if (type === 'llama') {
    const heads = int(c, 'num_attention_heads', where);
    return {
      kind: 'decoder', blocks: int(c, 'num_hidden_layers', where), hidden: int(c, 'hidden_size', where),
      intermediate: int(c, 'intermediate_size', where), heads, kvHeads: int(c, 'num_key_value_heads', where, heads),
      gatedMlp: true, vocab: int(c, 'vocab_size', where),
    };
  }
  if (type === 'vit') {
    const heads = int(c, 'num_attention_heads', where);
    const grid = Math.floor(int(c, 'image_size', where) / int(c, 'patch_size', where));
    return {
      kind: 'encoder', blocks: int(c, 'num_hidden_layers', where), hidden: int(c, 'hidden_size', where),
      intermediate: int(c, 'intermediate_size', where), heads, kvHeads: heads, gatedMlp: false,
      // The class token and one position per patch.
      positions: grid * grid + 1,
    };
  }
  return undefined;
}

/** Every weight of the model with its shape, as the model's safetensors would hold them. */
export function tensorsFromConfig(c: Config, where: string): ConfigTensor[] {
  const out: ConfigTensor[] = [];
  const add = (name: string, ...shape: number[]): void => { out.push({ name, shape }); };
  switch (c.model_type) {
    case 'llama': {
      const s = transformerShapeOf(c, where)!;
      const d = s.hidden;
      const dh = d / s.heads;
      if (!Number.isInteger(dh)) throw new SpruftError('MODEL_INVALID', `config.json: hidden_size ${d} is not divisible by num_attention_heads ${s.heads}`, where);
      add('model.embed_tokens.weight', s.vocab!, d);
      for (let i = 0; i < s.blocks; i++) {
        const b = `model.layers.${i}`;
        add(`${b}.input_layernorm.weight`, d);
        add(`${b}.self_attn.q_proj.weight`, s.heads * dh, d);
        add(`${b}.self_attn.k_proj.weight`, s.kvHeads * dh, d);
        add(`${b}.self_attn.v_proj.weight`, s.kvHeads * dh, d);
        add(`${b}.self_attn.o_proj.weight`, d, s.heads * dh);
        add(`${b}.post_attention_layernorm.weight`, d);
        add(`${b}.mlp.gate_proj.weight`, s.intermediate, d);
        add(`${b}.mlp.up_proj.weight`, s.intermediate, d);
        add(`${b}.mlp.down_proj.weight`, d, s.intermediate);
      }
      add('model.norm.weight', d);
      // HF's LlamaConfig defaults tie_word_embeddings to false.
      if (c.tie_word_embeddings !== true) add('lm_head.weight', s.vocab!, d);
      return out;
    }
    case 'vit': {
      const s = transformerShapeOf(c, where)!;
      const d = s.hidden;
      const p = int(c, 'patch_size', where);
      const bias = c.qkv_bias !== false;
      add('vit.embeddings.cls_token', 1, 1, d);
      add('vit.embeddings.position_embeddings', 1, s.positions!, d);
      add('vit.embeddings.patch_embeddings.projection.weight', d, int(c, 'num_channels', where, 3), p, p);
      add('vit.embeddings.patch_embeddings.projection.bias', d);
      const linear = (n: string, dOut: number, dIn: number, withBias = true): void => {
        add(`${n}.weight`, dOut, dIn);
        if (withBias) add(`${n}.bias`, dOut);
      };
      const norm = (n: string): void => { add(`${n}.weight`, d); add(`${n}.bias`, d); };
      for (let i = 0; i < s.blocks; i++) {
        const b = `vit.encoder.layer.${i}`;
        norm(`${b}.layernorm_before`);
        for (const q of ['query', 'key', 'value']) linear(`${b}.attention.attention.${q}`, d, d, bias);
        linear(`${b}.attention.output.dense`, d, d);
        norm(`${b}.layernorm_after`);
        linear(`${b}.intermediate.dense`, s.intermediate, d);
        linear(`${b}.output.dense`, d, s.intermediate);
      }
      norm('vit.layernorm');
      const labels = c.id2label && typeof c.id2label === 'object' ? Object.keys(c.id2label).length : undefined;
      linear('classifier', int(c, 'num_labels', where, labels ?? 2), d);
      return out;
    }
    case 'spruft-mlp': {
      const hidden = c.hidden_sizes;
      if (!Array.isArray(hidden) || !hidden.every((h) => Number.isInteger(h) && h > 0)) {
        throw new SpruftError('MODEL_INVALID', 'config.json: "hidden_sizes" must be a list of layer widths', where);
      }
      let dIn = int(c, 'image_size', where) ** 2 * int(c, 'num_channels', where, 1);
      hidden.forEach((h: number, i) => {
        add(`mlp.layers.${i}.weight`, h, dIn);
        add(`mlp.layers.${i}.bias`, h);
        dIn = h;
      });
      add('classifier.weight', int(c, 'num_labels', where), dIn);
      add('classifier.bias', int(c, 'num_labels', where));
      return out;
    }
    default:
      throw new SpruftError('UNSUPPORTED', `config.json: model_type "${String(c.model_type)}" is not supported (supported: ${CONFIG_ARCHITECTURES.join(', ')})`, where);
  }
}
