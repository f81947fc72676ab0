/**
 * `SpruftIndexAdd` (tensor/ops/indexAdd.ts) on wasm and cpu: the output is a copy of x
 * (one memcpy) and each update slice is added at its index, so the work beyond the copy
 * is the updates' size. The composition it replaces (scatterND into zeros of x's size,
 * then an addition; or, for columns, a concatenation, a gather of x's size and an
 * addition) touched x's size three or four times.
 */
import { tf } from '../tensor/tf';
import type { IndexAddAttrs } from '../tensor/ops/indexAdd';
import { backendMemory, isNumeric, sizeOf, type BackendMemory, type TensorInfo } from './backendMemory';

export class IndexAddError extends Error {
  readonly code = 'KERNEL_INDEX_ADD';
}

export function indexAdd(mem: BackendMemory, x: TensorInfo, indices: TensorInfo, updates: TensorInfo, axis: number): TensorInfo {
  const rank = x.shape.length;
  const what = `IndexAdd of [${updates.shape}] into [${x.shape}] along axis ${axis}`;
  if (!Number.isInteger(axis) || axis < 0 || axis >= rank) throw new IndexAddError(`${what}: the axis is not one of x's`);
  if (!isNumeric(x.dtype) || updates.dtype !== x.dtype) throw new IndexAddError(`${what}: x and updates must both be float32 or int32 (got ${x.dtype}, ${updates.dtype})`);
  if (indices.dtype !== 'int32' || indices.shape.length !== 1) throw new IndexAddError(`${what}: indices must be a 1-d int32 tensor`);
  const r = indices.shape[0];
  if (updates.shape.length !== rank || updates.shape.some((d, i) => d !== (i === axis ? r : x.shape[i]))) {
    throw new IndexAddError(`${what}: updates must have x's shape with ${r} (one per index) along the axis`);
  }
  const dim = x.shape[axis];
  const outer = sizeOf(x.shape.slice(0, axis));
  const inner = sizeOf(x.shape.slice(axis + 1));
  const idx = mem.i32(indices);
  for (let j = 0; j < r; j++) {
    if (!(idx[j] >= 0 && idx[j] < dim)) throw new IndexAddError(`${what}: index ${idx[j]} is not in [0, ${dim - 1}]`);
  }
  const out = mem.alloc(x.shape, x.dtype);
  // Views after the allocation (the wasm heap may have moved).
  const ov = mem.view(out);
  ov.set(mem.view(x));
  const uv = mem.view(updates);
  const iv = mem.i32(indices);
  for (let o = 0; o < outer; o++) {
    const dstRow = o * dim;
    const srcRow = o * r;
    if (inner === 1) {
      for (let j = 0; j < r; j++) ov[dstRow + iv[j]] += uv[srcRow + j];
    } else {
      for (let j = 0; j < r; j++) {
        const dst = (dstRow + iv[j]) * inner;
        const src = (srcRow + j) * inner;
        for (let k = 0; k < inner; k++) ov[dst + k] += uv[src + k];
      }
    }
  }
  return out;
}

export const indexAddKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, indices, updates } = inputs as { x: TensorInfo; indices: TensorInfo; updates: TensorInfo };
  return indexAdd(backendMemory(backend as tf.KernelBackend), x, indices, updates, (attrs as unknown as IndexAddAttrs).axis);
};
