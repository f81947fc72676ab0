/**
 * Activations with hand-written backwards that keep only their input, as PyTorch's do
 * (tfjs's compositions would keep every intermediate of erf or sigmoid).
 *   gelu(x) = x * Phi(x)              gelu'(x) = Phi(x) + x * phi(x)        (ViT, BERT)
 *   silu(x) = x * sigmoid(x)          silu'(x) = s(x) * (1 + x * (1 - s(x)))  (Llama's SwiGLU)
 *   geluTanh(x) = x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)  (GPT-2's "gelu_new")
 *     geluTanh'(x) = (1 + tanh(u))/2 + x/2 (1 - tanh(u)^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
 *   tanh(x), tanh'(x) = 1 - tanh(x)^2, keeping its output (BERT's pooler)
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

const SQRT_2_PI = Math.sqrt(2 / Math.PI);
const GELU_C = 0.044715;

export function geluTanh(x: Tensor, xNeedsGrad = true): Tensor {
  return customOp(
    xNeedsGrad ? [x] : [],
    (save) => {
      save([x]);
      const u = tf.mul(SQRT_2_PI, tf.add(x, tf.mul(GELU_C, tf.pow(x, 3))));
      return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(u)));
    },
    (dy, [xs]) => {
      const th = tf.tanh(tf.mul(SQRT_2_PI, tf.add(xs, tf.mul(GELU_C, tf.pow(xs, 3)))));
      const du = tf.mul(SQRT_2_PI, tf.add(1, tf.mul(3 * GELU_C, tf.square(xs))));
      const d = tf.add(tf.mul(0.5, tf.add(1, th)), tf.mul(tf.mul(tf.mul(xs, 0.5), tf.sub(1, tf.square(th))), du));
      return [tf.mul(dy, d)];
    },
  );
}

export function tanh(x: Tensor, xNeedsGrad = true): Tensor {
  return customOp(
    xNeedsGrad ? [x] : [],
    (save) => {
      const y = tf.tanh(x);
      save([y]);
      return y;
    },
    (dy, [y]) => [tf.mul(dy, tf.sub(1, tf.square(y)))],
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
      // dy * s (1 + x (1 - s)), s = sigmoid(x): each step frees the one before it, so at
      // most three temporaries of x's size are alive (the MLP's widest tensors).
      const s = tf.sigmoid(xs);
      const inner = tf.tidy(() => tf.add(1, tf.mul(xs, tf.sub(1, s))));
      const ds = tf.mul(s, inner);
      tf.dispose([s, inner]);
      const dx = tf.mul(dy, ds);
      ds.dispose();
      return [dx];
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
