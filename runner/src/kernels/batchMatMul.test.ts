import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../tensor/tf';
import { wasmHeapBytes } from './backendMemory';
import { batchMatMulKernel, fusedMatMulKernel } from './batchMatMul';
import { assertClose, backendInstance, randomTensor, runKernel, startBackends, toHost } from './kernelTesting';
import { builtinKernel, isProjectKernel } from './registry';

/** [a shape, b shape, transposeA, transposeB] */
const CASES: Array<[number[], number[], boolean, boolean]> = [
  [[40, 50], [50, 30], false, false],
  [[50, 40], [50, 30], true, false],
  [[40, 50], [30, 50], false, true],
  [[50, 40], [30, 50], true, true],
  [[3, 40, 50], [3, 50, 30], false, false],
  [[3, 50, 40], [3, 50, 30], true, false],
  [[3, 40, 50], [3, 30, 50], false, true],
  [[3, 50, 40], [3, 30, 50], true, true],
  [[2, 3, 40, 50], [50, 30], false, false], // batch against one matrix
  [[2, 3, 50, 40], [30, 50], true, true],
  [[40, 50], [4, 50, 30], false, false], // one matrix against a batch
  [[50, 40], [4, 30, 50], true, true],
  [[1, 40, 50], [4, 50, 30], false, false],
  [[4, 1, 40, 50], [4, 50, 30], false, false], // broadcast of [4,1] with [4]
  [[2, 1, 40, 50], [1, 3, 50, 30], false, false], // general broadcast: builtin
  [[4, 5], [5, 3], false, false], // small: builtin
  [[6, 4, 5], [6, 5, 3], false, false],
  [[4, 256], [64, 256], false, true], // small M: C^T = B^T A^T
  [[300, 8], [300, 200], true, false], // SPruFT dW_f = dy_f^T x
  [[3, 300, 8], [300, 200], true, false],
  [[3, 8, 300], [3, 200, 300], false, true],
  [[3, 300, 40], [3, 300, 50], true, false],
];

