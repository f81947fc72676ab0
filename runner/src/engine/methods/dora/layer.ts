/**
 * DoRA's layer training (Liu et al.; tensor/ops/dora.ts) as PEFT's
 * `LoraConfig(use_dora=True)` runs it: W' = m (W0 + s B A) / ||W0 + s B A||_c, the norm
 * detached in backward (PEFT, DoRA section 4.3), LoRA's A and B and the magnitude m
 * [d_out] trained. Linear and conv2d layers (as LoRA).
 */
import type { AdaptableLayer, ForwardContext, Training } from '../../../models/layer';
import { doraConv2d, doraLinear, doraMergedWeight } from '../../../tensor/ops/dora';
import { tf, type Tensor } from '../../../tensor/tf';
import { dropoutMask } from '../common';
import { doraStepFlops } from './cost';

export class DoraTraining implements Training {
  readonly kind = 'dora';

  /** `scale` = alpha / r; `dropout` on the adapter's input while training (0 when read back). */
  constructor(readonly a: tf.Variable, readonly b: tf.Variable, readonly m: tf.Variable, readonly scale: number, readonly dropout: number) {}

  /** This layer's rank (capped at d_out, PEFT's rank_pattern). */
  rank(layer: AdaptableLayer): number {
    return layer.kind === 'linear' ? this.a.shape[0] : this.a.shape[3]!;
  }

  forward(layer: AdaptableLayer, x: Tensor, ctx: ForwardContext, xNeedsGrad: boolean): Tensor {
    switch (layer.kind) {
      case 'linear': return doraLinear(x, layer.weight, layer.bias, this, dropoutMask(x, this.dropout, ctx), xNeedsGrad);
      case 'conv2d': return doraConv2d(x, layer.weight, layer.bias, layer.conv!, this, dropoutMask(x, this.dropout, ctx), xNeedsGrad);
      default: throw new Error(`internal: DoRA does not adapt ${layer.kind} layer ${layer.name}`);
    }
  }

  trainables(layer: AdaptableLayer): Array<{ name: string; variable: tf.Variable }> {
    return [
      { name: `${layer.name}.lora_A`, variable: this.a },
      { name: `${layer.name}.lora_B`, variable: this.b },
      { name: `${layer.name}.lora_magnitude_vector`, variable: this.m },
    ];
  }

  /** m V / ||V||_c (PEFT's merge). */
  merged(layer: AdaptableLayer): { w: Tensor; b?: Tensor } {
    return { w: doraMergedWeight(layer.weight, this), b: layer.bias };
  }

  gradientFlops(layer: AdaptableLayer, positions: number): number {
    // layer.dIn is kh kw c_in for a conv: its products per output position.
    return doraStepFlops({ dIn: layer.dIn, dOut: layer.dOut }, this.rank(layer), positions, this.dropout);
  }

  dispose(): void {
    tf.dispose([this.a, this.b, this.m]);
  }
}

declare module '../../../models/layer' {
  interface LayerTrainings {
    dora: DoraTraining;
  }
}
