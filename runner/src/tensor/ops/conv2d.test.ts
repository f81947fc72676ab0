import { before, describe, it } from 'node:test';
import { Rng } from '../rng';
import { tf } from '../tf';
import { conv2dBackpropFilter, conv2dBackpropInput, frozenConv2d, loraConv2d, rowConv2d, type ConvSpec } from './conv2d';
import { assertClose, assertNoLeak, conv64, gradCheck, input, randomTensor, testLoss, TEST_BACKENDS, useBackend } from './testing';

const XS = [2, 5, 6, 3];
const KH = 3, KW = 3, CO = 5;
const ROWS = [0, 3];

/** W + M W_f along the output-channel axis, in float64. */
function mergeRows64(w: Float64Array, wf: Float64Array, k = KH * KW * XS[3]): Float64Array {
  const out = Float64Array.from(w);
  for (let i = 0; i < k; i++) ROWS.forEach((o, j) => { out[i * CO + o] += wf[i * ROWS.length + j]; });
  return out;
}

function addBias64(y: Float64Array, b: Float64Array, bf?: Float64Array): Float64Array {
  const out = Float64Array.from(y);
  for (let i = 0; i < out.length; i++) {
    const o = i % CO;
    out[i] += b[o] + (bf && ROWS.includes(o) ? bf[ROWS.indexOf(o)] : 0);
  }
  return out;
}

