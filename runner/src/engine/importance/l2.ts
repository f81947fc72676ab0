/**
 * `l2` (magnitude importance, appendix A): eta_i = sqrt(sum_j w_ij^2), the norm of row
 * i's parameters (a conv filter for an output channel; |gamma_i| for a norm channel).
 * A dependent input column (appendix B) scores the norm of that column's parameters.
 */
import { tf } from '../../tensor/tf';
import { sumColumns, take } from './axes';
import type { ImportanceMetric } from './metric';

export const l2Importance: ImportanceMetric = async (ctx) => {
  const rows = new Map<string, Float32Array>();
  for (const layer of ctx.layers) {
    rows.set(layer.name, await take(tf.tidy(() => tf.norm(layer.rowMatrix(), 'euclidean', 1))));
  }
  const columns = new Map<string, Float32Array>();
  for (const layer of ctx.columnLayers ?? []) {
    columns.set(layer.name, await take(tf.tidy(() => tf.sqrt(sumColumns(layer, tf.square(layer.weight))))));
  }
  return { rows, columns };
};
