/**
 * Where a layer's rows and input columns lie in its weight (engine layout), so that a
 * per-parameter saliency (w^2, |g w|, w z) reduces to one value per row (a neuron, an
 * output channel, a norm channel: paper 4.1) or per input column (a feature or input
 * channel: the dependent columns of appendix B).
 *
 *   linear     [d_out, d_in]          row i = W[i, :],        column j = W[:, j]
 *   conv2d     [kh, kw, c_in, c_out]  row o = W[:, :, :, o],  column c = W[:, :, c, :]
 *   depthwise  [kh, kw, c, 1]         row c = W[:, :, c, 0]   (channel-wise: no columns)
 *   norms      [d]                    row c = gamma_c         (channel-wise: no columns)
 */
import { SpruftError } from '../../errors';
import type { AdaptableLayer } from '../../models/layer';
import { dims } from '../../tensor/ops/grad';
import { tf, type Tensor } from '../../tensor/tf';

/** Axes of the weight that a row's parameters span (summed to get one value per row). */
export function rowReductionAxes(layer: AdaptableLayer): number[] {
  switch (layer.kind) {
    case 'linear': return [1];
    case 'conv2d': return [0, 1, 2];
    case 'depthwise-conv2d': return [0, 1, 3];
    default: return [];
  }
}

/** Whether the layer has input columns of its own (channel-wise layers do not). */
export function hasColumns(layer: AdaptableLayer): boolean {
  return layer.kind === 'linear' || layer.kind === 'conv2d';
}

/** Number of input columns: d_in of a linear layer, c_in of a conv. */
export function columnCount(layer: AdaptableLayer): number {
  const s = dims(layer.weight);
  if (layer.kind === 'linear') return s[1];
  if (layer.kind === 'conv2d') return s[2];
  throw new SpruftError('INTERNAL', `layer ${layer.name} (${layer.kind}) is channel-wise: it has no input columns`);
}

/** Parameters in one input column: d_out of a linear layer, kh * kw * c_out of a conv. */
export function columnSize(layer: AdaptableLayer): number {
  return layer.weight.size / columnCount(layer);
}

export function columnReductionAxes(layer: AdaptableLayer): number[] {
  if (layer.kind === 'linear') return [0];
  if (layer.kind === 'conv2d') return [0, 1, 3];
  throw new SpruftError('INTERNAL', `layer ${layer.name} (${layer.kind}) is channel-wise: it has no input columns`);
}

/** One value per row: the sum of a per-parameter tensor (weight layout) over each row. */
export function sumRows(layer: AdaptableLayer, perParameter: Tensor): Tensor {
  const axes = rowReductionAxes(layer);
  return axes.length ? tf.sum(perParameter, axes) : tf.reshape(perParameter, [-1]);
}

/** One value per input column. */
export function sumColumns(layer: AdaptableLayer, perParameter: Tensor): Tensor {
  return tf.sum(perParameter, columnReductionAxes(layer));
}

/** Read a small tensor into a Float32Array and release it. */
export async function take(t: Tensor): Promise<Float32Array> {
  try {
    return Float32Array.from(await t.data());
  } finally {
    t.dispose();
  }
}
