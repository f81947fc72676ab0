/**
 * Same-shape elementwise ops of the models' glue (residual adds, the SwiGLU product)
 * with backwards that keep only what they need: a residual add keeps nothing.
 */
import { tf, type Tensor } from '../tf';
import { customOp } from './grad';

function sameShape(a: Tensor, b: Tensor, what: string): void {
  if (a.shape.join('x') !== b.shape.join('x')) throw new Error(`internal: ${what} needs equal shapes, got [${a.shape}] and [${b.shape}]`);
}

/** a + b (residual connections). */
export function add(a: Tensor, b: Tensor): Tensor {
  sameShape(a, b, 'add');
  return customOp([a, b], () => tf.add(a, b), (dy) => [dy, dy]);
}

/** a * b (gated MLPs). */
export function mul(a: Tensor, b: Tensor): Tensor {
  sameShape(a, b, 'mul');
  return customOp(
    [a, b],
    (save) => {
      save([a, b]);
      return tf.mul(a, b);
    },
    (dy, [sa, sb]) => [tf.mul(dy, sb), tf.mul(dy, sa)],
  );
}

/** relu(x), keeping x. */
export function relu(x: Tensor): Tensor {
  return customOp(
    [x],
    (save) => {
      save([x]);
      return tf.relu(x);
    },
    (dy, [xs]) => [tf.mul(dy, tf.step(xs))],
  );
}

/** Zero padding of the spatial axes of NHWC (Keras ZeroPadding2D); backward slices dy. */
export function pad2d(x: Tensor, top: number, bottom: number, left: number, right: number): Tensor {
  const [n, h, w, c] = x.shape as number[];
  return customOp(
    [x],
    () => tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]]),
    (dy) => [tf.slice(dy, [0, top, left, 0], [n, h, w, c])],
  );
}

/** Mean over the spatial axes of NHWC (global average pooling); keeps nothing. */
export function globalAvgPool(x: Tensor): Tensor {
  const [n, h, w, c] = x.shape as number[];
  return customOp([x], () => tf.mean(x, [1, 2]), (dy) => [tf.broadcastTo(tf.reshape(tf.div(dy, h * w), [n, 1, 1, c]), [n, h, w, c])]);
}

/**
 * x[..., begin:begin+size] on the last axis (the q, k and v parts of a fused projection,
 * GPT-2's c_attn); keeps nothing, its backward pads dy back with zeros.
 */
export function sliceLastAxis(x: Tensor, begin: number, size: number): Tensor {
  const shape = x.shape as number[];
  const d = shape[shape.length - 1];
  const lead = shape.slice(0, -1);
  return customOp(
    [x],
    () => tf.slice(x, [...lead.map(() => 0), begin], [...lead, size]),
    (dy) => [tf.pad(dy, [...lead.map((): [number, number] => [0, 0]), [begin, d - begin - size]])],
  );
}

/** The first position of [B, T, d] as [B, d] (a class token); backward puts dy back at position 0. */
export function firstPosition(h: Tensor): Tensor {
  const [b, t, d] = h.shape as number[];
  return customOp([h], () => tf.reshape(tf.slice(h, [0, 0, 0], [b, 1, d]), [b, d]), (dy) => [tf.pad(tf.reshape(dy, [b, 1, d]), [[0, 0], [0, t - 1], [0, 0]])]);
}
