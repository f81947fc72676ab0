/**
 * Adam's (AdamW's) update of one parameter in three parts, each a new tensor that the
 * optimizer assigns before the next part is made (engine/optimizer.ts), so that an update
 * needs few extra buffers of the parameter's size at a time (the one tidy of tfjs ops it
 * replaces kept eleven: 1.1 GiB for the 24.6M-entry embedding of the 125M decoder):
 *
 *   m' = beta1 m + (1 - beta1) g
 *   v' = beta2 v + (1 - beta2) g^2
 *   p' = p - lr (m' / c1) / (sqrt(v' / c2) + epsilon)  [- lr wd p for AdamW]
 *
 * with c1 = 1 - beta1^t, c2 = 1 - beta2^t. Where a project kernel is registered (cpu;
 * wasm with the native addon: kernels/adam.ts) each part is one pass into one buffer,
 * rounding every product, quotient, root and sum to float32 in the order below, so it
 * gives the composition's floats exactly; elsewhere (wasm alone, webgpu, tensorflow) the
 * tfjs ops below run in staged tidies that free each intermediate once it is used: at most
 * four buffers of the parameter's size at a time.
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
  return composed();
}

/** `next(first)`, with `first` freed as soon as `next` has used it. */
function then(first: Tensor, next: (t: Tensor) => Tensor): Tensor {
  const out = tf.tidy(() => next(first));
  first.dispose();
  return out;
}

/** beta1 m + (1 - beta1) g */
export function adamFirstMoment(m: Tensor, g: Tensor, beta1: number): Tensor {
  return run({ a: m, g }, { part: 'm', beta1 }, () => tf.tidy(() => tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1))));
}

/** beta2 v + (1 - beta2) g^2 */
export function adamSecondMoment(v: Tensor, g: Tensor, beta2: number): Tensor {
  return run({ a: v, g }, { part: 'v', beta2 }, () =>
    then(tf.tidy(() => tf.mul(tf.square(g), 1 - beta2)), (sq) => tf.add(tf.mul(v, beta2), sq)));
}

/** p - lr (m / c1) / (sqrt(v / c2) + epsilon), less lr * decoupledDecay * p (AdamW; 0 for Adam). */
export function adamParam(p: Tensor, m: Tensor, v: Tensor, o: { c1: number; c2: number; epsilon: number; lr: number; decoupledDecay: number }): Tensor {
  return run({ a: p, m, v }, { part: 'param', ...o }, () => {
    const denominator = tf.tidy(() => tf.add(tf.sqrt(tf.div(v, o.c2)), o.epsilon));
    const step = then(denominator, (d) => tf.mul(tf.div(tf.div(m, o.c1), d), o.lr));
    const next = then(step, (s) => tf.sub(p, s));
    return o.decoupledDecay > 0 ? then(next, (n) => tf.sub(n, tf.mul(p, o.lr * o.decoupledDecay))) : next;
  });
}
