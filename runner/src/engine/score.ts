/**
 * Scoring: compute the importance of every row of the target layers and choose the
 * rows SPruFT tunes (paper 4.1: the top-r rows by importance eta). Reports its own time,
 * its peak memory and, for comparison, the peak of plain inference.
 */
import type { ResolvedRunConfig } from '../../../protocol/config';
import type { LayerSelection } from '../../../protocol/results';
import type { Model } from '../models/model';
import { disposeBatch, makeBatch, BatchPlan, type Examples } from './batches';
import { importanceMetric } from './importance';
import { chooseRows } from './methods';
import { peakBytes } from './memory';
import { targetLayers } from './targets';
import { taskLoss } from './loss';

export interface Scored {
  metric: string;
  layers: LayerSelection[];
  peakBytes: number;
  ms: number;
}

export async function scoreRows(model: Model, config: ResolvedRunConfig, train: Examples): Promise<Scored> {
  const options = config.spruft.importance;
  const layers = targetLayers(model.layers, config.targets);
  const plan = new BatchPlan(train.n, config.training.batchSize, options.seed);
  const batches = function* () {
    for (let m = 0; m < Math.min(options.calibrationBatches, plan.perEpoch); m++) {
      const batch = makeBatch(train, plan.indices(m));
      try {
        yield batch;
      } finally {
        disposeBatch(batch);
      }
    }
  };
  const started = performance.now();
  let scores = new Map<string, Float32Array>();
  const metric = importanceMetric(options.metric);
  const scoringPeak = await peakBytes(async () => {
    scores = await metric({ model, layers, options, batches, loss: taskLoss, numLabels: model.numLabels });
  });
  const chosen = chooseRows(layers, scores, config.spruft);
  const result: LayerSelection[] = layers.map((l) => {
    const rows = chosen.get(l.name)!;
    const s = scores.get(l.name)!;
    return { name: l.name, kind: l.kind, rows, scores: rows.map((r) => s[r]), dOut: l.dOut, dIn: l.dIn };
  });
  return { metric: options.metric, layers: result, peakBytes: scoringPeak, ms: performance.now() - started };
}
