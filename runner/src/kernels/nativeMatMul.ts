/**
 * `BatchMatMul` and `_FusedMatMul` on the native BLAS (nativeBlas.ts), registered over
 * the wasm backend when the addon loads. Operands are read and the product written in
 * the wasm heap itself (no copies); transposes are BLAS flags, batches one call with
 * strides (stride 0 shares one matrix across the batch), and a batch against one shared
 * matrix one tall product. Bias and activation of `_FusedMatMul` are applied in place by
 * the addon. What it does not cover (other dtypes, general broadcasts of the batch
 * dimensions, biases that do not repeat along rows, prelu) goes to the wasm kernels
 * (batchMatMul.ts), so every call is answered.
 */
import { tf } from '../tensor/tf';
import { backendMemory, sizeOf, type BackendMemory, type TensorInfo } from './backendMemory';
import { batchMatMulKernel, fusedMatMulKernel, matMulPlan } from './batchMatMul';
import { nativeBlas, type NativeBlasAddon } from './nativeBlas';

/** The product into a new tensor, or null where the fallback should run. */
function product(blas: NativeBlasAddon, mem: BackendMemory, a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): TensorInfo | null {
  const p = matMulPlan(a, b, transposeA, transposeB);
  if (p == null) return null;
  const { batchA, batchB, batch, M, K, N } = p;
  const out = mem.alloc(p.outShape, 'float32');
  // Views after the last allocation (the heap may have moved).
  const pa = mem.place(a);
  const pb = mem.place(b);
  const pc = mem.place(out);
  const lda = transposeA ? M : K;
  const ldb = transposeB ? K : N;
  if (batchB === 1 && !transposeA && batchA > 1) {
    // A stack of matrices against one: a single tall product [batchA*M, K] x [K, N].
    blas.sgemm(false, transposeB, batchA * M, N, K, pa.array, pa.offset, lda, 0, pb.array, pb.offset, ldb, 0, pc.array, pc.offset, N, 0, 1);
  } else {
    blas.sgemm(
      transposeA, transposeB, M, N, K,
      pa.array, pa.offset, lda, batchA === 1 ? 0 : M * K,
      pb.array, pb.offset, ldb, batchB === 1 ? 0 : K * N,
      pc.array, pc.offset, N, M * N, batch,
    );
  }
  return out;
}

export const nativeBatchMatMulKernel: tf.KernelFunc = (args) => {
  const blas = nativeBlas();
  const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
  const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
  if (blas != null) {
    const out = product(blas, backendMemory(args.backend as tf.KernelBackend), a, b, transposeA, transposeB);
    if (out != null) return out;
  }
  return batchMatMulKernel(args);
};

/** tfjs activation names -> the addon's activation codes (native/src/blas.c). */
const ACTIVATIONS: Record<string, number> = { linear: 0, relu: 1, relu6: 2, elu: 3, sigmoid: 4, leakyrelu: 5 };

export const nativeFusedMatMulKernel: tf.KernelFunc = (args) => {
  const blas = nativeBlas();
  const { a, b, bias } = args.inputs as { a: TensorInfo; b: TensorInfo; bias?: TensorInfo };
  const attrs = (args.attrs ?? {}) as tf.NamedAttrMap;
  const activation = ACTIVATIONS[String(attrs.activation ?? 'linear')];
  const N = b.shape.length >= 2 ? (attrs.transposeB === true ? b.shape[b.shape.length - 2] : b.shape[b.shape.length - 1]) : 0;
  // A bias the addon can add in place: float32, repeating along the rows (size N or 1).
  const biasOk = bias == null || (bias.dtype === 'float32' && (sizeOf(bias.shape) === N || sizeOf(bias.shape) === 1)
    && bias.shape.slice(0, -1).every((d) => d === 1));
  if (blas == null || activation === undefined || !biasOk) return fusedMatMulKernel(args);
  const mem = backendMemory(args.backend as tf.KernelBackend);
  const out = product(blas, mem, a, b, attrs.transposeA === true, attrs.transposeB === true);
  if (out == null) return fusedMatMulKernel(args);
  if (bias == null && activation === 0) return out;
  const cols = out.shape[out.shape.length - 1];
  const pc = mem.place(out);
  const pbias = bias != null ? mem.place(bias) : null;
  blas.epilogue(pc.array, pc.offset, sizeOf(out.shape) / Math.max(cols, 1), cols, pbias?.array ?? null, pbias?.offset ?? 0,
    bias != null ? sizeOf(bias.shape) : 0, activation, Number(attrs.leakyreluAlpha ?? 0.2));
  return out;
};
