/**
 * The decoder bench's matrix products (Llama 4 x 512, MLP 1376, 8 heads, batch 4 x 128:
 * `spruft bench speed --model decoder`) on three paths, side by side in one process,
 * each checked against the wasm kernel before it is timed:
 *   wasm      the project's wasm kernel (XNNPACK's 2-d path, kernels/batchMatMul.ts);
 *   in place  the native BLAS reading and writing the wasm heap (kernels/nativeMatMul.ts);
 *   copying   the native BLAS on copies: operands copied out of the heap into their own
 *             arrays, the product into a fresh array, then copied into the heap.
 * Best of 5 after a warm-up, GFLOP/s (2 M N K per product).
 *
 *   npx tsx scripts/bench-native-gemm.ts
 */
import { initBackend } from '../runner/src/engine/backend';
import type { tf } from '../runner/src/tensor/tf';
import { backendMemory, sizeOf, type TensorInfo } from '../runner/src/kernels/backendMemory';
import { batchMatMulKernel } from '../runner/src/kernels/batchMatMul';
import { assertClose, backendInstance, randomTensor, type HostTensor } from '../runner/src/kernels/kernelTesting';
import { nativeBlas, nativeBlasStatus } from '../runner/src/kernels/nativeBlas';
import { nativeBatchMatMulKernel } from '../runner/src/kernels/nativeMatMul';

/** [what, a shape, b shape, transposeA, transposeB] */
const CASES: Array<[string, number[], number[], boolean, boolean]> = [
  ['q/k/v/o forward x W^T', [512, 512], [512, 512], false, true],
  ['gate/up forward x W^T', [512, 512], [1376, 512], false, true],
  ['down forward x W^T', [512, 1376], [512, 1376], false, true],
  ['gate/up dx = dy W', [512, 1376], [1376, 512], false, false],
  ['full dW = dy^T x (up)', [512, 1376], [512, 512], true, false],
  ['lm_head forward', [512, 512], [2048, 512], false, true],
  ['spruft dW_f = dy_f^T x', [512, 32], [512, 512], true, false],
  ['spruft x W_f^T', [512, 512], [32, 512], false, true],
  ['lora A x', [512, 512], [16, 512], false, true],
  ['attention Q K^T', [32, 128, 64], [32, 128, 64], false, true],
  ['attention P V', [32, 128, 128], [32, 128, 64], false, false],
  ['attention dV = P^T dO', [32, 128, 128], [32, 128, 64], true, false],
];

function toWasm(h: HostTensor): TensorInfo {
  const backend = backendInstance('wasm');
  return { dataId: backend.write(h.values, h.shape, 'float32'), shape: h.shape, dtype: 'float32' };
}

(async () => {
  await initBackend('wasm');
  const blas = nativeBlas();
  if (blas == null) {
    console.log(`no native BLAS: ${nativeBlasStatus().why}`);
    return;
  }
  const backend = backendInstance('wasm');
  const mem = backendMemory(backend);
  const { why } = nativeBlasStatus();
  console.log(`${why}; GFLOP/s, best of 5 after a warm-up`);
  console.log(`${'product'.padEnd(26)}${'shapes'.padEnd(30)}${'wasm'.padStart(8)}${'in place'.padStart(10)}${'copying'.padStart(9)}`);

  /** The native product on copies of the operands, the result copied into a heap tensor. */
  const copying = (a: TensorInfo, b: TensorInfo, ta: boolean, tb: boolean, M: number, N: number, K: number, batch: number): TensorInfo => {
    const A = mem.f32(a).slice();
    const B = mem.f32(b).slice();
    const C = new Float32Array(batch * M * N);
    const bBatch = sizeOf(b.shape.slice(0, -2));
    blas.sgemm(ta, tb, M, N, K, A, 0, ta ? M : K, M * K, B, 0, tb ? K : N, bBatch === 1 ? 0 : K * N, C, 0, N, M * N, batch);
    const out = mem.alloc([...a.shape.slice(0, -2), M, N], 'float32');
    mem.f32(out).set(C);
    return out;
  };

  for (const [what, sa, sb, ta, tb] of CASES) {
    const a = toWasm(randomTensor(sa, 1));
    const b = toWasm(randomTensor(sb, 2));
    const r = sa.length;
    const M = ta ? sa[r - 1] : sa[r - 2];
    const K = ta ? sa[r - 2] : sa[r - 1];
    const N = tb ? sb[sb.length - 2] : sb[sb.length - 1];
    const batch = sizeOf(sa.slice(0, -2));
    const flops = 2 * batch * M * N * K;
    const attrs = { transposeA: ta, transposeB: tb } as unknown as tf.NamedAttrMap;
    const run = {
      wasm: () => batchMatMulKernel({ inputs: { a, b }, backend, attrs }) as TensorInfo,
      inPlace: () => nativeBatchMatMulKernel({ inputs: { a, b }, backend, attrs }) as TensorInfo,
      copying: () => copying(a, b, ta, tb, M, N, K, batch),
    };
    const host = (t: TensorInfo) => ({ shape: t.shape, dtype: 'float32' as const, values: mem.f32(t).slice() });
    const ref = run.wasm();
    for (const k of ['inPlace', 'copying'] as const) {
      const got = run[k]();
      assertClose(host(got), host(ref), 1e-4, `${what} ${k}`);
      mem.dispose(got);
    }
    mem.dispose(ref);
    const rate = (f: () => TensorInfo): number => {
      mem.dispose(f());
      let best = Infinity;
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        const out = f();
        best = Math.min(best, performance.now() - t0);
        mem.dispose(out);
      }
      return flops / (best / 1000) / 1e9;
    };
    const shapes = `[${sa}]${ta ? 'T' : ''} x [${sb}]${tb ? 'T' : ''}`;
    console.log(`${what.padEnd(26)}${shapes.padEnd(30)}${rate(run.wasm).toFixed(1).padStart(8)}${rate(run.inPlace).toFixed(1).padStart(10)}${rate(run.copying).toFixed(1).padStart(9)}`);
    mem.dispose(a);
    mem.dispose(b);
  }
})();
