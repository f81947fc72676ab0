/**
 * A config.json that disagrees with its weights is an error naming the key and the tensor
 * with both shapes, the same in inspect (header only), check (the run config's
 * diagnostics) and train (the model loader), before any TensorFlow.js op: hidden size,
 * layer count (fewer and more), key/value heads, vocabulary, a transposed tensor, for the
 * Llama family, GPT-2, BERT, RoBERTa, ViT and the MLP. One mechanism: each architecture's
 * spec (specs.ts), whose sizes carry their config key, checked by hfSpec.ts's checkWeights.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadRunConfig } from '../config/load';
import { SpruftError } from '../errors';
import { writeHfFolder } from '../io/hfFolder';
import { tf } from '../tensor/tf';
import { initFromSpec, initLlama, initMlp, initVit } from './init';
import { inspectModelHeader } from './inspect';
import type { LlamaConfig } from './llama';
import { loadModel } from './load';
import type { RawWeights } from './model';
import { languageModelSpec } from './specs';
import type { VitConfig } from './vit';

let dir: string;

const llama: LlamaConfig = {
  model_type: 'llama', vocab_size: 32, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 16, tie_word_embeddings: true,
};
const vit: VitConfig = {
  model_type: 'vit', hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 16,
  image_size: 8, patch_size: 4, num_channels: 1, num_labels: 3,
};

function write(name: string, config: Record<string, unknown>, raw: RawWeights, edit?: (t: Map<string, { shape: number[]; data: Float32Array }>) => void): string {
  const tensors = new Map([...raw].map(([n, t]) => [n, { shape: [...t.shape], data: t.data }]));
  edit?.(tensors);
  const path = join(dir, name);
  writeHfFolder(path, { config, tensors });
  return path;
}

/** The same message from inspect, check and the loader train uses. */
async function refusedEverywhere(path: string, expected: RegExp): Promise<void> {
  const tensorsBefore = tf.memory().numTensors;
  for (const [label, read] of [['inspect', () => inspectModelHeader(path)], ['train (loadModel)', () => loadModel(path)]] as const) {
    assert.throws(read, (e: unknown) => {
      assert.ok(e instanceof SpruftError && e.code === 'MODEL_INVALID', `${label}: ${String(e)}`);
      assert.match(e.message, expected, label);
      assert.equal(e.where, join(path, 'config.json'), `${label}: located at config.json`);
      return true;
    });
  }
  assert.equal(tf.memory().numTensors, tensorsBefore, 'no tensor was made');
  const config = join(dir, `${path.split('/').pop()}.spruft.yaml`);
  writeFileSync(config, `model: { path: ${path} }\ntask: causal-lm\ndata: { dataset: text, path: ${config} }\n`);
  const loaded = await loadRunConfig(config);
  const model = loaded.diagnostics.find((d) => d.path.join('.') === 'model.path');
  assert.ok(model && model.severity === 'error', `check: ${JSON.stringify(loaded.diagnostics.map((d) => d.message))}`);
  assert.match(model.message, expected, 'check');
}

