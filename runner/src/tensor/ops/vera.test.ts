import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { valueAndGrads } from '../autodiff';
import { Rng } from '../rng';
import { tf, type Tensor } from '../tf';
import { sliceProjections, veraDeltaWeight, veraLinear, veraProjectionArrays, type VeraParams } from './vera';
import {
  assertClose, assertNoLeak, gradCheck, input, randomArray, randomTensor, testLoss, TEST_BACKENDS, useBackend,
} from './testing';

const N = 6, D_IN = 5, D_OUT = 7, R = 3;
/** The shared projections are drawn larger than this layer (another layer is wider). */
const D_IN_MAX = 8, D_OUT_MAX = 9;

function maskArray(rng: Rng, keep: number): Uint8Array {
  return new Uint8Array(N * D_IN).map(() => (rng.next() < keep ? 1 : 0));
}

/**
 * float64 VeRA: y = x W0^T + b + lambda_b * ((lambda_d * (drop(x) A^T)) B^T), with A and
 * B this layer's [R, D_IN] and [D_OUT, R] slices.
 */
function vera64(a: Record<string, Float64Array>, mask: Uint8Array | undefined, keep: number): Float64Array {
  const y = new Float64Array(N * D_OUT);
  for (let n = 0; n < N; n++) {
    const xd = new Float64Array(D_IN);
    for (let i = 0; i < D_IN; i++) xd[i] = mask ? (a.x[n * D_IN + i] * mask[n * D_IN + i]) / keep : a.x[n * D_IN + i];
    const h = new Float64Array(R);
    for (let k = 0; k < R; k++) for (let i = 0; i < D_IN; i++) h[k] += xd[i] * a.A[k * D_IN + i];
    for (let o = 0; o < D_OUT; o++) {
      let s = a.bias[o];
      for (let i = 0; i < D_IN; i++) s += a.x[n * D_IN + i] * a.w[o * D_IN + i];
      let z = 0;
      for (let k = 0; k < R; k++) z += a.B[o * R + k] * a.lambdaD[k] * h[k];
      y[n * D_OUT + o] = s + a.lambdaB[o] * z;
    }
  }
  return y;
}

function veraParams(t: Record<string, Tensor>): VeraParams {
  return { a: t.A, b: t.B, lambdaD: t.lambdaD as tf.Variable, lambdaB: t.lambdaB as tf.Variable };
}

/**
 * This layer's slices of shared projections drawn at the larger shape, cut here in plain
 * arrays (the op's frozen inputs live as long as the model; sliceProjections is tested below).
 */
function projectionInputs(rng: Rng): { A: ReturnType<typeof input>; B: ReturnType<typeof input> } {
  const p = veraProjectionArrays(rng, R, D_IN_MAX, D_OUT_MAX);
  const a = new Float32Array(R * D_IN);
  for (let k = 0; k < R; k++) a.set(p.a.subarray(k * D_IN_MAX, k * D_IN_MAX + D_IN), k * D_IN);
  return { A: { shape: [R, D_IN], data: a }, B: { shape: [D_OUT, R], data: p.b.slice(0, D_OUT * R) } };
}

