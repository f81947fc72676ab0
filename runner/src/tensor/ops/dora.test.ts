import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { valueAndGrads } from '../autodiff';
import { Rng } from '../rng';
import { tf, type Tensor } from '../tf';
import type { ConvSpec } from './conv2d';
import { doraConv2d, doraLinear, doraMergedWeight, doraWeightNorm, type DoraParams } from './dora';
import {
  assertClose, assertNoLeak, conv64, gradCheck, input, randomArray, randomTensor, relativeError, testLoss, TEST_BACKENDS, useBackend,
} from './testing';

const N = 6, D_IN = 5, D_OUT = 7, R = 2;
const SCALE = 16 / R;

/** Row norms of W0 + s B A in float64: ||V||_c. */
function norms64(w: ArrayLike<number>, a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const n = new Float64Array(D_OUT);
  for (let o = 0; o < D_OUT; o++) {
    let s = 0;
    for (let i = 0; i < D_IN; i++) {
      let v = w[o * D_IN + i];
      for (let k = 0; k < R; k++) v += SCALE * b[o * R + k] * a[k * D_IN + i];
      s += v * v;
    }
    n[o] = Math.sqrt(s);
  }
  return n;
}

/**
 * float64 DoRA as PEFT computes it, with ||V||_c given (the detached norm: finite
 * differences hold it at the unperturbed A and B, as backward treats it as a constant).
 *   no dropout: y = g * (x W0^T + s (x A^T) B^T) + b
 *   dropout:    y = x W0^T + b + (g - 1) * (xd W0^T) + g * s (xd A^T) B^T
 */
function dora64(a: Record<string, Float64Array>, norm: Float64Array, mask: Uint8Array | undefined, keep: number): Float64Array {
  const y = new Float64Array(N * D_OUT);
  for (let n = 0; n < N; n++) {
    const xd = new Float64Array(D_IN);
    for (let i = 0; i < D_IN; i++) xd[i] = mask ? (a.x[n * D_IN + i] * mask[n * D_IN + i]) / keep : a.x[n * D_IN + i];
    const h = new Float64Array(R);
    for (let k = 0; k < R; k++) for (let i = 0; i < D_IN; i++) h[k] += xd[i] * a.A[k * D_IN + i];
    for (let o = 0; o < D_OUT; o++) {
      const g = a.m[o] / norm[o];
      let base = 0, baseD = 0, lora = 0;
      for (let i = 0; i < D_IN; i++) {
        base += a.x[n * D_IN + i] * a.w[o * D_IN + i];
        baseD += xd[i] * a.w[o * D_IN + i];
      }
      for (let k = 0; k < R; k++) lora += a.B[o * R + k] * h[k];
      y[n * D_OUT + o] = a.bias[o] + base + (g - 1) * baseD + g * SCALE * lora;
    }
  }
  return y;
}

function doraParams(t: Record<string, Tensor>): DoraParams {
  return { a: t.A as tf.Variable, b: t.B as tf.Variable, m: t.m as tf.Variable, scale: SCALE };
}

/** A trained state: B non-zero, m away from ||V||_c. */
function trainedInputs(rng: Rng) {
  const w = input(rng, [D_OUT, D_IN]);
  const A = input(rng, [R, D_IN], 0.3);
  const B = input(rng, [D_OUT, R], 0.1);
  const n = norms64(w.data, A.data, B.data);
  const m = { shape: [D_OUT], data: Float32Array.from(n, (v) => v * (1 + 0.3 * rng.normal())) };
  return { w, A, B, m };
}

function maskArray(rng: Rng, keep: number): Uint8Array {
  return new Uint8Array(N * D_IN).map(() => (rng.next() < keep ? 1 : 0));
}

