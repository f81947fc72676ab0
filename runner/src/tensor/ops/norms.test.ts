import { before, describe, it } from 'node:test';
import { Rng } from '../rng';
import { tf, type Tensor } from '../tf';
import { batchNorm } from './batchNorm';
import { layerNorm } from './layerNorm';
import type { NormTraining } from './normAffine';
import { rmsNorm } from './rmsNorm';
import { assertClose, gradCheck, input, randomTensor, testLoss, TEST_BACKENDS, useBackend } from './testing';

const N = 5, D = 6;
const ROWS = [0, 4];

/** Effective scale/shift in float64: base + scatter(delta) for rows, or the full vectors. */
function affine64(base: Float64Array, delta: Float64Array | undefined, kind: 'rows' | 'full'): Float64Array {
  if (!delta) return base;
  if (kind === 'full') return delta;
  const out = Float64Array.from(base);
  ROWS.forEach((r, j) => { out[r] += delta[j]; });
  return out;
}

function layerNorm64(x: Float64Array, scale: Float64Array, shift: Float64Array, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let n = 0; n < N; n++) {
    let mu = 0;
    for (let i = 0; i < D; i++) mu += x[n * D + i] / D;
    let v = 0;
    for (let i = 0; i < D; i++) v += (x[n * D + i] - mu) ** 2 / D;
    for (let i = 0; i < D; i++) y[n * D + i] = ((x[n * D + i] - mu) / Math.sqrt(v + eps)) * scale[i] + shift[i];
  }
  return y;
}

function rmsNorm64(x: Float64Array, scale: Float64Array, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let n = 0; n < N; n++) {
    let ms = 0;
    for (let i = 0; i < D; i++) ms += x[n * D + i] ** 2 / D;
    for (let i = 0; i < D; i++) y[n * D + i] = (x[n * D + i] / Math.sqrt(ms + eps)) * scale[i];
  }
  return y;
}

function batchNorm64(x: Float64Array, mean: Float64Array, variance: Float64Array, eps: number, scale: Float64Array, shift: Float64Array): Float64Array {
  return x.map((v, i) => ((v - mean[i % D]) / Math.sqrt(variance[i % D] + eps)) * scale[i % D] + shift[i % D]);
}

function training(kind: 'rows' | 'full' | 'frozen', t: Record<string, Tensor>, rows: tf.Tensor1D): NormTraining {
  if (kind === 'frozen') return { kind };
  if (kind === 'full') return { kind, scale: t.s as tf.Variable, shift: t.b as tf.Variable };
  return { kind, rows, scale: t.s as tf.Variable, shift: t.b as tf.Variable };
}

for (const backend of TEST_BACKENDS) {
  describe(`norm ops on ${backend}`, () => {
    before(() => useBackend(backend));

    for (const kind of ['rows', 'full'] as const) {
      for (const xNeedsGrad of [true, false]) {
        const trained = kind === 'rows' ? ROWS.length : D;
        const wrt = xNeedsGrad ? ['x', 's', 'b'] : ['s', 'b'];

        it(`layerNorm (${kind}, input gradient ${xNeedsGrad}) equals float64 finite differences`, () => {
          const rng = new Rng(40);
          const rows = tf.tensor1d(ROWS, 'int32');
          gradCheck(rng, {
            what: `layerNorm ${kind}`,
            inputs: { x: input(rng, [N, D]), g: input(rng, [D]), beta: input(rng, [D]), s: input(rng, [trained], 0.3), b: input(rng, [trained], 0.3) },
            wrt,
            forward: (t) => layerNorm(t.x, t.g, t.beta, 1e-5, training(kind, t, rows), xNeedsGrad),
            reference: (a) => layerNorm64(a.x, affine64(a.g, a.s, kind), affine64(a.beta, a.b, kind), 1e-5),
          });
          rows.dispose();
        });

        it(`rmsNorm (${kind}, input gradient ${xNeedsGrad}) equals float64 finite differences`, () => {
          const rng = new Rng(41);
          const rows = tf.tensor1d(ROWS, 'int32');
          gradCheck(rng, {
            what: `rmsNorm ${kind}`,
            inputs: { x: input(rng, [N, D]), g: input(rng, [D]), s: input(rng, [trained], 0.3) },
            wrt: wrt.filter((n) => n !== 'b'),
            forward: (t) => rmsNorm(t.x, t.g, 1e-6, kind === 'full' ? { kind, scale: t.s as tf.Variable } : { kind, rows, scale: t.s as tf.Variable }, xNeedsGrad),
            reference: (a) => rmsNorm64(a.x, affine64(a.g, a.s, kind), 1e-6),
          });
          rows.dispose();
        });

        it(`batchNorm with stored statistics (${kind}, input gradient ${xNeedsGrad}) equals float64 finite differences`, () => {
          const rng = new Rng(42);
          const rows = tf.tensor1d(ROWS, 'int32');
          const variance = Float32Array.from({ length: D }, () => 0.5 + rng.next());
          gradCheck(rng, {
            what: `batchNorm ${kind}`,
            inputs: {
              x: input(rng, [N, 2, 2, D]), g: input(rng, [D]), beta: input(rng, [D]), mean: input(rng, [D]),
              variance: { shape: [D], data: variance }, s: input(rng, [trained], 0.3), b: input(rng, [trained], 0.3),
            },
            wrt,
            forward: (t) => batchNorm(t.x, t.g, t.beta, { mean: t.mean, variance: t.variance, eps: 1e-3 }, training(kind, t, rows), xNeedsGrad),
            reference: (a) => batchNorm64(a.x, a.mean, a.variance, 1e-3, affine64(a.g, a.s, kind), affine64(a.beta, a.b, kind)),
          });
          rows.dispose();
        });
      }
    }

    it('layerNorm row gradients equal the selected entries of the full gamma/beta gradients', () => {
      const rng = new Rng(43);
      const x = randomTensor(rng, [N, D]);
      const g = randomTensor(rng, [D]);
      const beta = randomTensor(rng, [D]);
      const r = randomTensor(rng, [N, D]);
      const rows = tf.tensor1d(ROWS, 'int32');
      const s = tf.variable(tf.zeros([ROWS.length]));
      const b = tf.variable(tf.zeros([ROWS.length]));
      const ours = tf.variableGrads(() => testLoss(layerNorm(x, g, beta, 1e-5, { kind: 'rows', rows, scale: s, shift: b }, false), r) as tf.Scalar, [s, b]);
      const gv = tf.variable(g);
      const bv = tf.variable(beta);
      const full = tf.variableGrads(() => testLoss(layerNorm(x, gv, bv, 1e-5, { kind: 'full', scale: gv, shift: bv }, false), r) as tf.Scalar, [gv, bv]);
      assertClose(ours.grads[s.name].dataSync(), tf.gather(full.grads[gv.name], rows).dataSync(), 1e-5, 'dgamma rows');
      assertClose(ours.grads[b.name].dataSync(), tf.gather(full.grads[bv.name], rows).dataSync(), 1e-5, 'dbeta rows');
    });
  });
}
