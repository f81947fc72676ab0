/**
 * Scaled dot-product multi-head attention on [B, T, d] projections, optional causal
 * mask, optional rotary position embedding (RoPE, as Llama's rotate_half form), and
 * grouped key/value heads. Plain tfjs ops: attention has no frozen weights of its own,
 * so autograd keeps what its gradient needs (q, k, the softmax, v).
 */
import { tf, type Tensor } from '../tf';

export interface AttentionOptions {
  heads: number;
  kvHeads?: number;
  causal?: boolean;
  rope?: { cos: Tensor; sin: Tensor };
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

/** x * cos + rotate_half(x) * sin on [B, H, T, dh]. */
function applyRope(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  const dh = x.shape[3]!;
  const t = x.shape[2]!;
  const [x1, x2] = tf.split(x, 2, 3);
  const rotated = tf.concat([tf.neg(x2), x1], 3);
  const c = tf.slice(cos, [0, 0], [t, dh]);
  const s = tf.slice(sin, [0, 0], [t, dh]);
  return tf.add(tf.mul(x, c), tf.mul(rotated, s));
}

function splitHeads(x: Tensor, heads: number): Tensor {
  const [b, t, d] = x.shape as number[];
  return tf.transpose(tf.reshape(x, [b, t, heads, d / heads]), [0, 2, 1, 3]);
}

const maskCache = new Map<number, Tensor>();

/** [T, T] additive mask: 0 on and below the diagonal, -1e9 above (kept per length). */
function causalMask(t: number): Tensor {
  let m = maskCache.get(t);
  if (!m) {
    const data = new Float32Array(t * t);
    for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) data[i * t + j] = -1e9;
    m = tf.keep(tf.tensor2d(data, [t, t]));
    maskCache.set(t, m);
  }
  return m;
}

export function multiHeadAttention(q: Tensor, k: Tensor, v: Tensor, o: AttentionOptions): Tensor {
  const [b, t, d] = q.shape as number[];
  const kvHeads = o.kvHeads ?? o.heads;
  const dh = d / o.heads;
  let qh = splitHeads(q, o.heads);
  let kh = splitHeads(k, kvHeads);
  let vh = splitHeads(v, kvHeads);
  if (o.rope) {
    qh = applyRope(qh, o.rope.cos, o.rope.sin);
    kh = applyRope(kh, o.rope.cos, o.rope.sin);
  }
  if (kvHeads !== o.heads) {
    const group = o.heads / kvHeads;
    const idx = tf.tensor1d(Array.from({ length: o.heads }, (_, h) => Math.floor(h / group)), 'int32');
    kh = tf.gather(kh, idx, 1);
    vh = tf.gather(vh, idx, 1);
  }
  let scores = tf.mul(tf.matMul(qh, kh, false, true), 1 / Math.sqrt(dh));
  if (o.causal) scores = tf.add(scores, causalMask(t));
  const p = tf.softmax(scores);
  const out = tf.matMul(p, vh);
  return tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [b, t, d]);
}