describe('BatchMatMul (wasm)', () => {
  before(startBackends);

  it('matches the cpu builtin kernel to 1e-4 on every routed and unrouted shape', () => {
    const ref = builtinKernel('BatchMatMul', 'cpu');
    assert.ok(ref != null);
    CASES.forEach(([sa, sb, ta, tb], i) => {
      const a = randomTensor(sa, 3 * i + 1);
      const b = randomTensor(sb, 3 * i + 2);
      const attrs = { transposeA: ta, transposeB: tb };
      const want = runKernel('cpu', ref.kernelFunc, { a, b }, attrs);
      assertClose(runKernel('wasm', batchMatMulKernel, { a, b }, attrs), want, 1e-4, `[${sa}] x [${sb}] ${ta} ${tb}`);
    });
  });

  it('is registered on wasm, used by tf.matMul and its gradient, without leaks', async () => {
    await tf.setBackend('wasm');
    assert.ok(isProjectKernel('BatchMatMul', 'wasm'));
    const ah = randomTensor([3, 40, 50], 1);
    const bh = randomTensor([3, 50, 30], 2);
    const a = tf.tensor3d(ah.values, [3, 40, 50]);
    const b = tf.tensor3d(bh.values, [3, 50, 30]);
    const g = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.square(tf.matMul(x as tf.Tensor3D, y as tf.Tensor3D))));
    const [ga, gb] = g([a, b]);
    // d/dA sum((AB)^2) = 2 (AB) B^T; d/dB = 2 A^T (AB), computed on cpu's builtin kernel.
    const ref = builtinKernel('BatchMatMul', 'cpu')!.kernelFunc;
    const ab = runKernel('cpu', ref, { a: ah, b: bh }, { transposeA: false, transposeB: false });
    const twoAb = { ...ab, values: ab.values.map((v) => 2 * v) };
    assertClose(toHost(ga), runKernel('cpu', ref, { a: twoAb, b: bh }, { transposeA: false, transposeB: true }), 1e-4, 'dA');
    assertClose(toHost(gb), runKernel('cpu', ref, { a: ah, b: twoAb }, { transposeA: true, transposeB: false }), 1e-4, 'dB');
    tf.dispose([ga, gb]);
    const step = () => tf.tidy(() => {
      const [x, y] = g([a, b]);
      x.dataSync();
      y.dataSync();
    });
    step();
    const tensors = tf.memory().numTensors;
    const ids = backendInstance('wasm').numDataIds();
    const heap = wasmHeapBytes(backendInstance('wasm'));
    for (let i = 0; i < 5; i++) step();
    assert.equal(tf.memory().numTensors, tensors);
    assert.equal(backendInstance('wasm').numDataIds(), ids);
    assert.equal(wasmHeapBytes(backendInstance('wasm')), heap);
    // int32 goes to the builtin (which rejects it, as before).
    assert.throws(() => tf.matMul(tf.ones([2, 2], 'int32') as tf.Tensor2D, tf.ones([2, 2], 'int32') as tf.Tensor2D, true, false));
    tf.dispose([a, b]);
  });

  it('_FusedMatMul with transpose flags or batches matches the cpu builtin (bias, activations)', () => {
    const ref = builtinKernel('_FusedMatMul', 'cpu');
    assert.ok(ref != null);
    const cases: Array<{ sa: number[]; sb: number[]; ta: boolean; tb: boolean; activation: string; bias: boolean; prelu?: boolean; alpha?: number }> = [
      { sa: [1, 40, 50], sb: [1, 30, 50], ta: false, tb: true, activation: 'relu', bias: true },
      { sa: [1, 50, 40], sb: [1, 50, 30], ta: true, tb: false, activation: 'prelu', bias: true, prelu: true },
      { sa: [1, 50, 40], sb: [1, 30, 50], ta: true, tb: true, activation: 'linear', bias: false },
      { sa: [1, 40, 50], sb: [1, 30, 50], ta: false, tb: true, activation: 'leakyrelu', bias: true, alpha: 0.1 },
      // The wasm builtin adds the bias wrongly on all of these (tfjs 4.22).
      { sa: [1, 4, 5], sb: [1, 3, 5], ta: false, tb: true, activation: 'relu', bias: true },
      { sa: [1, 5, 4], sb: [1, 5, 3], ta: true, tb: false, activation: 'elu', bias: true },
      { sa: [2, 40, 50], sb: [2, 30, 50], ta: false, tb: true, activation: 'relu6', bias: true },
      { sa: [2, 4, 5], sb: [2, 5, 3], ta: false, tb: false, activation: 'sigmoid', bias: true },
      { sa: [2, 4, 5], sb: [1, 5, 3], ta: false, tb: false, activation: 'leakyrelu', bias: true, alpha: 0.3 },
      { sa: [3, 5, 4], sb: [3, 3, 5], ta: true, tb: true, activation: 'prelu', bias: true, prelu: true },
      // No bias: the builtin (small, or batched) is right.
      { sa: [1, 4, 5], sb: [1, 3, 5], ta: false, tb: true, activation: 'relu', bias: false },
      { sa: [2, 4, 5], sb: [2, 3, 5], ta: false, tb: true, activation: 'linear', bias: false },
    ];
    cases.forEach((c, i) => {
      const N = c.tb ? c.sb[1] : c.sb[2];
      const inputs: Record<string, ReturnType<typeof randomTensor>> = { a: randomTensor(c.sa, i + 1), b: randomTensor(c.sb, i + 2) };
      if (c.bias) inputs.bias = randomTensor([N], i + 3);
      if (c.prelu) inputs.preluActivationWeights = randomTensor([N], i + 4);
      const attrs = { transposeA: c.ta, transposeB: c.tb, activation: c.activation, leakyreluAlpha: c.alpha ?? 0 };
      const want = runKernel('cpu', ref.kernelFunc, inputs, attrs);
      assertClose(runKernel('wasm', fusedMatMulKernel, inputs, attrs), want, 1e-4, `fused ${JSON.stringify(c)}`);
    });
  });

  it('tf.fused.matMul with transposeB or a batch trains on wasm like the unfused ops', async () => {
    await tf.setBackend('wasm');
    assert.ok(isProjectKernel('_FusedMatMul', 'wasm'));
    const x = tf.tensor2d(randomTensor([40, 50], 1).values, [40, 50]);
    const w = tf.tensor2d(randomTensor([30, 50], 2).values, [30, 50]);
    const bias = tf.tensor1d(randomTensor([30], 3).values);
    const fused = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.square(tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, transposeB: true, bias, activation: 'relu' }))))([x, w]);
    const plain = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.square(tf.relu(tf.add(tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, false, true), bias)))))([x, w]);
    assertClose(toHost(fused[0]), toHost(plain[0]), 1e-4, 'dx');
    assertClose(toHost(fused[1]), toHost(plain[1]), 1e-4, 'dw');
    // The example from batchMatMul.ts: [[1,2],[3,4]] x I^T + [10, 20].
    const small = tf.fused.matMul({ a: tf.tensor2d([[1, 2], [3, 4]]), b: tf.eye(2) as tf.Tensor2D, bias: tf.tensor1d([10, 20]), transposeB: true });
    assert.deepEqual(Array.from(small.dataSync()), [11, 22, 13, 24]);
    const x3 = tf.tensor3d(randomTensor([2, 8, 5], 4).values, [2, 8, 5]);
    const w3 = tf.tensor3d(randomTensor([2, 5, 6], 5).values, [2, 5, 6]);
    const b6 = tf.tensor1d(randomTensor([6], 6).values);
    const y3 = tf.fused.matMul({ a: x3, b: w3, bias: b6, activation: 'relu' });
    assertClose(toHost(y3), toHost(tf.relu(tf.add(tf.matMul(x3, w3), b6))), 1e-5, 'batched fused');
    tf.dispose([x, w, bias, ...fused, ...plain, small, x3, w3, b6, y3]);
  });
});