for (const backend of TEST_BACKENDS) {
  describe(`VeRA linear op on ${backend}`, () => {
    before(() => useBackend(backend));

    for (const withDropout of [false, true]) {
      it(`d lambda_d, d lambda_b and dx equal float64 finite differences${withDropout ? ' (dropout)' : ''}`, () => {
        const rng = new Rng(141);
        const keep = 0.7;
        const mask = withDropout ? maskArray(rng, keep) : undefined;
        const maskTensor = mask ? tf.tensor(mask, [N, D_IN], 'bool') : undefined;
        // A trained state: lambda_b non-zero, so that every gradient is exercised.
        gradCheck(rng, {
          what: 'veraLinear',
          inputs: {
            x: input(rng, [N, D_IN]), w: input(rng, [D_OUT, D_IN]), bias: input(rng, [D_OUT]),
            ...projectionInputs(rng), lambdaD: input(rng, [R]), lambdaB: input(rng, [D_OUT], 0.5),
          },
          wrt: ['x', 'lambdaD', 'lambdaB'],
          forward: (t) => veraLinear(t.x, t.w, t.bias, veraParams(t), maskTensor ? { mask: maskTensor, keep } : undefined, true),
          reference: (a) => vera64(a, mask, keep),
        });
        tf.dispose(maskTensor);
      });
    }

    it('gradients equal the chain rule of the full-weight gradient through Delta W = Lambda_b B Lambda_d A', () => {
      const rng = new Rng(142);
      const x = tf.variable(randomTensor(rng, [N, D_IN]));
      const w = randomTensor(rng, [D_OUT, D_IN]);
      const bias = randomTensor(rng, [D_OUT]);
      const r = randomTensor(rng, [N, D_OUT]);
      const proj = veraProjectionArrays(rng, R, D_IN_MAX, D_OUT_MAX);
      const shared = { a: tf.tensor(proj.a, [R, D_IN_MAX]), b: tf.tensor(proj.b, [D_OUT_MAX, R]) };
      const sliced = sliceProjections(shared, D_IN, D_OUT);
      const p: VeraParams = {
        ...sliced,
        lambdaD: tf.variable(tf.tensor(randomArray(rng, R), [R])),
        lambdaB: tf.variable(tf.tensor(randomArray(rng, D_OUT, 0.5), [D_OUT])),
      };
      const ours = tf.variableGrads(() => testLoss(veraLinear(x, w, bias, p, undefined, true), r) as tf.Scalar, [x, p.lambdaD, p.lambdaB]);
      // The full update: W0 + Delta W with Delta W a free variable, differentiated by tfjs.
      const delta = tf.variable(veraDeltaWeight(p));
      const full = tf.variableGrads(() => testLoss(tf.add(tf.matMul(x, tf.add(w, delta), false, true), bias), r) as tf.Scalar, [x, delta]);
      const gW = full.grads[delta.name];
      // d lambda_b[o] = sum_i G[o, i] (B Lambda_d A)[o, i];
      // d lambda_d[k] = sum_o (Lambda_b B)[o, k] (G A^T)[o, k].
      const expected = tf.tidy(() => ({
        lambdaB: tf.sum(tf.mul(gW, tf.matMul(tf.mul(p.b, p.lambdaD), p.a)), 1),
        lambdaD: tf.sum(tf.mul(tf.mul(p.b, tf.reshape(p.lambdaB, [-1, 1])), tf.matMul(gW, p.a, false, true)), 0),
      }));
      assert.ok(Math.abs(ours.value.dataSync()[0] - full.value.dataSync()[0]) <= 1e-4 * Math.abs(full.value.dataSync()[0]), 'loss');
      assertClose(ours.grads[p.lambdaB.name].dataSync(), expected.lambdaB.dataSync(), 1e-4, 'd lambda_b vs full');
      assertClose(ours.grads[p.lambdaD.name].dataSync(), expected.lambdaD.dataSync(), 1e-4, 'd lambda_d vs full');
      assertClose(ours.grads[x.name].dataSync(), full.grads[x.name].dataSync(), 1e-4, 'dx vs full');
      tf.dispose([x, w, bias, r, shared.a, shared.b, sliced.a, sliced.b, p.lambdaD, p.lambdaB, delta, ours.value, full.value,
        expected.lambdaB, expected.lambdaD, ...Object.values(ours.grads), ...Object.values(full.grads)]);
    });

    it('merging W0 + Delta W reproduces the adapted forward; lambda_b = 0 changes nothing', () => {
      const rng = new Rng(143);
      const x = randomTensor(rng, [N, D_IN]);
      const w = randomTensor(rng, [D_OUT, D_IN]);
      const bias = randomTensor(rng, [D_OUT]);
      const proj = veraProjectionArrays(rng, R, D_IN, D_OUT);
      const p: VeraParams = {
        a: tf.tensor(proj.a, [R, D_IN]), b: tf.tensor(proj.b, [D_OUT, R]),
        lambdaD: tf.variable(tf.fill([R], 0.1)), lambdaB: tf.variable(tf.zeros([D_OUT])),
      };
      const frozen = tf.add(tf.matMul(x, w, false, true), bias);
      const atInit = veraLinear(x, w, bias, p, undefined, false);
      assert.deepEqual(Array.from(atInit.dataSync()), Array.from(frozen.dataSync()));
      p.lambdaB.assign(tf.tensor(randomArray(rng, D_OUT), [D_OUT]));
      p.lambdaD.assign(tf.tensor(randomArray(rng, R), [R]));
      const adapted = veraLinear(x, w, bias, p, undefined, false);
      const merged = tf.tidy(() => tf.add(tf.matMul(x, tf.add(w, veraDeltaWeight(p)), false, true), bias));
      assertClose(merged.dataSync(), adapted.dataSync(), 1e-5, 'merged vs adapted');
      tf.dispose([x, w, bias, p.a, p.b, p.lambdaD, p.lambdaB, frozen, atInit, adapted, merged]);
    });

    it('without an input gradient, the same lambda gradients', () => {
      const rng = new Rng(144);
      const x = randomTensor(rng, [2, 3, D_IN]);
      const w = randomTensor(rng, [D_OUT, D_IN]);
      const r = randomTensor(rng, [2, 3, D_OUT]);
      const proj = veraProjectionArrays(rng, R, D_IN, D_OUT);
      const p: VeraParams = {
        a: tf.tensor(proj.a, [R, D_IN]), b: tf.tensor(proj.b, [D_OUT, R]),
        lambdaD: tf.variable(tf.tensor(randomArray(rng, R), [R])), lambdaB: tf.variable(tf.tensor(randomArray(rng, D_OUT), [D_OUT])),
      };
      const mask = tf.tensor(new Uint8Array(x.size).map(() => (rng.next() < 0.8 ? 1 : 0)), x.shape, 'bool');
      const run = (needs: boolean) => valueAndGrads(() => testLoss(veraLinear(x, w, undefined, p, { mask, keep: 0.8 }, needs), r), [p.lambdaD, p.lambdaB]);
      const a = run(true);
      const b = run(false);
      a.grads.forEach((g, i) => assertClose(b.grads[i].dataSync(), g.dataSync(), 1e-6, `grad ${i}`));
      tf.dispose([x, w, r, p.a, p.b, p.lambdaD, p.lambdaB, mask, ...a.grads, ...b.grads]);
    });

    it('leaks nothing per step, on the engine tape and on tfjs\'s', () => {
      const rng = new Rng(145);
      const x = randomTensor(rng, [N, D_IN]);
      const w = randomTensor(rng, [D_OUT, D_IN]);
      const r = randomTensor(rng, [N, D_OUT]);
      const mask = tf.tensor(maskArray(rng, 0.9), [N, D_IN], 'bool');
      const proj = veraProjectionArrays(rng, R, D_IN, D_OUT);
      const p: VeraParams = {
        a: tf.tensor(proj.a, [R, D_IN]), b: tf.tensor(proj.b, [D_OUT, R]),
        lambdaD: tf.variable(tf.fill([R], 0.1)), lambdaB: tf.variable(tf.zeros([D_OUT])),
      };
      for (let step = 0; step < 3; step++) {
        assertNoLeak(() => {
          const { grads } = valueAndGrads(() => testLoss(veraLinear(x, w, undefined, p, { mask, keep: 0.9 }, true), r), [p.lambdaD, p.lambdaB]);
          tf.dispose(grads);
          const t = tf.variableGrads(() => testLoss(veraLinear(x, w, undefined, p, { mask, keep: 0.9 }, false), r) as tf.Scalar, [p.lambdaD, p.lambdaB]);
          tf.dispose([t.value, ...Object.values(t.grads)]);
        }, `step ${step}`);
      }
      tf.dispose([x, w, r, mask, p.a, p.b, p.lambdaD, p.lambdaB]);
    });
  });
}

