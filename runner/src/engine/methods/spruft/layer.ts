/**
 * SPruFT's layer training (paper 4.1, eq. 5): W_f for the selected rows, added through
 * the fixed row selection, y = f(W, x) + scatter_idx(f(W_f, x)); with dependency groups
 * (appendix B) also W_f,dep for the dependent input columns. Every layer kind: linear,
 * conv2d, depthwise conv2d (rows only) and the norms (their scale/shift entries).
 */
import type { AdaptableLayer, ForwardContext, Training } from '../../../models/layer';
import { addInputChannels, columnConv2d } from '../../../tensor/ops/columnConv2d';
import { addColumns, columnLinear } from '../../../tensor/ops/columnLinear';
import { addOutputChannels, rowConv2d } from '../../../tensor/ops/conv2d';
import { addChannels, rowDepthwiseConv2d } from '../../../tensor/ops/depthwiseConv2d';
import { addRows, rowLinear } from '../../../tensor/ops/linear';
import { tf, type Tensor } from '../../../tensor/tf';

/** SPruFT with dependency groups (appendix B): W_f,dep for the selected input columns. */
export interface ColumnTraining {
  columns: number[];
  colsTensor: tf.Tensor1D;
  /** linear [d_out, c]; conv2d [kh, kw, c, c_out]; zero at start. */
  wdep: tf.Variable;
}

export interface RowsTrainingInit {
  rows: number[];
  wf: tf.Variable;
  bf?: tf.Variable;
  scores?: number[];
  /** The dependent columns and their W_f,dep (appendix B). */
  columns?: { columns: number[]; wdep: tf.Variable };
}

export class RowsTraining implements Training {
  readonly kind = 'rows';
  readonly rows: number[];
  readonly rowsTensor: tf.Tensor1D;
  /** W_f in the layer's compute layout with its row axis cut to r (layer.rowAdapterShape). */
  readonly wf: tf.Variable;
  /** The selected rows' bias (norms: shift) entries, when trained. */
  readonly bf: tf.Variable | undefined;
  /** Importance scores of the rows, for the adapter record and the dashboard. */
  readonly scores: number[] | undefined;
  readonly columns: ColumnTraining | undefined;

  constructor(init: RowsTrainingInit) {
    this.rows = init.rows;
    this.rowsTensor = tf.tensor1d(init.rows, 'int32');
    this.wf = init.wf;
    this.bf = init.bf;
    this.scores = init.scores;
    this.columns = init.columns ? { columns: init.columns.columns, colsTensor: tf.tensor1d(init.columns.columns, 'int32'), wdep: init.columns.wdep } : undefined;
  }

  forward(layer: AdaptableLayer, x: Tensor, _ctx: ForwardContext, xNeedsGrad: boolean): Tensor {
    const p = { rows: this.rowsTensor, wf: this.wf, bf: this.bf };
    const c = this.columns;
    switch (layer.kind) {
      case 'linear': {
        const y = rowLinear(x, layer.weight, layer.bias, p, xNeedsGrad);
        return c ? columnLinear(y, x, { cols: c.colsTensor, wdep: c.wdep }, xNeedsGrad) : y;
      }
      case 'conv2d': {
        const y = rowConv2d(x, layer.weight, layer.bias, layer.conv!, p, xNeedsGrad);
        return c ? columnConv2d(y, x, layer.conv!, { cols: c.colsTensor, wdep: c.wdep }, xNeedsGrad) : y;
      }
      case 'depthwise-conv2d': return rowDepthwiseConv2d(x, layer.weight, layer.bias, layer.conv!, p, xNeedsGrad);
      default: return layer.normForward(x, { kind: 'rows', rows: this.rowsTensor, scale: this.wf, shift: this.bf }, xNeedsGrad);
    }
  }

  trainables(layer: AdaptableLayer): Array<{ name: string; variable: tf.Variable }> {
    return [
      { name: `${layer.name}.spruft_W_f`, variable: this.wf },
      ...(this.bf ? [{ name: `${layer.name}.spruft_b_f`, variable: this.bf }] : []),
      ...(this.columns ? [{ name: `${layer.name}.spruft_W_dep`, variable: this.columns.wdep }] : []),
    ];
  }

  /** W + M W_f (+ W_f,dep M_dep, appendix B); b + M b_f. */
  merged(layer: AdaptableLayer): { w: Tensor; b?: Tensor } {
    const withRows = layer.kind === 'linear' || layer.isNorm ? addRows(layer.weight, this.rowsTensor, this.wf)
      : layer.kind === 'conv2d' ? addOutputChannels(layer.weight, this.rowsTensor, this.wf)
      : addChannels(layer.weight, this.rowsTensor, this.wf);
    const c = this.columns;
    const w = !c ? withRows : layer.kind === 'conv2d' ? addInputChannels(withRows, c.colsTensor, c.wdep) : addColumns(withRows, c.colsTensor, c.wdep);
    const b = this.bf ? addRows(layer.bias ?? tf.zeros([layer.dOut]), this.rowsTensor, this.bf) : layer.bias;
    return { w, b };
  }

  /** dW_f = dy[:, idx]^T x: r/d_out of the full weight gradient. */
  gradientFlops(layer: AdaptableLayer, _positions: number, fwd: number): number {
    return (fwd * this.rows.length) / layer.dOut;
  }

  dispose(): void {
    tf.dispose([this.rowsTensor, this.wf, ...(this.bf ? [this.bf] : []), ...(this.columns ? [this.columns.colsTensor, this.columns.wdep] : [])]);
  }
}

declare module '../../../models/layer' {
  interface LayerTrainings {
    rows: RowsTraining;
  }
}
