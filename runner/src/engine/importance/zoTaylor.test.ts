import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { AdaptableLayer, inferenceContext } from '../../models/layer';
import type { ImageExamples } from '../batches';
import { disposeBatch, makeBatch } from '../batches';
import { peakBytes } from '../../tensor/memory';
import { assertClose, useBackend } from '../../tensor/ops/testing';
import { Rng } from '../../tensor/rng';
import { tf, type Tensor } from '../../tensor/tf';
import { meanWeightGradients } from './gradients';
import { importanceContext, mlpFrom, runConfig, type MlpWeights } from './testing';
import { BLOCK_ELEMENTS, NormalStream, perturbedForward, zoProjections, zoTaylorImportance } from './zoTaylor';

/**
 * Add scale * z to a weight whose rows are its last axis; z is row-major [rows, perRow], as
 * perturbedForward draws it (row by row of the row matrix, each row's parameters in weight order).
 */
function moveRowsLast(w: Float32Array, z: Float64Array, rows: number, perRow: number, scale: number): Float32Array {
  const out = Float32Array.from(w);
  for (let o = 0; o < rows; o++) for (let t = 0; t < perRow; t++) out[t * rows + o] += scale * z[o * perRow + t];
  return out;
}

function dotsRowsLast(w: Float32Array, z: Float64Array, rows: number, perRow: number): Float64Array {
  const d = new Float64Array(rows);
  for (let o = 0; o < rows; o++) for (let t = 0; t < perRow; t++) d[o] += w[t * rows + o] * z[o * perRow + t];
  return d;
}

function images(rng: Rng, n: number, size: number, labels: number): ImageExamples {
  return {
    kind: 'images', n, shape: [size, size, 1], inputs: rng.fillNormal(new Float32Array(n * size * size)),
    labels: Int32Array.from({ length: n }, (_, i) => i % labels),
  };
}

function randomMlp(rng: Rng, sizes: number[], std = 0.5): MlpWeights {
  return {
    sizes,
    w: sizes.slice(0, -1).map((d, i) => rng.fillNormal(new Float32Array(d * sizes[i + 1]), std / Math.sqrt(d) * 2)),
    b: sizes.slice(1).map((d) => rng.fillNormal(new Float32Array(d), 0.1)),
  };
}

