/**
 * The weight itself trains: full fine-tuning's layers, the classifier head under every
 * method, and importance scoring's gradient probes (engine/importance/gradients.ts).
 */
import type { AdaptableLayer, DenseWeights, ForwardContext, Training } from '../../../models/layer';
import { fullConv2d } from '../../../tensor/ops/conv2d';
import { fullDepthwiseConv2d } from '../../../tensor/ops/depthwiseConv2d';
import { fullLinear } from '../../../tensor/ops/linear';
import { tf, type Tensor } from '../../../tensor/tf';
import { uniqueName, variableOf } from '../common';

export class FullTraining implements Training {
  readonly kind = 'full';

  /** `b` absent: the layer's frozen bias (if any) stays. */
  constructor(readonly w: tf.Variable, readonly b?: tf.Variable) {}

  /** Trainable copies of the layer's weight and bias. */
  static of(layer: AdaptableLayer): FullTraining {
    return new FullTraining(
      variableOf(() => tf.clone(layer.weight), uniqueName(`${layer.name}.weight`)),
      layer.bias ? variableOf(() => tf.clone(layer.bias!), uniqueName(`${layer.name}.bias`)) : undefined,
    );
  }

  forward(layer: AdaptableLayer, x: Tensor, _ctx: ForwardContext, xNeedsGrad: boolean): Tensor {
    switch (layer.kind) {
      case 'linear': return fullLinear(x, this.w, this.b ?? layer.bias, xNeedsGrad);
      case 'conv2d': return fullConv2d(x, this.w, this.b ?? layer.bias, layer.conv!, xNeedsGrad);
      case 'depthwise-conv2d': return fullDepthwiseConv2d(x, this.w, this.b ?? layer.bias, layer.conv!, xNeedsGrad);
      default: return layer.normForward(x, { kind: 'full', scale: this.w, shift: this.b }, xNeedsGrad);
    }
  }

  trainables(layer: AdaptableLayer): Array<{ name: string; variable: tf.Variable }> {
    return [{ name: `${layer.name}.weight`, variable: this.w }, ...(this.b ? [{ name: `${layer.name}.bias`, variable: this.b }] : [])];
  }

  denseWeights(layer: AdaptableLayer): DenseWeights {
    return { weight: this.w, bias: this.b ?? layer.bias, weightTrains: true, biasTrains: this.b !== undefined };
  }

  merged(layer: AdaptableLayer): { w: Tensor; b?: Tensor } {
    return { w: tf.clone(this.w), b: this.b ? tf.clone(this.b) : layer.bias };
  }

  /** The weight gradient costs as much as the forward product. */
  gradientFlops(_layer: AdaptableLayer, _positions: number, fwd: number): number {
    return fwd;
  }

  dispose(): void {
    tf.dispose([this.w, ...(this.b ? [this.b] : [])]);
  }
}

declare module '../../../models/layer' {
  interface LayerTrainings {
    full: FullTraining;
  }
}
