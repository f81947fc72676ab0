import { before, describe, it } from 'node:test';
import { Rng } from '../rng';
import { tf } from '../tf';
import { columnConv2d, addInputChannels } from './columnConv2d';
import type { ConvSpec } from './conv2d';
import { assertClose, conv64, gradCheck, input, randomTensor, testLoss, TEST_BACKENDS, useBackend } from './testing';

const XS = [2, 5, 6, 4];
const KH = 3, KW = 3, CO = 3;
const COLS = [1, 3];

/** The filter W_f,dep M_dep [kh, kw, c_in, c_out] in float64: W_f,dep's channels at `cols`, zero elsewhere. */
function spread64(wdep: Float64Array): Float64Array {
  const out = new Float64Array(KH * KW * XS[3] * CO);
  for (let t = 0; t < KH * KW; t++) {
    COLS.forEach((c, k) => {
      for (let o = 0; o < CO; o++) out[(t * XS[3] + c) * CO + o] = wdep[(t * COLS.length + k) * CO + o];
    });
  }
  return out;
}

for (const backend of TEST_BACKENDS) {
  describe(`columnConv2d on ${backend}`, () => {
    before(() => useBackend(backend));

    for (const [stride, pad] of [[1, 'same'], [2, 'same'], [1, 'valid'], [2, 'valid']] as const) {
      it(`(stride ${stride}, ${pad}): dW_f,dep, dx and dy equal float64 finite differences`, () => {
        const rng = new Rng(40 + stride);
        const spec: ConvSpec = { strides: [stride, stride], pad };
        const cols = tf.tensor1d(COLS, 'int32');
        const yShape = conv64(new Float64Array(XS.reduce((a, b) => a * b)), XS, new Float64Array(KH * KW * XS[3] * CO), [KH, KW, XS[3], CO], stride, pad).shape;
        gradCheck(rng, {
          what: `columnConv2d s${stride} ${pad}`,
          inputs: { y: input(rng, yShape), x: input(rng, XS), wdep: input(rng, [KH, KW, COLS.length, CO], 0.5) },
          wrt: ['y', 'x', 'wdep'],
          forward: (t) => columnConv2d(t.y, t.x, spec, { cols, wdep: t.wdep as tf.Variable }, true),
          reference: (a) => {
            const c = conv64(a.x, XS, spread64(a.wdep), [KH, KW, XS[3], CO], stride, pad).y;
            return c.map((v, i) => v + a.y[i]);
          },
        });
        cols.dispose();
      });
    }

    it('addInputChannels merges W_f,dep into the filter: conv(x, merged) = conv(x, W) + columnConv2d', () => {
      const rng = new Rng(45);
      const spec: ConvSpec = { strides: [1, 1], pad: 'same' };
      const x = randomTensor(rng, XS);
      const w = randomTensor(rng, [KH, KW, XS[3], CO]);
      const cols = tf.tensor1d(COLS, 'int32');
      const wdep = tf.variable(randomTensor(rng, [KH, KW, COLS.length, CO], 0.5));
      const base = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same');
      const adapted = columnConv2d(base, x, spec, { cols, wdep }, false);
      const merged = addInputChannels(w, cols, wdep);
      const direct = tf.conv2d(x as tf.Tensor4D, merged as tf.Tensor4D, 1, 'same');
      assertClose(adapted.dataSync(), direct.dataSync(), 1e-5, 'merged filter');
      const r = randomTensor(rng, base.shape);
      const loss = testLoss(adapted, r);
      tf.dispose([x, w, cols, wdep, base, adapted, merged, direct, r, loss]);
    });
  });
}
