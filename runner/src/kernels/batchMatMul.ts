/**
 * `BatchMatMul` on wasm, routed to the one fast path the builtin has: a plain 2-d
 * product without transpose flags goes through XNNPACK (~15 GFLOP/s here), anything
 * else (a transpose flag, a batch) through a generic loop (~1 GFLOP/s). Every matMul
 * gradient has a transpose flag (dA = dy B^T, dB = A^T dy), so training ran at the slow
 * rate. Here:
 *   - the transposed operand is transposed explicitly (a strided copy, O(size) against
 *     the product's O(M N K));
 *   - a batch against one shared matrix is one tall 2-d product ([batch*M, K] x [K, N],
 *     or [M, K] x [K, batch*N]);
 *   - other batches are a loop of 2-d products.
 * Products too small to pay for the copies, other dtypes, and broadcasts other than
 * "one side has batch 1" go to the builtin kernel.
 */
import { tf } from '../engine/tf';
import { backendMemory, sizeOf, type BackendMemory, type TensorInfo } from './backendMemory';
import { callBuiltin } from './registry';
import { copyStrided } from './stridedCopy';

/** Below this many multiply-adds per product the builtin's generic loop is as fast (measured). */
export const MIN_MACS_FOR_XNNPACK = 16 * 1024;

interface MatMulPlan {
  batchA: number;
  batchB: number;
  batch: number;
  M: number;
  K: number;
  N: number;
  outShape: number[];
}

function plan(a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): MatMulPlan | null {
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra < 2 || rb < 2) return null;
  const M = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const Ka = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const Kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  const N = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (Ka !== Kb) return null; // the builtin reports the mismatch
  const batchA = sizeOf(a.shape.slice(0, -2));
  const batchB = sizeOf(b.shape.slice(0, -2));
  let outer: number[];
  try {
    outer = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  } catch {
    return null;
  }
  const batch = sizeOf(outer);
  // Only "same batch" or "one side unbatched" map onto 2-d products directly.
  if (!(batchA === batchB || batchA === 1 || batchB === 1) || batch !== Math.max(batchA, batchB)) return null;
  return { batchA, batchB, batch, M, K: Ka, N, outShape: [...outer, M, N] };
}

/** Matrix i of a [batch, rows, cols] operand, as a new [r, c] tensor, transposed if asked. */
function matrixOf(mem: BackendMemory, x: TensorInfo, i: number, rows: number, cols: number, transpose: boolean): TensorInfo {
  const out = mem.alloc(transpose ? [cols, rows] : [rows, cols], 'float32');
  const src = mem.f32(x);
  const dst = mem.f32(out);
  const off = i * rows * cols;
  if (transpose) copyStrided(src, off, [1, cols], dst, 0, [rows, 1], [cols, rows]);
  else dst.set(src.subarray(off, off + rows * cols));
  return out;
}

function product(mem: BackendMemory, a: TensorInfo, b: TensorInfo): TensorInfo {
  return callBuiltin('BatchMatMul', mem, { a, b }, { transposeA: false, transposeB: false });
}

/** The routed product; null where the builtin should run. */
export function batchMatMulRouted(mem: BackendMemory, a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): TensorInfo | null {
  if (mem.kind !== 'wasm' || a.dtype !== 'float32' || b.dtype !== 'float32') return null;
  const p = plan(a, b, transposeA, transposeB);
  if (p == null) return null;
  const { batchA, batchB, batch, M, K, N } = p;
  if (batch === 1 && !transposeA && !transposeB) return null; // already the fast path
  if (M * N * K < MIN_MACS_FOR_XNNPACK || M === 0 || N === 0 || K === 0) return null;
  const aRows = transposeA ? K : M;
  const aCols = transposeA ? M : K;
  const bRows = transposeB ? N : K;
  const bCols = transposeB ? K : N;

  if (batchB === 1) {
    // [batchA * M, K] x [K, N]: a is used in place when it needs no transpose.
    let a2: TensorInfo;
    let ownA = false;
    if (!transposeA) {
      a2 = { dataId: a.dataId, shape: [batchA * M, K], dtype: 'float32' };
    } else {
      a2 = mem.alloc([batchA * M, K], 'float32');
      ownA = true;
      copyStrided(mem.f32(a), 0, [aRows * aCols, 1, aCols], mem.f32(a2), 0, [M * K, K, 1], [batchA, M, K]);
    }
    let b2: TensorInfo;
    let ownB = false;
    if (!transposeB) {
      b2 = { dataId: b.dataId, shape: [K, N], dtype: 'float32' };
    } else {
      b2 = matrixOf(mem, b, 0, bRows, bCols, true);
      ownB = true;
    }
    try {
      const r = product(mem, a2, b2);
      return { dataId: r.dataId, shape: p.outShape, dtype: 'float32' };
    } finally {
      if (ownA) mem.dispose(a2);
      if (ownB) mem.dispose(b2);
    }
  }

  if (batchA === 1) {
    // [M, K] x [K, batchB * N], then [M, batch, N] -> [batch, M, N].
    const a2 = transposeA ? matrixOf(mem, a, 0, aRows, aCols, true) : { dataId: a.dataId, shape: [M, K], dtype: 'float32' as const };
    const bWide = mem.alloc([K, batchB * N], 'float32');
    let r: TensorInfo;
    try {
      // bWide[k, i*N + n] = B_i[k, n], with B_i[k, n] = b[i, k, n] or b[i, n, k].
      const bs = transposeB ? [bRows * bCols, 1, bCols] : [bRows * bCols, bCols, 1];
      copyStrided(mem.f32(b), 0, bs, mem.f32(bWide), 0, [N, batchB * N, 1], [batchB, K, N]);
      r = product(mem, a2, bWide);
    } finally {
      if (transposeA) mem.dispose(a2);
      mem.dispose(bWide);
    }
    const out = mem.alloc(p.outShape, 'float32');
    copyStrided(mem.f32(r), 0, [N, batchB * N, 1], mem.f32(out), 0, [M * N, N, 1], [batchB, M, N]);
    mem.dispose(r);
    return out;
  }

  // Same batch on both sides: one 2-d product per matrix.
  const out = mem.alloc(p.outShape, 'float32');
  try {
    for (let i = 0; i < batch; i++) {
      const ai = matrixOf(mem, a, i, aRows, aCols, transposeA);
      const bi = matrixOf(mem, b, i, bRows, bCols, transposeB);
      let r: TensorInfo;
      try {
        r = product(mem, ai, bi);
      } finally {
        mem.dispose(ai);
        mem.dispose(bi);
      }
      mem.f32(out).set(mem.f32(r), i * M * N);
      mem.dispose(r);
    }
  } catch (err) {
    mem.dispose(out);
    throw err;
  }
  return out;
}

export const batchMatMulKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const mem = backendMemory(backend as tf.KernelBackend);
  const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
  const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
  return batchMatMulRouted(mem, a, b, transposeA, transposeB) ??
    callBuiltin('BatchMatMul', mem, { a, b }, { transposeA, transposeB });
};
