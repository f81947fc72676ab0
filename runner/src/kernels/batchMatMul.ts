/**
 * `BatchMatMul` on wasm, routed to the one fast path the builtin has: a plain 2-d
 * product without transpose flags goes through XNNPACK (~15 GFLOP/s here), anything
 * else (a transpose flag, a batch) through a generic loop (~1 GFLOP/s). Every matMul
 * gradient has a transpose flag (dA = dy B^T, dB = A^T dy), so training ran at the slow
 * rate. Here:
 *   - a transposed operand is transposed explicitly (a strided copy, O(size) against the
 *     product's O(M N K)), or the product is taken as C^T = B^T A^T when that moves
 *     fewer elements (small M: the SPruFT row-adapter gradient dW_f = dy_f^T x);
 *   - a batch against one shared matrix is one tall 2-d product [batch*M, K] x [K, N];
 *   - other batches are a loop of 2-d products.
 * Products too small to pay for the copies (cost model below), other dtypes, and
 * broadcasts other than "one side has batch 1" go to the builtin kernel.
 */
import { tf } from '../tensor/tf';
import { backendMemory, sizeOf, type BackendMemory, type TensorInfo } from './backendMemory';
import { callBuiltin, callKernel } from './registry';
import { copyStrided } from './stridedCopy';

/**
 * Cost model for routing one product (measured on this machine, wasm SIMD, one thread):
 * the builtin's generic loop ~1.8 ns per multiply-add; XNNPACK ~0.13 ns per multiply-add
 * plus ~10 ns per element it copies or packs (the second operand is packed on every
 * call, since it is a fresh tensor) plus ~25 us per call. Routing pays when
 * 10 * moved + 25000 < 1.67 * M*N*K (in ns).
 */
const NS_PER_MOVED = 10;
const NS_PER_CALL = 25_000;
const NS_SAVED_PER_MAC = 1.67;

/** One matrix operand: `rows x cols` stored row-major at `offset` in tensor `t`. */
interface Operand {
  t: TensorInfo;
  offset: number;
  rows: number;
  cols: number;
  /** Whether the product uses it transposed. */
  transposed: boolean;
}

interface Orientation {
  /** false: C = A B (B packed); true: C^T = B^T A^T (A^T packed), then transposed. */
  swapped: boolean;
  moved: number;
}

/** The cheaper way to hand a product to XNNPACK, by elements copied or packed. */
function orient(a: Operand, b: Operand): Orientation {
  const M = a.transposed ? a.cols : a.rows;
  const K = a.transposed ? a.rows : a.cols;
  const N = b.transposed ? b.rows : b.cols;
  const direct = (a.transposed ? K * M : 0) + (b.transposed ? K * N : 0) + K * N;
  const swapped = (b.transposed ? 0 : K * N) + (a.transposed ? 0 : K * M) + K * M + M * N;
  return swapped < direct ? { swapped: true, moved: swapped } : { swapped: false, moved: direct };
}

function worthRouting(M: number, N: number, K: number, moved: number): boolean {
  return NS_PER_MOVED * moved + NS_PER_CALL < NS_SAVED_PER_MAC * M * N * K;
}

function isWhole(op: Operand): boolean {
  return op.offset === 0 && op.rows * op.cols === sizeOf(op.t.shape);
}

/**
 * The operand as a plain row-major matrix, transposed from storage when `transpose`;
 * the tensor itself (reshaped, not copied) when it already is one. `owned` says
 * whether the caller must release it.
 */
function asMatrix(mem: BackendMemory, op: Operand, transpose: boolean): { m: TensorInfo; owned: boolean } {
  const { rows, cols } = op;
  if (!transpose && isWhole(op)) return { m: { dataId: op.t.dataId, shape: [rows, cols], dtype: 'float32' }, owned: false };
  const m = mem.alloc(transpose ? [cols, rows] : [rows, cols], 'float32');
  const src = mem.f32(op.t);
  const dst = mem.f32(m);
  if (transpose) copyStrided(src, op.offset, [1, cols], dst, 0, [rows, 1], [cols, rows]);
  else dst.set(src.subarray(op.offset, op.offset + rows * cols));
  return { m, owned: true };
}

