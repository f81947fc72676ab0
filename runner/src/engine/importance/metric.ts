/**
 * Importance metrics (paper 4.2): each scores every row (neuron) of every target layer;
 * higher = more important. Gradient-based metrics get calibration batches and a loss.
 */
import type { ResolvedRunConfig } from '../../../../protocol/config';
import type { AdaptableLayer } from '../../models/layer';
import type { Model } from '../../models/model';
import type { Batch } from '../batches';
import type { Tensor } from '../tf';

export interface ImportanceContext {
  model: Model;
  layers: AdaptableLayer[];
  options: ResolvedRunConfig['spruft']['importance'];
  /** Calibration batches from the training data (a fresh pass each call). */
  batches: () => Iterable<Batch>;
  /** Mean loss of a batch under the current model (no dropout). */
  loss: (logits: Tensor, batch: Batch) => Tensor;
  /** Whether labels exist (classification): class-aware metrics need them. */
  numLabels?: number;
}

/** layer name -> one score per row. */
export type ImportanceScores = Map<string, Float32Array>;

export type ImportanceMetric = (ctx: ImportanceContext) => Promise<ImportanceScores>;