for (const backend of TEST_BACKENDS) {
  describe(`DoRA linear op on ${backend}`, () => {
    before(() => useBackend(backend));

    for (const withDropout of [false, true]) {
      it(`dA, dB, dm and dx equal float64 finite differences with the norm held constant${withDropout ? ' (dropout)' : ''}`, () => {
        const rng = new Rng(151);
        const keep = 0.7;
        const mask = withDropout ? maskArray(rng, keep) : undefined;
        const maskTensor = mask ? tf.tensor(mask, [N, D_IN], 'bool') : undefined;
        const inputs = { x: input(rng, [N, D_IN]), bias: input(rng, [D_OUT]), ...trainedInputs(rng) };
        const norm = norms64(inputs.w.data, inputs.A.data, inputs.B.data);
        gradCheck(rng, {
          what: 'doraLinear',
          inputs,
          wrt: ['x', 'A', 'B', 'm'],
          forward: (t) => doraLinear(t.x, t.w, t.bias, doraParams(t), maskTensor ? { mask: maskTensor, keep } : undefined, true),
          reference: (a) => dora64(a, norm, mask, keep),
        });
        tf.dispose(maskTensor);
      });
    }

    it('gradients equal the chain rule of the full-weight gradient through W\' = m V / ||V||_c (norm detached)', () => {
      const rng = new Rng(152);
      const inputs = trainedInputs(rng);
      const x = tf.variable(randomTensor(rng, [N, D_IN]));
      const w = tf.tensor(inputs.w.data, inputs.w.shape);
      const bias = randomTensor(rng, [D_OUT]);
      const r = randomTensor(rng, [N, D_OUT]);
      const p: DoraParams = {
        a: tf.variable(tf.tensor(inputs.A.data, inputs.A.shape)),
        b: tf.variable(tf.tensor(inputs.B.data, inputs.B.shape)),
        m: tf.variable(tf.tensor(inputs.m.data, inputs.m.shape)),
        scale: SCALE,
      };
      const ours = tf.variableGrads(() => testLoss(doraLinear(x, w, bias, p, undefined, true), r) as tf.Scalar, [x, p.a, p.b, p.m]);
      const merged = tf.variable(doraMergedWeight(w, p));
      const full = tf.variableGrads(() => testLoss(tf.add(tf.matMul(x, merged, false, true), bias), r) as tf.Scalar, [x, merged]);
      const G = full.grads[merged.name];
      // With n = ||V||_c constant and g = m / n: dm = sum_i G V / n, and G' = g G is the
      // gradient of V, hence dA = s B^T G', dB = s G' A^T (LoRA's chain rule).
      const expected = tf.tidy(() => {
        const n = doraWeightNorm(w, p);
        const v = tf.add(w, tf.mul(tf.matMul(p.b, p.a), SCALE));
        const gv = tf.mul(G, tf.reshape(tf.div(p.m, n), [-1, 1]));
        return {
          m: tf.div(tf.sum(tf.mul(G, v), 1), n),
          a: tf.mul(tf.matMul(p.b, gv, true, false), SCALE),
          b: tf.mul(tf.matMul(gv, p.a, false, true), SCALE),
        };
      });
      assertClose(ours.value.dataSync(), full.value.dataSync(), 1e-5, 'loss');
      assertClose(ours.grads[p.m.name].dataSync(), expected.m.dataSync(), 1e-4, 'dm vs full');
      assertClose(ours.grads[p.a.name].dataSync(), expected.a.dataSync(), 1e-4, 'dA vs full');
      assertClose(ours.grads[p.b.name].dataSync(), expected.b.dataSync(), 1e-4, 'dB vs full');
      assertClose(ours.grads[x.name].dataSync(), full.grads[x.name].dataSync(), 1e-4, 'dx vs full');
      tf.dispose([x, w, bias, r, p.a, p.b, p.m, merged, ours.value, full.value, expected.m, expected.a, expected.b,
        ...Object.values(ours.grads), ...Object.values(full.grads)]);
    });

    it('the detached norm is PEFT\'s choice: dm as without it, dA and dB not', () => {
      const rng = new Rng(153);
      const inputs = trainedInputs(rng);
      const x = randomTensor(rng, [N, D_IN]);
      const w = tf.tensor(inputs.w.data, inputs.w.shape);
      const r = randomTensor(rng, [N, D_OUT]);
      const p: DoraParams = {
        a: tf.variable(tf.tensor(inputs.A.data, inputs.A.shape)),
        b: tf.variable(tf.tensor(inputs.B.data, inputs.B.shape)),
        m: tf.variable(tf.tensor(inputs.m.data, inputs.m.shape)),
        scale: SCALE,
      };
      const ours = tf.variableGrads(() => testLoss(doraLinear(x, w, undefined, p, undefined, false), r) as tf.Scalar, [p.a, p.b, p.m]);
      // tfjs autograd of m V / ||V||_c with the norm differentiated too.
      const attached = tf.variableGrads(() => testLoss(tf.matMul(x, doraMergedWeight(w, p), false, true), r) as tf.Scalar, [p.a, p.b, p.m]);
      assertClose(ours.grads[p.m.name].dataSync(), attached.grads[p.m.name].dataSync(), 1e-4, 'dm');
      for (const v of [p.a, p.b]) {
        const err = relativeError(ours.grads[v.name].dataSync(), attached.grads[v.name].dataSync());
        assert.ok(err > 1e-2, `${v.name}: the norm's gradient should be missing (relative difference ${err})`);
      }
      tf.dispose([x, w, r, p.a, p.b, p.m, ours.value, attached.value, ...Object.values(ours.grads), ...Object.values(attached.grads)]);
    });

    it('at initialisation (B = 0, m = ||W0||_c) it is the frozen layer; the merged weight reproduces a trained forward', () => {
      const rng = new Rng(154);
      const x = randomTensor(rng, [N, D_IN]);
      const w = randomTensor(rng, [D_OUT, D_IN]);
      const bias = randomTensor(rng, [D_OUT]);
      const p: DoraParams = { a: tf.variable(randomTensor(rng, [R, D_IN], 0.3)), b: tf.variable(tf.zeros([D_OUT, R])), m: tf.variable(tf.zeros([D_OUT])), scale: SCALE };
      const n0 = doraWeightNorm(w, p);
      const rowNorms = tf.tidy(() => tf.norm(w, 'euclidean', 1));
      assertClose(n0.dataSync(), rowNorms.dataSync(), 1e-6, 'norm at init is ||W0||_c');
      p.m.assign(n0);
      const frozen = tf.add(tf.matMul(x, w, false, true), bias);
      const atInit = doraLinear(x, w, bias, p, undefined, false);
      assertClose(atInit.dataSync(), frozen.dataSync(), 1e-6, 'DoRA at init');
      p.b.assign(randomTensor(rng, [D_OUT, R], 0.2));
      p.m.assign(tf.tensor(randomArray(rng, D_OUT).map((v) => 1 + Math.abs(v)), [D_OUT]));
      const adapted = doraLinear(x, w, bias, p, undefined, false);
      const merged = tf.tidy(() => tf.add(tf.matMul(x, doraMergedWeight(w, p), false, true), bias));
      assertClose(merged.dataSync(), adapted.dataSync(), 1e-5, 'merged vs adapted');
      const mergedNorms = tf.tidy(() => tf.norm(doraMergedWeight(w, p), 'euclidean', 1));
      assertClose(mergedNorms.dataSync(), p.m.dataSync(), 1e-5, 'the merged rows have norm m');
      tf.dispose([x, w, bias, p.a, p.b, p.m, n0, rowNorms, frozen, atInit, adapted, merged, mergedNorms]);
    });

    it('without an input gradient, the same parameter gradients', () => {
      const rng = new Rng(155);
      const inputs = trainedInputs(rng);
      const x = randomTensor(rng, [2, 3, D_IN]);
      const w = tf.tensor(inputs.w.data, inputs.w.shape);
      const r = randomTensor(rng, [2, 3, D_OUT]);
      const p: DoraParams = {
        a: tf.variable(tf.tensor(inputs.A.data, inputs.A.shape)),
        b: tf.variable(tf.tensor(inputs.B.data, inputs.B.shape)),
        m: tf.variable(tf.tensor(inputs.m.data, inputs.m.shape)),
        scale: SCALE,
      };
      const mask = tf.tensor(new Uint8Array(x.size).map(() => (rng.next() < 0.8 ? 1 : 0)), x.shape, 'bool');
      const run = (needs: boolean) => valueAndGrads(() => testLoss(doraLinear(x, w, undefined, p, { mask, keep: 0.8 }, needs), r), [p.a, p.b, p.m]);
      const a = run(true);
      const b = run(false);
      a.grads.forEach((g, i) => assertClose(b.grads[i].dataSync(), g.dataSync(), 1e-6, `grad ${i}`));
      tf.dispose([x, w, r, p.a, p.b, p.m, mask, ...a.grads, ...b.grads]);
    });

    it('leaks nothing per step, on the engine tape and on tfjs\'s', () => {
      const rng = new Rng(156);
      const x = randomTensor(rng, [N, D_IN]);
      const w = randomTensor(rng, [D_OUT, D_IN]);
      const r = randomTensor(rng, [N, D_OUT]);
      const mask = tf.tensor(maskArray(rng, 0.9), [N, D_IN], 'bool');
      const p: DoraParams = { a: tf.variable(randomTensor(rng, [R, D_IN], 0.3)), b: tf.variable(tf.zeros([D_OUT, R])), m: tf.variable(tf.ones([D_OUT])), scale: SCALE };
      for (let step = 0; step < 3; step++) {
        assertNoLeak(() => {
          const { grads } = valueAndGrads(() => testLoss(doraLinear(x, w, undefined, p, { mask, keep: 0.9 }, true), r), [p.a, p.b, p.m]);
          tf.dispose(grads);
          const t = tf.variableGrads(() => testLoss(doraLinear(x, w, undefined, p, undefined, false), r) as tf.Scalar, [p.a, p.b, p.m]);
          tf.dispose([t.value, ...Object.values(t.grads)]);
        }, `step ${step}`);
      }
      tf.dispose([x, w, r, mask, p.a, p.b, p.m]);
    });
  });
}

