import { before, describe, it } from 'node:test';
import { Rng } from '../rng';
import { tf } from '../tf';
import type { ConvSpec } from './conv2d';
import { frozenDepthwiseConv2d, rowDepthwiseConv2d } from './depthwiseConv2d';
import { conv64, gradCheck, input, TEST_BACKENDS, useBackend } from './testing';

const XS = [2, 6, 5, 4];
const ROWS = [1, 2];

function mergeChannels64(w: Float64Array, wf: Float64Array): Float64Array {
  const out = Float64Array.from(w);
  const c = XS[3];
  for (let k = 0; k < 9; k++) ROWS.forEach((ch, j) => { out[k * c + ch] += wf[k * ROWS.length + j]; });
  return out;
}

for (const backend of TEST_BACKENDS) {
  describe(`depthwise conv2d ops on ${backend}`, () => {
    before(() => useBackend(backend));

    for (const [stride, pad] of [[1, 'same'], [2, 'same'], [1, 'valid']] as const) {
      it(`rowDepthwiseConv2d (stride ${stride}, ${pad}) equals float64 finite differences`, () => {
        const rng = new Rng(30 + stride);
        const spec: ConvSpec = { strides: [stride, stride], pad };
        const rows = tf.tensor1d(ROWS, 'int32');
        gradCheck(rng, {
          what: `rowDepthwise s${stride} ${pad}`,
          inputs: { x: input(rng, XS), w: input(rng, [3, 3, XS[3], 1]), wf: input(rng, [3, 3, ROWS.length, 1], 0.3), bf: input(rng, [ROWS.length], 0.3) },
          wrt: ['x', 'wf', 'bf'],
          forward: (t) => rowDepthwiseConv2d(t.x, t.w, undefined, spec, { rows, wf: t.wf as tf.Variable, bf: t.bf as tf.Variable }, true),
          reference: (a) => {
            const y = conv64(a.x, XS, mergeChannels64(a.w, a.wf), [3, 3, XS[3], 1], stride, pad, true).y;
            for (let i = 0; i < y.length; i++) {
              const j = ROWS.indexOf(i % XS[3]);
              if (j >= 0) y[i] += a.bf[j];
            }
            return y;
          },
        });
        rows.dispose();
      });
    }

    it('frozenDepthwiseConv2d gives the input gradient', () => {
      const rng = new Rng(35);
      gradCheck(rng, {
        what: 'frozenDepthwise',
        inputs: { x: input(rng, XS), w: input(rng, [3, 3, XS[3], 1]) },
        wrt: ['x'],
        forward: (t) => frozenDepthwiseConv2d(t.x, t.w, undefined, { strides: [2, 2], pad: 'same' }, true),
        reference: (a) => conv64(a.x, XS, a.w, [3, 3, XS[3], 1], 2, 'same', true).y,
      });
    });
  });
}
