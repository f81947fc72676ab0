/**
 * An adaptable layer: a frozen weight whose rows (neurons, output channels, norm
 * channels) can be fine-tuned, and the training state attached to it for one method.
 * Models are built from these plus plain tensor code; the engine reads `layers` to
 * score rows, attach adapters, count parameters and export.
 */
import type { LayerKind } from '../../../protocol/results';
import { isAttentionLayer } from '../config/targets';
import type { Rng } from '../tensor/rng';
import { tf, type Tensor } from '../tensor/tf';
import { batchNorm } from '../tensor/ops/batchNorm';
import { frozenConv2d, type ConvSpec } from '../tensor/ops/conv2d';
import { frozenDepthwiseConv2d } from '../tensor/ops/depthwiseConv2d';
import { requiresGrad, tapeActive } from '../tensor/autodiff';
import { dims } from '../tensor/ops/grad';
import { layerNorm } from '../tensor/ops/layerNorm';
import { frozenLinear } from '../tensor/ops/linear';
import type { NormTraining } from '../tensor/ops/normAffine';
import { rmsNorm } from '../tensor/ops/rmsNorm';

/**
 * How one layer trains under the method being run: the training state a method module
 * (runner/src/engine/methods/<name>/) attaches to the layer, and what it does to the
 * layer's forward pass. The layer knows only this interface; `frozen` is the layer's own.
 */
export interface Training {
  /** 'frozen', or the method module's kind of layer training ('rows', 'lora', 'full', ...). */
  readonly kind: string;
  /**
   * y = layer(x) with this training, from the layer's frozen weight and bias (read at
   * call time: a merge replaces them). `xNeedsGrad`: see AdaptableLayer.apply.
   */
  forward(layer: AdaptableLayer, x: Tensor, ctx: ForwardContext, xNeedsGrad: boolean): Tensor;
  /** The trainable tensors, with stable names (checkpoints, workers, adapters). */
  trainables(layer: AdaptableLayer): Array<{ name: string; variable: tf.Variable }>;
  /** The layer's weight and bias with the training folded in (new tensors, or the layer's own bias). */
  merged(layer: AdaptableLayer): { w: Tensor; b?: Tensor };
  /**
   * Model FLOPs of one training step beyond the forward pass and the input gradient:
   * the trained tensors' gradients (and any extra forward products), given the forward
   * product's FLOPs `fwd` at `positions` positions (engine/flops.ts).
   */
  gradientFlops(layer: AdaptableLayer, positions: number, fwd: number): number;
  /**
   * The layer's weight and bias as plain tensors, where this training keeps the layer a
   * dense product y = x W^T + b (frozen, or trained whole), with which of them train; a
   * fused loss may then apply the layer itself (engine/loss.ts, the LM head). Absent
   * where the training adds terms of its own (adapters).
   */
  denseWeights?(layer: AdaptableLayer): DenseWeights;
  /** Release the training's tensors. */
  dispose(): void;
}

/** A layer's weight and bias as one dense product, and which of them train. */
export interface DenseWeights {
  weight: Tensor;
  bias?: Tensor;
  weightTrains: boolean;
  biasTrains: boolean;
}

/** The layer as loaded: nothing trains. */
export interface FrozenTraining extends Training {
  readonly kind: 'frozen';
}

const FROZEN: FrozenTraining = {
  kind: 'frozen',
  forward: (layer, x, _ctx, xNeedsGrad) => layer.frozenForward(x, xNeedsGrad),
  trainables: () => [],
  merged: (layer) => ({ w: layer.weight, b: layer.bias }),
  denseWeights: (layer) => ({ weight: layer.weight, bias: layer.bias, weightTrains: false, biasTrains: false }),
  gradientFlops: () => 0,
  dispose: () => undefined,
};

/**
 * Every kind of layer training, by kind. Each method module adds its own by declaration
 * merging (`declare module '.../models/layer' { interface LayerTrainings { rows: RowsTraining } }`),
 * so that `layer.training.kind === 'rows'` narrows to it without models/ importing engine/.
 */
export interface LayerTrainings {
  frozen: FrozenTraining;
}

export type LayerTraining = LayerTrainings[keyof LayerTrainings];

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
  training: LayerTraining = FROZEN;
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
    return this.training.trainables(this);
  }

  /** Drop the training state (and its tensors), back to frozen. */
  resetTraining(): void {
    this.training.dispose();
    this.training = FROZEN;
  }

  /**
   * y = layer(x). `xNeedsGrad` says whether a gradient must flow back to x (some
   * earlier layer trains); when false nothing is kept for x. By default it follows the
   * engine's tape (under tfjs's tape or none, x is assumed to need it).
   */
  apply(x: Tensor, ctx: ForwardContext, xNeedsGrad: boolean = !tapeActive() || requiresGrad(x)): Tensor {
    if (this.perturbedForward && this.training.kind === 'frozen') return this.perturbedForward(x);
    return this.training.forward(this, x, ctx, xNeedsGrad);
  }

  /** y = layer(x) with the frozen weights alone. */
  frozenForward(x: Tensor, xNeedsGrad: boolean): Tensor {
    switch (this.kind) {
      case 'linear': return frozenLinear(x, this.weight, this.bias, xNeedsGrad);
      case 'conv2d': return frozenConv2d(x, this.weight, this.bias, this.conv!, xNeedsGrad);
      case 'depthwise-conv2d': return frozenDepthwiseConv2d(x, this.weight, this.bias, this.conv!, xNeedsGrad);
      default: return this.normForward(x, { kind: 'frozen' }, xNeedsGrad);
    }
  }

  /** A normalisation layer's forward pass with its affine parameters trained as `training` says. */
  normForward(x: Tensor, training: NormTraining, xNeedsGrad: boolean): Tensor {
    switch (this.kind) {
      case 'layernorm': return layerNorm(x, this.weight, this.bias, this.eps, training, xNeedsGrad);
      case 'rmsnorm': return rmsNorm(x, this.weight, this.eps, training, xNeedsGrad);
      case 'batchnorm':
        return batchNorm(x, this.weight, this.bias, { mean: this.movingMean!, variance: this.movingVariance!, eps: this.eps }, training, xNeedsGrad);
      default: throw new Error(`internal: ${this.kind} layer ${this.name} is no normalisation layer`);
    }
  }

  /** Frozen tensors this layer owns, by their weight names in the model files. */
  dispose(): void {
    this.resetTraining();
    tf.dispose([this.weight, ...(this.bias ? [this.bias] : []), ...(this.movingMean ? [this.movingMean] : []), ...(this.movingVariance ? [this.movingVariance] : [])]);
  }
}

