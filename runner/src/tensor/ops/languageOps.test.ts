/**
 * The ops the Hugging Face language architectures added: GPT-2's tanh GELU, the pooler's
 * tanh, slices of a fused q|k|v projection, the first-token read-out, and attention with
 * a padding key mask and a sliding window. Each against float64 finite differences of an
 * independent float64 reference (testing.ts gradCheck: tfjs's tape and the engine's).
 */
import { before, describe, it } from 'node:test';
import { valueAndGrads } from '../autodiff';
import { Rng } from '../rng';
import { tf } from '../tf';
import { geluTanh, tanh } from './activations';
import { keyBiasOf, multiHeadAttention } from './attention';
import { add, firstPosition, sliceLastAxis } from './elementwise';
import { assertNoLeak, gradCheck, input, useBackend } from './testing';

/** Attention of [B, T, H*dh] float64 arrays; `visible(b, i, j)`. */
function attention64(q: Float64Array, k: Float64Array, v: Float64Array, b: number, t: number, heads: number, dh: number, visible: (bi: number, i: number, j: number) => boolean): Float64Array {
  const d = heads * dh;
  const out = new Float64Array(b * t * d);
  for (let bi = 0; bi < b; bi++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < t; i++) {
        const s: number[] = [];
        for (let j = 0; j < t; j++) {
          let dot = 0;
          for (let e = 0; e < dh; e++) dot += q[(bi * t + i) * d + h * dh + e] * k[(bi * t + j) * d + h * dh + e];
          s.push(visible(bi, i, j) ? dot / Math.sqrt(dh) : -Infinity);
        }
        const m = Math.max(...s);
        const z = s.reduce((a, x) => a + Math.exp(x - m), 0);
        for (let j = 0; j < t; j++) {
          const p = Math.exp(s[j] - m) / z;
          for (let e = 0; e < dh; e++) out[(bi * t + i) * d + h * dh + e] += p * v[(bi * t + j) * d + h * dh + e];
        }
      }
    }
  }
  return out;
}

describe('language-model ops', () => {
  before(() => useBackend('wasm'));

  it('geluTanh (GPT-2 gelu_new) equals float64 finite differences', () => {
    const rng = new Rng(70);
    const check = (): void => gradCheck(rng, {
      what: 'geluTanh', inputs: { x: input(rng, [4, 6], 2) }, wrt: ['x'], forward: (t) => geluTanh(t.x),
      reference: (a) => a.x.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)))),
    });
    check();
    // Forward and backward on the engine's tape leave nothing behind.
    const x = tf.variable(tf.randomNormal([3, 4]));
    assertNoLeak(() => tf.dispose(valueAndGrads(() => tf.sum(tanh(geluTanh(x))), [x]).grads), 'geluTanh and tanh');
    x.dispose();
  });

  it('tanh equals float64 finite differences', () => {
    const rng = new Rng(71);
    gradCheck(rng, { what: 'tanh', inputs: { x: input(rng, [3, 5], 1.5) }, wrt: ['x'], forward: (t) => tanh(t.x), reference: (a) => a.x.map(Math.tanh) });
  });

  it('sliceLastAxis and firstPosition equal float64 finite differences', () => {
    const rng = new Rng(72);
    const [b, t, d] = [2, 3, 9];
    gradCheck(rng, {
      what: 'slice of a fused projection', inputs: { x: input(rng, [b, t, d]) }, wrt: ['x'],
      // Two overlapping reads of x, as q and k read c_attn's output.
      forward: (x) => add(sliceLastAxis(x.x, 3, 3), sliceLastAxis(x.x, 6, 3)),
      reference: (a) => Float64Array.from({ length: b * t * 3 }, (_, i) => a.x[Math.floor(i / 3) * d + 3 + (i % 3)] + a.x[Math.floor(i / 3) * d + 6 + (i % 3)]),
    });
    gradCheck(rng, {
      what: 'first position', inputs: { x: input(rng, [b, t, 4]) }, wrt: ['x'], forward: (x) => firstPosition(x.x),
      reference: (a) => Float64Array.from({ length: b * 4 }, (_, i) => a.x[Math.floor(i / 4) * t * 4 + (i % 4)]),
    });
  });

  it('attention with a padding key mask and with a causal sliding window equals float64 finite differences', () => {
    const rng = new Rng(73);
    const [b, t, heads, dh] = [2, 5, 2, 3];
    const lengths = [5, 3];
    const mask = tf.tensor2d(Array.from({ length: b * t }, (_, i) => (i % t < lengths[Math.floor(i / t)] ? 1 : 0)), [b, t], 'int32');
    const keyBias = keyBiasOf(mask);
    const qkv = { q: input(rng, [b, t, heads * dh]), k: input(rng, [b, t, heads * dh]), v: input(rng, [b, t, heads * dh]) };
    gradCheck(rng, {
      what: 'padding-masked attention', inputs: qkv, wrt: ['q', 'k', 'v'], tol: 2e-4,
      forward: (x) => multiHeadAttention(x.q, x.k, x.v, { heads, keyBias }),
      reference: (a) => attention64(a.q, a.k, a.v, b, t, heads, dh, (bi, _i, j) => j < lengths[bi]),
    });
    gradCheck(rng, {
      what: 'sliding-window attention', inputs: qkv, wrt: ['q', 'k', 'v'], tol: 2e-4,
      forward: (x) => multiHeadAttention(x.q, x.k, x.v, { heads, causal: true, window: 2 }),
      reference: (a) => attention64(a.q, a.k, a.v, b, t, heads, dh, (_bi, i, j) => j <= i && i - j < 2),
    });
    tf.dispose([mask, keyBias]);
  });
});
