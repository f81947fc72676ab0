/**
 * Helpers for writing ops with hand-written gradients. What a backward pass keeps is
 * exactly what it needs (paper C.5): inputs that need no gradient are captured by
 * closure rather than passed as inputs, and only the tensors named in `save` outlive the
 * forward pass (autodiff.ts runs them on the engine's own tape).
 */
import { op } from '../autodiff';
import { tf, type Tensor } from '../tf';

/**
 * An op with a hand-written backward (see autodiff.ts): `inputs` are the tensors that
 * may need a gradient; `backward(dy, saved)` returns one gradient per input. Inputs that
 * need no gradient are best captured by closure instead, so that nothing is computed or
 * kept for them.
 */
export function customOp(
  inputs: Tensor[],
  forward: (save: (tensors: Tensor[]) => void) => Tensor,
  backward: (dy: Tensor, saved: Tensor[]) => Tensor[],
): Tensor {
  return op(inputs, forward, backward);
}

/** A reshape that gradients flow through (a view: its backward reshapes dy back). */
export function reshape(x: Tensor, shape: number[]): Tensor {
  const from = x.shape as number[];
  return op([x], () => tf.reshape(x, shape), (dy) => [tf.reshape(dy, from)]);
}

/** [..., d] -> [N, d] and back: linear algebra runs on 2-D operands (the fast path). */
export function flatten2d(x: Tensor): { x2: tf.Tensor2D; restore: (y: Tensor, lastDim: number) => Tensor } {
  const lead = x.shape.slice(0, -1);
  const d = x.shape[x.shape.length - 1];
  const n = lead.reduce((a, b) => a * b, 1);
  const x2 = x.rank === 2 ? (x as tf.Tensor2D) : reshape(x, [n, d]) as tf.Tensor2D;
  return {
    x2,
    restore: (y, lastDim) => (x.rank === 2 ? y : reshape(y, [...lead, lastDim])),
  };
}

/** A tensor's shape as a plain array (tfjs types a generic tensor's shape as a tuple union). */
export function dims(t: Tensor): number[] {
  return t.shape as number[];
}
