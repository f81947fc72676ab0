import assert from 'node:assert/strict';
import { describe, it, before } from 'node:test';
import { Rng } from '../rng';
import { tf, type Tensor } from '../tf';
import { frozenLinear, loraLinear, rowLinear, rowLinearPath, type RowParams, type RowPath } from './linear';
import {
  assertClose, assertNoLeak, finiteDifferences, randomArray, randomTensor, testLoss, testLoss64, toF64, TEST_BACKENDS, useBackend,
} from './testing';

const N = 6, D_IN = 5, D_OUT = 7;
const ROWS = [1, 4, 5];

/** float64 reference: y = x (W + M W_f)^T + b + M b_f. */
function rowLinear64(x: Float64Array, w: Float64Array, b: Float64Array, wf: Float64Array, bf: Float64Array): Float64Array {
  const y = new Float64Array(N * D_OUT);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < D_OUT; o++) {
      const k = ROWS.indexOf(o);
      let s = b[o] + (k >= 0 ? bf[k] : 0);
      for (let i = 0; i < D_IN; i++) s += x[n * D_IN + i] * (w[o * D_IN + i] + (k >= 0 ? wf[k * D_IN + i] : 0));
      y[n * D_OUT + o] = s;
    }
  }
  return y;
}

for (const backend of TEST_BACKENDS) {
  describe(`linear ops on ${backend}`, () => {
    before(() => useBackend(backend));

    for (const path of ['merged', 'split'] as RowPath[]) {
      it(`rowLinear (${path}): dW_f, db_f and dx equal float64 finite differences`, () => {
        const rng = new Rng(1);
        const x = randomTensor(rng, [N, D_IN]);
        const w = randomTensor(rng, [D_OUT, D_IN]);
        const b = randomTensor(rng, [D_OUT]);
        const r = randomTensor(rng, [N, D_OUT]);
        // Non-zero W_f so that the test also covers a trained state.
        const p: RowParams = {
          rows: tf.tensor1d(ROWS, 'int32'),
          wf: tf.variable(tf.tensor(randomArray(rng, ROWS.length * D_IN, 0.3), [ROWS.length, D_IN])),
          bf: tf.variable(tf.tensor(randomArray(rng, ROWS.length, 0.3), [ROWS.length])),
        };
        const xv = tf.variable(x);
        const { grads } = tf.variableGrads(() => testLoss(rowLinear(xv, w, b, p, true, path), r) as tf.Scalar, [xv, p.wf, p.bf!]);
        const [x64, w64, b64, wf64, bf64, r64] = [x, w, b, p.wf, p.bf!, r].map(toF64);
        const fdWf = finiteDifferences(wf64, (q) => testLoss64(rowLinear64(x64, w64, b64, q, bf64), r64));
        const fdBf = finiteDifferences(bf64, (q) => testLoss64(rowLinear64(x64, w64, b64, wf64, q), r64));
        const fdX = finiteDifferences(x64, (q) => testLoss64(rowLinear64(q, w64, b64, wf64, bf64), r64));
        assertClose(grads[p.wf.name].dataSync(), fdWf, 1e-4, 'dW_f');
        assertClose(grads[p.bf!.name].dataSync(), fdBf, 1e-4, 'db_f');
        assertClose(grads[xv.name].dataSync(), fdX, 1e-4, 'dx');
        tf.dispose([x, w, b, r, p.rows, p.wf, p.bf!, xv, ...Object.values(grads)]);
      });

      it(`rowLinear (${path}): dW_f and dx equal the masked full-weight update's`, () => {
        const rng = new Rng(2);
        const x = randomTensor(rng, [N, D_IN]);
        const w = randomTensor(rng, [D_OUT, D_IN]);
        const r = randomTensor(rng, [N, D_OUT]);
        // A trained state: W_f non-zero, so that the forward and dx depend on it too.
        const wf0 = randomArray(rng, ROWS.length * D_IN, 0.3);
        const p: RowParams = { rows: tf.tensor1d(ROWS, 'int32'), wf: tf.variable(tf.tensor(wf0, [ROWS.length, D_IN])) };
        const xv = tf.variable(x);
        const rowsY = rowLinear(xv, w, undefined, p, true, path);
        const { grads } = tf.variableGrads(() => testLoss(rowLinear(xv, w, undefined, p, true, path), r) as tf.Scalar, [xv, p.wf]);
        // The equivalent full update: a dense W_s, zero outside the selected rows and W_f in
        // them, added to W and differentiated by tfjs's own autograd.
        const ws0 = new Float32Array(D_OUT * D_IN);
        ROWS.forEach((o, k) => ws0.set(wf0.subarray(k * D_IN, (k + 1) * D_IN), o * D_IN));
        const ws = tf.variable(tf.tensor(ws0, [D_OUT, D_IN]));
        const fullY = tf.matMul(x, tf.add(w, ws), false, true);
        const full = tf.variableGrads(() => testLoss(tf.matMul(xv, tf.add(w, ws), false, true), r) as tf.Scalar, [xv, ws]);
        const selected = tf.gather(full.grads[ws.name], tf.tensor1d(ROWS, 'int32'), 0);
        assertClose(rowsY.dataSync(), fullY.dataSync(), 1e-5, 'y vs masked full update');
        assertClose(grads[p.wf.name].dataSync(), selected.dataSync(), 1e-4, 'dW_f vs masked full gradient');
        assertClose(grads[xv.name].dataSync(), full.grads[xv.name].dataSync(), 1e-4, 'dx vs masked full update');
        tf.dispose([x, w, r, p.rows, p.wf, xv, ws, rowsY, fullY, selected, ...Object.values(grads), ...Object.values(full.grads)]);
      });

      it(`rowLinear (${path}) leaks nothing per step`, () => {
        const rng = new Rng(3);
        const x = randomTensor(rng, [N, D_IN]);
        const w = randomTensor(rng, [D_OUT, D_IN]);
        const r = randomTensor(rng, [N, D_OUT]);
        const p: RowParams = { rows: tf.tensor1d(ROWS, 'int32'), wf: tf.variable(tf.zeros([ROWS.length, D_IN])) };
        for (let step = 0; step < 3; step++) {
          assertNoLeak(() => {
            const { value, grads } = tf.variableGrads(() => testLoss(rowLinear(x, w, undefined, p, true, path), r) as tf.Scalar, [p.wf]);
            tf.dispose([value, ...Object.values(grads)]);
          }, `step ${step}`);
        }
        tf.dispose([x, w, r, p.rows, p.wf]);
      });
    }

    it('rowLinearPath: split for few input rows, merged for many', () => {
      assert.equal(rowLinearPath(32, 32, 512, 1376), 'split');
      assert.equal(rowLinearPath(4096, 32, 512, 1376), 'merged');
      // The boundary: N r (d_in + d_out) = 48 d_in d_out.
      assert.equal(rowLinearPath(191, 64, 512, 512), 'split');
      assert.equal(rowLinearPath(192, 64, 512, 512), 'merged');
    });

    it('frozenLinear passes the input gradient and trains nothing', () => {
      const rng = new Rng(4);
      const x = tf.variable(randomTensor(rng, [N, D_IN]));
      const w = randomTensor(rng, [D_OUT, D_IN]);
      const r = randomTensor(rng, [N, D_OUT]);
      const { grads } = tf.variableGrads(() => testLoss(frozenLinear(x, w, undefined, true), r) as tf.Scalar, [x]);
      const reference = tf.variableGrads(() => testLoss(tf.matMul(x, w, false, true), r) as tf.Scalar, [x]);
      assertClose(grads[x.name].dataSync(), reference.grads[x.name].dataSync(), 1e-5, 'dx');
      tf.dispose([x, w, r, ...Object.values(grads), ...Object.values(reference.grads)]);
    });

    it('loraLinear matches autograd of the plain formula, with and without dropout', () => {
      const rng = new Rng(5);
      const rank = 2;
      for (const withDropout of [false, true]) {
        const x = tf.variable(randomTensor(rng, [N, D_IN]));
        const w = randomTensor(rng, [D_OUT, D_IN]);
        const b = randomTensor(rng, [D_OUT]);
        const r = randomTensor(rng, [N, D_OUT]);
        const a = tf.variable(randomTensor(rng, [rank, D_IN], 0.5));
        const bb = tf.variable(randomTensor(rng, [D_OUT, rank], 0.5));
        const keep = 0.75;
        const maskData = new Uint8Array(N * D_IN).map(() => (rng.next() < keep ? 1 : 0));
        const mask = tf.tensor(maskData, [N, D_IN], 'bool');
        const scale = 16 / rank;
        const dropout = withDropout ? { mask, keep } : undefined;
        const ours = tf.variableGrads(() => testLoss(loraLinear(x, w, b, { a, b: bb, scale }, dropout, true), r) as tf.Scalar, [x, a, bb]);
        const reference = tf.variableGrads(() => {
          const xd = withDropout ? tf.mul(x, tf.div(tf.cast(mask, 'float32'), keep)) : x;
          const y = tf.add(tf.add(tf.matMul(x, w, false, true), b), tf.mul(tf.matMul(tf.matMul(xd, a, false, true), bb, false, true), scale));
          return testLoss(y, r) as tf.Scalar;
        }, [x, a, bb]);
        assert.ok(Math.abs(ours.value.dataSync()[0] - reference.value.dataSync()[0]) < 1e-3);
        for (const v of [x, a, bb]) assertClose(ours.grads[v.name].dataSync(), reference.grads[v.name].dataSync(), 1e-4, `d${v.name}`);
        tf.dispose([x, w, b, r, a, bb, mask, ours.value, reference.value, ...Object.values(ours.grads), ...Object.values(reference.grads)]);
      }
    });

    it('LoRA with B = 0 changes nothing', () => {
      const rng = new Rng(6);
      const x = randomTensor(rng, [N, D_IN]);
      const w = randomTensor(rng, [D_OUT, D_IN]);
      const a = tf.variable(randomTensor(rng, [3, D_IN]));
      const bb = tf.variable(tf.zeros([D_OUT, 3]));
      const y0: Tensor = tf.matMul(x, w, false, true);
      const y1 = loraLinear(x, w, undefined, { a, b: bb, scale: 2 }, undefined, false);
      assert.deepEqual(Array.from(y1.dataSync()), Array.from(y0.dataSync()));
      tf.dispose([x, w, a, bb, y0, y1]);
    });
  });
}
