import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { METRICS } from '../../../../protocol/config';
import { SpruftError } from '../../errors';
import { initLlama } from '../../models/init';
import { LlamaModel, type LlamaConfig } from '../../models/llama';
import { inferenceContext } from '../../models/layer';
import { disposeBatch, makeBatch, type ImageExamples, type TokenExamples } from '../batches';
import { useBackend } from '../../tensor/ops/testing';
import { Rng } from '../../tensor/rng';
import { scoreRows } from '../score';
import { tf } from '../../tensor/tf';
import { qmTaylorImportance } from './qmTaylor';
import { convNetFrom, CONV_NET, importanceContext, mlpFrom, runConfig, type ConvNetWeights } from './testing';

/**
 * The label is whether x_0 > 0. Hidden neuron P (row 2) reads x_0 and pushes the right
 * logit, not yet saturated: removing it costs the most loss. Neuron D (row 4) has the
 * largest weights but reads irrelevant inputs and feeds no logit. The rest are small.
 */
function plantedTask(): { model: ReturnType<typeof mlpFrom>; data: ImageExamples; planted: number; decoy: number } {
  const rng = new Rng(11);
  const H = 6, P = 2, D = 4;
  const w1 = rng.fillNormal(new Float32Array(H * 4), 0.1);
  w1.fill(0, P * 4, P * 4 + 4);
  w1[P * 4] = 1;
  w1.fill(0, D * 4, D * 4 + 4);
  w1.fill(1.5, D * 4 + 1, D * 4 + 4);
  const w2 = rng.fillNormal(new Float32Array(2 * H), 0.05);
  w2[P] = -0.5;
  w2[H + P] = 0.5;
  w2[D] = 0;
  w2[H + D] = 0;
  const model = mlpFrom({ sizes: [4, H, 2], w: [w1, w2], b: [new Float32Array(H), new Float32Array(2)] }, 2);
  const n = 64;
  const inputs = rng.fillNormal(new Float32Array(n * 4));
  const labels = Int32Array.from({ length: n }, (_, i) => (inputs[i * 4] > 0 ? 1 : 0));
  return { model, data: { kind: 'images', n, shape: [2, 2, 1], inputs, labels }, planted: P, decoy: D };
}

const linearOnly = { layerTypes: ['linear' as const] };

