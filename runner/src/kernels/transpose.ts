/**
 * `Transpose` for float32/int32 on wasm and cpu, as one strided copy (stridedCopy.ts).
 * Other dtypes (bool, string, complex) go to the builtin kernel.
 */
import type { tf } from '../engine/tf';
import { backendMemory, isNumeric, stridesOf, type BackendMemory, type TensorInfo } from './backendMemory';
import { callBuiltin } from './registry';
import { copyStrided, permutedStrides } from './stridedCopy';

/** A new tensor holding `x` with its axes permuted by `perm` (out.shape[i] = x.shape[perm[i]]). */
export function transposeTo(mem: BackendMemory, x: TensorInfo, perm: readonly number[]): TensorInfo {
  if (!isNumeric(x.dtype)) throw new Error(`transposeTo handles float32 and int32, not ${x.dtype}`);
  const outShape = perm.map((p) => x.shape[p]);
  const out = mem.alloc(outShape, x.dtype);
  copyStrided(mem.view(x), 0, permutedStrides(x.shape, perm), mem.view(out), 0, stridesOf(outShape), outShape);
  return out;
}

export const transposeKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const mem = backendMemory(backend as tf.KernelBackend);
  const { x } = inputs as { x: TensorInfo };
  const { perm } = attrs as unknown as tf.TransposeAttrs;
  if (!isNumeric(x.dtype)) return callBuiltin('Transpose', mem, { x }, { perm });
  return transposeTo(mem, x, perm);
};
