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
import { tf, type Tensor } from '../../tensor/tf';
import { sumColumns, sumRows, take } from './axes';
import { meanWeightGradients } from './gradients';
import type { ImportanceMetric, ImportanceScores } from './metric';

/**
 * How the first-order term of a row is reduced to one score:
 *   per-weight  sum_j |G_ij w_ij|   (appendix A, last line; the metric `taylor` runs)
 *   row         |sum_j G_ij w_ij| = |w_i^T G_i|   (eq. 6 as printed, one |.| per row)
 */
export type TaylorForm = 'per-weight' | 'row';

/** Row (and column) scores from G (.) W for each layer; releases nothing it was given. */
export async function taylorFromGradients(
  layers: AdaptableLayer[], columnLayers: AdaptableLayer[], grads: Map<string, Tensor>, form: TaylorForm = 'per-weight',
): Promise<ImportanceScores> {
  const rows = new Map<string, Float32Array>();
  const columns = new Map<string, Float32Array>();
  const wantColumns = new Set(columnLayers.map((l) => l.name));
  for (const layer of layers) {
    const g = grads.get(layer.name)!;
    const saliency = tf.tidy(() => (form === 'row' ? tf.mul(g, layer.weight) : tf.abs(tf.mul(g, layer.weight))));
    const reduce = (t: Tensor): Tensor => (form === 'row' ? tf.abs(t) : t);
    try {
      rows.set(layer.name, await take(tf.tidy(() => reduce(sumRows(layer, saliency)))));
      if (wantColumns.has(layer.name)) columns.set(layer.name, await take(tf.tidy(() => reduce(sumColumns(layer, saliency)))));
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
