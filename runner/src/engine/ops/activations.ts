/**
 * Activations with hand-written backwards that keep only their input, as PyTorch's do
 * (tfjs's compositions would keep every intermediate of erf or sigmoid).
 *   gelu(x) = x * Phi(x)              gelu'(x) = Phi(x) + x * phi(x)        (ViT, BERT)
 *   silu(x) = x * sigmoid(x)          silu'(x) = s(x) * (1 + x * (1 - s(x)))  (Llama's SwiGLU)
 */
import { tf, type Tensor } from '../tf';
import { customOp } from './grad';

const SQRT1_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

export function gelu(x: Tensor, xNeedsGrad = true): Tensor {
  return customOp(
    xNeedsGrad ? [x] : [],
    (save) => {
      save([x]);
      return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, SQRT1_2))));
    },
    (dy, [xs]) => {
      const cdf = tf.mul(0.5, tf.add(1, tf.erf(tf.mul(xs, SQRT1_2))));
      const pdf = tf.mul(INV_SQRT_2PI, tf.exp(tf.mul(-0.5, tf.square(xs))));
      return [tf.mul(dy, tf.add(cdf, tf.mul(xs, pdf)))];
    },
  );
}

export function silu(x: Tensor, xNeedsGrad = true): Tensor {
  return customOp(
    xNeedsGrad ? [x] : [],
    (save) => {
      save([x]);
      return tf.mul(x, tf.sigmoid(x));
    },
    (dy, [xs]) => {
      const s = tf.sigmoid(xs);
      return [tf.mul(dy, tf.mul(s, tf.add(1, tf.mul(xs, tf.sub(1, s)))))];
    },
  );
}

/**
 * relu6(x) = min(max(x, 0), 6) (MobileNet). Its backward is dy * (0 < x < 6), formed
 * as step(x) - step(x - 6): tfjs's own gradient uses a broadcast LessEqual that the wasm
 * backend runs slowly (about 5 ms per call on a MobileNetV2 activation).
 */
export function relu6(x: Tensor, xNeedsGrad = true): Tensor {
  return customOp(
    xNeedsGrad ? [x] : [],
    (save) => {
      save([x]);
      return tf.relu6(x);
    },
    (dy, [xs]) => [tf.mul(dy, tf.sub(tf.step(xs), tf.step(tf.sub(xs, 6))))],
  );
}
