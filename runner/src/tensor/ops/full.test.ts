import { before, describe, it } from 'node:test';
import { Rng } from '../rng';
import type { ConvSpec } from './conv2d';
import { fullConv2d } from './conv2d';
import { fullDepthwiseConv2d } from './depthwiseConv2d';
import { fullLinear } from './linear';
import { conv64, gradCheck, input, TEST_BACKENDS, useBackend } from './testing';

/** Full fine-tuning's ops: the weight itself trains; gradients against float64 finite differences. */
for (const backend of TEST_BACKENDS) {
  describe(`full fine-tuning ops on ${backend}`, () => {
    before(() => useBackend(backend));

    it('fullLinear: dW, db, dx', () => {
      const rng = new Rng(70);
      const [n, dIn, dOut] = [5, 4, 3];
      gradCheck(rng, {
        what: 'fullLinear',
        inputs: { x: input(rng, [n, dIn]), w: input(rng, [dOut, dIn]), b: input(rng, [dOut]) },
        wrt: ['x', 'w', 'b'],
        forward: (t) => fullLinear(t.x, t.w, t.b, true),
        reference: (a) => {
          const y = new Float64Array(n * dOut);
          for (let i = 0; i < n; i++) for (let o = 0; o < dOut; o++) {
            let s = a.b[o];
            for (let j = 0; j < dIn; j++) s += a.x[i * dIn + j] * a.w[o * dIn + j];
            y[i * dOut + o] = s;
          }
          return y;
        },
      });
    });

    for (const [stride, pad] of [[1, 'same'], [2, 'valid']] as const) {
      const spec: ConvSpec = { strides: [stride, stride], pad };
      it(`fullConv2d (stride ${stride}, ${pad}): dW, db, dx`, () => {
        const rng = new Rng(71);
        const xs = [2, 5, 5, 3];
        const ws = [3, 3, 3, 4];
        gradCheck(rng, {
          what: 'fullConv2d',
          inputs: { x: input(rng, xs), w: input(rng, ws), b: input(rng, [4]) },
          wrt: ['x', 'w', 'b'],
          forward: (t) => fullConv2d(t.x, t.w, t.b, spec, true),
          reference: (a) => conv64(a.x, xs, a.w, ws, stride, pad).y.map((v, i) => v + a.b[i % 4]),
        });
      });

      it(`fullDepthwiseConv2d (stride ${stride}, ${pad}): dW, db, dx`, () => {
        const rng = new Rng(72);
        const xs = [2, 5, 5, 3];
        const ws = [3, 3, 3, 1];
        gradCheck(rng, {
          what: 'fullDepthwise',
          inputs: { x: input(rng, xs), w: input(rng, ws), b: input(rng, [3]) },
          wrt: ['x', 'w', 'b'],
          forward: (t) => fullDepthwiseConv2d(t.x, t.w, t.b, spec, true),
          reference: (a) => conv64(a.x, xs, a.w, ws, stride, pad, true).y.map((v, i) => v + a.b[i % 3]),
        });
      });
    }
  });
}
