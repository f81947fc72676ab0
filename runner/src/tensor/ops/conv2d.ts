/**
 * Conv2D (NHWC; filter [kh, kw, c_in, c_out]) in the engine's four ways. Rows are
 * output channels (paper 4.1: a neuron of a conv layer is an output channel), so the
 * SPruFT matrix W_f holds r filters: [kh, kw, c_in, r] in compute layout.
 *
 *  frozenConv2d  keeps only the filter for the input gradient.
 *  rowConv2d     eq. 5 with M selecting output channels: conv(x, W + M W_f), keeps x
 *                (the filter gradient needs it), never conv(x, W_f).
 *  loraConv2d    PEFT's conv LoRA: A is a kh x kw conv to r channels, B a 1x1 conv to
 *                c_out; keeps the dropout mask, drop(x) and A drop(x).
 */
import { tf, type Tensor } from '../tf';
import { customOp, dims } from './grad';
import { indexAdd } from './indexAdd';
import { addBias, rowBias, type DropoutMask, type LoraParams, type RowParams } from './linear';

export type Padding = 'same' | 'valid';

export interface ConvSpec {
  strides: [number, number];
  pad: Padding;
}

/**
 * A 1x1 filter at stride 1 (MobileNet's expand and project convs) is a product over the
 * channel axis: y[., co] = x[., :] W[:, co] for every pixel. Its gradients then run as one
 * matrix product each, several times faster than the general kernels on wasm for the
 * filter gradient (scripts/bench-pointwise-conv.ts), and 'same' and 'valid' agree.
 */
function isPointwise(filterShape: readonly number[], spec: ConvSpec): boolean {
  return filterShape[0] === 1 && filterShape[1] === 1 && spec.strides[0] === 1 && spec.strides[1] === 1;
}

export function conv2dBackpropInput(inputShape: number[], dy: Tensor, filter: Tensor, spec: ConvSpec): Tensor {
  const [, , cin, cout] = dims(filter);
  if (isPointwise(dims(filter), spec)) {
    return tf.reshape(tf.matMul(tf.reshape(dy, [-1, cout]), tf.reshape(filter, [cin, cout]), false, true), inputShape);
  }
  return tf.engine().runKernel('Conv2DBackpropInput', { dy, filter }, {
    strides: spec.strides, pad: spec.pad, dataFormat: 'NHWC', inputShape,
  } as unknown as tf.NamedAttrMap) as Tensor;
}

export function conv2dBackpropFilter(x: Tensor, dy: Tensor, filterShape: number[], spec: ConvSpec): Tensor {
  if (isPointwise(filterShape, spec)) {
    const [, , cin, cout] = filterShape;
    return tf.reshape(tf.matMul(tf.reshape(x, [-1, cin]), tf.reshape(dy, [-1, cout]), true, false), filterShape);
  }
  return tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
    strides: spec.strides, pad: spec.pad, dataFormat: 'NHWC', filterShape,
  } as unknown as tf.NamedAttrMap) as Tensor;
}

/** The frozen-weight convolution (NHWC) of a conv layer's spec. */
export function conv(x: Tensor, filter: Tensor, spec: ConvSpec): Tensor {
  return tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, spec.strides, spec.pad);
}

/** W + M W_f along the output-channel axis (last) of a [kh, kw, c_in, c_out] filter. */
export function addOutputChannels(w: Tensor, rows: tf.Tensor1D, wf: Tensor): Tensor {
  return indexAdd(w, 3, rows, wf);
}

/** The channels `rows` of an NHWC tensor. */
export function gatherChannels(t: Tensor, rows: tf.Tensor1D): Tensor {
  return tf.gather(t, rows, t.rank - 1);
}

export function frozenConv2d(x: Tensor, w: Tensor, bias: Tensor | undefined, spec: ConvSpec, xNeedsGrad: boolean): Tensor {
  return customOp(
    xNeedsGrad ? [x] : [],
    () => addBias(conv(x, w, spec), bias),
    (dy) => (xNeedsGrad ? [conv2dBackpropInput(x.shape, dy, w, spec)] : []),
  );
}

