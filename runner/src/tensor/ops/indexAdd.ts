/**
 * x with `updates` added at positions `indices` along `axis` (PyTorch's index_add):
 *
 *   out[..., indices[j], ...] = x[..., indices[j], ...] + updates[..., j, ...]
 *
 * updates has x's shape but for `axis`, where it has one entry per index. It is eq. 5's
 * M W_f added to W (rows of a weight), the selected bias entries moved by b_f, and the
 * split path's scatter of f(W_f, x) into the selected output columns (linear.ts).
 *
 * On the wasm and cpu backends this is one project kernel (kernels/indexAdd.ts: a copy of
 * x and r slice additions, instead of a scatter into a zero tensor of x's size and a full
 * addition); elsewhere the same sum through tfjs's scatterND. Repeated indices add up in
 * both. Not differentiable through tfjs's tape: the ops that call it inside a forward
 * have their own backward (grad.ts), and merges need none.
 */
import { tf, type Tensor } from '../tf';

/** The kernel's name in tfjs's registry (registered by kernels/register.ts). */
export const INDEX_ADD = 'SpruftIndexAdd';

export interface IndexAddAttrs {
  axis: number;
}

export function indexAdd(x: Tensor, axis: number, indices: tf.Tensor1D, updates: Tensor): Tensor {
  const a = axis < 0 ? axis + x.rank : axis;
  if (tf.getKernel(INDEX_ADD, tf.getBackend()) != null) {
    return tf.engine().runKernel(INDEX_ADD, { x, indices, updates }, { axis: a } as unknown as tf.NamedAttrMap) as Tensor;
  }
  return tf.tidy(() => {
    if (a === 0) return tf.add(x, tf.scatterND(tf.reshape(indices, [-1, 1]), updates, x.shape));
    // Bring `axis` to the front, scatter there, and put it back.
    const perm = [a, ...Array.from({ length: x.rank }, (_, i) => i).filter((i) => i !== a)];
    const back = perm.map((_, i) => perm.indexOf(i));
    const xt = tf.transpose(x, perm);
    const delta = tf.scatterND(tf.reshape(indices, [-1, 1]), tf.transpose(updates, perm), xt.shape);
    return tf.transpose(tf.add(xt, delta), back);
  });
}
