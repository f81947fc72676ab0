/**
 * The metrics as the paper defines them (issue 13): qm-taylor's eq. 6 form beside appendix
 * A's, classes absent from the calibration data, zo-taylor's calibration sets that
 * partition the data (4.2.2) and the signal-to-noise figure `spruft score` reports, and
 * SPruFT's bias rows off by default (eq. 5 tunes W_f only).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { configForMethod } from '../../../../protocol/config';
import { SpruftError } from '../../errors';
import type { ImageExamples } from '../batches';
import { assertClose, useBackend } from '../../tensor/ops/testing';
import { Rng } from '../../tensor/rng';
import { calibrationPartition, scoreRows } from '../score';
import { tf } from '../../tensor/tf';
import { classBatches, meanWeightGradients } from './gradients';
import { qmTaylorImportance } from './qmTaylor';
import { importanceContext, mlpFrom, runConfig } from './testing';
import { layerSnr, zoProjections, zoTaylorImportance } from './zoTaylor';

function task(seed: number, labels: number[], classes = 3): { model: ReturnType<typeof mlpFrom>; data: ImageExamples } {
  const rng = new Rng(seed);
  const sizes = [4, 6, classes];
  const model = mlpFrom({
    sizes,
    w: [rng.fillNormal(new Float32Array(24), 0.8), rng.fillNormal(new Float32Array(6 * classes), 0.8)],
    b: [rng.fillNormal(new Float32Array(6), 0.1), new Float32Array(classes)],
  }, 2);
  const n = labels.length;
  return { model, data: { kind: 'images', n, shape: [2, 2, 1], inputs: rng.fillNormal(new Float32Array(n * 4)), labels: Int32Array.from(labels) } };
}

describe('importance as the paper defines it', () => {
  before(() => useBackend('wasm'));

  it('zo-taylor calibration sets partition the data: disjoint, sizes within one, at most a batch each; more sets than examples is refused', () => {
    const sets = calibrationPartition(10, 3, 4, 0);
    assert.deepEqual(sets.map((s) => s.length), [4, 3, 3]);
    const all = sets.flatMap((s) => Array.from(s));
    assert.equal(new Set(all).size, 10, 'every example once');
    assert.ok(all.every((i) => i >= 0 && i < 10));
    const capped = calibrationPartition(100, 4, 8, 1);
    assert.deepEqual(capped.map((s) => s.length), [8, 8, 8, 8]);
    assert.equal(new Set(capped.flatMap((s) => Array.from(s))).size, 32);
    assert.throws(() => calibrationPartition(5, 6, 4, 0), (e: unknown) => e instanceof SpruftError && e.code === 'CONFIG_INVALID' && /calibrationSets \(6\) exceeds the 5 training examples/.test(e.message));
  });

  it('layerSnr: the root mean square over rows of |mean| / standard error, net of what noise alone gives', () => {
    // Five estimates per row. Row 0: [1, 2, 3, 4, 5]: mean 3, sample variance 2.5, se sqrt(0.5), t^2 = 18.
    // Row 1: [-2, -1, 0, 1, 2]: t^2 = 0. Noise alone: E[t^2] = (5 - 1) / (5 - 3) = 2. SNR = sqrt((18 + 0) / 2 - 2) = sqrt 7.
    const est = [[1, -2], [2, -1], [3, 0], [4, 1], [5, 2]];
    const n = est.length;
    const mean = Float64Array.from([0, 1], (i) => est.reduce((s, e) => s + e[i], 0) / n);
    const sq = Float64Array.from([0, 1], (i) => est.reduce((s, e) => s + e[i] ** 2, 0) / n);
    assert.ok(Math.abs(layerSnr(mean, sq, n) - Math.sqrt(7)) < 1e-9, `${layerSnr(mean, sq, n)}`);
    // Pure noise: about 0 (clipped at 0), never the 0.67 that the median of |t| would give.
    const rng = new Rng(9);
    const N = 50;
    const noise = Array.from({ length: N }, () => Array.from({ length: 400 }, () => rng.normal()));
    const m0 = Float64Array.from({ length: 400 }, (_, i) => noise.reduce((s, e) => s + e[i], 0) / N);
    const s0 = Float64Array.from({ length: 400 }, (_, i) => noise.reduce((s, e) => s + e[i] ** 2, 0) / N);
    assert.ok(layerSnr(m0, s0, N) < 0.35, `noise: ${layerSnr(m0, s0, N)}`);
    assert.ok(Number.isNaN(layerSnr(mean, sq, 3)), 'three estimates: no noise level');
  });

  it('zo-taylor reports each layer\'s SNR from its n k estimates, and warns when it is below 1', async () => {
    const { model, data } = task(31, Array.from({ length: 32 }, (_, i) => i % 3));
    const base = { targets: { layerTypes: ['linear' as const] }, training: { batchSize: 8 } };
    const config = runConfig({ ...base, spruft: { importance: { metric: 'zo-taylor', perturbations: 4, calibrationSets: 2, seed: 4 } } });
    const before = tf.memory().numTensors;
    const p = await zoProjections(importanceContext(model, config, data));
    const s = await zoTaylorImportance(importanceContext(model, config, data));
    assert.equal(tf.memory().numTensors, before, 'leaked tensors');
    assert.equal(p.estimates, 8);
    for (const [name, v] of p.rows) {
      assert.equal(s.snr!.get(name), layerSnr(v, p.rowSquares.get(name)!, 8), name);
      // Mean squares are at least the squared means (Jensen): a real second moment.
      v.forEach((m, i) => assert.ok(p.rowSquares.get(name)![i] >= m * m - 1e-12));
    }
    const low = [...s.snr!.values()].some((x) => !(x >= 1));
    assert.equal(s.warnings!.length > 0, low, `warnings ${JSON.stringify(s.warnings)} vs SNR ${JSON.stringify([...s.snr!])}`);
    // A single estimate has no standard error: always warned about.
    const one = await zoTaylorImportance(importanceContext(model, runConfig({ ...base, spruft: { importance: { metric: 'zo-taylor', perturbations: 1, calibrationSets: 1 } } }), data));
    assert.match(one.warnings![0], /SNR < 1.*n k = 1 estimates.*perturbations \(now 1\)/);
    model.dispose();
  });

  it('qm-taylor eq. 6 as printed: |w_i^T grad L(D^t)| per class, never above appendix A\'s sum_j |.| (with `mean` aggregation)', async () => {
    const { model, data } = task(32, Array.from({ length: 30 }, (_, i) => i % 3));
    const base = { targets: { layerTypes: ['linear' as const] }, training: { batchSize: 8 } };
    const cfg = (classScore: 'eq-6' | 'appendix-a') => runConfig({ ...base, spruft: { importance: { metric: 'qm-taylor', classAggregation: 'mean', classScore, calibrationBatches: 100 } } });
    const eq6 = await qmTaylorImportance(importanceContext(model, cfg('eq-6'), data));
    const appA = await qmTaylorImportance(importanceContext(model, cfg('appendix-a'), data));
    // The reference: per class t, G^t from the class's own examples, then |sum_j G_ij w_ij| (float64 sums).
    const ctx = importanceContext(model, cfg('eq-6'), data);
    for (const layer of ctx.layers) {
      const [dOut, dIn] = layer.weight.shape;
      const w = layer.weight.dataSync();
      const expected = new Float64Array(dOut);
      for (let t = 0; t < 3; t++) {
        const { grads } = await meanWeightGradients(model, [layer], classBatches(ctx.batches(), t, 8), ctx.loss);
        const g = grads.get(layer.name)!.dataSync();
        tf.dispose([...grads.values()]);
        for (let i = 0; i < dOut; i++) {
          let dot = 0;
          for (let j = 0; j < dIn; j++) dot += g[i * dIn + j] * w[i * dIn + j];
          expected[i] += Math.abs(dot) / 3;
        }
      }
      assertClose(eq6.rows.get(layer.name)!, expected, 1e-4, `${layer.name} eq. 6`);
      eq6.rows.get(layer.name)!.forEach((v, i) => assert.ok(v <= appA.rows.get(layer.name)![i] * (1 + 1e-5) + 1e-9, `${layer.name} row ${i}: eq. 6 ${v} > appendix A`));
      assert.ok(eq6.rows.get(layer.name)!.some((v, i) => v < appA.rows.get(layer.name)![i] * 0.999), `${layer.name}: the two forms differ`);
    }
    model.dispose();
  });

  it('qm-taylor names the classes absent from the calibration data (eq. 7 takes quantiles over every class)', async () => {
    const { model, data } = task(33, Array.from({ length: 24 }, (_, i) => i % 2), 4);
    const config = runConfig({ targets: { layerTypes: ['linear'] }, training: { batchSize: 8 }, spruft: { rank: 1, importance: { metric: 'qm-taylor' } } });
    const s = await qmTaylorImportance(importanceContext(model, config, data));
    assert.equal(s.warnings!.length, 1);
    assert.match(s.warnings![0], /2 of 4 classes \(2, 3\) have no example/);
    const scored = await scoreRows(model, config, data);
    assert.deepEqual(scored.warnings, s.warnings, 'scoreRows passes the warning on');
    model.dispose();
  });

  it('zo-taylor with more calibration sets than examples: one set per example, said in a warning', async () => {
    const { model, data } = task(34, [0, 1, 2, 0, 1]);
    const config = runConfig({ targets: { layerTypes: ['linear'] }, training: { batchSize: 2 }, spruft: { rank: 1, importance: { metric: 'zo-taylor', perturbations: 1, calibrationSets: 8 } } });
    const scored = await scoreRows(model, config, data);
    assert.match(scored.warnings[0], /calibrationSets is 8 but the training data has 5 examples: 5 sets of one example each/);
    model.dispose();
  });

  it('SPruFT tunes W_f only by default (eq. 5); the bias rows are an option', () => {
    assert.equal(runConfig({}).spruft.trainBias, false);
    assert.equal(runConfig({ spruft: { trainBias: true } }).spruft.trainBias, true);
    assert.equal(runConfig({}).spruft.importance.classScore, 'appendix-a');
  });

  it('each method of a comparison can train at its own rate (training.methodLr), the others at training.lr', () => {
    const c = runConfig({ training: { lr: 1e-3, methodLr: { full: 1e-4 } } });
    assert.equal(configForMethod(c, 'full').training.lr, 1e-4);
    assert.equal(configForMethod(c, 'lora').training.lr, 1e-3);
    assert.equal(configForMethod(c, 'lora'), c, 'no override: the same config');
  });
});
