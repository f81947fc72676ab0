import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../tensor/tf';
import type { BackendKind } from './backendMemory';
import {
  assertClose, assertEqualValues, intTensor, randomTensor, runKernel, startBackends, toHost, type HostTensor,
} from './kernelTesting';
import { registerProjectKernels } from './register';
import { builtinKernel } from './registry';
import { unsortedSegmentSumKernel } from './unsortedSegmentSum';

/** The definition: out[s] = sum of the rows i with ids[i] = s. */
function plain(x: HostTensor, ids: number[], numSegments: number): HostTensor {
  const inner = x.values.length / ids.length;
  const out = new Float64Array(numSegments * inner);
  ids.forEach((s, i) => {
    if (s < 0 || s >= numSegments) return;
    for (let k = 0; k < inner; k++) out[s * inner + k] += x.values[i * inner + k];
  });
  return { shape: [numSegments, ...x.shape.slice(1)], dtype: x.dtype, values: x.dtype === 'int32' ? Int32Array.from(out) : Float32Array.from(out) };
}

describe('UnsortedSegmentSum', () => {
  before(async () => {
    await startBackends();
    registerProjectKernels('cpu');
  });

  const cases = [
    { x: [6, 4], ids: [0, 2, 2, 5, 0, 1], n: 7 },
    { x: [6], ids: [3, 3, 3, 0, 1, 1], n: 4 },
    { x: [5, 2, 3], ids: [1, 0, 1, 1, 4], n: 5 },
    { x: [4, 3], ids: [-1, 2, 9, 2], n: 3 }, // out-of-range ids dropped
    { x: [3, 2], ids: [0, 0, 0], n: 0 },
  ];

  for (const backend of ['wasm', 'cpu'] as BackendKind[]) {
    it(`on ${backend} equals the definition and the cpu builtin kernel`, () => {
      const ref = builtinKernel('UnsortedSegmentSum', 'cpu');
      assert.ok(ref != null);
      cases.forEach((c, i) => {
        const x = randomTensor(c.x, i + 3);
        const inputs = { x, segmentIds: intTensor([c.ids.length], c.ids) };
        const got = runKernel(backend, unsortedSegmentSumKernel, inputs, { numSegments: c.n });
        assertClose(got, plain(x, c.ids, c.n), 1e-6, `${backend} [${c.x}]`);
        if (c.n > 0) assertClose(got, runKernel('cpu', ref.kernelFunc, inputs, { numSegments: c.n }), 1e-6, `${backend} vs cpu builtin [${c.x}]`);
        const xi = intTensor(c.x, Array.from(x.values, (v) => Math.round(v * 50)));
        assertEqualValues(runKernel(backend, unsortedSegmentSumKernel, { x: xi, segmentIds: inputs.segmentIds }, { numSegments: c.n }),
          plain(xi, c.ids, c.n), `${backend} int32 [${c.x}]`);
      });
    });
  }

  it('takes rank-2 segment ids (a prefix of x) and rejects others', () => {
    const x = randomTensor([2, 3, 4], 5);
    const ids = [1, 0, 1, 2, 2, 0];
    const got = runKernel('wasm', unsortedSegmentSumKernel, { x, segmentIds: intTensor([2, 3], ids) }, { numSegments: 3 });
    assertClose(got, { ...plain({ ...x, shape: [6, 4] }, ids, 3), shape: [3, 4] }, 1e-6, 'rank-2 ids');
    assert.throws(() => runKernel('wasm', unsortedSegmentSumKernel, { x, segmentIds: intTensor([3], [0, 1, 2]) }, { numSegments: 3 }), /prefix/);
  });

  it('tf.unsortedSegmentSum runs on wasm without leaks', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor2d(randomTensor([5, 3], 1).values, [5, 3]);
    const ids = tf.tensor1d([1, 1, 0, 3, 1], 'int32');
    const y = tf.unsortedSegmentSum(x, ids, 4);
    assertClose(toHost(y), plain(toHost(x), [1, 1, 0, 3, 1], 4), 1e-6, 'op');
    const n = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) tf.unsortedSegmentSum(x, ids, 4).dispose();
    assert.equal(tf.memory().numTensors, n);
    tf.dispose([x, ids, y]);
  });
});