describe('VeRA projections', () => {
  it('are drawn as PEFT draws them: Kaiming-uniform on the fan-in, A then B, from one seed', () => {
    const a1 = veraProjectionArrays(new Rng(0), 4, 64, 32);
    const a2 = veraProjectionArrays(new Rng(0), 4, 64, 32);
    assert.deepEqual(a1, a2, 'same seed, same projections');
    assert.equal(a1.a.length, 4 * 64);
    assert.equal(a1.b.length, 32 * 4);
    const maxAbs = (v: Float32Array): number => v.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    assert.ok(maxAbs(a1.a) <= Math.sqrt(6 / 64) && maxAbs(a1.a) > 0.9 * Math.sqrt(6 / 64), `A within +-sqrt(6/64): ${maxAbs(a1.a)}`);
    assert.ok(maxAbs(a1.b) <= Math.sqrt(6 / 4) && maxAbs(a1.b) > 0.8 * Math.sqrt(6 / 4), `B within +-sqrt(6/4): ${maxAbs(a1.b)}`);
    assert.notDeepEqual(veraProjectionArrays(new Rng(1), 4, 64, 32).a, a1.a, 'another seed, other projections');
  });

  it('each layer reads the top-left slice of the shared pair; a layer larger than the pair is refused', () => {
    const before = tf.memory().numTensors;
    const shared = { a: tf.tensor2d([[1, 2, 3], [4, 5, 6]]), b: tf.tensor2d([[1, 2], [3, 4], [5, 6], [7, 8]]) };
    const s = sliceProjections(shared, 2, 3);
    assert.deepEqual(s.a.arraySync(), [[1, 2], [4, 5]]);
    assert.deepEqual(s.b.arraySync(), [[1, 2], [3, 4], [5, 6]]);
    const whole = sliceProjections(shared, 3, 4);
    assert.equal(whole.a, shared.a, 'the largest layer reads the pair itself, no copy');
    assert.equal(whole.b, shared.b);
    assert.throws(() => sliceProjections(shared, 4, 2), /does not fit/);
    tf.dispose([shared.a, shared.b, s.a, s.b]);
    assert.equal(tf.memory().numTensors, before);
  });
});
