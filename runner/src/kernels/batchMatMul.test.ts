import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../engine/tf';
import { wasmHeapBytes } from './backendMemory';
import { batchMatMulKernel } from './batchMatMul';
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
});
