/**
 * Test support for the ops: float64 references, central finite differences, relative
 * errors. Only tests import this module.
 */
import assert from 'node:assert/strict';
import { Rng } from '../rng';
import { autoOp, valueAndGrads } from '../autodiff';
import { tf, type Tensor } from '../tf';

export function randomArray(rng: Rng, n: number, std = 1): Float32Array {
  return rng.fillNormal(new Float32Array(n), std);
}

export function randomTensor(rng: Rng, shape: number[], std = 1): Tensor {
  return tf.tensor(randomArray(rng, shape.reduce((a, b) => a * b, 1), std), shape);
}

/** max |a - b| / max(max |b|, floor): one number for "how far apart", scale-aware. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-6): number {
  assert.equal(a.length, b.length, 'length mismatch');
  let diff = 0;
  let scale = floor;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  const err = relativeError(actual, expected);
  assert.ok(err <= tol, `${what}: relative error ${err.toExponential(3)} > ${tol}`);
}

/**
 * Central finite differences of a float64 function at `params` (perturbing each entry
 * in turn). Exact for quadratics up to rounding; h = 1e-5 in float64.
 */
export function finiteDifferences(params: Float64Array, loss: (p: Float64Array) => number, h = 1e-5): Float64Array {
  const grad = new Float64Array(params.length);
  const p = Float64Array.from(params);
  for (let i = 0; i < p.length; i++) {
    const v = p[i];
    p[i] = v + h;
    const up = loss(p);
    p[i] = v - h;
    const down = loss(p);
    p[i] = v;
    grad[i] = (up - down) / (2 * h);
  }
  return grad;
}

/** The loss every op test uses: L = sum(R * y) + 0.5 * sum(y^2) (smooth, all of y matters). */
export function testLoss(y: Tensor, r: Tensor): Tensor {
  return autoOp([y], (v) => tf.add(tf.sum(tf.mul(r, v)), tf.mul(0.5, tf.sum(tf.square(v)))));
}

export function testLoss64(y: ArrayLike<number>, r: ArrayLike<number>): number {
  let l = 0;
  for (let i = 0; i < y.length; i++) l += r[i] * y[i] + 0.5 * y[i] * y[i];
  return l;
}

/** Assert that `body` leaves no tensor behind. */
export function assertNoLeak(body: () => void, what: string): void {
  const before = tf.memory().numTensors;
  body();
  assert.equal(tf.memory().numTensors, before, `${what} leaked ${tf.memory().numTensors - before} tensors`);
}

export function toF64(t: Tensor): Float64Array {
  return Float64Array.from(t.dataSync());
}

/** The backends op tests run on: the embedded default and the reference cpu backend. */
export const TEST_BACKENDS = ['wasm', 'cpu'] as const;

export async function useBackend(name: (typeof TEST_BACKENDS)[number]): Promise<void> {
  const { initBackend } = await import('../../engine/backend');
  await initBackend(name);
}

export interface GradCheckCase {
  /** Named inputs: shapes and float32 values. */
  inputs: Record<string, { shape: number[]; data: Float32Array }>;
  /** Inputs whose gradients are checked (they become variables). */
  wrt: string[];
  /** The op under test (tfjs, float32). */
  forward: (t: Record<string, Tensor>) => Tensor;
  /** An independent float64 reference of the same function. */
  reference: (a: Record<string, Float64Array>) => Float64Array;
  tol?: number;
  what: string;
}

/**
 * Check an op's forward against its float64 reference, and the gradients of every
 * `wrt` input against central finite differences of that reference.
 */
export function gradCheck(rng: Rng, c: GradCheckCase): void {
  const tol = c.tol ?? 1e-4;
  const tensors: Record<string, Tensor> = {};
  const arrays: Record<string, Float64Array> = {};
  for (const [name, v] of Object.entries(c.inputs)) {
    tensors[name] = c.wrt.includes(name) ? tf.variable(tf.tensor(v.data, v.shape)) : tf.tensor(v.data, v.shape);
    arrays[name] = Float64Array.from(v.data);
  }
  const y0 = c.forward(tensors);
  const yRef = c.reference(arrays);
  assertClose(y0.dataSync(), yRef, tol, `${c.what}: forward`);
  const r = randomTensor(rng, y0.shape);
  const r64 = toF64(r);
  const vars = c.wrt.map((n) => tensors[n] as tf.Variable);
  const { value, grads } = tf.variableGrads(() => testLoss(c.forward(tensors), r) as tf.Scalar, vars);
  // The same gradients through the engine's own tape (autodiff.ts).
  const engine = valueAndGrads(() => testLoss(c.forward(tensors), r), vars);
  c.wrt.forEach((name, i) => {
    const fd = finiteDifferences(arrays[name], (q) => testLoss64(c.reference({ ...arrays, [name]: q }), r64));
    assertClose(grads[(tensors[name] as tf.Variable).name].dataSync(), fd, tol, `${c.what}: d${name}`);
    assertClose(engine.grads[i].dataSync(), fd, tol, `${c.what}: d${name} (engine tape)`);
  });
  tf.dispose([y0, r, value, ...Object.values(grads), ...engine.grads, ...Object.values(tensors)]);
}

export function input(rng: Rng, shape: number[], std = 1): { shape: number[]; data: Float32Array } {
  return { shape, data: randomArray(rng, shape.reduce((a, b) => a * b, 1), std) };
}

/** TF "same"/"valid" output size and leading padding for one spatial axis. */
export function convGeometry(size: number, k: number, stride: number, pad: 'same' | 'valid'): { out: number; before: number } {
  if (pad === 'valid') return { out: Math.ceil((size - k + 1) / stride), before: 0 };
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + k - size, 0);
  return { out, before: Math.floor(total / 2) };
}

/** float64 NHWC conv2d (groups = 1) or depthwise (channel multiplier 1). */
export function conv64(
  x: Float64Array, xs: number[], w: Float64Array, ws: number[], stride: number, pad: 'same' | 'valid', depthwise = false,
): { y: Float64Array; shape: number[] } {
  const [n, h, wd, ci] = xs;
  const [kh, kw] = ws;
  const co = depthwise ? ci : ws[3];
  const gh = convGeometry(h, kh, stride, pad);
  const gw = convGeometry(wd, kw, stride, pad);
  const y = new Float64Array(n * gh.out * gw.out * co);
  for (let b = 0; b < n; b++)
    for (let oy = 0; oy < gh.out; oy++)
      for (let ox = 0; ox < gw.out; ox++)
        for (let o = 0; o < co; o++) {
          let s = 0;
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * stride + ky - gh.before;
            if (iy < 0 || iy >= h) continue;
            for (let kx = 0; kx < kw; kx++) {
              const ix = ox * stride + kx - gw.before;
              if (ix < 0 || ix >= wd) continue;
              if (depthwise) {
                s += x[((b * h + iy) * wd + ix) * ci + o] * w[(ky * kw + kx) * ci + o];
              } else {
                for (let c = 0; c < ci; c++) s += x[((b * h + iy) * wd + ix) * ci + c] * w[((ky * kw + kx) * ci + c) * co + o];
              }
            }
          }
          y[((b * gh.out + oy) * gw.out + ox) * co + o] = s;
        }
  return { y, shape: [n, gh.out, gw.out, co] };
}
