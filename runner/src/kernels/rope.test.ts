import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../tensor/tf';
import { ropeTables } from '../tensor/ops/attention';
import { ROPE, rope } from '../tensor/ops/rope';
import type { BackendKind } from './backendMemory';
import { ropeKernel } from './rope';
import { assertEqualValues, randomTensor, runKernel, startBackends, toHost, type HostTensor } from './kernelTesting';
import { registerProjectKernels } from './register';
import { uninstallKernel } from './registry';

const SHAPES = [[2, 3, 5, 8], [1, 4, 16], [7, 2]];

/** The op on `backend` through whatever is registered there as a host tensor. */
function viaOp(x: HostTensor, t: number, dh: number, transpose: boolean): HostTensor {
  const out = tf.tidy(() => {
    const { cos, sin } = ropeTables(t, dh, 10000);
    return rope(tf.tensor(x.values, x.shape), cos, sin, transpose);
  });
  const host = toHost(out);
  out.dispose();
  return host;
}

describe('SpruftRope', () => {
  before(async () => {
    await startBackends();
    registerProjectKernels('cpu');
  });

  for (const backend of ['wasm', 'cpu'] as BackendKind[]) {
    it(`on ${backend} gives the floats of the split/concat composition, forward and transpose`, async () => {
      const prev = tf.getBackend();
      await tf.setBackend(backend);
      try {
        SHAPES.forEach((shape, i) => {
          const [t, dh] = shape.slice(-2);
          const x = randomTensor(shape, i + 3);
          for (const transpose of [false, true]) {
            assert.ok(tf.getKernel(ROPE, backend) != null);
            const kernel = viaOp(x, t, dh, transpose);
            uninstallKernel(ROPE, backend);
            const composed = viaOp(x, t, dh, transpose);
            registerProjectKernels(backend);
            assertEqualValues(kernel, composed, `${backend} [${shape}] transpose ${transpose}`);
          }
        });
      } finally {
        await tf.setBackend(prev);
      }
    });
  }

  it('the transpose is the adjoint: <rope(x), y> = <x, rope^T(y)>', () => {
    const [t, dh] = [6, 10];
    const x = randomTensor([3, t, dh], 1);
    const y = randomTensor([3, t, dh], 2);
    const dot = (a: HostTensor, b: HostTensor) => Array.from(a.values).reduce((s, v, i) => s + v * b.values[i], 0);
    const lhs = dot(viaOp(x, t, dh, false), y);
    const rhs = dot(x, viaOp(y, t, dh, true));
    assert.ok(Math.abs(lhs - rhs) < 1e-4 * Math.max(1, Math.abs(lhs)), `${lhs} vs ${rhs}`);
  });

  it('refuses tables of the wrong shape and odd head sizes, saying which', () => {
    const { cos, sin } = tf.tidy(() => ropeTables(4, 6, 10000));
    const host = (tt: tf.Tensor) => toHost(tt);
    const call = (x: HostTensor, c: HostTensor, s: HostTensor) => runKernel('cpu', ropeKernel, { x, cos: c, sin: s }, { transpose: false });
    assert.throws(() => call(randomTensor([2, 5, 6], 1), host(cos), host(sin)), /the tables must be \[5, 6\]/);
    assert.throws(() => call(randomTensor([2, 4, 5], 1), randomTensor([4, 5], 2), randomTensor([4, 5], 3)), /even dh/);
    tf.dispose([cos, sin]);
  });
});
