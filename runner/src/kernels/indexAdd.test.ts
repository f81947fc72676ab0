import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../tensor/tf';
import { INDEX_ADD, indexAdd } from '../tensor/ops/indexAdd';
import { sizeOf, stridesOf, type BackendKind } from './backendMemory';
import { indexAddKernel } from './indexAdd';
import { assertClose, assertEqualValues, intTensor, randomTensor, runKernel, startBackends, toHost, type HostTensor } from './kernelTesting';
import { registerProjectKernels } from './register';
import { uninstallKernel } from './registry';

/** out = x; out[..., idx[j], ...] += u[..., j, ...], element by element on the host. */
function reference(x: HostTensor, idx: number[], u: HostTensor, axis: number): HostTensor {
  const values = x.values.slice();
  const xs = stridesOf(x.shape);
  const us = stridesOf(u.shape);
  for (let e = 0; e < u.values.length; e++) {
    let at = 0;
    for (let d = 0; d < u.shape.length; d++) {
      const i = Math.floor(e / us[d]) % u.shape[d];
      at += (d === axis ? idx[i] : i) * xs[d];
    }
    values[at] += u.values[e];
  }
  return { shape: x.shape, dtype: x.dtype, values };
}

const CASES: Array<{ x: number[]; idx: number[]; axis: number }> = [
  { x: [40, 24], idx: [0, 7, 39], axis: 0 }, // rows of a weight (eq. 5's W + M W_f)
  { x: [33, 40], idx: [3, 4, 38, 11], axis: 1 }, // output columns (the split path)
  { x: [17], idx: [16, 2], axis: 0 }, // bias entries
  { x: [3, 3, 5, 12], idx: [11, 0, 6], axis: 3 }, // conv filter output channels
  { x: [3, 3, 12, 1], idx: [5, 9], axis: 2 }, // depthwise channels
  { x: [6, 10, 3], idx: [2, 2, 9], axis: 1 }, // repeated indices add up
  { x: [5, 8], idx: [], axis: 1 }, // nothing to add: a copy
];

describe('SpruftIndexAdd', () => {
  before(async () => {
    await startBackends();
    registerProjectKernels('cpu');
  });

  for (const backend of ['wasm', 'cpu'] as BackendKind[]) {
    it(`on ${backend} equals the element-by-element sum, float32 and int32`, () => {
      CASES.forEach((c, i) => {
        const uShape = c.x.map((d, k) => (k === c.axis ? c.idx.length : d));
        const xf = randomTensor(c.x, i + 1);
        const uf = randomTensor(uShape, i + 101);
        const toInt = (t: HostTensor) => intTensor(t.shape, Array.from(t.values, (v) => Math.round(v * 100)));
        for (const [x, u] of [[xf, uf], [toInt(xf), toInt(uf)]]) {
          const got = runKernel(backend, indexAddKernel, { x, indices: intTensor([c.idx.length], c.idx), updates: u }, { axis: c.axis });
          assertEqualValues(got, reference(x, c.idx, u, c.axis), `${backend} ${x.dtype} [${c.x}] axis ${c.axis}`);
        }
      });
    });

    it(`on ${backend} says what is wrong with a bad call, before writing anything`, () => {
      const x = randomTensor([4, 6], 1);
      const call = (idx: number[], uShape: number[], axis: number) => runKernel(backend, indexAddKernel,
        { x, indices: intTensor([idx.length], idx), updates: randomTensor(uShape, 2) }, { axis });
      assert.throws(() => call([6], [4, 1], 1), /index 6 is not in \[0, 5\]/);
      assert.throws(() => call([-1], [1, 6], 0), /index -1 is not in \[0, 3\]/);
      assert.throws(() => call([1, 2], [4, 3], 1), /updates must have x's shape with 2 \(one per index\) along the axis/);
      assert.throws(() => call([1], [4, 1], 2), /the axis is not one of x's/);
    });
  }

  it('the op gives the same through the kernel and through tfjs scatterND where no kernel is registered', async () => {
    const prev = tf.getBackend();
    await tf.setBackend('cpu');
    try {
      for (const [i, c] of CASES.entries()) {
        const uShape = c.x.map((d, k) => (k === c.axis ? c.idx.length : d));
        const x = randomTensor(c.x, i + 1);
        const u = randomTensor(uShape, i + 7);
        const run = (): HostTensor => {
          const out = tf.tidy(() => indexAdd(tf.tensor(x.values, x.shape), c.axis, tf.tensor1d(c.idx, 'int32'), tf.tensor(u.values, uShape)));
          const host = toHost(out);
          out.dispose();
          return host;
        };
        assert.ok(tf.getKernel(INDEX_ADD, 'cpu') != null);
        const viaKernel = run();
        uninstallKernel(INDEX_ADD, 'cpu');
        assert.equal(tf.getKernel(INDEX_ADD, 'cpu'), undefined);
        const viaScatter = run();
        registerProjectKernels('cpu');
        // Repeated indices: scatterND sums the updates before adding them to x, so the
        // roundings differ; distinct indices give the same floats.
        if (new Set(c.idx).size === c.idx.length) assertEqualValues(viaKernel, viaScatter, `[${c.x}] axis ${c.axis}`);
        else assertClose(viaKernel, viaScatter, 1e-6, `[${c.x}] axis ${c.axis}`);
        assertEqualValues(viaKernel, reference(x, c.idx, u, c.axis));
        assert.equal(sizeOf(viaKernel.shape), sizeOf(c.x));
      }
    } finally {
      await tf.setBackend(prev);
    }
  });
});
