/**
 * `UnsortedSegmentSum` (what the gradient of gather / embedding lookup produces): wasm
 * has none, and the cpu builtin makes one mask, product and reduction per segment
 * (35 s for 512 rows of 256 into 1000 segments). Here: one pass, each row added to its
 * segment's row. Ids outside [0, numSegments) are dropped, as the cpu builtin does.
 */
import type { tf } from '../tensor/tf';
import { backendMemory, isNumeric, sizeOf, type BackendMemory, type TensorInfo } from './backendMemory';
import { callBuiltin } from './registry';

export class SegmentSumError extends Error {
  readonly code = 'KERNEL_SEGMENT_SUM';
}

export function unsortedSegmentSum(mem: BackendMemory, x: TensorInfo, segmentIds: TensorInfo, numSegments: number): TensorInfo {
  const r = segmentIds.shape.length;
  if (!Number.isInteger(numSegments) || numSegments < 0) {
    throw new SegmentSumError(`UnsortedSegmentSum: numSegments must be a non-negative integer, got ${numSegments}`);
  }
  if (segmentIds.dtype !== 'int32') throw new SegmentSumError(`UnsortedSegmentSum: segment ids must be int32, got ${segmentIds.dtype}`);
  if (x.shape.length < r || segmentIds.shape.some((d, i) => d !== x.shape[i])) {
    throw new SegmentSumError(`UnsortedSegmentSum: segment ids of shape [${segmentIds.shape}] must be a prefix of x's shape [${x.shape}]`);
  }
  if (!isNumeric(x.dtype)) throw new SegmentSumError(`UnsortedSegmentSum: x must be float32 or int32, got ${x.dtype}`);
  const innerShape = x.shape.slice(r);
  const inner = sizeOf(innerShape);
  const n = sizeOf(segmentIds.shape);
  const out = mem.alloc([numSegments, ...innerShape], x.dtype, true);
  const ids = mem.i32(segmentIds);
  const xv = mem.view(x);
  const ov = mem.view(out);
  for (let i = 0; i < n; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner;
    const dst = s * inner;
    for (let k = 0; k < inner; k++) ov[dst + k] += xv[src + k];
  }
  return out;
}

export const unsortedSegmentSumKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const mem = backendMemory(backend as tf.KernelBackend);
  const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const { numSegments } = attrs as unknown as tf.UnsortedSegmentSumAttrs;
  if (!isNumeric(x.dtype) && mem.kind === 'cpu') return callBuiltin('UnsortedSegmentSum', mem, { x, segmentIds }, { numSegments });
  return unsortedSegmentSum(mem, x, segmentIds, numSegments);
};
