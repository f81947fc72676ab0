/**
 * Rotary position embedding in Llama's rotate_half form, and its transpose (the backward),
 * on [..., T, dh] with cos/sin tables [T, dh]:
 *
 *   rope(x)     = x * cos + rotate_half(x) * sin,          rotate_half(x) = [-x2, x1]
 *   rope^T(dy)  = dy * cos + rotate_half^T(dy * sin),       rotate_half^T(u) = [u2, -u1]
 *
 * (x1, x2 the two halves of the last axis). On the wasm and cpu backends this is one
 * project kernel (kernels/rope.ts), one pass over x; elsewhere the composition below
 * (a split, a negation, a concatenation, two products and a sum: six passes). Both round
 * each product and the sum to float32 in the same order, so they give the same floats.
 * No gradient of its own: attention.ts's backward calls the transpose.
 */
import { tf, type Tensor } from '../tf';

/** The kernel's name in tfjs's registry (registered by kernels/register.ts). */
export const ROPE = 'SpruftRope';

export interface RopeAttrs {
  /** rope^T instead of rope. */
  transpose: boolean;
}

export function rope(x: Tensor, cos: Tensor, sin: Tensor, transpose: boolean): Tensor {
  if (tf.getKernel(ROPE, tf.getBackend()) != null) {
    return tf.engine().runKernel(ROPE, { x, cos, sin }, { transpose } as unknown as tf.NamedAttrMap) as Tensor;
  }
  const axis = x.rank - 1;
  return tf.tidy(() => {
    if (!transpose) {
      const [x1, x2] = tf.split(x, 2, axis);
      return tf.add(tf.mul(x, cos), tf.mul(tf.concat([tf.neg(x2), x1], axis), sin));
    }
    const [u1, u2] = tf.split(tf.mul(x, sin), 2, axis);
    return tf.add(tf.mul(x, cos), tf.concat([u2, tf.neg(u1)], axis));
  });
}
