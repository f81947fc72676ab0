/**
 * An adaptable layer: a frozen weight whose rows (neurons, output channels, norm
 * channels) can be fine-tuned, and the training state attached to it for one method.
 * Models are built from these plus plain tensor code; the engine reads `layers` to
 * score rows, attach adapters, count parameters and export.
 */
import type { LayerKind } from '../../../protocol/results';
import { isAttentionLayer } from '../config/targets';
import { Rng } from '../tensor/rng';
import { tf, type Tensor } from '../tensor/tf';
import { batchNorm } from '../tensor/ops/batchNorm';
import { columnConv2d } from '../tensor/ops/columnConv2d';
import { columnLinear } from '../tensor/ops/columnLinear';
import { fullConv2d, frozenConv2d, loraConv2d, rowConv2d, type ConvSpec } from '../tensor/ops/conv2d';
import { frozenDepthwiseConv2d, fullDepthwiseConv2d, rowDepthwiseConv2d } from '../tensor/ops/depthwiseConv2d';
import { requiresGrad, tapeActive } from '../tensor/autodiff';
import { dims } from '../tensor/ops/grad';
import { layerNorm } from '../tensor/ops/layerNorm';
import { frozenLinear, fullLinear, loraLinear, rowLinear, type DropoutMask } from '../tensor/ops/linear';
import type { NormTraining } from '../tensor/ops/normAffine';
import { rmsNorm } from '../tensor/ops/rmsNorm';

/** SPruFT with dependency groups (appendix B): W_f,dep for the selected input columns. */
export interface ColumnTraining {
  columns: number[];
  colsTensor: tf.Tensor1D;
  /** linear [d_out, c]; conv2d [kh, kw, c, c_out]; zero at start. */
  wdep: tf.Variable;
}

/** How one layer trains under the method being run. */
export type LayerTraining =
  | { kind: 'frozen' }
  /** SPruFT (paper 4.1): W_f for the selected rows (and W_f,dep for dependent columns). */
  | { kind: 'rows'; rows: number[]; rowsTensor: tf.Tensor1D; wf: tf.Variable; bf?: tf.Variable; scores?: number[]; columns?: ColumnTraining }
  /** LoRA (eq. 3-4). */
  | { kind: 'lora'; a: tf.Variable; b: tf.Variable; scale: number; dropout: number }
  /** The weight itself trains (full fine-tuning, the classifier head). */
  | { kind: 'full'; w: tf.Variable; b?: tf.Variable };

/** What a forward pass needs beyond its input. */
export interface ForwardContext {
  /** Dropout is active (training); inference and scoring run without it. */
  training: boolean;
  /** Source of dropout masks (LoRA); advanced once per mask, stored in checkpoints. */
  dropoutRng?: Rng;
  /**
   * Bytes of dropout masks made during this pass and kept for backward (memory
   * accounting, paper table 1); a checkpointed block's masks are remade in backward.
   */
  dropoutMaskBytes: number;
  /** `training.checkpointing: blocks`: transformer blocks keep only their input (see `block`). */
  checkpointBlocks?: boolean;
}

export function inferenceContext(): ForwardContext {
  return { training: false, dropoutMaskBytes: 0 };
}

export interface AdaptableLayerInit {
  name: string;
  kind: LayerKind;
  /** linear [d_out, d_in]; conv2d [kh, kw, c_in, c_out]; depthwise [kh, kw, c, 1]; norms [d]. */
  weight: Tensor;
  bias?: Tensor;
  conv?: ConvSpec;
  /** BatchNorm's stored statistics. */
  movingMean?: Tensor;
  movingVariance?: Tensor;
  eps?: number;
  /** The classification head (trained by every method when `head.train`). */
  head?: boolean;
}

export class AdaptableLayer {
  readonly name: string;
  readonly kind: LayerKind;
  weight: Tensor;
  bias: Tensor | undefined;
  readonly conv: ConvSpec | undefined;
  readonly movingMean: Tensor | undefined;
  readonly movingVariance: Tensor | undefined;
  readonly eps: number;
  readonly attention: boolean;
  readonly head: boolean;
  training: LayerTraining = { kind: 'frozen' };
  /**
   * Scoring hook (`zo-taylor`, paper 4.2.2): while set, this frozen layer's forward runs
   * through it (with weights perturbed by a z regenerated from a seed). Inference only:
   * no gradient flows through it.
   */
  perturbedForward: ((x: Tensor) => Tensor) | undefined = undefined;

