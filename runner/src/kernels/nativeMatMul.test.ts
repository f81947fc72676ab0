/**
 * The native BLAS products (nativeMatMul.ts over native/) against the reference kernels
 * (cpu's builtin BatchMatMul and _FusedMatMul), before anything times them; the addon's
 * bounds checks; and the fallback when the addon is absent (a fresh process, since the
 * addon loads once per process). Skipped, with the reason, where the addon was not built.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tf } from '../tensor/tf';
import { initBackend } from '../engine/backend';
import { wasmHeapBytes } from './backendMemory';
import { assertClose, backendInstance, randomTensor, runKernel, startBackends, toHost, type HostTensor } from './kernelTesting';
import { nativeBlas, nativeBlasStatus } from './nativeBlas';
import { nativeBatchMatMulKernel, nativeFusedMatMulKernel } from './nativeMatMul';
import { batchMatMulKernel } from './batchMatMul';
import { nativeKernelsInPlace } from './register';
import { builtinKernel } from './registry';

const status = nativeBlasStatus();
const skip = status.loaded ? false : `native BLAS not here: ${status.why}`;

/** [a shape, b shape, transposeA, transposeB]: transposes, batches, broadcasts, odd and degenerate sizes. */
const CASES: Array<[number[], number[], boolean, boolean]> = [
  [[40, 50], [50, 30], false, false],
  [[50, 40], [50, 30], true, false],
  [[40, 50], [30, 50], false, true],
  [[50, 40], [30, 50], true, true],
  [[1, 1], [1, 1], false, false],
  [[1, 7], [7, 1], false, false], // a dot product
  [[13, 1], [1, 11], false, false], // an outer product
  [[257, 129], [129, 63], false, false], // odd sizes past the BLAS blocking
  [[129, 257], [63, 129], true, true],
  [[3, 40, 50], [3, 50, 30], false, false],
  [[3, 50, 40], [3, 50, 30], true, false],
  [[3, 40, 50], [3, 30, 50], false, true],
  [[3, 50, 40], [3, 30, 50], true, true],
  [[2, 3, 40, 50], [50, 30], false, false], // a stack against one matrix: one tall product
  [[2, 3, 50, 40], [30, 50], true, true],
  [[40, 50], [4, 50, 30], false, false], // one matrix against a stack
  [[50, 40], [4, 30, 50], true, true],
  [[1, 40, 50], [4, 50, 30], false, false],
  [[4, 1, 40, 50], [4, 50, 30], false, false], // [4,1] with [4]: the fallback
  [[2, 1, 40, 50], [1, 3, 50, 30], false, false], // general broadcast: the fallback
  [[32, 128, 64], [32, 128, 64], false, true], // attention scores Q K^T
  [[32, 128, 128], [32, 128, 64], true, false], // attention gradient
  [[300, 8], [300, 200], true, false], // SPruFT dW_f = dy_f^T x
  [[512, 512], [32, 512], false, true], // the row adapter's forward x W_f^T
  [[4, 0], [0, 5], false, false], // K = 0: zeros
  [[0, 6], [6, 5], false, false], // M = 0: empty
];

