/**
 * `Transpose` for float32/int32 as one strided copy (stridedCopy.ts). On cpu it replaces
 * the builtin everywhere (13-40x faster on every shape measured). On wasm only where
 * measured faster: matrices (or batches of them) whose row count is a multiple of 512,
 * which the builtin writes with a power-of-two stride that thrashes the cache (76 M
 * elements/s on 4096x512; the tiled copy does 300-400 M/s, 3-6x). At other row counts
 * (520, 600, 1000, 2000, ...) the builtin's C++ loop is about 2x faster than the tiled
 * JavaScript, and it is at par or faster on small matrices and on permutations that keep
 * runs contiguous. Other dtypes (bool, string, complex) go to the builtin kernel.
 */
import type { tf } from '../tensor/tf';
import { backendMemory, isNumeric, sizeOf, stridesOf, type BackendMemory, type TensorInfo } from './backendMemory';
import { callBuiltin } from './registry';
import { copyStrided, permutedStrides, simplifyCopy, sourceInnerDim } from './stridedCopy';

/** A new tensor holding `x` with its axes permuted by `perm` (out.shape[i] = x.shape[perm[i]]). */
export function transposeTo(mem: BackendMemory, x: TensorInfo, perm: readonly number[]): TensorInfo {
  if (!isNumeric(x.dtype)) throw new Error(`transposeTo handles float32 and int32, not ${x.dtype}`);
  const outShape = perm.map((p) => x.shape[p]);
  const out = mem.alloc(outShape, x.dtype);
  copyStrided(mem.view(x), 0, permutedStrides(x.shape, perm), mem.view(out), 0, stridesOf(outShape), outShape);
  return out;
}

/** Does the tiled copy beat tfjs-wasm's transpose on this permutation (see above)? */
export function tiledTransposeWins(shape: readonly number[], perm: readonly number[]): boolean {
  if (sizeOf(shape) < 512 * 64) return false;
  const outShape = perm.map((p) => shape[p]);
  const { shape: sh, s } = simplifyCopy(outShape, permutedStrides(shape, perm), stridesOf(outShape));
  if (sh.length < 2 || sh.length > 3) return false;
  const last = sh.length - 1;
  const p = sourceInnerDim(s);
  if (p === last) return false;
  // sh[last]: rows of the source matrix, i.e. the builtin's output stride; sh[p]: columns.
  return sh[last] % 512 === 0 && sh[p] >= 64;
}

export const transposeKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const mem = backendMemory(backend as tf.KernelBackend);
  const { x } = inputs as { x: TensorInfo };
  const { perm } = attrs as unknown as tf.TransposeAttrs;
  if (!isNumeric(x.dtype) || (mem.kind === 'wasm' && !tiledTransposeWins(x.shape, perm))) {
    return callBuiltin('Transpose', mem, { x }, { perm });
  }
  return transposeTo(mem, x, perm);
};