describe('config.json against the weights', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'spruft-config-shapes-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts configs that match (Llama with grouped key/value heads, ViT, MLP)', () => {
    assert.equal(inspectModelHeader(write('llama-ok', llama, initLlama(llama, 1))).architecture, 'llama');
    assert.equal(inspectModelHeader(write('vit-ok', vit, initVit(vit, 1))).architecture, 'vit');
    const mlp = { model_type: 'spruft-mlp' as const, image_size: 4, num_channels: 1, hidden_sizes: [6], num_labels: 3 };
    assert.equal(inspectModelHeader(write('mlp-ok', mlp, initMlp(mlp, 1))).architecture, 'spruft-mlp');
  });

  it('names hidden_size when it disagrees', async () => {
    await refusedEverywhere(write('llama-hidden', { ...llama, hidden_size: 20, num_attention_heads: 4 }, initLlama(llama, 1)),
      /"hidden_size" disagrees with the weights: tensor "model\.embed_tokens\.weight" has shape \[32, 16\], config\.json gives \[vocab_size = 32, hidden_size = 20\]/);
  });

  it('names num_hidden_layers when the weights hold fewer or more layers', async () => {
    await refusedEverywhere(write('llama-more', { ...llama, num_hidden_layers: 3 }, initLlama(llama, 1)),
      /"num_hidden_layers" gives 3 layers, but the weights hold no tensor of layer 2 \(tensor "model\.layers\.2\.input_layernorm\.weight", shape \[hidden_size = 16\], is missing\)/);
    await refusedEverywhere(write('llama-fewer', { ...llama, num_hidden_layers: 1 }, initLlama(llama, 1)),
      /"num_hidden_layers" gives 1 layers, but the weights hold tensor "model\.layers\.1\.[a-z_.]+" of layer 1/);
  });

  it('names the heads and the vocabulary', async () => {
    await refusedEverywhere(write('llama-kv', { ...llama, num_key_value_heads: 4 }, initLlama(llama, 1)),
      /"num_key_value_heads x hidden_size \/ num_attention_heads" disagrees with the weights: tensor "model\.layers\.0\.self_attn\.k_proj\.weight" has shape \[8, 16\]/);
    await refusedEverywhere(write('llama-heads', { ...llama, num_attention_heads: 3 }, initLlama(llama, 1)), /num_attention_heads 3 is not a multiple of num_key_value_heads 2/);
    await refusedEverywhere(write('llama-vocab', { ...llama, vocab_size: 50 }, initLlama(llama, 1)), /"vocab_size" disagrees with the weights: tensor "model\.embed_tokens\.weight" has shape \[32, 16\]/);
  });

  it('says a tensor is transposed', async () => {
    const path = write('llama-transposed', llama, initLlama(llama, 1), (t) => {
      const up = t.get('model.layers.1.mlp.up_proj.weight')!;
      t.set('model.layers.1.mlp.up_proj.weight', { shape: [up.shape[1]!, up.shape[0]!], data: up.data });
    });
    await refusedEverywhere(path, /tensor "model\.layers\.1\.mlp\.up_proj\.weight" is transposed: the weights hold \[16, 24\], config\.json gives \[intermediate_size = 24, hidden_size = 16\]/);
  });

  it('checks ViT and MLP the same way', async () => {
    await refusedEverywhere(write('vit-patch', { ...vit, patch_size: 2 }, initVit(vit, 1)),
      /"patch_size" disagrees with the weights: tensor "vit\.embeddings\.patch_embeddings\.projection\.weight" has shape \[8, 1, 4, 4\]/);
    const mlp = { model_type: 'spruft-mlp' as const, image_size: 4, num_channels: 1, hidden_sizes: [6], num_labels: 3 };
    await refusedEverywhere(write('mlp-image', { ...mlp, image_size: 5 }, initMlp(mlp, 1)),
      /"image_size\^2 x num_channels" disagrees with the weights: tensor "mlp\.layers\.0\.weight" has shape \[6, 16\], config\.json gives \[hidden_sizes\[0\] = 6, image_size\^2 x num_channels = 25\]/);
  });

  it('checks GPT-2, BERT and RoBERTa the same way', async () => {
    const gpt2 = { model_type: 'gpt2', vocab_size: 20, n_positions: 12, n_embd: 8, n_layer: 2, n_head: 2 };
    const g = initFromSpec(languageModelSpec(gpt2)!, 1);
    // GPT-2's Conv1D stores [in, out]: [8, 24]; a [24, 8] tensor is the transposed one.
    await refusedEverywhere(write('gpt2-transposed', gpt2, g, (t) => {
      const a = t.get('transformer.h.1.attn.c_attn.weight')!;
      t.set('transformer.h.1.attn.c_attn.weight', { shape: [a.shape[1]!, a.shape[0]!], data: a.data });
    }), /tensor "transformer\.h\.1\.attn\.c_attn\.weight" is transposed: the weights hold \[24, 8\], config\.json gives \[n_embd = 8, 3 x n_embd = 24\] \(in x out, as GPT-2's Conv1D stores it\)/);
    await refusedEverywhere(write('gpt2-fewer', { ...gpt2, n_layer: 1 }, g), /"n_layer" gives 1 layers, but the weights hold tensor "transformer\.h\.1\.[a-z_.0-9]+" of layer 1/);
    await refusedEverywhere(write('gpt2-heads', { ...gpt2, n_head: 3 }, g), /n_embd 8 is not divisible by n_head 3/);
    const bert = { model_type: 'bert', vocab_size: 13, hidden_size: 8, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 12, max_position_embeddings: 10, num_labels: 3 };
    await refusedEverywhere(write('bert-vocab', { ...bert, vocab_size: 14 }, initFromSpec(languageModelSpec(bert)!, 1)),
      /"vocab_size" disagrees with the weights: tensor "bert\.embeddings\.word_embeddings\.weight" has shape \[13, 8\], config\.json gives \[vocab_size = 14, hidden_size = 8\]/);
    const roberta = { ...bert, model_type: 'roberta', pad_token_id: 1, max_position_embeddings: 12 };
    await refusedEverywhere(write('roberta-more', { ...roberta, num_hidden_layers: 3 }, initFromSpec(languageModelSpec(roberta)!, 1)),
      /"num_hidden_layers" gives 3 layers, but the weights hold no tensor of layer 2 \(tensor "roberta\.encoder\.layer\.2\.attention\.self\.query\.weight", shape \[hidden_size = 8, hidden_size = 8\], is missing\)/);
    await refusedEverywhere(write('roberta-inner', { ...roberta, intermediate_size: 16 }, initFromSpec(languageModelSpec(roberta)!, 1)),
      /"intermediate_size" disagrees with the weights: tensor "roberta\.encoder\.layer\.0\.intermediate\.dense\.weight" has shape \[12, 8\], config\.json gives \[intermediate_size = 16, hidden_size = 8\]/);
  });

  it('names the layer count of ViT and the MLP', async () => {
    await refusedEverywhere(write('vit-more', { ...vit, num_hidden_layers: 2 }, initVit(vit, 1)), /"num_hidden_layers" gives 2 layers, but the weights hold no tensor of layer 1/);
    const mlp = { model_type: 'spruft-mlp' as const, image_size: 4, num_channels: 1, hidden_sizes: [6, 5], num_labels: 3 };
    await refusedEverywhere(write('mlp-fewer', { ...mlp, hidden_sizes: [6] }, initMlp(mlp, 1)), /"hidden_sizes" gives 1 layers, but the weights hold tensor "mlp\.layers\.1\.(weight|bias)" of layer 1/);
    await refusedEverywhere(write('mlp-labels', { ...mlp, num_labels: 4 }, initMlp(mlp, 1)),
      /"num_labels" disagrees with the weights: tensor "classifier\.weight" has shape \[3, 5\], config\.json gives \[num_labels = 4, hidden_sizes\[1\] = 5\]/);
  });
});