describe('native BLAS BatchMatMul', { skip }, () => {
  before(startBackends);

  it('matches the cpu builtin kernel to 1e-4 on every shape, transpose and batch', () => {
    const ref = builtinKernel('BatchMatMul', 'cpu');
    assert.ok(ref != null);
    CASES.forEach(([sa, sb, ta, tb], i) => {
      const a = randomTensor(sa, 5 * i + 1);
      const b = randomTensor(sb, 5 * i + 2);
      const attrs = { transposeA: ta, transposeB: tb };
      const want = runKernel('cpu', ref.kernelFunc, { a, b }, attrs);
      assertClose(runKernel('wasm', nativeBatchMatMulKernel, { a, b }, attrs), want, 1e-4, `[${sa}] x [${sb}] ${ta} ${tb}`);
    });
  });

  it('_FusedMatMul: bias and every activation the addon applies, batched and transposed, as the cpu builtin', () => {
    const ref = builtinKernel('_FusedMatMul', 'cpu');
    assert.ok(ref != null);
    const shapes: Array<[number[], number[], boolean, boolean, number[] | null]> = [
      [[1, 40, 50], [1, 50, 30], false, false, [30]],
      [[1, 50, 40], [1, 30, 50], true, true, [30]],
      [[3, 40, 50], [3, 30, 50], false, true, [1, 30]],
      [[3, 40, 50], [3, 50, 30], false, false, [1]],
      [[1, 17, 9], [1, 9, 5], false, false, null],
      [[2, 40, 50], [2, 50, 30], false, false, [40, 30]], // a bias per element: the fallback
    ];
    const activations = ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu'];
    shapes.forEach(([sa, sb, ta, tb, sbias], i) => {
      for (const activation of activations) {
        const a = randomTensor(sa, 7 * i + 1);
        // Scaled so that relu6's upper clip is reached too.
        for (let k = 0; k < a.values.length; k++) a.values[k] *= 4;
        const b = randomTensor(sb, 7 * i + 2);
        const inputs: Record<string, HostTensor> = sbias ? { a, b, bias: randomTensor(sbias, 7 * i + 3) } : { a, b };
        const attrs = { transposeA: ta, transposeB: tb, activation, leakyreluAlpha: 0.3 };
        const want = runKernel('cpu', ref.kernelFunc, inputs, attrs);
        assertClose(runKernel('wasm', nativeFusedMatMulKernel, inputs, attrs), want, 1e-4, `[${sa}] x [${sb}] ${ta} ${tb} bias [${sbias}] ${activation}`);
      }
    });
  });

  it('is what tf.matMul runs on wasm, and its gradients agree with the cpu backend, without leaks or heap growth', async () => {
    await tf.setBackend('wasm');
    assert.deepEqual(nativeKernelsInPlace(), ['BatchMatMul', '_FusedMatMul', 'SpruftAdamPart']);
    const ah = randomTensor([3, 40, 50], 1);
    const bh = randomTensor([3, 30, 50], 2);
    const grads = (): [ReturnType<typeof toHost>, ReturnType<typeof toHost>] => {
      const a = tf.tensor3d(ah.values, [3, 40, 50]);
      const b = tf.tensor3d(bh.values, [3, 30, 50]);
      const g = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.square(tf.matMul(x as tf.Tensor3D, y as tf.Tensor3D, false, true))));
      const [ga, gb] = g([a, b]);
      const out: [ReturnType<typeof toHost>, ReturnType<typeof toHost>] = [toHost(ga), toHost(gb)];
      tf.dispose([a, b, ga, gb]);
      return out;
    };
    const before0 = tf.memory().numTensors;
    const [ga, gb] = grads();
    const heap = wasmHeapBytes(backendInstance('wasm'));
    for (let i = 0; i < 3; i++) grads();
    assert.equal(wasmHeapBytes(backendInstance('wasm')), heap, 'repeated calls do not grow the wasm heap');
    assert.equal(tf.memory().numTensors, before0, 'no tensors left behind');
    await tf.setBackend('cpu');
    try {
      const [ra, rb] = grads();
      assertClose(ga, ra, 1e-4, 'dA');
      assertClose(gb, rb, 1e-4, 'dB');
    } finally {
      await tf.setBackend('wasm');
    }
  });

  it('beats or matches the wasm kernel it replaces on the decoder\'s largest product (both checked first)', () => {
    // Correctness first (the test above); here only that the routing is not a loss.
    const a = randomTensor([512, 512], 11);
    const b = randomTensor([1376, 512], 12);
    const attrs = { transposeA: false, transposeB: true };
    assertClose(runKernel('wasm', nativeBatchMatMulKernel, { a, b }, attrs), runKernel('wasm', batchMatMulKernel, { a, b }, attrs), 1e-4, 'same product');
    const time = (k: tf.KernelFunc): number => {
      let best = Infinity;
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        runKernel('wasm', k, { a, b }, attrs);
        best = Math.min(best, performance.now() - t0);
      }
      return best;
    };
    const native = time(nativeBatchMatMulKernel);
    const wasm = time(batchMatMulKernel);
    // Loose: a shared machine; the native product measured 2-4x faster (README).
    assert.ok(native < 1.5 * wasm, `native ${native.toFixed(1)} ms vs wasm ${wasm.toFixed(1)} ms`);
  });

  it('refuses a product that would reach outside its arrays, before touching them', () => {
    const blas = nativeBlas()!;
    const A = new Float32Array(6);
    const B = new Float32Array(6);
    const C = new Float32Array(3);
    assert.throws(() => blas.sgemm(false, false, 2, 2, 3, A, 0, 3, 0, B, 0, 2, 0, C, 0, 2, 0, 1), RangeError);
    assert.throws(() => blas.sgemm(false, false, 2, 2, 3, A, 1, 3, 0, B, 0, 2, 0, new Float32Array(4), 0, 2, 0, 1), RangeError);
    assert.throws(() => blas.sgemm(false, false, 2, 2, 3, A, 0, 3, 0, B, 0, 2, 0, new Float32Array(4), 0, 2, 4, 2), RangeError);
    assert.throws(() => blas.sgemm(false, false, 2, 2, 3, new Float64Array(6) as unknown as Float32Array, 0, 3, 0, B, 0, 2, 0, C, 0, 2, 0, 1), TypeError);
    assert.throws(() => blas.epilogue(C, 0, 1, 3, new Float32Array(2), 0, 2, 0, 0), RangeError);
    assert.deepEqual(Array.from(C), [0, 0, 0], 'nothing written');
  });
});

