/**
 * `taylor` (appendix A, last line): eta_i = sum_j | (1/|D|) sum_{x in D} dL(x)/dw_ij * w_ij |.
 * Since w_ij does not depend on x, the inner mean is G_ij w_ij with G the mean gradient
 * over the calibration data D (`calibrationBatches` batches): the mean sits inside |.|
 * per weight, and the absolute values are summed over the row's parameters j. A
 * dependent input column (appendix B) sums the same |G_ij w_ij| over its parameters i.
 *
 * What G costs in memory is documented in ./gradients.ts.
 */
import type { AdaptableLayer } from '../../models/layer';
import { tf, type Tensor } from '../tf';
import { sumColumns, sumRows, take } from './axes';
import { meanWeightGradients } from './gradients';
import type { ImportanceMetric, ImportanceScores } from './metric';

/** Row (and column) sums of |G (.) W| for each layer; releases nothing it was given. */
export async function taylorFromGradients(
  layers: AdaptableLayer[], columnLayers: AdaptableLayer[], grads: Map<string, Tensor>,
): Promise<ImportanceScores> {
  const rows = new Map<string, Float32Array>();
  const columns = new Map<string, Float32Array>();
  const wantColumns = new Set(columnLayers.map((l) => l.name));
  for (const layer of layers) {
    const g = grads.get(layer.name)!;
    const saliency = tf.tidy(() => tf.abs(tf.mul(g, layer.weight)));
    try {
      rows.set(layer.name, await take(tf.tidy(() => sumRows(layer, saliency))));
      if (wantColumns.has(layer.name)) columns.set(layer.name, await take(tf.tidy(() => sumColumns(layer, saliency))));
    } finally {
      saliency.dispose();
    }
  }
  return { rows, columns };
}

export const taylorImportance: ImportanceMetric = async (ctx) => {
  const { grads } = await meanWeightGradients(ctx.model, ctx.layers, ctx.batches(), ctx.loss);
  try {
    return await taylorFromGradients(ctx.layers, ctx.columnLayers ?? [], grads);
  } finally {
    tf.dispose([...grads.values()]);
  }
};
