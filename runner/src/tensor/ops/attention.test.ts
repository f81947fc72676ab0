import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { autoOp, valueAndGrads } from '../autodiff';
import { liveBufferBytes, peakBytes } from '../memory';
import { Rng } from '../rng';
import { tf, type Tensor } from '../tf';
import { multiHeadAttention, ropeTables } from './attention';
import { assertClose, randomTensor, testLoss, TEST_BACKENDS, useBackend } from './testing';

/** The same attention from plain ops, differentiated by tfjs's autograd: the reference. */
function plainAttention(q: Tensor, k: Tensor, v: Tensor, heads: number, kvHeads: number, causal: boolean, rope?: { cos: Tensor; sin: Tensor }): Tensor {
  const [b, t, d] = q.shape as number[];
  const dh = d / heads;
  const split = (x: Tensor, h: number) => tf.transpose(tf.reshape(x, [b, t, h, dh]), [0, 2, 1, 3]);
  const rot = (x: Tensor) => {
    const [x1, x2] = tf.split(x, 2, 3);
    const c = tf.slice(rope!.cos, [0, 0], [t, dh]);
    const s = tf.slice(rope!.sin, [0, 0], [t, dh]);
    return tf.add(tf.mul(x, c), tf.mul(tf.concat([tf.neg(x2), x1], 3), s));
  };
  let qh = split(q, heads);
  let kh = split(k, kvHeads);
  let vh = split(v, kvHeads);
  if (rope) { qh = rot(qh); kh = rot(kh); }
  const idx = tf.tensor1d(Array.from({ length: heads }, (_, h) => Math.floor(h / (heads / kvHeads))), 'int32');
  kh = tf.gather(kh, idx, 1);
  vh = tf.gather(vh, idx, 1);
  let s = tf.div(tf.matMul(qh, kh, false, true), Math.sqrt(dh));
  if (causal) {
    const mask = tf.tensor2d(Array.from({ length: t * t }, (_, i) => (i % t > Math.floor(i / t) ? -1e9 : 0)), [t, t]);
    s = tf.add(s, mask);
  }
  return tf.reshape(tf.transpose(tf.matMul(tf.softmax(s), vh), [0, 2, 1, 3]), [b, t, d]);
}

for (const backend of TEST_BACKENDS) {
  describe(`attention on ${backend}`, () => {
    before(() => useBackend(backend));
    for (const [heads, kvHeads, causal, withRope] of [[2, 2, false, false], [4, 2, true, true], [4, 4, true, true]] as const) {
      it(`hand-written backward equals autograd (heads ${heads}, kv ${kvHeads}, causal ${causal}, rope ${withRope})`, () => {
        const rng = new Rng(60 + heads + kvHeads);
        const [b, t, d] = [2, 5, 8];
        const q = tf.variable(randomTensor(rng, [b, t, d]));
        const k = tf.variable(randomTensor(rng, [b, t, (d / heads) * kvHeads]));
        const v = tf.variable(randomTensor(rng, [b, t, (d / heads) * kvHeads]));
        const r = randomTensor(rng, [b, t, d]);
        const rope = withRope ? ropeTables(8, d / heads, 10000) : undefined;
        const ours = tf.variableGrads(() => testLoss(multiHeadAttention(q, k, v, { heads, kvHeads, causal, rope }), r) as tf.Scalar, [q, k, v]);
        const ref = tf.variableGrads(() => testLoss(plainAttention(q, k, v, heads, kvHeads, causal, rope), r) as tf.Scalar, [q, k, v]);
        assertClose(ours.value.dataSync(), ref.value.dataSync(), 1e-5, 'forward');
        for (const x of [q, k, v]) assertClose(ours.grads[x.name].dataSync(), ref.grads[x.name].dataSync(), 1e-4, `d${x.name}`);
      });
    }
  });
}

describe('attention backward memory', () => {
  before(() => useBackend('wasm'));

  it('holds at most two [B, H, T, T] tensors beside the probabilities while it runs', async () => {
    // T much larger than the head width: the [B, H, T, T] tensors are what counts.
    const [b, t, heads, dh] = [2, 128, 4, 4];
    const rng = new Rng(7);
    const q = tf.variable(randomTensor(rng, [b, t, heads * dh]));
    const k = tf.variable(randomTensor(rng, [b, t, heads * dh]));
    const v = tf.variable(randomTensor(rng, [b, t, heads * dh]));
    const square = b * heads * t * t * 4;
    let atBackward = 0;
    let grads: Tensor[] = [];
    const start = liveBufferBytes();
    const peak = await peakBytes(() => {
      grads = valueAndGrads(() => autoOp([multiHeadAttention(q, k, v, { heads, causal: true })], (y) => tf.sum(tf.square(y))), [q, k, v], (bytes) => { atBackward = bytes; }).grads;
    });
    // The forward's own peak (scores, scaled and masked scores, probabilities) is about four
    // squares; backward starts with p kept (one) and may add two more, not five.
    assert.ok(atBackward - start >= square, 'the probabilities are kept for backward');
    assert.ok(peak - start <= 4.5 * square, `peak ${((peak - start) / square).toFixed(2)} squares above the start`);
    tf.dispose([q, k, v, ...grads]);
  });
});
