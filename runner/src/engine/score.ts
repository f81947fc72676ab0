/**
 * Scoring: compute the importance of every row of the target layers and choose the
 * rows SPruFT tunes (paper 4.1: the top-r rows by importance eta), with the dependent
 * input columns when `dependency` is on (appendix B). Reports its own time, its peak
 * memory and, for comparison, the peak of plain inference.
 */
import type { ResolvedRunConfig } from '../../../protocol/config';
import type { LayerSelection } from '../../../protocol/results';
import type { Model } from '../models/model';
import { disposeBatch, makeBatch, residentBatches, BatchPlan, type Examples } from './batches';
import { columnLayersOf, targetGroups } from './dependency/groups';
import { chooseWithDependencies } from './dependency/select';
import { importanceMetric } from './importance';
import { columnSize } from './importance/axes';
import type { ImportanceScores } from './importance/metric';
import { chooseRows } from './methods';
import { peakBytes } from './memory';
import { targetLayers } from './targets';
import { taskLoss } from './loss';

export interface Scored {
  metric: string;
  layers: LayerSelection[];
  peakBytes: number;
  ms: number;
  /** Every row's score (and every dependent column's), by layer. */
  scores: ImportanceScores;
  /** Parameters the selection tunes: rows x d_in, plus dependent columns x their size. */
  trainableParams: number;
}

export async function scoreRows(model: Model, config: ResolvedRunConfig, train: Examples): Promise<Scored> {
  const options = config.spruft.importance;
  const layers = targetLayers(model.layers, config.targets);
  const groups = config.spruft.dependency ? targetGroups(model, layers) : [];
  const plan = new BatchPlan(train.n, config.training.batchSize, options.seed);
  // zo-taylor: one batch per calibration set (k of them, later epochs' orders when k
  // exceeds one epoch); the gradient metrics: calibrationBatches batches of one epoch.
  const count = options.metric === 'zo-taylor' ? options.calibrationSets : Math.min(options.calibrationBatches, plan.perEpoch);
  const calibration = await residentBatches(train, Array.from({ length: count }, (_, m) => Int32Array.from(plan.indices(m))));
  const batches = function* () {
    for (let m = 0; m < count; m++) {
      const batch = makeBatch(calibration.examples, calibration.batches[m]);
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
  return { metric: options.metric, layers: result, peakBytes: scoringPeak, ms: performance.now() - started, scores, trainableParams };
}
