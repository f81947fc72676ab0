/**
 * Activation checkpointing (`training.checkpointing: blocks`): the gradients of every
 * method equal those without it, bit for bit (the recomputation runs the same kernels on
 * the same values, LoRA's dropout masks drawn again from the same stream), and the cache
 * that the forward pass leaves for backward is smaller.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { resolveRunConfig, type RunConfigFile } from '../../../protocol/config';
import type { LayerSelection, MethodName } from '../../../protocol/results';
import { makeBatch, type Examples } from '../engine/batches';
import { liveBufferBytes, peakBytes } from '../tensor/memory';
import { topRows } from '../engine/importance/selection';
import { attachMethod, detachMethod } from '../engine/methods';
import { useBackend } from '../tensor/ops/testing';
import { Rng } from '../tensor/rng';
import { accumulateGradients } from '../engine/step';
import { tf } from '../tensor/tf';
import { initLlama, initVit } from './init';
import type { ForwardContext } from './layer';
import { LlamaModel, type LlamaConfig } from './llama';
import type { Model } from './model';
import { VitModel, type VitConfig } from './vit';

const LLAMA: LlamaConfig = {
  model_type: 'llama', vocab_size: 48, hidden_size: 32, intermediate_size: 40, num_hidden_layers: 3,
  num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 16, tie_word_embeddings: false,
};
const VIT: VitConfig = {
  model_type: 'vit', hidden_size: 24, num_hidden_layers: 3, num_attention_heads: 3, intermediate_size: 36,
  image_size: 8, patch_size: 4, num_channels: 1, num_labels: 3,
};

interface Case {
  name: string;
  model: () => Model;
  examples: Examples;
  file: RunConfigFile;
}

const rng = new Rng(5);
const CASES: Case[] = [
  {
    name: 'Llama (grouped key/value heads)',
    model: () => new LlamaModel('llama-test', '', { ...LLAMA }, initLlama(LLAMA, 1)),
    examples: { kind: 'tokens', n: 3, length: 12, ids: Int32Array.from({ length: 36 }, () => rng.int(LLAMA.vocab_size)), mask: new Uint8Array(36).fill(1) },
    file: { model: { path: 'm' }, task: 'causal-lm', data: { dataset: 'text' } },
  },
  {
    name: 'ViT',
    model: () => new VitModel('vit-test', '', { ...VIT }, initVit(VIT, 2)),
    examples: { kind: 'images', n: 3, shape: [8, 8, 1], inputs: rng.fillNormal(new Float32Array(3 * 64)), labels: Int32Array.from([0, 2, 1]) },
    file: { model: { path: 'm' }, task: 'image-classification', data: { dataset: 'mnist' } },
  },
];

/** Rows picked by a fixed pseudo-random score (the selection itself is not under test). */
function selectionOf(model: Model, rank: number): LayerSelection[] {
  const r = new Rng(9);
  return model.layers.filter((l) => !l.head).map((l) => {
    const scores = r.fillUniform(new Float32Array(l.dOut), 0, 1);
    return { name: l.name, kind: l.kind, rows: topRows(scores, Math.min(rank, l.dOut)), scores: Array.from(scores), dOut: l.dOut, dIn: l.dIn };
  });
}

interface Pass {
  grads: Map<string, Float32Array>;
  /** Bytes the forward pass left alive for backward (the activation cache and masks). */
  cache: number;
  peak: number;
}

async function gradientsOf(model: Model, c: Case, method: MethodName, checkpointBlocks: boolean): Promise<Pass> {
  const config = resolveRunConfig({ ...c.file, method, lora: { rank: 3, alpha: 8, dropout: 0.25 }, spruft: { rank: 4 }, targets: { layerTypes: ['linear', 'norm'] } }, { baseDir: '/', resolvePath: (_b, p) => p });
  const selection = method === 'spruft' ? selectionOf(model, 4) : undefined;
  const attached = attachMethod(model, { method, config, selection, trainHead: c.file.task !== 'causal-lm', seed: 0 });
  try {
    // Adapters start at zero (B of LoRA, W_f of SPruFT): move them so every gradient path is live.
    const init = new Rng(11);
    tf.tidy(() => attached.trainables.forEach((t) => t.variable.assign(tf.add(t.variable, tf.tensor(init.fillNormal(new Float32Array(t.variable.size), 0.05), t.variable.shape)))));
    const probe = { beforeForward: 0, backwardStart: 0, gradsBytes: 0 };
    let grads = new Map<string, tf.Tensor>();
    const all = Int32Array.from({ length: c.examples.n }, (_, i) => i);
    const peak = await peakBytes(() => {
      const ctx: ForwardContext = { training: true, dropoutRng: new Rng(3), dropoutMaskBytes: 0, checkpointBlocks };
      grads = accumulateGradients(model, attached.trainables, () => ({ batch: makeBatch(c.examples, all), weight: 1, ctx }), 1, probe).grads;
    });
    const out = new Map([...grads].map(([k, g]) => [k, g.dataSync() as Float32Array]));
    tf.dispose([...grads.values()]);
    return { grads: out, cache: probe.backwardStart - probe.beforeForward, peak };
  } finally {
    detachMethod(model);
  }
}

describe('activation checkpointing of transformer blocks', () => {
  before(() => useBackend('wasm'));

  for (const c of CASES) {
    for (const method of ['spruft', 'lora', 'full'] as const) {
      it(`${c.name}, ${method}: the same gradients bit for bit, a smaller cache, no leak`, async () => {
        const model = c.model();
        try {
          // Kept once per process (the causal mask of this length): made before counting.
          await gradientsOf(model, c, method, false);
          const tensors = tf.memory().numTensors;
          const bytes = liveBufferBytes();
          const plain = await gradientsOf(model, c, method, false);
          const checkpointed = await gradientsOf(model, c, method, true);
          assert.equal(tf.memory().numTensors, tensors, 'no tensor leaks');
          assert.equal(liveBufferBytes(), bytes, 'no buffer leaks');
          assert.deepEqual([...checkpointed.grads.keys()], [...plain.grads.keys()]);
          let nonZero = 0;
          for (const [name, g] of plain.grads) {
            const h = checkpointed.grads.get(name)!;
            assert.equal(h.length, g.length, name);
            for (let i = 0; i < g.length; i++) {
              if (!Object.is(h[i], g[i])) assert.fail(`${name}[${i}]: ${h[i]} with checkpointing, ${g[i]} without`);
              if (g[i] !== 0) nonZero++;
            }
          }
          assert.ok(nonZero > 0, 'the gradients are not all zero');
          assert.ok(checkpointed.cache < plain.cache, `cache ${checkpointed.cache} B with checkpointing, ${plain.cache} B without`);
          // With 3 blocks, at most one block's activations are alive at a time in backward.
          assert.ok(checkpointed.cache <= plain.cache / 2, `cache ${checkpointed.cache} B is not at most half of ${plain.cache} B`);
        } finally {
          model.dispose();
        }
      });
    }
  }
});
