import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { valueAndGrads } from '../../tensor/autodiff';
import { liveBufferBytes } from '../../tensor/memory';
import { doraLinear } from '../../tensor/ops/dora';
import { randomTensor, testLoss, useBackend } from '../../tensor/ops/testing';
import { veraLinear } from '../../tensor/ops/vera';
import { Rng } from '../../tensor/rng';
import { tf, type Tensor } from '../../tensor/tf';
import type { LinearShape } from './adapterCost';
import { doraKept, doraMemory, doraStepFlops, doraTrainableParams } from './dora/cost';
import { veraKept, veraMemory, veraProjectionFloats, veraStepFlops, veraTrainableParams } from './vera/cost';

/** Llama-2-7B's adapted linears (q, k, v, o, gate, up, down) x 32 blocks; FA: the MLP's only. */
function llama2(fa: boolean): LinearShape[] {
  const d = 4096, I = 11008;
  const attention = [[d, d], [d, d], [d, d], [d, d]];
  const mlp = [[d, I], [d, I], [I, d]];
  const block = (fa ? mlp : [...attention, ...mlp]).map(([dIn, dOut]) => ({ dIn, dOut }));
  return Array.from({ length: 32 }, () => block).flat();
}

describe('VeRA and DoRA cost formulas', () => {
  it('trainable parameters equal the paper\'s #param on Llama-2-7B (r = 64): VeRA 1.374M (table 3), DoRA 161.3M (table 1), FA-DoRA 93.6M (table 11)', () => {
    assert.equal((veraTrainableParams(llama2(false), 64) / 1e6).toFixed(3), '1.374');
    assert.equal((doraTrainableParams(llama2(false), 64) / 1e6).toFixed(1), '161.3');
    assert.equal((doraTrainableParams(llama2(true), 64) / 1e6).toFixed(1), '93.6');
  });

  it('VeRA\'s shared projections: one pair at the largest shape, plus the engine\'s copies of smaller slices', () => {
    const layers = llama2(false);
    assert.equal(veraProjectionFloats(layers, 64, 'pytorch'), 64 * (11008 + 11008));
    assert.equal(veraProjectionFloats(layers, 64, 'engine'), 64 * (11008 + 11008) + 64 * 4096 * 2);
    assert.equal(veraProjectionFloats([], 64), 0);
  });

  it('the parameter components are Adam\'s: params, grads and two moments of float32', () => {
    const layers = [{ dIn: 8, dOut: 6 }, { dIn: 6, dOut: 4 }];
    const v = veraMemory(layers, { rank: 2, dropout: 0 }, 10);
    assert.equal(v.trainableParams, (2 + 6) + (2 + 4));
    assert.deepEqual([v.params, v.grads, v.optimizer], [14 * 4, 14 * 4, 28 * 4]);
    assert.equal(v.cache, 10 * 4 * (2 + 2), 'h = A x per layer, nothing else');
    const d = doraMemory(layers, { rank: 2, dropout: 0.1 }, 10);
    assert.equal(d.trainableParams, 2 * 14 + 6 + 2 * 10 + 4);
    assert.equal(d.dropout, 10 * (8 + 6), 'one mask byte per input element');
    assert.equal(d.transient, 4 * 2 * 6 * 8, 'B A and V of the largest layer');
  });

  it('FLOPs of one step, by hand for one layer', () => {
    const l = { dIn: 8, dOut: 6 };
    // VeRA: forward x A^T, (l_d h) B^T; backward z, (dy l_b) B, (g l_d) A.
    assert.equal(veraStepFlops(l, 2, 10), 2 * 10 * 2 * (8 + 6 + 6 + 6 + 8));
    assert.equal(veraStepFlops({ ...l, xNeedsGrad: false }, 2, 10), 2 * 10 * 2 * (8 + 6 + 6 + 6));
    // DoRA: LoRA's 3 x (d_in + d_out) products, B A for the norm, and with dropout W0 again forward and in dx.
    assert.equal(doraStepFlops(l, 2, 10, 0), 3 * 2 * 10 * 2 * (8 + 6) + 2 * 2 * 8 * 6);
    assert.equal(doraStepFlops(l, 2, 10, 0.1), 3 * 2 * 10 * 2 * (8 + 6) + 2 * 2 * 8 * 6 + 2 * 2 * 10 * 8 * 6);
  });
});