for (const backend of TEST_BACKENDS) {
  describe(`conv2d ops on ${backend}`, () => {
    before(() => useBackend(backend));

    for (const [stride, pad] of [[1, 'same'], [2, 'same'], [1, 'valid'], [2, 'valid']] as const) {
      it(`rowConv2d (stride ${stride}, ${pad}): dW_f, db_f, dx equal float64 finite differences`, () => {
        const rng = new Rng(10 + stride);
        const spec: ConvSpec = { strides: [stride, stride], pad };
        const rows = tf.tensor1d(ROWS, 'int32');
        gradCheck(rng, {
          what: `rowConv2d s${stride} ${pad}`,
          inputs: {
            x: input(rng, XS), w: input(rng, [KH, KW, XS[3], CO]), b: input(rng, [CO]),
            wf: input(rng, [KH, KW, XS[3], ROWS.length], 0.3), bf: input(rng, [ROWS.length], 0.3),
          },
          wrt: ['x', 'wf', 'bf'],
          forward: (t) => rowConv2d(t.x, t.w, t.b, spec, { rows, wf: t.wf as tf.Variable, bf: t.bf as tf.Variable }, true),
          reference: (a) => addBias64(conv64(a.x, XS, mergeRows64(a.w, a.wf), [KH, KW, XS[3], CO], stride, pad).y, a.b, a.bf),
        });
        rows.dispose();
      });
    }

    for (const pad of ['same', 'valid'] as const) {
      it(`1x1 at stride 1 (${pad}): gradients as matrix products equal the conv gradient kernels, and rowConv2d's equal finite differences`, () => {
        const rng = new Rng(30);
        const spec: ConvSpec = { strides: [1, 1], pad };
        const x = randomTensor(rng, XS);
        const w = randomTensor(rng, [1, 1, XS[3], CO]);
        const dy = randomTensor(rng, [XS[0], XS[1], XS[2], CO]);
        const attrs = { strides: [1, 1], pad, dataFormat: 'NHWC' } as unknown as tf.NamedAttrMap;
        const dxKernel = tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: XS } as unknown as tf.NamedAttrMap) as tf.Tensor;
        const dwKernel = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: w.shape } as unknown as tf.NamedAttrMap) as tf.Tensor;
        const dx = conv2dBackpropInput(XS, dy, w, spec);
        const dw = conv2dBackpropFilter(x, dy, w.shape, spec);
        assertClose(dx.dataSync(), dxKernel.dataSync(), 1e-5, 'dx');
        assertClose(dw.dataSync(), dwKernel.dataSync(), 1e-5, 'dW');
        tf.dispose([x, w, dy, dxKernel, dwKernel, dx, dw]);
        const rows = tf.tensor1d(ROWS, 'int32');
        gradCheck(rng, {
          what: `rowConv2d 1x1 ${pad}`,
          inputs: {
            x: input(rng, XS), w: input(rng, [1, 1, XS[3], CO]), b: input(rng, [CO]),
            wf: input(rng, [1, 1, XS[3], ROWS.length], 0.3), bf: input(rng, [ROWS.length], 0.3),
          },
          wrt: ['x', 'wf', 'bf'],
          forward: (t) => rowConv2d(t.x, t.w, t.b, spec, { rows, wf: t.wf as tf.Variable, bf: t.bf as tf.Variable }, true),
          reference: (a) => addBias64(conv64(a.x, XS, mergeRows64(a.w, a.wf, XS[3]), [1, 1, XS[3], CO], 1, pad).y, a.b, a.bf),
        });
        rows.dispose();
      });
    }

    it('rowConv2d: dW_f equals the selected channels of the masked full filter gradient', () => {
      const rng = new Rng(20);
      const spec: ConvSpec = { strides: [1, 1], pad: 'same' };
      const x = randomTensor(rng, XS);
      const w = randomTensor(rng, [KH, KW, XS[3], CO]);
      const r = randomTensor(rng, [XS[0], XS[1], XS[2], CO]);
      const rows = tf.tensor1d(ROWS, 'int32');
      const wf = tf.variable(tf.zeros([KH, KW, XS[3], ROWS.length]));
      const ours = tf.variableGrads(() => testLoss(rowConv2d(x, w, undefined, spec, { rows, wf }, false), r) as tf.Scalar, [wf]);
      const ws = tf.variable(tf.zeros(w.shape));
      const full = tf.variableGrads(() => testLoss(tf.conv2d(x as tf.Tensor4D, tf.add(w, ws) as tf.Tensor4D, 1, 'same'), r) as tf.Scalar, [ws]);
      const selected = tf.gather(full.grads[ws.name], rows, 3);
      assertClose(ours.grads[wf.name].dataSync(), selected.dataSync(), 1e-4, 'dW_f vs masked full');
      tf.dispose([x, w, r, rows, wf, ws, selected, ours.value, full.value, ...Object.values(ours.grads), ...Object.values(full.grads)]);
    });

    it('frozenConv2d gives the input gradient of conv2d', () => {
      const rng = new Rng(21);
      gradCheck(rng, {
        what: 'frozenConv2d',
        inputs: { x: input(rng, XS), w: input(rng, [KH, KW, XS[3], CO]) },
        wrt: ['x'],
        forward: (t) => frozenConv2d(t.x, t.w, undefined, { strides: [2, 2], pad: 'same' }, true),
        reference: (a) => conv64(a.x, XS, a.w, [KH, KW, XS[3], CO], 2, 'same').y,
      });
    });

    it('loraConv2d: gradients equal finite differences (no dropout) and dropout follows its mask', () => {
      const rng = new Rng(22);
      const rank = 2;
      const spec: ConvSpec = { strides: [1, 1], pad: 'same' };
      gradCheck(rng, {
        what: 'loraConv2d',
        inputs: { x: input(rng, XS), w: input(rng, [KH, KW, XS[3], CO]), a: input(rng, [KH, KW, XS[3], rank], 0.5), b: input(rng, [rank, CO], 0.5) },
        wrt: ['x', 'a', 'b'],
        forward: (t) => loraConv2d(t.x, t.w, undefined, spec, { a: t.a as tf.Variable, b: t.b as tf.Variable, scale: 3 }, undefined, true),
        reference: (a) => {
          const base = conv64(a.x, XS, a.w, [KH, KW, XS[3], CO], 1, 'same').y;
          const h = conv64(a.x, XS, a.a, [KH, KW, XS[3], rank], 1, 'same').y;
          const out = Float64Array.from(base);
          for (let p = 0; p < out.length / CO; p++)
            for (let o = 0; o < CO; o++) for (let k = 0; k < rank; k++) out[p * CO + o] += 3 * h[p * rank + k] * a.b[k * CO + o];
          return out;
        },
      });
      // With dropout: equal to the same op on the pre-masked input (x * mask / keep) for A's path.
      const x = randomTensor(rng, XS);
      const w = randomTensor(rng, [KH, KW, XS[3], CO]);
      const a = tf.variable(randomTensor(rng, [KH, KW, XS[3], rank]));
      const b = tf.variable(randomTensor(rng, [rank, CO]));
      const keep = 0.8;
      const mask = tf.tensor(new Uint8Array(XS.reduce((p, q) => p * q, 1)).map(() => (rng.next() < keep ? 1 : 0)), XS, 'bool');
      assertNoLeak(() => tf.tidy(() => {
        const y = loraConv2d(x, w, undefined, spec, { a, b, scale: 1 }, { mask, keep }, false);
        const xd = tf.mul(x, tf.div(tf.cast(mask, 'float32'), keep));
        const expected = tf.add(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'),
          tf.reshape(tf.matMul(tf.reshape(tf.conv2d(xd as tf.Tensor4D, a as tf.Tensor4D, 1, 'same'), [-1, rank]), b), y.shape));
        assertClose(y.dataSync(), expected.dataSync(), 1e-5, 'lora conv with dropout');
      }), 'loraConv2d forward');
      tf.dispose([x, w, a, b, mask]);
    });
  });
}