export function rowConv2d(x: Tensor, w: Tensor, bias: Tensor | undefined, spec: ConvSpec, p: RowParams, xNeedsGrad: boolean): Tensor {
  const trainables: Tensor[] = p.bf ? [p.wf, p.bf] : [p.wf];
  const dOut = dims(w)[3];
  return customOp(
    xNeedsGrad ? [x, ...trainables] : trainables,
    (save) => {
      save([x]);
      return addBias(conv(x, addOutputChannels(w, p.rows, p.wf), spec), rowBias(bias, p.rows, p.bf, dOut));
    },
    (dy, [xs]) => {
      const dyRows = gatherChannels(dy, p.rows);
      const grads: Tensor[] = [conv2dBackpropFilter(xs, dyRows, p.wf.shape, spec)];
      if (p.bf) grads.push(tf.sum(dyRows, [0, 1, 2]));
      if (xNeedsGrad) grads.unshift(conv2dBackpropInput(xs.shape, dy, addOutputChannels(w, p.rows, p.wf), spec));
      return grads;
    },
  );
}

/**
 * LoRA on a conv (PEFT): y = conv(x, W) + s * conv1x1(conv(drop(x), A), B), with
 * A: [kh, kw, c_in, r] and B: [r, c_out] (the 1x1 conv as a matrix).
 */
export function loraConv2d(
  x: Tensor,
  w: Tensor,
  bias: Tensor | undefined,
  spec: ConvSpec,
  p: LoraParams,
  dropout: DropoutMask | undefined,
  xNeedsGrad: boolean,
): Tensor {
  const r = dims(p.a)[3];
  const dOut = dims(w)[3];
  const applyMask = (t: Tensor, m: Tensor): Tensor => tf.mul(t, tf.mul(tf.cast(m, 'float32'), 1 / dropout!.keep));
  return customOp(
    xNeedsGrad ? [x, p.a, p.b] : [p.a, p.b],
    (save) => {
      const xd = dropout ? applyMask(x, dropout.mask) : x;
      const h = conv(xd, p.a, spec);
      save(dropout ? [xd, h, dropout.mask] : [xd, h]);
      const up = tf.reshape(tf.matMul(tf.reshape(h, [-1, r]), p.b), [...dims(h).slice(0, 3), dOut]);
      return tf.add(addBias(conv(x, w, spec), bias), tf.mul(up, p.scale));
    },
    (dy, saved) => {
      const [xd, h, m] = saved;
      const g2 = tf.reshape(tf.mul(dy, p.scale), [-1, dOut]);
      const h2 = tf.reshape(h, [-1, r]);
      const dh = tf.reshape(tf.matMul(g2, p.b, false, true), h.shape);
      const db = tf.matMul(h2, g2, true, false);
      const da = conv2dBackpropFilter(xd, dh, p.a.shape, spec);
      if (!xNeedsGrad) return [da, db];
      const dxLora = conv2dBackpropInput(xd.shape, dh, p.a, spec);
      const dx = tf.add(conv2dBackpropInput(xd.shape, dy, w, spec), m ? applyMask(dxLora, m) : dxLora);
      return [dx, da, db];
    },
  );
}

/** A trainable filter (full fine-tuning): keeps x (and W for dx). */
export function fullConv2d(x: Tensor, w: Tensor, bias: Tensor | undefined, spec: ConvSpec, xNeedsGrad: boolean): Tensor {
  const trainables = bias ? [w, bias] : [w];
  return customOp(
    xNeedsGrad ? [x, ...trainables] : trainables,
    (save) => {
      save([x]);
      return addBias(conv(x, w, spec), bias);
    },
    (dy, [xs]) => {
      const grads: Tensor[] = [conv2dBackpropFilter(xs, dy, dims(w), spec)];
      if (bias) grads.push(tf.sum(dy, [0, 1, 2]));
      if (xNeedsGrad) grads.unshift(conv2dBackpropInput(dims(xs), dy, w, spec));
      return grads;
    },
  );
}