/** Conv: x [2, 5, 6, 3] NHWC, W0 [3, 3, 3, 4], A [3, 3, 3, 2], B [2, 4]. */
const XS = [2, 5, 6, 3];
const [KH, KW, CO] = [3, 3, 4];
const K = KH * KW * XS[3];

/** Per output channel ||W0 + s B A||_c over (kh, kw, c_in), float64. */
function convNorms64(w: ArrayLike<number>, a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const n = new Float64Array(CO);
  for (let o = 0; o < CO; o++) {
    let s = 0;
    for (let i = 0; i < K; i++) {
      let v = w[i * CO + o];
      for (let k = 0; k < R; k++) v += SCALE * a[i * R + k] * b[k * CO + o];
      s += v * v;
    }
    n[o] = Math.sqrt(s);
  }
  return n;
}

/** float64 conv DoRA (PEFT's _DoraConvNdLayer.forward), the norm given. */
function doraConv64(a: Record<string, Float64Array>, norm: Float64Array, mask: Uint8Array | undefined, keep: number, stride: number, pad: 'same' | 'valid'): Float64Array {
  const xd = mask ? a.x.map((v, i) => (v * mask[i]) / keep) : a.x;
  const base = conv64(a.x, XS, a.w, [KH, KW, XS[3], CO], stride, pad).y;
  const baseD = conv64(xd, XS, a.w, [KH, KW, XS[3], CO], stride, pad).y;
  const h = conv64(xd, XS, a.A, [KH, KW, XS[3], R], stride, pad).y;
  const y = new Float64Array(base.length);
  for (let p = 0; p < y.length / CO; p++) {
    for (let o = 0; o < CO; o++) {
      let lora = 0;
      for (let k = 0; k < R; k++) lora += h[p * R + k] * a.B[k * CO + o];
      const g = a.m[o] / norm[o];
      y[p * CO + o] = a.bias[o] + base[p * CO + o] + (g - 1) * baseD[p * CO + o] + g * SCALE * lora;
    }
  }
  return y;
}

