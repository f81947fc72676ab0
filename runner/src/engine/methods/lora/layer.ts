/**
 * LoRA's layer training (Hu et al.; paper eq. 3-4) as PEFT runs it:
 * y = f(W, x) + (alpha/r) B A drop(x), A [r, d_in] and B [d_out, r] (linear); conv2d
 * A [kh, kw, c_in, r] and B [r, c_out] (a 1x1 conv). Linear and conv2d layers only.
 */
import type { AdaptableLayer, ForwardContext, Training } from '../../../models/layer';
import { loraConv2d } from '../../../tensor/ops/conv2d';
import { dims } from '../../../tensor/ops/grad';
import { loraLinear } from '../../../tensor/ops/linear';
import { tf, type Tensor } from '../../../tensor/tf';
import { dropoutMask } from '../common';

export class LoraTraining implements Training {
  readonly kind = 'lora';

  /** `scale` = alpha / r; `dropout` on the adapter's input while training (0 when read back). */
  constructor(readonly a: tf.Variable, readonly b: tf.Variable, readonly scale: number, readonly dropout: number) {}

  /** This layer's rank (capped at d_out, PEFT's rank_pattern). */
  rank(layer: AdaptableLayer): number {
    return layer.kind === 'linear' ? this.a.shape[0] : this.a.shape[3]!;
  }

  forward(layer: AdaptableLayer, x: Tensor, ctx: ForwardContext, xNeedsGrad: boolean): Tensor {
    switch (layer.kind) {
      case 'linear': return loraLinear(x, layer.weight, layer.bias, this, dropoutMask(x, this.dropout, ctx), xNeedsGrad);
      case 'conv2d': return loraConv2d(x, layer.weight, layer.bias, layer.conv!, this, dropoutMask(x, this.dropout, ctx), xNeedsGrad);
      default: throw new Error(`internal: LoRA does not adapt ${layer.kind} layer ${layer.name}`);
    }
  }

  trainables(layer: AdaptableLayer): Array<{ name: string; variable: tf.Variable }> {
    return [{ name: `${layer.name}.lora_A`, variable: this.a }, { name: `${layer.name}.lora_B`, variable: this.b }];
  }

  /** W + (alpha/r) B A (eq. 3). */
  merged(layer: AdaptableLayer): { w: Tensor; b?: Tensor } {
    const delta = layer.kind === 'linear'
      ? tf.mul(tf.matMul(this.b, this.a), this.scale)
      : tf.reshape(tf.mul(tf.matMul(tf.reshape(this.a, [-1, dims(this.a)[3]]), this.b), this.scale), dims(layer.weight));
    return { w: tf.add(layer.weight, delta), b: layer.bias };
  }

  /** Its two small products, forward and both gradients. */
  gradientFlops(layer: AdaptableLayer, positions: number): number {
    return 3 * 2 * positions * this.rank(layer) * (layer.dIn + layer.dOut);
  }

  dispose(): void {
    tf.dispose([this.a, this.b]);
  }
}

declare module '../../../models/layer' {
  interface LayerTrainings {
    lora: LoraTraining;
  }
}
