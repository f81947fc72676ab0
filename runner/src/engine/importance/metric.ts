/**
 * Importance metrics (paper 4.2): each scores every row (neuron) of every target layer;
 * higher = more important. Gradient-based metrics get calibration batches and a loss.
 * With dependency groups (appendix B) a metric also scores the input columns of the
 * layers in `columnLayers`, with the same formula applied to a column's parameters.
 */
import type { ResolvedRunConfig } from '../../../../protocol/config';
import type { AdaptableLayer } from '../../models/layer';
import type { Model } from '../../models/model';
import type { Batch } from '../batches';
import type { Tensor } from '../../tensor/tf';

export interface ImportanceContext {
  model: Model;
  layers: AdaptableLayer[];
  options: ResolvedRunConfig['spruft']['importance'];
  /**
   * Calibration batches from the training data (a fresh pass each call):
   * `calibrationBatches` of them, or `calibrationSets` for `zo-taylor` (one set each).
   */
  batches: () => Iterable<Batch>;
  /** Mean loss of a batch under the current model (no dropout). */
  loss: (logits: Tensor, batch: Batch) => Tensor;
  /** Whether labels exist (classification): class-aware metrics need them. */
  numLabels?: number;
  /**
   * Layers (a subset of `layers`, linear or conv2d) whose input columns are scored too:
   * the consumers of a dependency group (appendix B). Absent: rows only.
   */
  columnLayers?: AdaptableLayer[];
}

/** layer name -> one score per row. */
export type RowScores = Map<string, Float32Array>;

export interface ImportanceScores {
  /** layer name -> one score per row (output neuron / channel). */
  rows: RowScores;
  /** layer name -> one score per input column, for `ctx.columnLayers`. */
  columns: Map<string, Float32Array>;
  /**
   * `zo-taylor`: layer name -> signal-to-noise of the estimate, the median over the
   * layer's rows of |mean| / standard error of theta_i^T g^_i across the n k estimates.
   */
  snr?: Map<string, number>;
  /** What the user should know about the scores (low SNR, classes absent from the data). */
  warnings?: string[];
}

export type ImportanceMetric = (ctx: ImportanceContext) => Promise<ImportanceScores>;