/** A x B (each possibly transposed) through XNNPACK's plain 2-d product; returns [M, N]. */
function product2d(mem: BackendMemory, a: Operand, b: Operand, how: Orientation): TensorInfo {
  const owned: TensorInfo[] = [];
  const take = (x: { m: TensorInfo; owned: boolean }): TensorInfo => {
    if (x.owned) owned.push(x.m);
    return x.m;
  };
  try {
    if (!how.swapped) {
      const am = take(asMatrix(mem, a, a.transposed));
      const bm = take(asMatrix(mem, b, b.transposed));
      return callBuiltin('BatchMatMul', mem, { a: am, b: bm }, { transposeA: false, transposeB: false });
    }
    // C^T = B^T A^T: B^T is b as stored when b.transposed, likewise A^T.
    const bt = take(asMatrix(mem, b, !b.transposed));
    const at = take(asMatrix(mem, a, !a.transposed));
    const ct = callBuiltin('BatchMatMul', mem, { a: bt, b: at }, { transposeA: false, transposeB: false });
    owned.push(ct);
    const [N, M] = ct.shape;
    const c = mem.alloc([M, N], 'float32');
    copyStrided(mem.f32(ct), 0, [1, M], mem.f32(c), 0, [N, 1], [M, N]);
    return c;
  } finally {
    for (const t of owned) mem.dispose(t);
  }
}

/** A product's shape as 2-d products over a batch: M x K times K x N, `batch` of them. */
export interface MatMulPlan {
  batchA: number;
  batchB: number;
  batch: number;
  M: number;
  K: number;
  N: number;
  outShape: number[];
}

/**
 * How a float32 (batched, possibly transposed) product maps onto 2-d products, or null
 * where it does not (mismatched inner sizes, which the builtin reports; a broadcast other
 * than "same batch" or "one side a single matrix"). The XNNPACK route and the native BLAS
 * kernels (nativeMatMul.ts) both read it.
 */
export function matMulPlan(a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): MatMulPlan | null {
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra < 2 || rb < 2 || a.dtype !== 'float32' || b.dtype !== 'float32') return null;
  const M = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const Ka = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const Kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  const N = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (Ka !== Kb) return null; // the builtin reports the mismatch
  const batchA = sizeOf(a.shape.slice(0, -2));
  const batchB = sizeOf(b.shape.slice(0, -2));
  let outer: number[] = [];
  if (ra > 2 || rb > 2) {
    try {
      outer = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
    } catch {
      return null;
    }
  }
  const batch = sizeOf(outer);
  if (!(batchA === batchB || batchA === 1 || batchB === 1) || batch !== Math.max(batchA, batchB)) return null;
  return { batchA, batchB, batch, M, K: Ka, N, outShape: [...outer, M, N] };
}

