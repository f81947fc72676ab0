import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../tensor/tf';
import type { BackendKind } from './backendMemory';
import { wasmHeapBytes } from './backendMemory';
import {
  assertEqualValues, backendInstance, intTensor, randomTensor, runKernel, startBackends, toHost,
  type HostTensor,
} from './kernelTesting';
import { registerProjectKernels } from './register';
import { builtinKernel, isProjectKernel } from './registry';
import { copyStrided } from './stridedCopy';
import { transposeKernel } from './transpose';

const CASES: Array<[number[], number[]]> = [
  [[4, 5], [1, 0]],
  [[37, 129], [1, 0]],
  [[8, 8], [0, 1]],
  [[2, 3, 4], [2, 0, 1]],
  [[2, 3, 4], [1, 0, 2]],
  [[2, 3, 4], [0, 2, 1]],
  [[3, 5, 7, 11], [3, 1, 2, 0]], // conv filter gradient: x NHWC -> [C, H, W, B]
  [[3, 5, 7, 11], [1, 2, 0, 3]], // dy NHWC -> [H, W, B, C]
  [[3, 5, 7, 11], [0, 3, 1, 2]], // NHWC -> NCHW
  [[3, 5, 7, 11], [2, 0, 3, 1]],
  [[1, 6, 1, 9], [3, 2, 1, 0]], // size-1 axes
  [[2, 1, 3, 2, 5], [4, 0, 3, 2, 1]],
  [[130, 9], [1, 0]], // not a multiple of the 8-row block
  [[0, 4], [1, 0]],
  [[5], [0]],
];

function hostInt(shape: number[], seed: number): HostTensor {
  const t = randomTensor(shape, seed);
  return intTensor(shape, Array.from(t.values, (v) => Math.round(v * 1000)));
}

describe('Transpose', () => {
  before(async () => {
    await startBackends();
    registerProjectKernels('cpu');
  });

  for (const backend of ['wasm', 'cpu'] as BackendKind[]) {
    it(`matches the builtin ${backend} kernel exactly (float32, int32)`, () => {
      const builtin = builtinKernel('Transpose', backend);
      assert.ok(builtin != null);
      CASES.forEach(([shape, perm], i) => {
        for (const x of [randomTensor(shape, i + 1), hostInt(shape, i + 7)]) {
          const want = runKernel(backend, builtin.kernelFunc, { x }, { perm });
          const got = runKernel(backend, transposeKernel, { x }, { perm });
          assertEqualValues(got, want, `${backend} ${x.dtype} [${shape}] perm [${perm}]`);
        }
      });
    });
  }

  it('is registered on wasm and cpu and used by tf.transpose, with no leak', async () => {
    for (const backend of ['wasm', 'cpu'] as BackendKind[]) {
      await tf.setBackend(backend);
      assert.ok(isProjectKernel('Transpose', backend));
      const x = tf.tensor(randomTensor([6, 10, 3], 3).values, [6, 10, 3]);
      const y = tf.transpose(x, [2, 0, 1]);
      const before = tf.memory().numTensors;
      const dataIds = backendInstance(backend).numDataIds();
      const heap = wasmHeapBytes(backendInstance(backend));
      for (let i = 0; i < 20; i++) tf.transpose(x, [2, 0, 1]).dispose();
      assert.equal(tf.memory().numTensors, before);
      assert.equal(backendInstance(backend).numDataIds(), dataIds);
      assert.equal(wasmHeapBytes(backendInstance(backend)), heap);
      const xs = toHost(x);
      const ys = toHost(y);
      assert.equal(ys.values[(1 * 6 + 2) * 10 + 3], xs.values[(2 * 10 + 3) * 3 + 1]);
      // bool goes to the builtin kernel.
      const b = tf.tensor([true, false, false, true, true, false], [2, 3], 'bool');
      assert.deepEqual(Array.from(tf.transpose(b).dataSync()), [1, 1, 0, 1, 0, 0]);
      tf.dispose([x, y, b]);
    }
    await tf.setBackend('wasm');
  });
});

describe('copyStrided', () => {
  it('pads and crops through offsets', () => {
    // Write a 2x3 block into the middle of a zeroed 4x5, then read a 2x2 corner back.
    const src = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const dst = new Float32Array(20);
    copyStrided(src, 0, [3, 1], dst, 1 * 5 + 1, [5, 1], [2, 3]);
    assert.deepEqual(Array.from(dst), [0, 0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 4, 5, 6, 0, 0, 0, 0, 0, 0]);
    const crop = new Float32Array(4);
    copyStrided(dst, 7, [5, 1], crop, 0, [1, 2], [2, 2]); // also transposed
    assert.deepEqual(Array.from(crop), [2, 5, 3, 6]);
  });
});
