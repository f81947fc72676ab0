/**
 * Adam's (AdamW's) update of one parameter in three parts, each a new tensor that the
 * optimizer assigns before the next part is made, so that an update needs one extra
 * buffer of the parameter's size at a time (the composition of tfjs ops it replaces kept
 * eleven: 1.1 GiB for the 24.6M-entry embedding of the 125M decoder):
 *
 *   m' = beta1 m + (1 - beta1) g
 *   v' = beta2 v + (1 - beta2) g^2
 *   p' = p - lr (m' / c1) / (sqrt(v' / c2) + epsilon)  [- lr wd p for AdamW]
 *
 * with c1 = 1 - beta1^t, c2 = 1 - beta2^t. On the wasm and cpu backends each part is one
 * pass of a project kernel (kernels/adam.ts) that rounds every product, quotient, root
 * and sum to float32 in the order below, so it gives the composition's floats exactly;
 * elsewhere the composition runs in a tidy of its own.
 */
import { tf, type Tensor } from '../tf';

/** The kernel's name in tfjs's registry (registered by kernels/register.ts). */
export const ADAM_PART = 'SpruftAdamPart';

export type AdamPartAttrs =
  | { part: 'm'; beta1: number }
  | { part: 'v'; beta2: number }
  | { part: 'param'; c1: number; c2: number; epsilon: number; lr: number; decoupledDecay: number };

function run(inputs: Record<string, Tensor>, attrs: AdamPartAttrs, composed: () => Tensor): Tensor {
  if (tf.getKernel(ADAM_PART, tf.getBackend()) != null) {
    return tf.engine().runKernel(ADAM_PART, inputs, attrs as unknown as tf.NamedAttrMap) as Tensor;
  }
  return tf.tidy(composed);
}

/** beta1 m + (1 - beta1) g */
export function adamFirstMoment(m: Tensor, g: Tensor, beta1: number): Tensor {
  return run({ a: m, g }, { part: 'm', beta1 }, () => tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
}

/** beta2 v + (1 - beta2) g^2 */
export function adamSecondMoment(v: Tensor, g: Tensor, beta2: number): Tensor {
  return run({ a: v, g }, { part: 'v', beta2 }, () => tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2)));
}

/** p - lr (m / c1) / (sqrt(v / c2) + epsilon), less lr * decoupledDecay * p (AdamW; 0 for Adam). */
export function adamParam(p: Tensor, m: Tensor, v: Tensor, o: { c1: number; c2: number; epsilon: number; lr: number; decoupledDecay: number }): Tensor {
  return run({ a: p, m, v }, { part: 'param', ...o }, () => {
    const update = tf.div(tf.div(m, o.c1), tf.add(tf.sqrt(tf.div(v, o.c2)), o.epsilon));
    const next = tf.sub(p, tf.mul(update, o.lr));
    return o.decoupledDecay > 0 ? tf.sub(next, tf.mul(p, o.lr * o.decoupledDecay)) : next;
  });
}
