/**
 * Scoring: compute the importance of every row of the target layers and choose the
 * rows SPruFT tunes (paper 4.1: the top-r rows by importance eta), with the dependent
 * input columns when `dependency` is on (appendix B). Reports its own time, its peak
 * memory and, for comparison, the peak of plain inference.
 */
import type { ImportanceMetric, ResolvedRunConfig } from '../../../protocol/config';
import type { LayerSelection } from '../../../protocol/results';
import { SpruftError } from '../errors';
import type { Model } from '../models/model';
import { disposeBatch, makeBatch, residentBatches, BatchPlan, type Examples } from './batches';
import { columnLayersOf, targetGroups } from './dependency/groups';
import { chooseWithDependencies } from './dependency/select';
import { importanceMetric } from './importance';
import { columnSize } from './importance/axes';
import type { ImportanceScores } from './importance/metric';
import { chooseRows } from './importance/selection';
import { peakBytes } from '../tensor/memory';
import { targetLayers } from './targets';
import { taskLoss } from './loss';

export interface Scored {
  metric: ImportanceMetric;
  layers: LayerSelection[];
  peakBytes: number;
  ms: number;
  /** Every row's score (and every dependent column's), by layer. */
  scores: ImportanceScores;
  /** Parameters the selection tunes: rows x d_in, plus dependent columns x their size. */
  trainableParams: number;
  /** What the metric warns about (low SNR of zo-taylor, classes absent for qm-taylor). */
  warnings: string[];
}

/**
 * `zo-taylor`'s calibration sets (paper 4.2.2: "we partition the training data into k
 * calibration sets"): the first min(n, k * batchSize) examples of the seed's first-epoch
 * order, cut into k disjoint sets whose sizes differ by at most one, so that no example
 * is in two sets and a set is never larger than a training batch (the memory of
 * inference on one batch). Returns the index lists.
 */
export function calibrationPartition(n: number, k: number, batchSize: number, seed: number): Int32Array[] {
  if (k > n) {
    throw new SpruftError('CONFIG_INVALID', `spruft.importance.calibrationSets (${k}) exceeds the ${n} training examples: k sets partition the data (paper 4.2.2); lower it to at most ${n}`);
  }
  const plan = new BatchPlan(n, n, seed);
  const order = plan.indices(0);
  const total = Math.min(n, k * batchSize);
  const base = Math.floor(total / k);
  const extra = total % k;
  const sets: Int32Array[] = [];
  let start = 0;
  for (let m = 0; m < k; m++) {
    const size = base + (m < extra ? 1 : 0);
    sets.push(order.slice(start, start + size));
    start += size;
  }
  return sets;
}

export async function scoreRows(model: Model, config: ResolvedRunConfig, train: Examples): Promise<Scored> {
  const options = config.spruft.importance;
  if (options.metric === 'qm-taylor' && config.head.problemType === 'regression') {
    throw new SpruftError('CONFIG_INVALID', 'spruft.importance.metric: qm-taylor scores per class (eq. 6-7), and a regression (head.problemType: regression) has no classes; use taylor, zo-taylor or l2');
  }
  const layers = targetLayers(model.layers, config.targets);
  const groups = config.spruft.dependency ? targetGroups(model, layers) : [];
  const plan = new BatchPlan(train.n, config.training.batchSize, options.seed);
  // zo-taylor: k calibration sets that partition the data (4.2.2), at most one per
  // example; the gradient metrics: calibrationBatches batches of one epoch.
  const warnings: string[] = [];
  const k = Math.min(options.calibrationSets, train.n);
  if (options.metric === 'zo-taylor' && k < options.calibrationSets) {
    warnings.push(`zo-taylor: spruft.importance.calibrationSets is ${options.calibrationSets} but the training data has ${train.n} examples: ${k} sets of one example each (the sets partition the data, paper 4.2.2)`);
  }
  const sets = options.metric === 'zo-taylor'
    ? calibrationPartition(train.n, k, config.training.batchSize, options.seed)
    : Array.from({ length: Math.min(options.calibrationBatches, plan.perEpoch) }, (_, m) => Int32Array.from(plan.indices(m)));
  const calibration = await residentBatches(train, sets);
  const batches = function* () {
    for (const set of calibration.batches) {
      const batch = makeBatch(calibration.examples, set);
      try {
        yield batch;
      } finally {
        disposeBatch(batch);
      }
    }
  };
  const started = performance.now();
  let scores: ImportanceScores = { rows: new Map(), columns: new Map() };
  const metric = importanceMetric(options.metric);
  const scoringPeak = await peakBytes(async () => {
    scores = await metric({ model, layers, options, batches, loss: taskLoss, numLabels: model.numLabels, columnLayers: columnLayersOf(groups) });
  });
  let result: LayerSelection[];
  if (config.spruft.dependency) {
    const chosen = chooseWithDependencies(layers, scores, groups, config.spruft);
    result = layers.map((l) => {
      const c = chosen.get(l.name)!;
      return { name: l.name, kind: l.kind, rows: c.rows, scores: c.scores, dOut: l.dOut, dIn: l.dIn, ...(c.columns ? { columns: c.columns } : {}) };
    });
  } else {
    const chosen = chooseRows(layers, scores.rows, config.spruft);
    result = layers.map((l) => {
      const rows = chosen.get(l.name)!;
      const s = scores.rows.get(l.name)!;
      return { name: l.name, kind: l.kind, rows, scores: rows.map((r) => s[r]), dOut: l.dOut, dIn: l.dIn };
    });
  }
  const byName = new Map(layers.map((l) => [l.name, l]));
  const trainableParams = result.reduce((sum, l) => sum + l.rows.length * l.dIn + (l.columns ? l.columns.length * columnSize(byName.get(l.name)!) : 0), 0);
  return { metric: options.metric, layers: result, peakBytes: scoringPeak, ms: performance.now() - started, scores, trainableParams, warnings: [...warnings, ...(scores.warnings ?? [])] };
}
