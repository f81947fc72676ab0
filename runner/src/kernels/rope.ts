/**
 * `SpruftRope` (tensor/ops/rope.ts) on wasm and cpu: rotary embedding and its transpose in
 * one pass over x, where the composition made six (split, negation, concatenation, two
 * products, a sum; SplitV and Concat alone were ~10 ms a step of the bench decoder on
 * wasm). Each product and the sum is rounded to float32 as the composition's kernels
 * round them, so both give the same floats.
 */
import { tf } from '../tensor/tf';
import type { RopeAttrs } from '../tensor/ops/rope';
import { backendMemory, sizeOf, type BackendMemory, type TensorInfo } from './backendMemory';

export class RopeError extends Error {
  readonly code = 'KERNEL_ROPE';
}

export function rope(mem: BackendMemory, x: TensorInfo, cos: TensorInfo, sin: TensorInfo, transpose: boolean): TensorInfo {
  const dh = x.shape[x.shape.length - 1];
  const t = x.shape[x.shape.length - 2];
  const what = `Rope of [${x.shape}] with tables [${cos.shape}], [${sin.shape}]`;
  if (x.dtype !== 'float32' || cos.dtype !== 'float32' || sin.dtype !== 'float32') throw new RopeError(`${what}: x and the tables must be float32`);
  if (x.shape.length < 2 || dh % 2 !== 0) throw new RopeError(`${what}: x must be [..., T, dh] with an even dh`);
  for (const table of [cos, sin]) {
    if (table.shape.length !== 2 || table.shape[0] !== t || table.shape[1] !== dh) throw new RopeError(`${what}: the tables must be [${t}, ${dh}]`);
  }
  const half = dh / 2;
  const plane = t * dh;
  const planes = sizeOf(x.shape) / Math.max(plane, 1);
  const out = mem.alloc(x.shape, 'float32');
  const xv = mem.f32(x);
  const c = mem.f32(cos);
  const s = mem.f32(sin);
  const ov = mem.f32(out);
  // Two loops per row, one per half, so that the inner loops have no branch.
  for (let p = 0; p < planes; p++) {
    for (let row = 0; row < t; row++) {
      const base = p * plane + row * dh;
      const tab = row * dh;
      if (!transpose) {
        // x * cos + [-x2, x1] * sin
        for (let i = 0; i < half; i++) ov[base + i] = Math.fround(xv[base + i] * c[tab + i]) + Math.fround(-xv[base + i + half] * s[tab + i]);
        for (let i = half; i < dh; i++) ov[base + i] = Math.fround(xv[base + i] * c[tab + i]) + Math.fround(xv[base + i - half] * s[tab + i]);
      } else {
        // dy * cos + [u2, -u1] with u = dy * sin
        for (let i = 0; i < half; i++) ov[base + i] = Math.fround(xv[base + i] * c[tab + i]) + Math.fround(xv[base + i + half] * s[tab + i + half]);
        for (let i = half; i < dh; i++) ov[base + i] = Math.fround(xv[base + i] * c[tab + i]) - Math.fround(xv[base + i - half] * s[tab + i - half]);
      }
    }
  }
  return out;
}

export const ropeKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, cos, sin } = inputs as { x: TensorInfo; cos: TensorInfo; sin: TensorInfo };
  return rope(backendMemory(backend as tf.KernelBackend), x, cos, sin, (attrs as unknown as RopeAttrs).transpose === true);
};
