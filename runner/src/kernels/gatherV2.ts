/**
 * `GatherV2` (float32/int32) as row copies: the wasm builtin took ~20 ms to take 64
 * columns of a 4096x512 matrix (2.7 ms for 64 rows of 512x512), the cpu builtin goes
 * through TensorBuffer index arithmetic per element. The wasm builtin also returns wrong
 * values for batchDims > 0 (tfjs 4.22; e.g. x [4,3,5], indices [4,2], axis 1, batchDims 1),
 * which this kernel computes as the cpu builtin does. Out-of-range indices fail with the
 * builtins' message; other dtypes go to the builtin kernel.
 */
import { tf } from '../tensor/tf';
import { backendMemory, isNumeric, sizeOf, type BackendMemory, type TensorInfo } from './backendMemory';
import { callBuiltin } from './registry';

export class GatherIndexError extends Error {
  readonly code = 'KERNEL_GATHER_INDEX';
}

export function gather(mem: BackendMemory, x: TensorInfo, indices: TensorInfo, axis: number, batchDims: number): TensorInfo {
  // Validates the shapes and gives the output shape, as the builtins do.
  const info = tf.backend_util.segment_util.collectGatherOpShapeInfo(
    x as unknown as tf.Tensor, indices as unknown as tf.Tensor, axis, batchDims,
  );
  const { batchSize, outerSize: outer, dimSize: dim, sliceSize: inner } = info;
  const n = batchSize > 0 ? sizeOf(indices.shape) / batchSize : 0;
  const idx = mem.i32(indices);
  for (let j = 0; j < idx.length; j++) {
    const v = idx[j];
    if (!(v >= 0 && v <= dim - 1)) throw new GatherIndexError(`GatherV2: the index value ${v} is not in [0, ${dim - 1}]`);
  }
  const out = mem.alloc(info.outputShape, x.dtype as 'float32' | 'int32');
  const xv = mem.view(x);
  const ov = mem.view(out);
  const iv = mem.i32(indices);
  for (let b = 0; b < batchSize; b++) {
    const ib = b * n;
    for (let o = 0; o < outer; o++) {
      const src = (b * outer + o) * dim;
      const dst = (b * outer + o) * n;
      if (inner === 1) {
        for (let j = 0; j < n; j++) ov[dst + j] = xv[src + iv[ib + j]];
      } else if (inner >= 32) {
        for (let j = 0; j < n; j++) {
          const from = (src + iv[ib + j]) * inner;
          ov.set(xv.subarray(from, from + inner), (dst + j) * inner);
        }
      } else {
        for (let j = 0; j < n; j++) {
          const from = (src + iv[ib + j]) * inner;
          const to = (dst + j) * inner;
          for (let k = 0; k < inner; k++) ov[to + k] = xv[from + k];
        }
      }
    }
  }
  return out;
}

export const gatherV2Kernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const mem = backendMemory(backend as tf.KernelBackend);
  const { x, indices } = inputs as { x: TensorInfo; indices: TensorInfo };
  const { axis, batchDims } = attrs as unknown as tf.GatherV2Attrs;
  if (!isNumeric(x.dtype) || indices.dtype !== 'int32' || sizeOf(x.shape) === 0) {
    return callBuiltin('GatherV2', mem, { x, indices }, { axis, batchDims });
  }
  return gather(mem, x, indices, tf.util.parseAxisParam(axis, x.shape)[0], batchDims ?? 0);
};
