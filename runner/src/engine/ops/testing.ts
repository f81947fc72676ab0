/**
 * Test support for the ops: float64 references, central finite differences, relative
 * errors. Only tests import this module.
 */
import assert from 'node:assert/strict';
import { Rng } from '../rng';
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
  return tf.add(tf.sum(tf.mul(r, y)), tf.mul(0.5, tf.sum(tf.square(y))));
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
  const { initBackend } = await import('../backend');
  await initBackend(name);
}
