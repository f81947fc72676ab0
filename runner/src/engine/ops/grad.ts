/**
 * Helpers for writing ops with hand-written gradients on tfjs's tape.
 *
 * tfjs records every kernel run under a gradient scope and keeps the tensors each
 * kernel's gradient config names (both matMul operands, for example), whether or not a
 * gradient will ever flow to them. The ops in this folder use `tf.customGrad` instead,
 * so that what a backward pass keeps is exactly what it needs (paper C.5): inputs that
 * need no gradient are captured by closure rather than passed as inputs, and only the
 * tensors named in `save` outlive the forward pass.
 */
import { tf, type Tensor } from '../tf';

type Saved = Tensor[];

/**
 * Run `forward` as one tape node whose inputs are `inputs` (the tensors that need a
 * gradient, in order) and whose backward is `backward(dy, saved)` returning one
 * gradient per input. With no inputs the result is cut off from the tape entirely
 * (nothing recorded, nothing kept): the frozen path of a network.
 */
export function customOp(
  inputs: Tensor[],
  forward: (save: (tensors: Tensor[]) => void) => Tensor,
  backward: (dy: Tensor, saved: Saved) => Tensor[],
): Tensor {
  const op = tf.customGrad((...args: Array<Tensor | ((t: Tensor[]) => void)>) => {
    const save = args[args.length - 1] as (t: Tensor[]) => void;
    const value = forward(save);
    return {
      value,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const grads = backward(dy, saved);
        if (grads.length !== inputs.length) {
          throw new Error(`internal: backward returned ${grads.length} gradients for ${inputs.length} inputs`);
        }
        return grads;
      },
    };
  });
  return op(...inputs);
}

/** Compute `f` without recording it for backpropagation (no gradient flows through). */
export function noGrad<T extends Tensor>(f: () => T): T {
  return customOp([], () => f(), () => []) as T;
}

/** [..., d] -> [N, d] and back: linear algebra runs on 2-D operands (the fast path). */
export function flatten2d(x: Tensor): { x2: tf.Tensor2D; restore: (y: Tensor, lastDim: number) => Tensor } {
  const lead = x.shape.slice(0, -1);
  const d = x.shape[x.shape.length - 1];
  const n = lead.reduce((a, b) => a * b, 1);
  const x2 = x.rank === 2 ? (x as tf.Tensor2D) : tf.reshape(x, [n, d]) as tf.Tensor2D;
  return {
    x2,
    restore: (y, lastDim) => (x.rank === 2 ? y : tf.reshape(y, [...lead, lastDim])),
  };
}

/** A tensor's shape as a plain array (tfjs types a generic tensor's shape as a tuple union). */
export function dims(t: Tensor): number[] {
  return t.shape as number[];
}
