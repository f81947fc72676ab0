/**
 * Scaled dot-product multi-head attention on [B, T, d] projections, optional causal
 * mask, optional rotary position embedding (RoPE, as Llama's rotate_half form), and
 * grouped key/value heads, with a hand-written backward.
 */
import { tf, type Tensor } from '../tf';
import { customOp } from './grad';
import { rope } from './rope';

export interface AttentionOptions {
  heads: number;
  kvHeads?: number;
  causal?: boolean;
  rope?: { cos: Tensor; sin: Tensor };
  /**
   * Sliding-window attention (Mistral): with the causal mask, position i sees only
   * j > i - window.
   */
  window?: number;
  /**
   * Additive key mask [B, 1, 1, T]: 0 for real tokens, a large negative number for padding
   * (encoders read padded batches; HF's attention_mask). A constant: no gradient.
   */
  keyBias?: Tensor;
}

/** The key bias for a [B, T] padding mask (1 real, 0 padding). */
export function keyBiasOf(mask: Tensor): Tensor {
  const [b, t] = mask.shape as number[];
  return tf.tidy(() => tf.reshape(tf.mul(tf.sub(1, tf.cast(mask, 'float32')), -1e9), [b, 1, 1, t]));
}

/** cos/sin tables [T, head_dim] for RoPE with base `theta` (HF Llama convention). */
export function ropeTables(length: number, headDim: number, theta: number): { cos: Tensor; sin: Tensor } {
  const half = headDim / 2;
  const cos = new Float32Array(length * headDim);
  const sin = new Float32Array(length * headDim);
  for (let p = 0; p < length; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p / theta ** ((2 * i) / headDim);
      cos[p * headDim + i] = cos[p * headDim + i + half] = Math.cos(angle);
      sin[p * headDim + i] = sin[p * headDim + i + half] = Math.sin(angle);
    }
  }
  return { cos: tf.tensor2d(cos, [length, headDim]), sin: tf.tensor2d(sin, [length, headDim]) };
}

/** The [T, dh] slices of the RoPE tables for a sequence of length t. */
function ropeSlices(rope: { cos: Tensor; sin: Tensor }, t: number, dh: number): { c: Tensor; s: Tensor } {
  return { c: tf.slice(rope.cos, [0, 0], [t, dh]), s: tf.slice(rope.sin, [0, 0], [t, dh]) };
}


function splitHeads(x: Tensor, heads: number): Tensor {
  const [b, t, d] = x.shape as number[];
  return tf.transpose(tf.reshape(x, [b, t, heads, d / heads]), [0, 2, 1, 3]);
}

function mergeHeads(x: Tensor): Tensor {
  const [b, h, t, dh] = x.shape as number[];
  return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [b, t, h * dh]);
}

const maskCache = new Map<string, Tensor>();

/**
 * [T, T] additive mask: 0 on and below the diagonal (and, with a window, within it),
 * -1e9 elsewhere (kept per length and window).
 */
function causalMask(t: number, window = Infinity): Tensor {
  const key = `${t}:${window}`;
  let m = maskCache.get(key);
  if (!m) {
    const data = new Float32Array(t * t);
    for (let i = 0; i < t; i++) for (let j = 0; j < t; j++) if (j > i || i - j >= window) data[i * t + j] = -1e9;
    m = tf.keep(tf.tensor2d(data, [t, t]));
    maskCache.set(key, m);
  }
  return m;
}

/**
 * softmax(q k^T / sqrt(dh) [+ causal mask]) v per head, on [B, T, d] projections.
 * The backward keeps the rotated q and k, v and the attention weights p (what
 * non-fused attention keeps in any framework) and computes
 *   dV = p^T dO,  dP = dO V^T,  dS = p (dP - rowsum(dP p)) / sqrt(dh),
 *   dQ = dS K,    dK = dS^T Q,  then undoes RoPE and sums grouped heads.
 */
export function multiHeadAttention(q: Tensor, k: Tensor, v: Tensor, o: AttentionOptions): Tensor {
  const [, t, d] = q.shape as number[];
  const kvHeads = o.kvHeads ?? o.heads;
  const group = o.heads / kvHeads;
  const dh = d / o.heads;
  const scale = 1 / Math.sqrt(dh);
  const repeat = (x: Tensor): Tensor => (group === 1 ? x : tf.gather(x, tf.tensor1d(Array.from({ length: o.heads }, (_, h) => Math.floor(h / group)), 'int32'), 1));
  const sumGroups = (x: Tensor): Tensor => {
    if (group === 1) return x;
    const [b, , tt, hd] = x.shape as number[];
    return tf.sum(tf.reshape(x, [b, kvHeads, group, tt, hd]), 2);
  };
  return customOp(
    [q, k, v],
    (save) => {
      let qh = splitHeads(q, o.heads);
      let kh = splitHeads(k, kvHeads);
      if (o.rope) {
        const { c, s } = ropeSlices(o.rope, t, dh);
        qh = rope(qh, c, s, false);
        kh = rope(kh, c, s, false);
      }
      kh = repeat(kh);
      const vh = repeat(splitHeads(v, kvHeads));
      let scores = tf.mul(tf.matMul(qh, kh, false, true), scale);
      if (o.causal) scores = tf.add(scores, causalMask(t, o.window));
      if (o.keyBias) scores = tf.add(scores, o.keyBias);
      const p = tf.softmax(scores);
      save([qh, kh, vh, p]);
      return mergeHeads(tf.matMul(p, vh));
    },
    (dy, [qh, kh, vh, p]) => {
      // Each step in a scope of its own that frees its temporaries (the backward's own
      // scope would keep them all to its end): with at most two [B, H, T, T] tensors beside
      // p at a time, the attention backward is no longer a training step's peak.
      const dO = splitHeads(dy, o.heads);
      const dV = tf.tidy(() => mergeHeads(sumGroups(tf.matMul(p, dO, true, false))));
      // dS = p (dP - rowsum(dP p)) with dP = (dO scale) V^T: the scale applied to dO.
      const dP = tf.tidy(() => tf.matMul(tf.mul(dO, scale), vh, false, true));
      const centred = tf.tidy(() => tf.sub(dP, tf.sum(tf.mul(dP, p), -1, true)));
      dP.dispose();
      const dS = tf.mul(p, centred);
      centred.dispose();
      const tables = o.rope ? ropeSlices(o.rope, t, dh) : undefined;
      const unrope = (g: Tensor): Tensor => (tables ? rope(g, tables.c, tables.s, true) : g);
      const dQ = tf.tidy(() => mergeHeads(unrope(tf.matMul(dS, kh))));
      const dK = tf.tidy(() => mergeHeads(unrope(sumGroups(tf.matMul(dS, qh, true, false)))));
      dS.dispose();
      return [dQ, dK, dV];
    },
  );
}