for (const backend of TEST_BACKENDS) {
  describe(`DoRA conv2d op on ${backend}`, () => {
    before(() => useBackend(backend));

    for (const [stride, pad, withDropout] of [[1, 'same', false], [2, 'valid', false], [1, 'same', true]] as const) {
      it(`dA, dB, dm and dx equal float64 finite differences (stride ${stride}, ${pad}${withDropout ? ', dropout' : ''})`, () => {
        const rng = new Rng(160 + stride);
        const spec: ConvSpec = { strides: [stride, stride], pad };
        const keep = 0.75;
        const size = XS.reduce((p, q) => p * q, 1);
        const mask = withDropout ? new Uint8Array(size).map(() => (rng.next() < keep ? 1 : 0)) : undefined;
        const maskTensor = mask ? tf.tensor(mask, XS, 'bool') : undefined;
        const w = input(rng, [KH, KW, XS[3], CO], 0.5);
        const A = input(rng, [KH, KW, XS[3], R], 0.3);
        const B = input(rng, [R, CO], 0.3);
        const norm = convNorms64(w.data, A.data, B.data);
        const m = { shape: [CO], data: Float32Array.from(norm, (v) => v * (1 + 0.3 * rng.normal())) };
        gradCheck(rng, {
          what: 'doraConv2d',
          inputs: { x: input(rng, XS), w, bias: input(rng, [CO]), A, B, m },
          wrt: ['x', 'A', 'B', 'm'],
          forward: (t) => doraConv2d(t.x, t.w, t.bias, spec, doraParams(t), maskTensor ? { mask: maskTensor, keep } : undefined, true),
          reference: (a) => doraConv64(a, norm, mask, keep, stride, pad),
        });
        tf.dispose(maskTensor);
      });
    }

    it('the merged filter reproduces the forward; at initialisation it is the frozen conv; no leak', () => {
      const rng = new Rng(165);
      const spec: ConvSpec = { strides: [1, 1], pad: 'same' };
      const x = randomTensor(rng, XS);
      const w = randomTensor(rng, [KH, KW, XS[3], CO]);
      const bias = randomTensor(rng, [CO]);
      const r = randomTensor(rng, [XS[0], XS[1], XS[2], CO]);
      const p: DoraParams = { a: tf.variable(randomTensor(rng, [KH, KW, XS[3], R], 0.3)), b: tf.variable(tf.zeros([R, CO])), m: tf.variable(tf.zeros([CO])), scale: SCALE };
      p.m.assign(doraWeightNorm(w, p));
      const frozen = tf.add(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'), bias);
      const atInit = doraConv2d(x, w, bias, spec, p, undefined, false);
      assertClose(atInit.dataSync(), frozen.dataSync(), 1e-5, 'DoRA conv at init');
      p.b.assign(randomTensor(rng, [R, CO], 0.3));
      const adapted = doraConv2d(x, w, bias, spec, p, undefined, false);
      const merged = tf.tidy(() => tf.add(tf.conv2d(x as tf.Tensor4D, doraMergedWeight(w, p) as tf.Tensor4D, 1, 'same'), bias));
      assertClose(merged.dataSync(), adapted.dataSync(), 1e-5, 'merged vs adapted');
      const mask = tf.tensor(new Uint8Array(x.size).map(() => (rng.next() < 0.9 ? 1 : 0)), XS, 'bool');
      for (let step = 0; step < 2; step++) {
        assertNoLeak(() => {
          const { grads } = valueAndGrads(() => testLoss(doraConv2d(x, w, bias, spec, p, { mask, keep: 0.9 }, true), r), [p.a, p.b, p.m]);
          tf.dispose(grads);
        }, `step ${step}`);
      }
      tf.dispose([x, w, bias, r, p.a, p.b, p.m, frozen, atInit, adapted, merged, mask]);
    });
  });
}