/** The routed product; null where the builtin should run. */
export function batchMatMulRouted(mem: BackendMemory, a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): TensorInfo | null {
  if (mem.kind !== 'wasm') return null;
  const p = matMulPlan(a, b, transposeA, transposeB);
  if (p == null) return null;
  const { batchA, batchB, batch, M, K, N } = p;
  // Too small to pay for one XNNPACK call, whatever the batch.
  if (NS_SAVED_PER_MAC * M * N * K <= NS_PER_CALL) return null;
  if (batch === 1 && !transposeA && !transposeB) return null; // already the fast path
  if (M === 0 || N === 0 || K === 0) return null;
  const aRows = transposeA ? K : M;
  const aCols = transposeA ? M : K;
  const bRows = transposeB ? N : K;
  const bCols = transposeB ? K : N;
  const opB = (i: number): Operand => ({ t: b, offset: i * bRows * bCols, rows: bRows, cols: bCols, transposed: transposeB });

  if (batchB === 1) {
    // One tall product [batchA * M, K] x [K, N]; a's matrices are stacked as they are,
    // or first transposed in one pass.
    let tall: TensorInfo = a;
    if (transposeA && batchA > 1) {
      const how = orient({ t: a, offset: 0, rows: batchA * M, cols: K, transposed: false }, opB(0));
      if (!worthRouting(batchA * M, N, K, how.moved + batchA * M * K)) return null;
      tall = mem.alloc([batchA * M, K], 'float32');
      copyStrided(mem.f32(a), 0, [aRows * aCols, 1, aCols], mem.f32(tall), 0, [M * K, K, 1], [batchA, M, K]);
    }
    const opA: Operand = { t: tall, offset: 0, rows: tall === a ? batchA * aRows : batchA * M, cols: tall === a ? aCols : K, transposed: tall === a && transposeA };
    try {
      const how = orient(opA, opB(0));
      if (tall === a && !worthRouting(batchA * M, N, K, how.moved)) return null;
      const r = product2d(mem, opA, opB(0), how);
      return { dataId: r.dataId, shape: p.outShape, dtype: 'float32' };
    } finally {
      if (tall !== a) mem.dispose(tall);
    }
  }

  const opA = (i: number): Operand => ({ t: a, offset: i * aRows * aCols, rows: aRows, cols: aCols, transposed: transposeA });
  const how = orient(opA(0), opB(0));
  if (!worthRouting(M, N, K, how.moved)) return null;
  // One product per matrix (a shared on one side when batchA is 1).
  const out = mem.alloc(p.outShape, 'float32');
  try {
    for (let i = 0; i < batch; i++) {
      const r = product2d(mem, opA(batchA === 1 ? 0 : i), opB(i), how);
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

/** tfjs activation names of `_FusedMatMul` -> the kernel that applies each one alone. */
const ACTIVATION_KERNELS: Record<string, string | null> = {
  linear: null, relu: 'Relu', relu6: 'Relu6', elu: 'Elu', sigmoid: 'Sigmoid', leakyrelu: 'LeakyRelu', prelu: 'Prelu',
};

/**
 * `_FusedMatMul` (tf.fused.matMul: product + bias + activation) on wasm. The builtin
 * has the same slow path as BatchMatMul for transpose flags and batches (450 ms vs
 * 32 ms for 1024x512 x 512x512 with transposeB), and on that path it adds the bias to
 * the wrong elements (tfjs 4.22: a = [[1,2],[3,4]], b = I, bias [10,20], transposeB
 * gives [11,22,23,24] instead of [11,22,13,24]; likewise transposeA and any batch > 1).
 * Here:
 *   - unbatched products with a transpose flag: operands transposed explicitly, then
 *     the builtin's plain path, which fuses bias and activation correctly (always when
 *     there is a bias; without one only where the cost model says it pays);
 *   - batched products with a bias: the product (BatchMatMul, routed), then the bias
 *     and the activation as separate kernels;
 *   - everything else (plain products, batched ones without bias): the builtin.
 */
export function fusedMatMulRouted(
  mem: BackendMemory, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap,
): TensorInfo | null {
  const { a, b, bias, preluActivationWeights } = inputs as { a: TensorInfo; b: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo };
  const transposeA = attrs.transposeA === true;
  const transposeB = attrs.transposeB === true;
  if (mem.kind !== 'wasm' || a.dtype !== 'float32' || b.dtype !== 'float32') return null;
  if (a.shape.length !== 3 || b.shape.length !== 3) return null;
  const unbatched = a.shape[0] === 1 && b.shape[0] === 1;
  if (unbatched && !transposeA && !transposeB) return null; // the builtin's correct, fast path
  const M = transposeA ? a.shape[2] : a.shape[1];
  const K = transposeA ? a.shape[1] : a.shape[2];
  const N = transposeB ? b.shape[1] : b.shape[2];
  if (K !== (transposeB ? b.shape[2] : b.shape[1])) return null; // the builtin reports it

  if (unbatched) {
    // Only the direct orientation keeps the bias on the columns.
    const moved = (transposeA ? K * M : 0) + (transposeB ? K * N : 0) + K * N;
    if (bias == null && !worthRouting(M, N, K, moved)) return null;
    const opA: Operand = { t: a, offset: 0, rows: a.shape[1], cols: a.shape[2], transposed: transposeA };
    const opB: Operand = { t: b, offset: 0, rows: b.shape[1], cols: b.shape[2], transposed: transposeB };
    const owned: TensorInfo[] = [];
    const as3d = (op: Operand, transpose: boolean): TensorInfo => {
      const { m, owned: own } = asMatrix(mem, op, transpose);
      if (own) owned.push(m);
      return { dataId: m.dataId, shape: [1, ...m.shape], dtype: 'float32' };
    };
    try {
      const routed: tf.NamedTensorInfoMap = { ...inputs, a: as3d(opA, transposeA), b: as3d(opB, transposeB) };
      return callBuiltin('_FusedMatMul', mem, routed, { ...attrs, transposeA: false, transposeB: false });
    } finally {
      for (const t of owned) mem.dispose(t);
    }
  }

  if (bias == null) return null; // batched without bias: the builtin is right
  const activation = String(attrs.activation ?? 'linear');
  const actKernel = ACTIVATION_KERNELS[activation];
  if (actKernel === undefined) return null; // the builtin reports unknown activations
  const product = batchMatMulRouted(mem, a, b, transposeA, transposeB) ??
    callBuiltin('BatchMatMul', mem, { a, b }, { transposeA, transposeB });
  let withBias: TensorInfo;
  try {
    withBias = callKernel('Add', mem, { a: product, b: bias });
  } finally {
    mem.dispose(product);
  }
  if (actKernel == null) return withBias;
  try {
    if (actKernel === 'Prelu') {
      if (preluActivationWeights == null) throw new Error('_FusedMatMul: prelu activation needs preluActivationWeights');
      return callKernel('Prelu', mem, { x: withBias, alpha: preluActivationWeights });
    }
    return callKernel(actKernel, mem, { x: withBias }, actKernel === 'LeakyRelu' ? { alpha: attrs.leakyreluAlpha ?? 0.2 } : {});
  } finally {
    mem.dispose(withBias);
  }
}

export const fusedMatMulKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const mem = backendMemory(backend as tf.KernelBackend);
  const a = attrs ?? {};
  return fusedMatMulRouted(mem, inputs, a) ?? callBuiltin('_FusedMatMul', mem, inputs, a);
};
