import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { Rng } from '../rng';
import { tf } from '../tf';
import { addColumns, columnLinear } from './columnLinear';
import { rowLinear } from './linear';
import { assertClose, assertNoLeak, gradCheck, input, randomTensor, testLoss, TEST_BACKENDS, useBackend } from './testing';

const N = 6, D_IN = 7, D_OUT = 5;
const COLS = [0, 3, 6];

/** float64 reference: y + x (W_f,dep M_dep)^T, i.e. y[n, o] + sum_k x[n, cols[k]] wdep[o, k]. */
function columnLinear64(y: Float64Array, x: Float64Array, wdep: Float64Array): Float64Array {
  const out = Float64Array.from(y);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < D_OUT; o++) {
      COLS.forEach((j, k) => { out[n * D_OUT + o] += x[n * D_IN + j] * wdep[o * COLS.length + k]; });
    }
  }
  return out;
}

for (const backend of TEST_BACKENDS) {
  describe(`columnLinear on ${backend}`, () => {
    before(() => useBackend(backend));

    it('dW_f,dep, dx and dy equal float64 finite differences', () => {
      const rng = new Rng(31);
      const cols = tf.tensor1d(COLS, 'int32');
      gradCheck(rng, {
        what: 'columnLinear',
        inputs: { y: input(rng, [N, D_OUT]), x: input(rng, [N, D_IN]), wdep: input(rng, [D_OUT, COLS.length], 0.5) },
        wrt: ['y', 'x', 'wdep'],
        forward: (t) => columnLinear(t.y, t.x, { cols, wdep: t.wdep as tf.Variable }, true),
        reference: (a) => columnLinear64(a.y, a.x, a.wdep),
      });
      cols.dispose();
    });

    it('rows and columns together equal the dense W + M W_f + W_f,dep M_dep, and dW_f,dep is the masked full gradient', () => {
      const rng = new Rng(32);
      const x = randomTensor(rng, [N, D_IN]);
      const w = randomTensor(rng, [D_OUT, D_IN]);
      const r = randomTensor(rng, [N, D_OUT]);
      const rows = tf.tensor1d([1, 4], 'int32');
      const cols = tf.tensor1d(COLS, 'int32');
      const wf = tf.variable(randomTensor(rng, [2, D_IN], 0.3));
      const wdep = tf.variable(randomTensor(rng, [D_OUT, COLS.length], 0.3));
      const ours = tf.variableGrads(() => {
        const y = rowLinear(x, w, undefined, { rows, wf }, false);
        return testLoss(columnLinear(y, x, { cols, wdep }, false), r) as tf.Scalar;
      }, [wf, wdep]);
      // The dense equivalent, differentiated by tfjs's autograd through a full W_s.
      const ws = tf.variable(tf.zeros([D_OUT, D_IN]));
      const dense = tf.variableGrads(() => {
        const merged = tf.add(addColumns(tf.add(w, tf.scatterND(tf.reshape(rows, [-1, 1]), wf, [D_OUT, D_IN])), cols, wdep), ws);
        return testLoss(tf.matMul(x, merged, false, true), r) as tf.Scalar;
      }, [ws]);
      assert.ok(Math.abs(ours.value.dataSync()[0] - dense.value.dataSync()[0]) < 1e-3 * Math.abs(dense.value.dataSync()[0]) + 1e-4, 'same loss');
      const selected = tf.gather(dense.grads[ws.name], cols, 1);
      assertClose(ours.grads[wdep.name].dataSync(), selected.dataSync(), 1e-4, 'dW_f,dep vs masked full');
      tf.dispose([x, w, r, rows, cols, wf, wdep, ws, selected, ours.value, dense.value, ...Object.values(ours.grads), ...Object.values(dense.grads)]);
    });

    it('leaks nothing per step', () => {
      const rng = new Rng(33);
      const x = randomTensor(rng, [N, D_IN]);
      const y0 = randomTensor(rng, [N, D_OUT]);
      const r = randomTensor(rng, [N, D_OUT]);
      const cols = tf.tensor1d(COLS, 'int32');
      const wdep = tf.variable(tf.zeros([D_OUT, COLS.length]));
      for (let step = 0; step < 3; step++) {
        assertNoLeak(() => {
          const { value, grads } = tf.variableGrads(() => testLoss(columnLinear(y0, x, { cols, wdep }, false), r) as tf.Scalar, [wdep]);
          tf.dispose([value, ...Object.values(grads)]);
        }, `step ${step}`);
      }
      tf.dispose([x, y0, r, cols, wdep]);
    });
  });
}
