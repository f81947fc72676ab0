/**
 * Dependent columns of a linear layer (paper appendix B). When the i-th output of a
 * layer b is tuned (a row of W^b) and it feeds input column i of layer a, SPruFT with
 * dependency also tunes that column: W_s^a = W_f,dep M_dep, with M_dep the column
 * selection [c, d_in] of the chosen columns `cols` and W_f,dep [d_out, c], zero at start.
 * Appendix B's forward, by the additivity of eq. 5:
 *   f(W^a + M W_f + W_f,dep M_dep, x) = f(W^a + M W_f, x) + f(W_f,dep M_dep, x),
 * and f(W_f,dep M_dep, x) = x M_dep^T W_f,dep^T = x[:, cols] W_f,dep^T reads only the
 * selected input features.
 *
 * `columnLinear(y, x, p)` adds that term to `y`, the output of the layer's other paths
 * (frozen weight and row adapter). Its backward keeps x[:, cols] (N x c, not all of x):
 *   dW_f,dep = dy^T x[:, cols],   dx = (dy W_f,dep) M_dep,   dy passes to y unchanged.
 */
import { tf, type Tensor } from '../tf';
import { customOp, flatten2d } from './grad';
import { indexAdd } from './indexAdd';

/** A layer's dependent columns: which input columns, and their trainable W_f,dep. */
export interface ColumnParams {
  /** int32 [c], ascending: the selected input columns (features / input channels). */
  cols: tf.Tensor1D;
  /** linear [d_out, c]; conv2d [kh, kw, c, c_out] (the filter's input channels). */
  wdep: tf.Variable;
}

/** W + W_f,dep M_dep for a linear weight [d_out, d_in] (merging an adapter). */
export function addColumns(w: Tensor, cols: tf.Tensor1D, wdep: Tensor): Tensor {
  return indexAdd(w, 1, cols, wdep);
}

/** y + x[:, cols] W_f,dep^T, with y [..., d_out] and x [..., d_in]. */
export function columnLinear(y: Tensor, x: Tensor, p: ColumnParams, xNeedsGrad: boolean): Tensor {
  const { x2 } = flatten2d(x);
  const { x2: y2, restore } = flatten2d(y);
  const dIn = x2.shape[1];
  const out = customOp(
    xNeedsGrad ? [y2, x2, p.wdep] : [y2, p.wdep],
    (save) => {
      const xc = tf.gather(x2, p.cols, 1);
      save([xc]);
      return tf.add(y2, tf.matMul(xc, p.wdep, false, true));
    },
    (dy, [xc]) => {
      const dWdep = tf.matMul(dy, xc, true, false);
      if (!xNeedsGrad) return [dy, dWdep];
      const dxc = tf.matMul(dy, p.wdep);
      const dx = indexAdd(tf.zeros([dxc.shape[0], dIn]), 1, p.cols, dxc);
      return [dy, dx, dWdep];
    },
  );
  return restore(out, y2.shape[1]);
}
