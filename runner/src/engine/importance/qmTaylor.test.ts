import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { ImageExamples } from '../batches';
import { peakBytes } from '../../tensor/memory';
import { assertClose, useBackend } from '../../tensor/ops/testing';
import { Rng } from '../../tensor/rng';
import { scoreRows } from '../score';
import { tf } from '../../tensor/tf';
import { aggregateClasses, qmTaylorImportance, quantileMean } from './qmTaylor';
import { taylorImportance } from './taylor';
import { importanceContext, mlpFrom, runConfig } from './testing';

/**
 * Three classes, the third rare (4 of 64 examples). Neuron A (row 1) reads feature 3,
 * positive only for class 2, and feeds class 2's logit: it matters for the rare class
 * alone. Neuron B (row 4) reads feature 1, positive except for class 2, and feeds classes
 * 0 and 1: it matters a little for the common classes. Other neurons are near zero.
 */
function rareClassTask(): { model: ReturnType<typeof mlpFrom>; data: ImageExamples; a: number; b: number } {
  const rng = new Rng(5);
  const counts = [30, 30, 4];
  const n = counts.reduce((x, y) => x + y);
  const inputs = new Float32Array(n * 4);
  const labels = new Int32Array(n);
  let k = 0;
  counts.forEach((c, t) => {
    for (let i = 0; i < c; i++, k++) {
      labels[k] = t;
      inputs[k * 4] = rng.normal();
      inputs[k * 4 + 1] = (t === 2 ? -1 : 1) + 0.2 * rng.normal();
      inputs[k * 4 + 2] = rng.normal();
      inputs[k * 4 + 3] = (t === 2 ? 1 : -1) + 0.2 * rng.normal();
    }
  });
  const H = 6, A = 1, B = 4;
  const w1 = rng.fillNormal(new Float32Array(H * 4), 0.05);
  w1.fill(0, A * 4, A * 4 + 4);
  w1[A * 4 + 3] = 1;
  w1.fill(0, B * 4, B * 4 + 4);
  w1[B * 4 + 1] = 1;
  const w2 = rng.fillNormal(new Float32Array(3 * H), 0.05);
  w2[2 * H + A] = 1;
  w2[B] = 0.5;
  w2[H + B] = 0.5;
  w2[2 * H + B] = 0;
  const model = mlpFrom({ sizes: [4, H, 3], w: [w1, w2], b: [new Float32Array(H), new Float32Array(3)] }, 2);
  return { model, data: { kind: 'images', n, shape: [2, 2, 1], inputs, labels }, a: A, b: B };
}