  constructor(init: AdaptableLayerInit) {
    this.name = init.name;
    this.kind = init.kind;
    this.weight = init.weight;
    this.bias = init.bias;
    this.conv = init.conv;
    this.movingMean = init.movingMean;
    this.movingVariance = init.movingVariance;
    this.eps = init.eps ?? 1e-5;
    // Part of an attention block (excluded by `freezeAttention`, paper 6.1), by its name.
    this.attention = isAttentionLayer(init.name);
    this.head = init.head ?? false;
  }

  /** Axis of `weight` that indexes rows (neurons / output channels / norm channels). */
  get rowAxis(): number {
    switch (this.kind) {
      case 'linear': return 0;
      case 'conv2d': return 3;
      case 'depthwise-conv2d': return 2;
      default: return 0;
    }
  }

  /** Number of rows: d_out. */
  get dOut(): number {
    return dims(this.weight)[this.rowAxis];
  }

  /** Parameters per row: d_in (kh*kw*c_in for convs, 1 for norm scales). */
  get dIn(): number {
    return this.weight.size / this.dOut;
  }

  get isNorm(): boolean {
    return this.kind === 'layernorm' || this.kind === 'rmsnorm' || this.kind === 'batchnorm';
  }

  get params(): number {
    return this.weight.size + (this.bias?.size ?? 0);
  }

  get trainable(): boolean {
    return this.training.kind !== 'frozen';
  }

  /** The weight as a [d_out, d_in] matrix: row i is neuron i's parameters (copy). */
  rowMatrix(): Tensor {
    return tf.tidy(() => {
      const w = this.weight;
      switch (this.kind) {
        case 'linear': return tf.clone(w);
        case 'conv2d': return tf.transpose(tf.reshape(w, [-1, this.dOut]));
        case 'depthwise-conv2d': {
          const [kh, kw, c] = dims(w);
          return tf.transpose(tf.reshape(w, [kh * kw, c]));
        }
        default: return tf.reshape(w, [this.dOut, 1]);
      }
    });
  }

  /** Shape of W_f for r selected rows (compute layout). */
  rowAdapterShape(r: number): number[] {
    const s = dims(this.weight);
    switch (this.kind) {
      case 'linear': return [r, s[1]];
      case 'conv2d': return [s[0], s[1], s[2], r];
      case 'depthwise-conv2d': return [s[0], s[1], r, 1];
      default: return [r];
    }
  }

  /** Shape of W_f,dep for c dependent input columns (compute layout; linear and conv2d only). */
  columnAdapterShape(c: number): number[] {
    const s = dims(this.weight);
    if (this.kind === 'linear') return [s[0], c];
    if (this.kind === 'conv2d') return [s[0], s[1], c, s[3]];
    throw new Error(`internal: ${this.kind} layer ${this.name} has no input columns`);
  }

  /** The trainable tensors of this layer under its current training, with stable names. */
  trainables(): Array<{ name: string; variable: tf.Variable }> {
    const t = this.training;
    switch (t.kind) {
      case 'frozen': return [];
      case 'rows': return [
        { name: `${this.name}.spruft_W_f`, variable: t.wf },
        ...(t.bf ? [{ name: `${this.name}.spruft_b_f`, variable: t.bf }] : []),
        ...(t.columns ? [{ name: `${this.name}.spruft_W_dep`, variable: t.columns.wdep }] : []),
      ];
      case 'lora': return [{ name: `${this.name}.lora_A`, variable: t.a }, { name: `${this.name}.lora_B`, variable: t.b }];
      case 'full': return [{ name: `${this.name}.weight`, variable: t.w }, ...(t.b ? [{ name: `${this.name}.bias`, variable: t.b }] : [])];
    }
  }

  /** Drop the training state (and its tensors), back to frozen. */
  resetTraining(): void {
    const t = this.training;
    if (t.kind === 'rows') tf.dispose([t.rowsTensor, t.wf, ...(t.bf ? [t.bf] : []), ...(t.columns ? [t.columns.colsTensor, t.columns.wdep] : [])]);
    if (t.kind === 'lora') tf.dispose([t.a, t.b]);
    if (t.kind === 'full') tf.dispose([t.w, ...(t.b ? [t.b] : [])]);
    this.training = { kind: 'frozen' };
  }