describe('zo-taylor', () => {
  before(() => useBackend('wasm'));

  it('the perturbed forward equals the forward with W + eps z, z regenerated in row order, for every layer kind (blocked linear and conv too)', () => {
    const rng = new Rng(201);
    const scale = 0.01;
    const check = (layer: AdaptableLayer, x: Tensor, moved: (w: Float32Array) => Float32Array, rows: Float64Array, columns?: Float64Array) => {
      const before = tf.memory().numTensors;
      const dots = { rows: new Float64Array(layer.dOut), columns: columns ? new Float64Array(columns.length) : undefined, done: false };
      const y = perturbedForward(layer, x, scale, new NormalStream(new Rng(7)), dots);
      const original = layer.weight;
      layer.weight = tf.tensor(moved(original.dataSync() as Float32Array), original.shape);
      const expected = tf.tidy(() => layer.apply(x, inferenceContext(), false));
      assertClose(y.dataSync(), expected.dataSync(), 1e-4, `${layer.kind} output`);
      assertClose(dots.rows, rows, 1e-4, `${layer.kind} row dots`);
      if (columns) assertClose(dots.columns!, columns, 1e-4, `${layer.kind} column dots`);
      tf.dispose([y, expected, layer.weight]);
      layer.weight = original;
      assert.equal(tf.memory().numTensors, before, `${layer.kind}: perturbedForward leaked tensors`);
    };

    // Linear [40, 1000]: more than one block of BLOCK_ELEMENTS parameters.
    const [o, i] = [40, 1000];
    assert.ok(o * i > 2 * BLOCK_ELEMENTS);
    const lin = new AdaptableLayer({ name: 'lin', kind: 'linear', weight: tf.tensor(rng.fillNormal(new Float32Array(o * i)), [o, i]), bias: tf.tensor(rng.fillNormal(new Float32Array(o)), [o]) });
    const zl = (() => { const r = new NormalStream(new Rng(7)); return Float64Array.from({ length: o * i }, () => r.next()); })();
    const wl = lin.weight.dataSync() as Float32Array;
    const rowDots = new Float64Array(o);
    const colDots = new Float64Array(i);
    for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) { rowDots[a] += wl[a * i + b] * zl[a * i + b]; colDots[b] += wl[a * i + b] * zl[a * i + b]; }
    const xl = tf.tensor(rng.fillNormal(new Float32Array(3 * 2 * i)), [3, 2, i]);
    check(lin, xl, (w) => w.map((v, k) => v + scale * zl[k]), rowDots, colDots);

    // Conv2D [3, 3, 64, 300]: rows (output channels) last, several blocks.
    const cs = [3, 3, 64, 300];
    const per = cs[0] * cs[1] * cs[2];
    const conv = new AdaptableLayer({ name: 'conv', kind: 'conv2d', weight: tf.tensor(rng.fillNormal(new Float32Array(per * cs[3]), 0.1), cs), conv: { strides: [2, 2], pad: 'same' } });
    const zc = (() => { const r = new NormalStream(new Rng(7)); return Float64Array.from({ length: per * cs[3] }, () => r.next()); })();
    const wc = conv.weight.dataSync() as Float32Array;
    const convCols = new Float64Array(cs[2]);
    for (let oc = 0; oc < cs[3]; oc++) for (let t = 0; t < per; t++) convCols[t % cs[2]] += wc[t * cs[3] + oc] * zc[oc * per + t];
    const xc = tf.tensor(rng.fillNormal(new Float32Array(2 * 5 * 5 * 64)), [2, 5, 5, 64]);
    check(conv, xc, (w) => moveRowsLast(w, zc, cs[3], per, scale), dotsRowsLast(wc, zc, cs[3], per), convCols);

    // Depthwise [3, 3, 8, 1], batch norm, layer norm, RMS norm: one block.
    const dw = new AdaptableLayer({ name: 'dw', kind: 'depthwise-conv2d', weight: tf.tensor(rng.fillNormal(new Float32Array(72)), [3, 3, 8, 1]), conv: { strides: [1, 1], pad: 'same' } });
    const zd = (() => { const r = new NormalStream(new Rng(7)); return Float64Array.from({ length: 72 }, () => r.next()); })();
    const xd = tf.tensor(rng.fillNormal(new Float32Array(2 * 4 * 4 * 8)), [2, 4, 4, 8]);
    check(dw, xd, (w) => moveRowsLast(w, zd, 8, 9, scale), dotsRowsLast(dw.weight.dataSync() as Float32Array, zd, 8, 9));
    const d = 8;
    const gamma = () => tf.tensor(rng.fillUniform(new Float32Array(d), 0.5, 1.5), [d]);
    const zn = (() => { const r = new NormalStream(new Rng(7)); return Float64Array.from({ length: d }, () => r.next()); })();
    const norms = [
      new AdaptableLayer({ name: 'bn', kind: 'batchnorm', weight: gamma(), bias: gamma(), movingMean: gamma(), movingVariance: gamma(), eps: 1e-3 }),
      new AdaptableLayer({ name: 'ln', kind: 'layernorm', weight: gamma(), bias: gamma() }),
      new AdaptableLayer({ name: 'rms', kind: 'rmsnorm', weight: gamma() }),
    ];
    for (const n of norms) {
      const g = n.weight.dataSync() as Float32Array;
      check(n, xd, (w) => w.map((v, k) => v + scale * zn[k]), Float64Array.from(g, (v, k) => v * zn[k]));
    }
    for (const l of [lin, conv, dw, ...norms]) l.dispose();
    tf.dispose([xl, xc, xd]);
  });

  it('property 4.2: the n k-SPSA projection is unbiased and its variance is (|theta_i|^2 |g|^2 + (theta_i^T g_i)^2) / (n k)', async (t) => {
    const rng = new Rng(202);
    const sizes = [4, 3, 3];
    const model = mlpFrom(randomMlp(rng, sizes, 1.5), 2);
    // One batch holds all the data: every calibration set sees the same loss (as 4.2.2 assumes).
    const data = images(rng, 16, 2, 3);
    const layer = model.layers[0];
    const base = { targets: { layerTypes: ['linear' as const] }, training: { batchSize: 16 } };
    const exactCtx = importanceContext(model, runConfig({ ...base, spruft: { importance: { metric: 'taylor' } } }), data);
    const { grads } = await meanWeightGradients(model, exactCtx.layers, exactCtx.batches(), exactCtx.loss);
    const g = grads.get(layer.name)!.dataSync() as Float32Array;
    const w = layer.weight.dataSync() as Float32Array;
    tf.dispose([...grads.values()]);
    const [dOut, dIn] = [sizes[1], sizes[0]];
    const g2 = g.reduce((s, v) => s + v * v, 0);
    const exact = new Float64Array(dOut);
    const variance1 = new Float64Array(dOut);
    for (let r = 0; r < dOut; r++) {
      let theta2 = 0;
      for (let j = 0; j < dIn; j++) {
        exact[r] += w[r * dIn + j] * g[r * dIn + j];
        theta2 += w[r * dIn + j] ** 2;
      }
      variance1[r] = theta2 * g2 + exact[r] ** 2;
    }
    const sample = async (runs: number, n: number, k: number): Promise<{ mean: Float64Array; variance: Float64Array }> => {
      const values = Array.from({ length: dOut }, () => new Float64Array(runs));
      for (let s = 0; s < runs; s++) {
        const config = runConfig({ ...base, spruft: { importance: { metric: 'zo-taylor', perturbations: n, calibrationSets: k, epsilon: 1e-3, seed: 5000 + s } } });
        const p = await zoProjections(importanceContext(model, config, data));
        assert.equal(p.estimates, n * k);
        p.rows.get(layer.name)!.forEach((v, r) => { values[r][s] = v; });
      }
      const mean = Float64Array.from(values, (v) => v.reduce((a, b) => a + b, 0) / runs);
      const variance = Float64Array.from(values, (v, r) => v.reduce((a, b) => a + (b - mean[r]) ** 2, 0) / (runs - 1));
      return { mean, variance };
    };
    const pooled = (v: Float64Array) => v.reduce((a, b) => a + b, 0);

    const one = await sample(400, 1, 1);
    for (let r = 0; r < dOut; r++) {
      const se = Math.sqrt(variance1[r] / 400);
      assert.ok(Math.abs(one.mean[r] - exact[r]) < 4 * se, `row ${r}: mean ${one.mean[r].toExponential(3)} vs exact ${exact[r].toExponential(3)} (4 se = ${(4 * se).toExponential(2)})`);
    }
    const ratio1 = pooled(one.variance) / pooled(variance1);
    assert.ok(ratio1 > 0.75 && ratio1 < 1.33, `n k = 1: sample variance / theory = ${ratio1.toFixed(3)}`);

    const eight = await sample(150, 4, 2);
    for (let r = 0; r < dOut; r++) {
      const se = Math.sqrt(variance1[r] / 8 / 150);
      assert.ok(Math.abs(eight.mean[r] - exact[r]) < 4 * se, `n k = 8, row ${r}: mean ${eight.mean[r].toExponential(3)} vs exact ${exact[r].toExponential(3)}`);
    }
    const ratio8 = pooled(eight.variance) / (pooled(variance1) / 8);
    assert.ok(ratio8 > 0.7 && ratio8 < 1.4, `n k = 8: sample variance / (theory / 8) = ${ratio8.toFixed(3)}`);
    const shrink = pooled(one.variance) / pooled(eight.variance);
    t.diagnostic(`variance / theory: n k = 1: ${ratio1.toFixed(3)}, n k = 8: ${ratio8.toFixed(3)}; shrink ${shrink.toFixed(2)} (expected 8)`);
    assert.ok(shrink > 5 && shrink < 12.8, `variance shrinks by ${shrink.toFixed(2)} from n k = 1 to n k = 8 (1/(nk): 8)`);
    model.dispose();
  });

  it('runs at the memory of inference, leaves the frozen weights bit-identical and leaks nothing', async () => {
    const rng = new Rng(203);
    const sizes = [784, 256, 256, 256, 10];
    const model = mlpFrom(randomMlp(rng, sizes), 28);
    const data = images(rng, 64, 28, 10);
    const config = runConfig({ targets: { layerTypes: ['linear'] }, training: { batchSize: 64 }, spruft: { importance: { metric: 'zo-taylor', perturbations: 2, calibrationSets: 1 } } });
    const weightsBefore = model.layers.map((l) => Array.from(l.weight.dataSync()));
    const batch = makeBatch(data, Int32Array.from({ length: 64 }, (_, i) => i));
    const inference = await peakBytes(() => { tf.tidy(() => model.forward(batch.x, inferenceContext())); });
    disposeBatch(batch);
    const tensors = tf.memory().numTensors;
    let scored = 0;
    const peak = await peakBytes(async () => {
      const s = await zoTaylorImportance(importanceContext(model, config, data));
      scored = s.rows.size;
    });
    assert.equal(scored, 3);
    assert.equal(tf.memory().numTensors, tensors, 'zo-taylor leaked tensors');
    assert.ok(peak <= 1.1 * inference, `zo-taylor peak ${peak} > 1.1 x inference peak ${inference}`);
    model.layers.forEach((l, k) => assert.deepEqual(Array.from(l.weight.dataSync()), weightsBefore[k], `${l.name} changed`));
    model.dispose();
  });
});