describe('qm-taylor', () => {
  before(() => useBackend('wasm'));

  it('quantile-mean (eq. 7) against hand-computed cases', () => {
    // [1, 2, 3, 4, 10]: quantile l/10 sits at position 4 l / 10 -> 1, 1.4, 1.8, 2.2, 2.6, 3, 3.4, 3.8, 5.2, 7.6, 10.
    assert.ok(Math.abs(quantileMean([10, 2, 4, 1, 3]) - 42 / 11) < 1e-12);
    // (0, 0, x): the quantiles at positions 0 .. 1 are 0, at 1.2 .. 2 are 0.2x .. x: 3x / 11.
    assert.ok(Math.abs(quantileMean([0, 5, 0]) - 15 / 11) < 1e-12);
    // Two classes (0, 1): the quantiles are 0, 0.1, ..., 1: their mean is 1/2.
    assert.ok(Math.abs(quantileMean([1, 0]) - 0.5) < 1e-12);
    assert.equal(quantileMean([7]), 7);
    const perClass = [Float32Array.from([1, 0]), Float32Array.from([2, 0]), Float32Array.from([10, 3])];
    assert.deepEqual(Array.from(aggregateClasses(perClass, 'max')), [10, 3]);
    assertClose(aggregateClasses(perClass, 'mean'), [13 / 3, 1], 1e-6, 'mean');
    assertClose(aggregateClasses(perClass, 'quantile-mean'), [quantileMean([1, 2, 10]), quantileMean([0, 0, 3])], 1e-6, 'quantile-mean');
  });

  it('a neuron that matters for a rare class only: qm-taylor selects it, class-agnostic taylor does not', async () => {
    const { model, data, a, b } = rareClassTask();
    const base = { targets: { layerTypes: ['linear' as const] }, training: { batchSize: 16 } };
    const qm = await scoreRows(model, runConfig({ ...base, spruft: { rank: 1, importance: { metric: 'qm-taylor', calibrationBatches: 10 } } }), data);
    const taylor = await scoreRows(model, runConfig({ ...base, spruft: { rank: 1, importance: { metric: 'taylor', calibrationBatches: 10 } } }), data);
    assert.deepEqual(qm.layers[0].rows, [a], 'qm-taylor picks the rare-class neuron');
    assert.deepEqual(taylor.layers[0].rows, [b], 'taylor picks the common-class neuron');
    model.dispose();
  });

  it('each class is scored on its own examples: `mean` aggregation = the mean of taylor on each class alone', async () => {
    const { model, data } = rareClassTask();
    const base = { targets: { layerTypes: ['linear' as const] }, training: { batchSize: 8 } };
    const qmConfig = runConfig({ ...base, spruft: { importance: { metric: 'qm-taylor', classAggregation: 'mean', calibrationBatches: 100 } } });
    const before = tf.memory().numTensors;
    const qm = await qmTaylorImportance(importanceContext(model, qmConfig, data));
    assert.equal(tf.memory().numTensors, before, 'qm-taylor leaked tensors');
    const perClass: Float32Array[] = [];
    for (let t = 0; t < 3; t++) {
      const keep = Array.from(data.labels.keys()).filter((i) => data.labels[i] === t);
      const only: ImageExamples = {
        ...data, n: keep.length, labels: Int32Array.from(keep, (i) => data.labels[i]),
        inputs: Float32Array.from(keep.flatMap((i) => Array.from(data.inputs.subarray(i * 4, i * 4 + 4)))),
      };
      const cfg = runConfig({ ...base, spruft: { importance: { metric: 'taylor', calibrationBatches: 100 } } });
      perClass.push((await taylorImportance(importanceContext(model, cfg, only))).rows.get('mlp.layers.0')!);
    }
    assertClose(qm.rows.get('mlp.layers.0')!, aggregateClasses(perClass, 'mean'), 1e-4, 'mean of per-class taylor');
    model.dispose();
  });

  it('holds one class gradient at a time: its peak stays near taylor\'s, not p times the weights above it', async (t) => {
    const rng = new Rng(7);
    const sizes = [256, 384, 384, 8];
    const model = mlpFrom({
      sizes,
      w: sizes.slice(0, -1).map((d, i) => rng.fillNormal(new Float32Array(d * sizes[i + 1]), 1 / Math.sqrt(d))),
      b: sizes.slice(1).map((d) => new Float32Array(d)),
    }, 16);
    const n = 64;
    const data: ImageExamples = {
      kind: 'images', n, shape: [16, 16, 1], inputs: rng.fillNormal(new Float32Array(n * 256)), labels: Int32Array.from({ length: n }, (_, i) => i % 8),
    };
    const base = { targets: { layerTypes: ['linear' as const] }, training: { batchSize: 8 } };
    const peakOf = (metric: 'taylor' | 'qm-taylor') => peakBytes(async () => {
      await scoreRows(model, runConfig({ ...base, spruft: { importance: { metric, calibrationBatches: 8 } } }), data);
    });
    const taylorPeak = await peakOf('taylor');
    const qmPeak = await peakOf('qm-taylor');
    const targetBytes = (256 * 384 + 384 * 384) * 4;
    t.diagnostic(`peak: taylor ${taylorPeak}, qm-taylor ${qmPeak}; one gradient set ${targetBytes} bytes`);
    // Holding the 8 classes' gradients at once would add 7 x targetBytes.
    assert.ok(qmPeak < taylorPeak + 0.5 * targetBytes, `qm-taylor peak ${qmPeak} vs taylor ${taylorPeak} (+ ${targetBytes} per gradient set)`);
    model.dispose();
  });
});