/**
 * The engine profile against what the ops actually keep: bytes alive when backward starts
 * (the buffer meter), less the test loss's own, for one layer whose input and dropout mask
 * are born inside the forward pass (as in a model).
 */
describe('what the engine keeps, measured', () => {
  before(() => useBackend('wasm'));
  const [N, D_IN, D_OUT, R] = [12, 16, 24, 4];

  function keptBytes(forward: (x: Tensor, mask: Tensor | undefined) => Tensor, params: tf.Variable[], dropout: number): number {
    const rng = new Rng(7);
    const x0 = randomTensor(rng, [N, D_IN]);
    const r = randomTensor(rng, [N, D_OUT]);
    const maskData = new Uint8Array(N * D_IN).map(() => (rng.next() < 1 - dropout ? 1 : 0));
    const start = liveBufferBytes();
    let atBackward = 0;
    const { grads } = valueAndGrads(() => {
      const x = tf.mul(x0, 1);
      const mask = dropout > 0 ? tf.tensor(maskData, [N, D_IN], 'bool') : undefined;
      return testLoss(forward(x, mask), r);
    }, params, (bytes) => { atBackward = bytes; });
    tf.dispose([x0, r, ...grads]);
    // Less the loss: its scalar, and the layer output y its autoOp keeps.
    return atBackward - start - 4 - 4 * N * D_OUT;
  }

  for (const dropout of [0, 0.1]) {
    it(`VeRA keeps r floats a position${dropout ? ' and the mask' : ''} (dropout ${dropout})`, () => {
      const rng = new Rng(8);
      const w = randomTensor(rng, [D_OUT, D_IN]);
      const p = { a: randomTensor(rng, [R, D_IN]), b: randomTensor(rng, [D_OUT, R]), lambdaD: tf.variable(tf.fill([R], 0.1)), lambdaB: tf.variable(tf.zeros([D_OUT])) };
      const measured = keptBytes((x, mask) => veraLinear(x, w, undefined, p, mask ? { mask, keep: 1 - dropout } : undefined, true), [p.lambdaD, p.lambdaB], dropout);
      const k = veraKept({ dIn: D_IN, dOut: D_OUT }, { rank: R, dropout });
      assert.equal(measured, N * (4 * k.floats + k.masks) + (k.sharesInput ? 4 * N * D_IN : 0));
      tf.dispose([w, p.a, p.b, p.lambdaD, p.lambdaB]);
    });

    it(`DoRA keeps x${dropout ? ' dropped' : ''}, A x and the direction output a position, and the norm (dropout ${dropout})`, () => {
      const rng = new Rng(9);
      const w = randomTensor(rng, [D_OUT, D_IN]);
      const p = { a: tf.variable(randomTensor(rng, [R, D_IN], 0.2)), b: tf.variable(tf.zeros([D_OUT, R])), m: tf.variable(tf.ones([D_OUT])), scale: 2 };
      const measured = keptBytes((x, mask) => doraLinear(x, w, undefined, p, mask ? { mask, keep: 1 - dropout } : undefined, true), [p.a, p.b, p.m], dropout);
      const k = doraKept({ dIn: D_IN, dOut: D_OUT }, { rank: R, dropout });
      // The norm ||V||_c ([d_out]) is per layer, not per position.
      assert.equal(measured, N * (4 * k.floats + k.masks) + (k.sharesInput ? 4 * N * D_IN : 0) + 4 * D_OUT);
      tf.dispose([w, p.a, p.b, p.m]);
    });
  }
});