/** Start wasm in a fresh process with `env`, report its backend record and one product. */
function backendInChild(env: Record<string, string>): { native: { loaded: boolean; why: string; kernels: string[] }; reason: string; threads: number; product: number[] } {
  const root = join(__dirname, '..', '..', '..');
  const tsx = pathToFileURL(join(root, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
  const backendTs = pathToFileURL(join(root, 'runner', 'src', 'engine', 'backend.ts')).href;
  const tfTs = pathToFileURL(join(root, 'runner', 'src', 'tensor', 'tf.ts')).href;
  const code = `
    // The sources are CommonJS to tsx: their exports arrive as the default export.
    const mod = async (url) => { const m = await import(url); return m.default ?? m; };
    const { initBackend } = await mod(${JSON.stringify(backendTs)});
    const { tf } = await mod(${JSON.stringify(tfTs)});
    const info = await initBackend('wasm');
    const product = Array.from(tf.matMul(tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]), tf.tensor2d([1, 0, 0, 1, 1, 1], [2, 3]), false, true).dataSync());
    process.stdout.write(JSON.stringify({ ...info, product }));`;
  const r = spawnSync(process.execPath, ['--import', tsx, '--input-type=module', '-e', code], { encoding: 'utf8', env: { ...process.env, ...env } });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

describe('native BLAS fallback', () => {
  it('without the addon, wasm runs its own kernels and the record says why', () => {
    const missing = join(__dirname, 'no-such-dir', 'spruft_blas.node');
    const r = backendInChild({ SPRUFT_NATIVE_ADDON: missing });
    assert.equal(r.native.loaded, false);
    assert.match(r.native.why, /failed to load/);
    assert.ok(r.native.why.includes(missing), r.native.why);
    assert.deepEqual(r.native.kernels, []);
    assert.equal(r.threads, 1);
    assert.match(r.reason, /no native BLAS: /);
    assert.deepEqual(r.product, [1, 6, 4, 15], 'products still right, on the wasm kernels');
  });

  it('SPRUFT_NATIVE=0 turns it off, and says so', () => {
    const r = backendInChild({ SPRUFT_NATIVE: '0' });
    assert.equal(r.native.loaded, false);
    assert.match(r.native.why, /SPRUFT_NATIVE=0/);
    assert.deepEqual(r.product, [1, 6, 4, 15]);
  });

  it('with the addon, the record names the library, threads and kernels', { skip }, async () => {
    const info = await initBackend('wasm');
    assert.equal(info.native?.loaded, true);
    assert.match(info.native?.library ?? '', /OpenBLAS/);
    assert.ok((info.native?.threads ?? 0) >= 1);
    assert.deepEqual(info.native?.kernels, ['BatchMatMul', '_FusedMatMul', 'SpruftAdamPart']);
    assert.match(info.reason, /native BLAS: OpenBLAS/);
  });
});
