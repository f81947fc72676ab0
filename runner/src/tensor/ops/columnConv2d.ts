/**
 * Dependent input channels of a Conv2D (paper appendix B; see ./columnLinear.ts for the
 * linear case). W_f,dep is [kh, kw, c, c_out]: for each selected input channel, its
 * taps into every output channel. By linearity of the convolution in its filter,
 *   conv(x, W + W_f,dep M_dep) = conv(x, W) + conv(x[..., cols], W_f,dep),
 * so `columnConv2d(y, x, p)` adds conv(x[..., cols], W_f,dep) to `y`, the output of the
 * layer's other paths. Its backward keeps x[..., cols] (c channels, not all of x):
 *   dW_f,dep = conv backprop-filter(x[..., cols], dy),
 *   dx       = conv backprop-input(dy, W_f,dep) scattered back to the channels `cols`.
 */
import { tf, type Tensor } from '../tf';
import type { ColumnParams } from './columnLinear';
import { conv2dBackpropFilter, conv2dBackpropInput, gatherChannels, type ConvSpec } from './conv2d';
import { indexAdd } from './indexAdd';
import { customOp, dims } from './grad';

/** W + W_f,dep M_dep for a filter [kh, kw, c_in, c_out] (merging an adapter). */
export function addInputChannels(w: Tensor, cols: tf.Tensor1D, wdep: Tensor): Tensor {
  return indexAdd(w, 2, cols, wdep);
}

/** Spread [..., c] onto the channels `cols` of [..., c_in] (zeros elsewhere). */
function scatterChannels(t: Tensor, cols: tf.Tensor1D, cin: number): Tensor {
  const s = dims(t);
  return indexAdd(tf.zeros([...s.slice(0, -1), cin]), s.length - 1, cols, t);
}

export function columnConv2d(y: Tensor, x: Tensor, spec: ConvSpec, p: ColumnParams, xNeedsGrad: boolean): Tensor {
  const cin = x.shape[3]!;
  return customOp(
    xNeedsGrad ? [y, x, p.wdep] : [y, p.wdep],
    (save) => {
      const xc = gatherChannels(x, p.cols);
      save([xc]);
      return tf.add(y, tf.conv2d(xc as tf.Tensor4D, p.wdep as unknown as tf.Tensor4D, spec.strides, spec.pad));
    },
    (dy, [xc]) => {
      const dWdep = conv2dBackpropFilter(xc, dy, p.wdep.shape, spec);
      if (!xNeedsGrad) return [dy, dWdep];
      const dx = scatterChannels(conv2dBackpropInput(xc.shape, dy, p.wdep, spec), p.cols, cin);
      return [dy, dx, dWdep];
    },
  );
}
