import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../tensor/tf';
import { wasmHeapBytes, type BackendKind } from './backendMemory';
import { gatherV2Kernel } from './gatherV2';
import {
  assertClose, assertEqualValues, backendInstance, intTensor, randomTensor, runKernel, startBackends, toHost,
  type HostTensor,
} from './kernelTesting';
import { registerProjectKernels } from './register';
import { builtinKernel } from './registry';

const CASES: Array<{ x: number[]; idx: number[]; idxShape: number[]; axis: number }> = [
  { x: [50, 30], idx: [3, 0, 49, 3, 17], idxShape: [5], axis: 0 },
  { x: [50, 30], idx: [29, 0, 5, 5], idxShape: [4], axis: 1 },
  { x: [50, 30], idx: [2, 7, 1, 0, 0, 9], idxShape: [2, 3], axis: -1 },
  { x: [6, 7, 40], idx: [6, 1], idxShape: [2], axis: 1 },
  { x: [6, 7, 5], idx: [4, 4, 0], idxShape: [3], axis: 2 },
  { x: [6, 7, 5], idx: [5], idxShape: [], axis: 0 },
  { x: [9], idx: [8, 1, 1], idxShape: [3], axis: 0 },
  { x: [4, 64], idx: [], idxShape: [0], axis: 0 },
];

/** batchDims > 0: checked against the cpu builtin (the wasm builtin gets these wrong). */
const BATCHED: Array<{ x: number[]; idx: number[]; idxShape: number[]; axis: number; batchDims: number }> = [
  { x: [4, 3, 5], idx: [0, 2, 1, 1, 2, 0, 1, 2], idxShape: [4, 2], axis: 1, batchDims: 1 },
  { x: [4, 3, 5], idx: [0, 4, 1, 1, 2, 0, 3, 2], idxShape: [4, 2], axis: 2, batchDims: 1 },
  { x: [2, 3, 4, 40], idx: [3, 0, 1, 1, 2, 2], idxShape: [2, 3], axis: 2, batchDims: 1 },
  { x: [2, 3, 4], idx: [3, 0, 1, 1, 2, 2], idxShape: [2, 3], axis: 2, batchDims: 2 },
];

describe('GatherV2', () => {
  before(async () => {
    await startBackends();
    registerProjectKernels('cpu');
  });

  for (const backend of ['wasm', 'cpu'] as BackendKind[]) {
    it(`matches the builtin ${backend} kernel exactly`, () => {
      const builtin = builtinKernel('GatherV2', backend);
      assert.ok(builtin != null);
      CASES.forEach((c, i) => {
        const f = randomTensor(c.x, i + 1);
        for (const x of [f, intTensor(c.x, Array.from(f.values, (v) => Math.round(v * 100)))]) {
          const inputs = { x, indices: intTensor(c.idxShape, c.idx) };
          const attrs = { axis: c.axis, batchDims: 0 };
          const want = runKernel(backend, builtin.kernelFunc, inputs, attrs);
          assertEqualValues(runKernel(backend, gatherV2Kernel, inputs, attrs), want, `${backend} ${x.dtype} [${c.x}] axis ${c.axis}`);
        }
      });
    });

    it(`with batchDims on ${backend} matches the cpu builtin kernel`, () => {
      const ref = builtinKernel('GatherV2', 'cpu');
      assert.ok(ref != null);
      BATCHED.forEach((c, i) => {
        const x = randomTensor(c.x, i + 11);
        const inputs = { x, indices: intTensor(c.idxShape, c.idx) };
        const attrs = { axis: c.axis, batchDims: c.batchDims };
        assertEqualValues(runKernel(backend, gatherV2Kernel, inputs, attrs), runKernel('cpu', ref.kernelFunc, inputs, attrs),
          `${backend} [${c.x}] axis ${c.axis} batchDims ${c.batchDims}`);
      });
    });

    it(`rejects out-of-range indices on ${backend} like the builtin`, () => {
      const x = randomTensor([5, 3], 1);
      assert.throws(() => runKernel(backend, gatherV2Kernel, { x, indices: intTensor([2], [1, 5]) }, { axis: 0, batchDims: 0 }), /index value 5 is not in \[0, 4\]/);
      assert.throws(() => runKernel(backend, gatherV2Kernel, { x, indices: intTensor([1], [-1]) }, { axis: 1, batchDims: 0 }), /index value -1/);
    });
  }

  it('is used by tf.gather (batchDims too), leaves bool to the builtin, and its gradient runs', async () => {
    for (const backend of ['wasm', 'cpu'] as BackendKind[]) {
      registerProjectKernels(backend);
      await tf.setBackend(backend);
      const xh = randomTensor([4, 3, 5], 2);
      const x = tf.tensor3d(xh.values, [4, 3, 5]);
      const idx = tf.tensor2d([[0, 2], [1, 1], [2, 0], [1, 2]], [4, 2], 'int32');
      const batched = tf.gather(x, idx, 1, 1);
      assert.deepEqual(batched.shape, [4, 2, 5]);
      assert.equal(batched.arraySync()[3][0][4], xh.values[(3 * 3 + 1) * 5 + 4]);
      const b = tf.tensor2d([[true, false], [false, false]], [2, 2], 'bool');
      assert.deepEqual(tf.gather(b, [1, 0], 1).arraySync(), [[0, 1], [0, 0]]);

      // d/dx sum(gather(x, idx, axis) * dy) = scatter-add of dy, repeated indices summed.
      const ids = [2, 0, 2, 4];
      for (const axis of [0, 2]) {
        const dyShape = axis === 0 ? [4, 3, 5] : [4, 3, 4];
        const dyh = randomTensor(dyShape, 9);
        const dy = tf.tensor(dyh.values, dyShape);
        const gx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, tf.tensor1d(ids.slice(0, axis === 0 ? 4 : 4), 'int32'), axis), dy)))(
          axis === 0 ? tf.tensor(randomTensor([5, 3, 5], 1).values, [5, 3, 5]) : x);
        const want = new Float32Array(gx.size);
        const [d0, d1, d2] = gx.shape;
        for (let i = 0; i < dyShape[0]; i++)
          for (let j = 0; j < dyShape[1]; j++)
            for (let k = 0; k < dyShape[2]; k++) {
              const v = dyh.values[(i * dyShape[1] + j) * dyShape[2] + k];
              const [a, bb, cc] = axis === 0 ? [ids[i], j, k] : [i, j, ids[k]];
              want[(a * d1 + bb) * d2 + cc] += v;
            }
        assert.equal(d0 * d1 * d2, want.length);
        assertClose(toHost(gx), { shape: gx.shape, dtype: 'float32', values: want } as HostTensor, 1e-6, `${backend} gather grad axis ${axis}`);
        tf.dispose([dy, gx]);
      }

      const before = tf.memory().numTensors;
      const dataIds = backendInstance(backend).numDataIds();
      const heap = wasmHeapBytes(backendInstance(backend));
      for (let i = 0; i < 10; i++) {
        tf.tidy(() => {
          tf.grad((t: tf.Tensor) => tf.sum(tf.gather(t, [1, 1, 0], 1)))(x).dataSync();
        });
      }
      assert.equal(tf.memory().numTensors, before);
      assert.equal(backendInstance(backend).numDataIds(), dataIds);
      assert.equal(wasmHeapBytes(backendInstance(backend)), heap);
      tf.dispose([x, idx, batched, b]);
    }
    await tf.setBackend('wasm');
  });
});
