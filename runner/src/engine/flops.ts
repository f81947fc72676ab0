/**
 * Model FLOPs of one training step (for model FLOP utilisation): multiply-adds x 2 of
 * the products a method needs, counted from the shapes one forward pass actually sees.
 *   forward           2 * positions * d_out * d_in per layer (conv: per output pixel)
 *   input gradients   the same again for every layer after the first one that trains
 *   weight gradients  each method's layer training's `gradientFlops`: full the same;
 *                     SPruFT r/d_out of it (dW_f = dy[:, idx]^T x); LoRA its two small
 *                     products, forward and backward
 *   attention         QK^T and PV: 4 * B * T^2 * d per block forward, twice that backward
 * Elementwise work (norms, activations, softmax) is not counted, as usual for MFU.
 */
import type { AdaptableLayer, ForwardContext } from '../models/layer';
import { inferenceContext } from '../models/layer';
import type { Model } from '../models/model';
import type { Batch } from './batches';
import { tf, type Tensor } from '../tensor/tf';

interface LayerShape {
  layer: AdaptableLayer;
  /** Positions the layer's weights are applied at (tokens, output pixels). */
  positions: number;
}

/** Positions of every adaptable layer in one forward pass over `batch`. */
export function tracePositions(model: Model, batch: Batch): LayerShape[] {
  const seen: LayerShape[] = [];
  const originals = model.layers.map((l) => l.apply);
  model.layers.forEach((layer, i) => {
    layer.apply = (x: Tensor, ctx: ForwardContext, g: boolean): Tensor => {
      const y = originals[i].call(layer, x, ctx, g);
      const isConv = layer.kind === 'conv2d' || layer.kind === 'depthwise-conv2d';
      seen.push({ layer, positions: isConv ? y.size / layer.dOut : x.size / (layer.isNorm ? layer.dOut : layer.dIn) });
      return y;
    };
  });
  try {
    // Braces: a tidy keeps what its function returns, and the logits are not wanted.
    tf.tidy(() => { model.forward(batch.x, inferenceContext()); });
  } finally {
    model.layers.forEach((layer) => {
      delete (layer as { apply?: unknown }).apply;
    });
  }
  return seen;
}

export interface AttentionShape {
  blocks: number;
  batch: number;
  length: number;
  width: number;
}

/** Model FLOPs of one training step of the method currently attached to `model`. */
export function trainingStepFlops(shapes: LayerShape[], attention?: AttentionShape): number {
  let flops = 0;
  let gradientFlows = false;
  for (const { layer, positions } of shapes) {
    if (layer.isNorm) {
      gradientFlows = gradientFlows || layer.trainable;
      continue;
    }
    const fwd = 2 * positions * layer.dOut * layer.dIn;
    flops += fwd;
    if (gradientFlows) flops += fwd;
    // The method's own products (its layer training says: engine/methods/<name>/layer.ts).
    flops += layer.training.gradientFlops(layer, positions, fwd);
    gradientFlows = gradientFlows || layer.trainable;
  }
  if (attention) {
    const fwd = 4 * attention.batch * attention.length ** 2 * attention.width;
    flops += attention.blocks * fwd * 3;
  }
  return flops;
}
