/**
 * VeRA's layer training (Kopiczko et al.; tensor/ops/vera.ts) as PEFT runs it:
 * y = W0 x + b + Lambda_b B Lambda_d A drop(x), with A and B frozen random matrices
 * shared by every adapted layer and only lambda_d [r] and lambda_b [d_out] trained.
 * Linear layers only (PEFT's VeRA too).
 */
import type { AdaptableLayer, ForwardContext, Training } from '../../../models/layer';
import { sliceProjections, veraDeltaWeight, veraLinear, type VeraProjections } from '../../../tensor/ops/vera';
import { tf, type Tensor } from '../../../tensor/tf';
import { dropoutMask } from '../common';
import { veraStepFlops } from './cost';

/**
 * The shared frozen projections of one attached (or read back) adapter: A [r, d_in max]
 * and B [d_out max, r], and each smaller slice a layer shape reads, made once per shape.
 * Every layer's training holds it; the last one disposed releases the tensors.
 */
export class SharedProjections {
  private readonly slices = new Map<string, VeraProjections>();
  private holders = 0;

  /** `seed` drew them (PEFT's projection_prng_key); `save`: they go into the adapter file (save_projection). */
  constructor(readonly full: VeraProjections, readonly seed: number, readonly save: boolean) {}

  get rank(): number {
    return this.full.a.shape[0];
  }

  /** A layer's view, A[:, :d_in] and B[:d_out, :] (PEFT's slicing), shared by layers of one shape. */
  take(dIn: number, dOut: number): VeraProjections {
    const key = `${dIn}x${dOut}`;
    let s = this.slices.get(key);
    if (!s) {
      s = sliceProjections(this.full, dIn, dOut);
      this.slices.set(key, s);
    }
    this.holders += 1;
    return s;
  }

  release(): void {
    this.holders -= 1;
    if (this.holders > 0) return;
    const owned = new Set<Tensor>([this.full.a, this.full.b]);
    for (const s of this.slices.values()) owned.add(s.a).add(s.b);
    tf.dispose([...owned]);
    this.slices.clear();
  }
}

export class VeraTraining implements Training {
  readonly kind = 'vera';
  readonly a: Tensor;
  readonly b: Tensor;

  constructor(
    layer: AdaptableLayer,
    readonly shared: SharedProjections,
    readonly lambdaD: tf.Variable,
    readonly lambdaB: tf.Variable,
    readonly dropout: number,
  ) {
    if (layer.kind !== 'linear') {
      throw new Error(`internal: VeRA adapts linear layers only; ${layer.name} is a ${layer.kind} layer`);
    }
    ({ a: this.a, b: this.b } = shared.take(layer.dIn, layer.dOut));
  }

  forward(layer: AdaptableLayer, x: Tensor, ctx: ForwardContext, xNeedsGrad: boolean): Tensor {
    return veraLinear(x, layer.weight, layer.bias, this, dropoutMask(x, this.dropout, ctx), xNeedsGrad);
  }

  trainables(layer: AdaptableLayer): Array<{ name: string; variable: tf.Variable }> {
    return [{ name: `${layer.name}.vera_lambda_d`, variable: this.lambdaD }, { name: `${layer.name}.vera_lambda_b`, variable: this.lambdaB }];
  }

  /** W0 + Lambda_b B Lambda_d A (PEFT's get_delta_weight). */
  merged(layer: AdaptableLayer): { w: Tensor; b?: Tensor } {
    return { w: tf.tidy(() => tf.add(layer.weight, veraDeltaWeight(this))), b: layer.bias };
  }

  gradientFlops(layer: AdaptableLayer, positions: number): number {
    return veraStepFlops({ dIn: layer.dIn, dOut: layer.dOut }, this.shared.rank, positions);
  }

  dispose(): void {
    tf.dispose([this.lambdaD, this.lambdaB]);
    this.shared.release();
  }
}

declare module '../../../models/layer' {
  interface LayerTrainings {
    vera: VeraTraining;
  }
}