  private normTraining(): NormTraining {
    const t = this.training;
    if (t.kind === 'rows') return { kind: 'rows', rows: t.rowsTensor, scale: t.wf, shift: t.bf };
    if (t.kind === 'full') return { kind: 'full', scale: t.w, shift: t.b };
    if (t.kind === 'lora') throw new Error(`internal: LoRA cannot adapt norm layer ${this.name}`);
    return { kind: 'frozen' };
  }

  private dropoutMask(x: Tensor, rate: number, ctx: ForwardContext): DropoutMask | undefined {
    if (!ctx.training || rate <= 0) return undefined;
    const rng = ctx.dropoutRng ?? new Rng(0);
    const data = new Uint8Array(x.size);
    const keep = 1 - rate;
    for (let i = 0; i < data.length; i++) data[i] = rng.next() < keep ? 1 : 0;
    ctx.dropoutMaskBytes += data.byteLength;
    return { mask: tf.tensor(data, x.shape, 'bool'), keep };
  }

  /**
   * y = layer(x). `xNeedsGrad` says whether a gradient must flow back to x (some
   * earlier layer trains); when false nothing is kept for x. By default it follows the
   * engine's tape (under tfjs's tape or none, x is assumed to need it).
   */
  apply(x: Tensor, ctx: ForwardContext, xNeedsGrad: boolean = !tapeActive() || requiresGrad(x)): Tensor {
    const t = this.training;
    if (this.perturbedForward && t.kind === 'frozen') return this.perturbedForward(x);
    switch (this.kind) {
      case 'linear':
        switch (t.kind) {
          case 'frozen': return frozenLinear(x, this.weight, this.bias, xNeedsGrad);
          case 'rows': {
            const y = rowLinear(x, this.weight, this.bias, { rows: t.rowsTensor, wf: t.wf, bf: t.bf }, xNeedsGrad);
            return t.columns ? columnLinear(y, x, { cols: t.columns.colsTensor, wdep: t.columns.wdep }, xNeedsGrad) : y;
          }
          case 'lora': return loraLinear(x, this.weight, this.bias, t, this.dropoutMask(x, t.dropout, ctx), xNeedsGrad);
          case 'full': return fullLinear(x, t.w, t.b ?? this.bias, xNeedsGrad);
        }
        break;
      case 'conv2d': {
        const spec = this.conv!;
        switch (t.kind) {
          case 'frozen': return frozenConv2d(x, this.weight, this.bias, spec, xNeedsGrad);
          case 'rows': {
            const y = rowConv2d(x, this.weight, this.bias, spec, { rows: t.rowsTensor, wf: t.wf, bf: t.bf }, xNeedsGrad);
            return t.columns ? columnConv2d(y, x, spec, { cols: t.columns.colsTensor, wdep: t.columns.wdep }, xNeedsGrad) : y;
          }
          case 'lora': return loraConv2d(x, this.weight, this.bias, spec, t, this.dropoutMask(x, t.dropout, ctx), xNeedsGrad);
          case 'full': return fullConv2d(x, t.w, t.b ?? this.bias, spec, xNeedsGrad);
        }
        break;
      }
      case 'depthwise-conv2d': {
        const spec = this.conv!;
        switch (t.kind) {
          case 'frozen': return frozenDepthwiseConv2d(x, this.weight, this.bias, spec, xNeedsGrad);
          case 'rows': return rowDepthwiseConv2d(x, this.weight, this.bias, spec, { rows: t.rowsTensor, wf: t.wf, bf: t.bf }, xNeedsGrad);
          case 'full': return fullDepthwiseConv2d(x, t.w, t.b ?? this.bias, spec, xNeedsGrad);
          case 'lora': throw new Error(`internal: LoRA does not adapt depthwise layer ${this.name}`);
        }
        break;
      }
      case 'layernorm': return layerNorm(x, this.weight, this.bias, this.eps, this.normTraining(), xNeedsGrad);
      case 'rmsnorm': return rmsNorm(x, this.weight, this.eps, this.normTraining(), xNeedsGrad);
      case 'batchnorm':
        return batchNorm(x, this.weight, this.bias, { mean: this.movingMean!, variance: this.movingVariance!, eps: this.eps }, this.normTraining(), xNeedsGrad);
    }
    throw new Error(`internal: no forward for ${this.kind}`);
  }

  /** Frozen tensors this layer owns, by their weight names in the model files. */
  dispose(): void {
    this.resetTraining();
    tf.dispose([this.weight, ...(this.bias ? [this.bias] : []), ...(this.movingMean ? [this.movingMean] : []), ...(this.movingVariance ? [this.movingVariance] : [])]);
  }
}

