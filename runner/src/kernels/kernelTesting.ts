/**
 * Shared by the kernel tests and the kernel benchmark: run one kernel function on a
 * backend instance with host data in and host data out (no engine, no tape), compare
 * arrays, and make deterministic test data.
 */
import assert from 'node:assert/strict';
import { tf } from '../tensor/tf';
import { initBackend } from '../engine/backend';
import { sizeOf } from './backendMemory';
import type { BackendKind } from './backendMemory';

export interface HostTensor {
  shape: number[];
  dtype: 'float32' | 'int32';
  values: Float32Array | Int32Array;
}

/** Start wasm (which registers the project's wasm kernels) and make sure cpu is up too. */
export async function startBackends(): Promise<void> {
  await initBackend('wasm');
  backendInstance('cpu');
}

export function backendInstance(name: BackendKind): tf.KernelBackend {
  const b = tf.findBackend(name);
  if (b == null) throw new Error(`backend ${name} is not started`);
  return b;
}

/**
 * Run `kernelFunc` on backend `name` with inputs written straight into that backend;
 * returns the output as host data. Every tensor made here is released afterwards.
 */
export function runKernel(
  name: BackendKind, kernelFunc: tf.KernelFunc, inputs: Record<string, HostTensor>, attrs: object = {},
): HostTensor {
  const backend = backendInstance(name);
  const infos: Record<string, tf.TensorInfo> = {};
  for (const [k, t] of Object.entries(inputs)) {
    infos[k] = { dataId: backend.write(t.values.slice(), t.shape, t.dtype), shape: t.shape, dtype: t.dtype };
  }
  try {
    const out = kernelFunc({ inputs: infos, backend, attrs: attrs as tf.NamedAttrMap });
    const info = Array.isArray(out) ? out[0] : out;
    const raw = backend.readSync(info.dataId);
    backend.disposeData(info.dataId);
    const dtype = info.dtype === 'int32' ? 'int32' : 'float32';
    const values = dtype === 'int32' ? Int32Array.from(raw as Int32Array) : Float32Array.from(raw as Float32Array);
    return { shape: info.shape, dtype, values };
  } finally {
    for (const info of Object.values(infos)) backend.disposeData(info.dataId);
  }
}

/** Deterministic values in [-1, 1) (a small LCG), so that failures reproduce. */
export function randomTensor(shape: number[], seed: number): HostTensor {
  const n = sizeOf(shape);
  const values = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    values[i] = s / 2147483648 - 1;
  }
  return { shape, dtype: 'float32', values };
}

export function intTensor(shape: number[], values: number[]): HostTensor {
  return { shape, dtype: 'int32', values: Int32Array.from(values) };
}

/**
 * Assert |a - b| <= rtol * max(1, max|b|) elementwise: relative to the scale of the
 * reference, so that sums that cancel to near zero do not fail on float32 rounding.
 */
export function assertClose(actual: HostTensor, expected: HostTensor, rtol = 1e-4, what = ''): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  let scale = 1;
  for (const v of expected.values) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.values.length; i++) {
    const d = Math.abs(actual.values[i] - expected.values[i]);
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  assert.ok(
    worst <= rtol * scale,
    `${what}: max |diff| ${worst} at ${at} (got ${actual.values[at]}, want ${expected.values[at]}), scale ${scale}`,
  );
}

export function assertEqualValues(actual: HostTensor, expected: HostTensor, what = ''): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  assert.equal(actual.dtype, expected.dtype, `${what}: dtype`);
  for (let i = 0; i < expected.values.length; i++) {
    if (!Object.is(actual.values[i], expected.values[i])) {
      assert.fail(`${what}: element ${i} is ${actual.values[i]}, want ${expected.values[i]}`);
    }
  }
}

export function toHost(t: tf.Tensor): HostTensor {
  const dtype = t.dtype === 'int32' ? 'int32' : 'float32';
  const data = t.dataSync();
  return { shape: t.shape.slice(), dtype, values: dtype === 'int32' ? Int32Array.from(data) : Float32Array.from(data) };
}
