import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { resolveRunConfig } from '../../../protocol/config';
import type { MethodName } from '../../../protocol/results';
import { valueAndGrads } from '../tensor/autodiff';
import { makeBatch, type Examples } from '../engine/batches';
import { taskLoss } from '../engine/loss';
import { attachMethod, detachMethod } from '../engine/methods';
import { assertClose, useBackend } from '../tensor/ops/testing';
import { Rng } from '../tensor/rng';
import { tf } from '../tensor/tf';
import { initLlama, initMlp, initVit } from './init';
import { inferenceContext, type ForwardContext } from './layer';
import { LlamaModel } from './llama';
import { loadModel } from './load';
import { MlpModel } from './mlp';
import type { Model } from './model';
import { VitModel } from './vit';

function imageData(n: number, size: number, channels: number, labels: number, seed: number): Examples {
  const rng = new Rng(seed);
  return {
    kind: 'images', n, shape: [size, size, channels],
    inputs: rng.fillUniform(new Float32Array(n * size * size * channels), -1, 1),
    labels: Int32Array.from({ length: n }, () => rng.int(labels)),
  };
}

function tokenData(n: number, t: number, vocab: number, seed: number): Examples {
  const rng = new Rng(seed);
  return { kind: 'tokens', n, length: t, ids: Int32Array.from({ length: n * t }, () => rng.int(vocab)), mask: new Uint8Array(n * t).fill(1) };
}

const models: Array<{ name: string; task: 'image-classification' | 'causal-lm'; make: () => Model; data: Examples }> = [
  {
    name: 'MLP', task: 'image-classification', data: imageData(4, 4, 1, 3, 1),
    make: () => {
      const c = { model_type: 'spruft-mlp' as const, image_size: 4, num_channels: 1, hidden_sizes: [6, 5], num_labels: 3 };
      return new MlpModel('mlp', '', c, initMlp(c, 2));
    },
  },
  {
    name: 'ViT', task: 'image-classification', data: imageData(3, 8, 1, 4, 3),
    make: () => {
      const c = { model_type: 'vit' as const, hidden_size: 8, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 12, image_size: 8, patch_size: 4, num_channels: 1, num_labels: 4 };
      return new VitModel('vit', '', c, initVit(c, 4));
    },
  },
  {
    name: 'Llama (grouped kv heads)', task: 'causal-lm', data: tokenData(2, 6, 11, 5),
    make: () => {
      const c = { model_type: 'llama' as const, vocab_size: 11, hidden_size: 8, intermediate_size: 12, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 16, tie_word_embeddings: false };
      return new LlamaModel('llama', '', c, initLlama(c, 6));
    },
  },
  {
    name: 'MobileNetV2 (nsfwjs, cut at out_relu)', task: 'image-classification', data: imageData(2, 32, 3, 10, 7),
    make: () => loadModel('npm:nsfwjs/mobilenet_v2', { cutAt: 'out_relu', numLabels: 10, seed: 8 }),
  },
];

describe('whole-model gradients: the engine tape equals tfjs autograd', () => {
  before(() => useBackend('wasm'));
  for (const m of models) {
    for (const method of ['spruft', 'lora', 'full'] as MethodName[]) {
      it(`${m.name}, ${method}`, () => {
        const model = m.make();
        // The initial head and adapters are zero-free so every path carries a gradient.
        const config = resolveRunConfig({
          model: { path: 'x' }, task: m.task, data: { dataset: m.task === 'causal-lm' ? 'text' : 'mnist' },
          targets: { layerTypes: ['linear', 'conv2d', 'norm'] }, lora: { rank: 2, dropout: 0 },
        }, { baseDir: '/', resolvePath: (_b, p) => p });
        const rng = new Rng(9);
        const selection = model.layers.filter((l) => !l.head).map((l) => {
          const rows = [...new Set([0, rng.int(l.dOut), l.dOut - 1])].sort((a, b) => a - b);
          return { name: l.name, kind: l.kind, rows, scores: rows.map(() => 1), dOut: l.dOut, dIn: l.dIn };
        });
        const attached = attachMethod(model, { method, config, selection, trainHead: m.task !== 'causal-lm', seed: 1 });
        // Move adapters off zero: gradients then depend on every factor (LoRA's A and B).
        tf.tidy(() => attached.trainables.forEach((t, i) => t.variable.assign(tf.add(t.variable, tf.mul(tf.randomNormal(t.variable.shape, 0, 1, 'float32', 10 + i), 0.05)))));
        const batch = makeBatch(m.data, Int32Array.from({ length: m.data.n }, (_, i) => i));
        const ctx = (): ForwardContext => ({ training: true, dropoutRng: new Rng(3), dropoutMaskBytes: 0 });
        const vars = attached.trainables.map((t) => t.variable);
        const ours = valueAndGrads(() => taskLoss(model.forward(batch.x, ctx()), batch), vars);
        const reference = tf.variableGrads(() => taskLoss(model.forward(batch.x, ctx()), batch), vars);
        assert.ok(Math.abs(ours.value - reference.value.dataSync()[0]) < 1e-4 * Math.max(1, Math.abs(ours.value)), 'same loss');
        attached.trainables.forEach((t, i) => {
          assertClose(ours.grads[i].dataSync(), reference.grads[t.variable.name].dataSync(), 2e-4, `${m.name} ${method} d${t.name}`);
        });
        assert.ok(ours.grads.some((g) => tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]) > 0), 'gradients are not all zero');
        tf.dispose([...ours.grads, reference.value, ...Object.values(reference.grads), batch.x, ...(batch.labels ? [batch.labels] : []), ...(batch.targets ? [batch.targets, batch.weights!] : [])]);
        detachMethod(model);
        // Inference after training leaves nothing behind either.
        const before = tf.memory().numTensors;
        tf.tidy(() => {
          model.forward(makeBatch(m.data, Int32Array.of(0)).x, inferenceContext());
        });
        assert.equal(tf.memory().numTensors, before, 'inference leaked tensors');
        model.dispose();
      });
    }
  }
});
