/**
 * Depthwise Conv2D (NHWC; filter [kh, kw, c, 1], channel multiplier 1, as MobileNetV2
 * uses it). Rows are channels. A channel's output depends only on the same input
 * channel, so the SPruFT backward keeps x[..., idx] (r channels), not all of x.
 */
import { tf, type Tensor } from '../tf';
import type { ConvSpec } from './conv2d';
import { gatherChannels } from './conv2d';
import { indexAdd } from './indexAdd';
import { customOp, dims } from './grad';
import { addBias, rowBias, type RowParams } from './linear';

export function depthwiseBackpropInput(inputShape: number[], dy: Tensor, filter: Tensor, spec: ConvSpec): Tensor {
  return tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy, filter }, {
    strides: spec.strides, pad: spec.pad, dilations: [1, 1], inputShape,
  } as unknown as tf.NamedAttrMap) as Tensor;
}

export function depthwiseBackpropFilter(x: Tensor, dy: Tensor, filterShape: number[], spec: ConvSpec): Tensor {
  return tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, {
    strides: spec.strides, pad: spec.pad, dilations: [1, 1], filterShape,
  } as unknown as tf.NamedAttrMap) as Tensor;
}

function depthwise(x: Tensor, filter: Tensor, spec: ConvSpec): Tensor {
  return tf.depthwiseConv2d(x as tf.Tensor4D, filter as tf.Tensor4D, spec.strides, spec.pad);
}

/** W + M W_f along the channel axis of a [kh, kw, c, 1] filter. */
export function addChannels(w: Tensor, rows: tf.Tensor1D, wf: Tensor): Tensor {
  return indexAdd(w, 2, rows, wf);
}

export function frozenDepthwiseConv2d(x: Tensor, w: Tensor, bias: Tensor | undefined, spec: ConvSpec, xNeedsGrad: boolean): Tensor {
  return customOp(
    xNeedsGrad ? [x] : [],
    () => addBias(depthwise(x, w, spec), bias),
    (dy) => (xNeedsGrad ? [depthwiseBackpropInput(x.shape, dy, w, spec)] : []),
  );
}

export function rowDepthwiseConv2d(
  x: Tensor, w: Tensor, bias: Tensor | undefined, spec: ConvSpec, p: RowParams, xNeedsGrad: boolean,
): Tensor {
  const trainables: Tensor[] = p.bf ? [p.wf, p.bf] : [p.wf];
  const c = dims(w)[2];
  return customOp(
    xNeedsGrad ? [x, ...trainables] : trainables,
    (save) => {
      save([gatherChannels(x, p.rows)]);
      return addBias(depthwise(x, addChannels(w, p.rows, p.wf), spec), rowBias(bias, p.rows, p.bf, c));
    },
    (dy, [xRows]) => {
      const dyRows = gatherChannels(dy, p.rows);
      const grads: Tensor[] = [depthwiseBackpropFilter(xRows, dyRows, p.wf.shape, spec)];
      if (p.bf) grads.push(tf.sum(dyRows, [0, 1, 2]));
      if (xNeedsGrad) {
        const inputShape = [...dims(xRows).slice(0, 3), c];
        grads.unshift(depthwiseBackpropInput(inputShape, dy, addChannels(w, p.rows, p.wf), spec));
      }
      return grads;
    },
  );
}

/** A trainable depthwise filter (full fine-tuning): keeps x (and W for dx). */
export function fullDepthwiseConv2d(x: Tensor, w: Tensor, bias: Tensor | undefined, spec: ConvSpec, xNeedsGrad: boolean): Tensor {
  const trainables = bias ? [w, bias] : [w];
  return customOp(
    xNeedsGrad ? [x, ...trainables] : trainables,
    (save) => {
      save([x]);
      return addBias(depthwise(x, w, spec), bias);
    },
    (dy, [xs]) => {
      const grads: Tensor[] = [depthwiseBackpropFilter(xs, dy, dims(w), spec)];
      if (bias) grads.push(tf.sum(dy, [0, 1, 2]));
      if (xNeedsGrad) grads.unshift(depthwiseBackpropInput(dims(xs), dy, w, spec));
      return grads;
    },
  );
}
