/**
 * DoRA's cost on a set of adapted linear layers (tensor/ops/dora.ts), as pure functions of
 * the shapes: trainable parameters, what backward keeps (the paper's point in section 3
 * and figure 3: DoRA's graph keeps far more than LoRA's), transients, and the FLOPs of
 * one training step (flops.ts's convention: multiply-adds x 2, elementwise not counted).
 */
import { adapterMemory, type AdapterMemory, type CostProfile, type LinearShape } from '../adapterCost';
import type { KeptPerToken } from '../method';

export interface DoraCostSettings {
  rank: number;
  dropout: number;
}

/** LoRA's r (d_in + d_out) plus the magnitude's d_out per layer (Llama-2-7B, r = 64: 161.3M, table 1). */
export function doraTrainableParams(layers: readonly LinearShape[], rank: number): number {
  return layers.reduce((s, l) => s + Math.min(rank, l.dOut) * (l.dIn + l.dOut) + l.dOut, 0);
}

/**
 * Kept per position by one layer. Both: the input of A (x itself without dropout, a
 * shared buffer; its dropped copy with dropout, and the mask) and h = A x (r floats).
 * Engine: the direction output u = drop(x) W0^T + s h B^T (d_out floats), for dm.
 * PyTorch autograd (PEFT's DoraLinearLayer): the base product and the LoRA product
 * separately, each for the magnitude's gradient (2 d_out floats).
 */
export function doraKept(l: LinearShape, s: DoraCostSettings, profile: CostProfile = 'engine'): KeptPerToken {
  const r = Math.min(s.rank, l.dOut);
  const dropped = s.dropout > 0;
  return {
    floats: r + (profile === 'pytorch' ? 2 : 1) * l.dOut + (dropped ? l.dIn : 0),
    sharesInput: !dropped,
    masks: dropped ? l.dIn : 0,
  };
}

/**
 * Transient floats of one layer's forward, freed before the next layer: B A and
 * V = W0 + s B A ([d_out, d_in] each) for the row norms. PEFT forms B A through an
 * identity matrix, lora_B(lora_A(I)) ([d_in, d_in] and [d_in, r] more).
 */
export function doraTransientFloats(l: LinearShape, rank: number, profile: CostProfile = 'engine'): number {
  return 2 * l.dOut * l.dIn + (profile === 'pytorch' ? l.dIn * (l.dIn + Math.min(rank, l.dOut)) : 0);
}

export function doraMemory(layers: readonly LinearShape[], s: DoraCostSettings, positions: number, profile: CostProfile = 'engine'): AdapterMemory {
  const transient = layers.reduce((m, l) => Math.max(m, doraTransientFloats(l, s.rank, profile)), 0);
  // The engine keeps ||V||_c [d_out] per layer; PyTorch the magnitude over it, m / ||V||_c, as much.
  return adapterMemory(layers, positions, doraTrainableParams(layers, s.rank), (l) => doraKept(l, s, profile), 0, transient, (l) => l.dOut);
}

/**
 * The adapter's products in one training step over `positions` positions: LoRA's
 * (forward A x and B h; backward dB, dh, dA and, when x needs a gradient, dh A:
 * 2 P r (3 d_in + 3 d_out) with dx, as flops.ts counts LoRA) plus the norm's B A once a step (2 r d_in d_out) and,
 * with dropout, the frozen product again on the dropped input (2 P d_in d_out) and in
 * dx (2 P d_in d_out more, when x needs a gradient).
 */
export function doraStepFlops(l: LinearShape, rank: number, positions: number, dropout: number): number {
  const r = Math.min(rank, l.dOut);
  const xNeedsGrad = l.xNeedsGrad ?? true;
  const lora = 2 * positions * r * (2 * l.dIn + 3 * l.dOut + (xNeedsGrad ? l.dIn : 0));
  const norm = 2 * r * l.dIn * l.dOut;
  const dropped = dropout > 0 ? 2 * positions * l.dIn * l.dOut * (xNeedsGrad ? 2 : 1) : 0;
  return lora + norm + dropped;
}
