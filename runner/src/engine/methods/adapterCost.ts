/**
 * Pure cost formulas shared by the adapter methods' own (methods/<name>/cost.ts): the
 * shape of an adapted linear layer and what an adapter adds to training memory, in the
 * paper's components (C.3: trainable parameters, gradients, optimizer state, activation
 * cache, dropout masks) plus frozen buffers the method adds beside the model (VeRA's
 * shared projections). float32 throughout, Adam's two moments, as the engine trains.
 */
import type { KeptPerToken } from './method';

export const FLOAT_BYTES = 4;

/** An adapted linear layer: W0 is [dOut, dIn]. */
export interface LinearShape {
  dIn: number;
  dOut: number;
  /** Whether a gradient flows back to the layer's input (something before it trains); default true (FLOPs of dx). */
  xNeedsGrad?: boolean;
}

/** Whose bookkeeping: this engine's ops, or PyTorch autograd running PEFT (the paper's). */
export type CostProfile = 'engine' | 'pytorch';


/** An adapter method's memory over its layers at `positions` positions a step, in bytes. */
export interface AdapterMemory {
  trainableParams: number;
  params: number;
  grads: number;
  /** Adam's (AdamW's) two moments. */
  optimizer: number;
  /** Activations kept for backward (inputs counted once per distinct input width, see below). */
  cache: number;
  dropout: number;
  /** Frozen buffers the method adds beside the model's weights. */
  frozen: number;
  /** Largest transient a forward or backward of one layer forms (freed before the next). */
  transient: number;
}

/**
 * Sum the per-layer figures: the parameter components from `trainable`, the cache from
 * each layer's own floats plus its input when kept, and `keptPerLayer` floats a layer
 * keeps whatever the positions (DoRA's norm) (counted per layer: layers that read
 * one input share the buffer, which a caller that knows the graph discounts).
 */
export function adapterMemory(
  layers: readonly LinearShape[], positions: number, trainable: number, kept: (l: LinearShape) => KeptPerToken, frozen: number, transient: number,
  keptPerLayer: (l: LinearShape) => number = () => 0,
): AdapterMemory {
  let cache = 0;
  let dropout = 0;
  for (const l of layers) {
    const k = kept(l);
    cache += positions * FLOAT_BYTES * (k.floats + (k.sharesInput ? l.dIn : 0)) + FLOAT_BYTES * keptPerLayer(l);
    dropout += positions * k.masks;
  }
  return {
    trainableParams: trainable,
    params: trainable * FLOAT_BYTES,
    grads: trainable * FLOAT_BYTES,
    optimizer: 2 * trainable * FLOAT_BYTES,
    cache,
    dropout,
    frozen: frozen * FLOAT_BYTES,
    transient: transient * FLOAT_BYTES,
  };
}