describe('importance metrics', () => {
  before(() => useBackend('wasm'));

  it('a planted neuron: taylor, qm-taylor and zo-taylor select it; l2 selects the large irrelevant one', async () => {
    const { model, data, planted, decoy } = plantedTask();
    const top = async (metric: (typeof METRICS)[number]) => (await scoreRows(model, runConfig({
      targets: linearOnly, training: { batchSize: 16 },
      spruft: { rank: 1, importance: { metric, calibrationBatches: 4, perturbations: 8, calibrationSets: 16, seed: 3 } },
    }), data)).layers[0].rows;
    assert.deepEqual(await top('taylor'), [planted], 'taylor');
    assert.deepEqual(await top('qm-taylor'), [planted], 'qm-taylor');
    assert.deepEqual(await top('zo-taylor'), [planted], 'zo-taylor');
    assert.deepEqual(await top('l2'), [decoy], 'l2');
    model.dispose();
  });

  for (const metric of METRICS) {
    it(`${metric}: the same seed selects the same rows, and scoring leaks no tensors (with and without dependency groups)`, async () => {
      const { model, data } = plantedTask();
      for (const dependency of [false, true]) {
        const config = (seed: number) => runConfig({
          targets: linearOnly, training: { batchSize: 16 },
          spruft: { rank: 2, dependency, importance: { metric, calibrationBatches: 2, perturbations: 2, calibrationSets: 2, seed } },
        });
        const before = tf.memory().numTensors;
        const a = await scoreRows(model, config(1), data);
        assert.equal(tf.memory().numTensors, before, `${metric}: scoring leaked ${tf.memory().numTensors - before} tensors`);
        const b = await scoreRows(model, config(1), data);
        assert.deepEqual(b.layers, a.layers, 'same seed, same selection');
        if (metric === 'random' || metric === 'zo-taylor') {
          const c = await scoreRows(model, config(2), data);
          assert.notDeepEqual([...c.scores.rows.values()].map((v) => Array.from(v)), [...a.scores.rows.values()].map((v) => Array.from(v)), 'another seed, other scores');
        }
      }
      model.dispose();
    });
  }

  it('every row-adapter layer kind is scored: conv output channels, depthwise channels, norm channels', async () => {
    const rng = new Rng(12);
    const { inputChannels: ci, stem, expand, labels, size } = CONV_NET;
    const bn = (c: number) => ({ gamma: rng.fillUniform(new Float32Array(c), 0.5, 1.5), beta: new Float32Array(c), mean: new Float32Array(c), variance: new Float32Array(c).fill(1) });
    const w: ConvNetWeights = {
      stem: rng.fillNormal(new Float32Array(9 * ci * stem), 0.4), expand: rng.fillNormal(new Float32Array(stem * expand), 0.5),
      depthwise: rng.fillNormal(new Float32Array(9 * expand), 0.4), project: rng.fillNormal(new Float32Array(expand * stem), 0.5),
      dense: rng.fillNormal(new Float32Array(stem * labels), 0.8), denseBias: new Float32Array(labels),
      bn: { stem_bn: bn(stem), expand_bn: bn(expand), dw_bn: bn(expand), project_bn: bn(stem) },
    };
    const model = convNetFrom(w);
    const n = 12;
    const data: ImageExamples = { kind: 'images', n, shape: [size, size, ci], inputs: rng.fillNormal(new Float32Array(n * size * size * ci)), labels: Int32Array.from({ length: n }, (_, i) => i % labels) };
    for (const metric of METRICS) {
      const s = await scoreRows(model, runConfig({
        targets: { layerTypes: ['conv2d', 'norm'] }, training: { batchSize: 4 },
        spruft: { ratio: 0.25, importance: { metric, perturbations: 2, calibrationSets: 2 } },
      }), data);
      assert.deepEqual(s.layers.map((l) => l.kind).sort(), ['batchnorm', 'batchnorm', 'batchnorm', 'batchnorm', 'conv2d', 'conv2d', 'conv2d', 'depthwise-conv2d'], metric);
      for (const l of s.layers) {
        assert.equal(s.scores.rows.get(l.name)!.length, l.dOut, `${metric} ${l.name}: one score per row`);
        assert.equal(l.rows.length, Math.max(1, Math.round(0.25 * l.dOut)), `${metric} ${l.name}: 25% of the rows`);
        assert.ok(s.scores.rows.get(l.name)!.every(Number.isFinite), `${metric} ${l.name}: finite scores`);
      }
    }
    model.dispose();
  });

  it('a causal LM: taylor and zo-taylor score linear and RMSNorm rows over token batches; qm-taylor refuses (no labels)', async () => {
    const c: LlamaConfig = { model_type: 'llama', vocab_size: 260, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 16, tie_word_embeddings: true };
    const model = new LlamaModel('llama', '/tmp/llama', c, initLlama(c, 1));
    const rng = new Rng(14);
    const n = 12, length = 8;
    const ids = Int32Array.from({ length: n * length }, () => rng.int(256));
    const mask = Uint8Array.from({ length: n * length }, (_, i) => (i % length < 6 ? 1 : 0));
    const data: TokenExamples = { kind: 'tokens', n, length, ids, mask };
    const file = (metric: (typeof METRICS)[number]) => ({
      task: 'causal-lm' as const, data: { dataset: 'text' as const }, targets: { layerTypes: ['linear' as const, 'norm' as const] }, training: { batchSize: 4 },
      spruft: { rank: 2, importance: { metric, perturbations: 2, calibrationSets: 2 } },
    });
    // The model builds its causal mask on its first forward pass (kept): not scoring's.
    const warm = makeBatch(data, Int32Array.from([0]));
    tf.tidy(() => model.forward(warm.x, inferenceContext()));
    disposeBatch(warm);
    for (const metric of ['taylor', 'zo-taylor'] as const) {
      const before = tf.memory().numTensors;
      const s = await scoreRows(model, runConfig(file(metric)), data as unknown as ImageExamples);
      assert.equal(tf.memory().numTensors, before, `${metric} leaked tensors`);
      assert.ok(s.layers.some((l) => l.kind === 'rmsnorm'));
      for (const l of s.layers) assert.ok(s.scores.rows.get(l.name)!.every(Number.isFinite) && s.scores.rows.get(l.name)!.some((v) => v > 0), `${metric} ${l.name}`);
    }
    await assert.rejects(qmTaylorImportance(importanceContext(model, runConfig(file('qm-taylor')), data as unknown as ImageExamples)),
      (err: unknown) => err instanceof SpruftError && err.code === 'CONFIG_INVALID');
    model.dispose();
  });

  it('budgets: rank r per layer, a ratio per layer, or one global budget of the same size', async () => {
    const rng = new Rng(13);
    const sizes = [16, 12, 8, 3];
    const model = mlpFrom({ sizes, w: sizes.slice(0, -1).map((d, i) => rng.fillNormal(new Float32Array(d * sizes[i + 1]), 0.3)), b: sizes.slice(1).map((d) => new Float32Array(d)) }, 4);
    const data: ImageExamples = { kind: 'images', n: 8, shape: [4, 4, 1], inputs: rng.fillNormal(new Float32Array(8 * 16)), labels: Int32Array.from({ length: 8 }, (_, i) => i % 3) };
    const params = (s: Awaited<ReturnType<typeof scoreRows>>) => s.layers.reduce((a, l) => a + l.rows.length * l.dIn, 0);
    const rank = await scoreRows(model, runConfig({ targets: linearOnly, spruft: { rank: 3, importance: { metric: 'l2' } } }), data);
    assert.deepEqual(rank.layers.map((l) => l.rows.length), [3, 3]);
    const ratio = await scoreRows(model, runConfig({ targets: linearOnly, spruft: { ratio: 0.5, importance: { metric: 'l2' } } }), data);
    assert.deepEqual(ratio.layers.map((l) => l.rows.length), [6, 4]);
    const global = await scoreRows(model, runConfig({ targets: linearOnly, spruft: { ratio: 0.5, budget: 'global', importance: { metric: 'l2' } } }), data);
    assert.ok(params(global) <= params(ratio) && params(global) > params(ratio) - 16, `global budget ${params(global)} vs per-layer ${params(ratio)}`);
    assert.ok(global.layers.every((l) => l.rows.length >= 1));
    model.dispose();
  });
});
