/**
 * `qm-taylor`: class-aware Taylor importance (paper 4.2.1, eq. 6-7).
 *
 * For each label t, eta_i^t is the Taylor importance of neuron i on D^t, class t's
 * calibration examples only (eq. 6), in one of two forms (`classScore`):
 *   appendix-a  sum_j |mean_{x in D^t} dL/dw_ij * w_ij|, as `taylor` computes it (appendix
 *               A's last line), so that the `mean` aggregation is, as 4.2.1 says, the
 *               standard Taylor importance taken class by class (the default);
 *   eq-6        |w_i^T grad_w L(D^t)| = |sum_j mean_{x in D^t} dL/dw_ij * w_ij|: eq. 6 as
 *               printed, one absolute value over the whole row (terms of opposite sign
 *               cancel, so a row can score low although its weights matter one by one).
 * docs/fidelity.md reports how often the two forms pick different rows.
 *
 * The scores of the classes are then combined per neuron (`classAggregation`):
 *   quantile-mean  eq. 7: the mean of the 0%, 10%, ..., 100% quantiles of {eta_i^t}_t
 *                  (linear interpolation between order statistics, numpy's default)
 *   max            max_t eta_i^t (4.2.1: "too sensitive", one class can dominate)
 *   mean           mean_t eta_i^t
 *
 * Classes are done one at a time, each over its own examples regrouped into full
 * batches (`classBatches` in ./gradients.ts). Memory: a class's mean gradient (the
 * accumulators of ./gradients.ts) exists only until its per-row vector eta^t is read;
 * what stays across classes is p vectors of d_out floats per layer, never p gradients.
 * Eq. 7 takes the quantiles over all p classes. A class with no example in the
 * calibration batches has no D^t and so no eta_i^t: it is left out of the quantiles, and
 * the scores carry a warning naming it (raise `calibrationBatches`), never silently.
 */
import type { ClassAggregation } from '../../../../protocol/config';
import { SpruftError } from '../../errors';
import { quantile } from '../evaluate';
import { tf } from '../../tensor/tf';
import { classBatches, meanWeightGradients } from './gradients';
import type { ImportanceMetric } from './metric';
import { taylorFromGradients } from './taylor';

/** Mean of the 0%, 10%, ..., 100% quantiles of `values` (eq. 7). */
export function quantileMean(values: ArrayLike<number>): number {
  const sorted = Array.from(values).sort((a, b) => a - b);
  let sum = 0;
  for (let l = 0; l <= 10; l++) sum += quantile(sorted, l / 10);
  return sum / 11;
}

/** Combine per-class score vectors (one per class, equal lengths) into one per neuron. */
export function aggregateClasses(perClass: Float32Array[], how: ClassAggregation): Float32Array {
  const n = perClass[0].length;
  const out = new Float32Array(n);
  const column = new Float64Array(perClass.length);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < perClass.length; t++) column[t] = perClass[t][i];
    switch (how) {
      case 'quantile-mean': out[i] = quantileMean(column); break;
      case 'max': out[i] = column.reduce((a, b) => Math.max(a, b), -Infinity); break;
      case 'mean': out[i] = column.reduce((a, b) => a + b, 0) / column.length; break;
    }
  }
  return out;
}

const noLabels = (): SpruftError => new SpruftError(
  'CONFIG_INVALID', 'spruft.importance.metric "qm-taylor" needs a labelled classification task (paper 4.2.1); use "taylor" or "zo-taylor" for this task',
);

export const qmTaylorImportance: ImportanceMetric = async (ctx) => {
  const labels = ctx.numLabels;
  if (!labels) throw noLabels();
  const columnLayers = ctx.columnLayers ?? [];
  const rowsPerClass = new Map<string, Float32Array[]>(ctx.layers.map((l) => [l.name, []]));
  const columnsPerClass = new Map<string, Float32Array[]>(columnLayers.map((l) => [l.name, []]));
  let present = 0;
  const absent: number[] = [];
  let batchSize = 1;
  for (const b of ctx.batches()) {
    if (!b.labels) throw noLabels();
    batchSize = Math.max(batchSize, b.size);
  }
  for (let t = 0; t < labels; t++) {
    const { grads, total } = await meanWeightGradients(ctx.model, ctx.layers, classBatches(ctx.batches(), t, batchSize), ctx.loss);
    try {
      if (total === 0) {
        absent.push(t);
        continue;
      }
      const scores = await taylorFromGradients(ctx.layers, columnLayers, grads, ctx.options.classScore === 'eq-6' ? 'row' : 'per-weight');
      for (const [name, v] of scores.rows) rowsPerClass.get(name)!.push(v);
      for (const [name, v] of scores.columns) columnsPerClass.get(name)!.push(v);
      present += 1;
    } finally {
      tf.dispose([...grads.values()]);
    }
  }
  if (present === 0) throw new SpruftError('DATA_INVALID', 'qm-taylor: the calibration batches hold no labelled examples');
  const how = ctx.options.classAggregation;
  const rows = new Map([...rowsPerClass].map(([name, v]) => [name, aggregateClasses(v, how)]));
  const columns = new Map([...columnsPerClass].map(([name, v]) => [name, aggregateClasses(v, how)]));
  const warnings = absent.length === 0 ? [] : [
    `qm-taylor: ${absent.length} of ${labels} classes (${absent.join(', ')}) have no example in the calibration batches; ` +
    'eq. 7 takes quantiles over every class, these are left out (raise spruft.importance.calibrationBatches)',
  ];
  return { rows, columns, warnings };
};
