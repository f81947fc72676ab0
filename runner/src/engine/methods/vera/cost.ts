/**
 * VeRA's cost on a set of adapted linear layers (tensor/ops/vera.ts), as pure functions of
 * the shapes: trainable parameters, the shared frozen projections, what backward keeps,
 * and the FLOPs of one training step (flops.ts's convention: multiply-adds x 2 of the
 * products, elementwise work not counted).
 */
import { adapterMemory, type AdapterMemory, type CostProfile, type LinearShape } from '../adapterCost';
import type { KeptPerToken } from '../method';

export interface VeraCostSettings {
  rank: number;
  dropout: number;
}

/** lambda_d [r] and lambda_b [d_out] per layer: sum of r + d_out (Llama-2-7B, r = 64, all linears: 1.374M, table 3). */
export function veraTrainableParams(layers: readonly LinearShape[], rank: number): number {
  return layers.reduce((s, l) => s + rank + l.dOut, 0);
}

/**
 * Frozen floats beside the model: the shared A [r, d_in max] and B [d_out max, r], and
 * (this engine) one copy of each smaller slice a layer shape reads, A[:, :d_in] per
 * distinct d_in and B[:d_out, :] per distinct d_out (tfjs slices copy; PyTorch's are views).
 */
export function veraProjectionFloats(layers: readonly LinearShape[], rank: number, profile: CostProfile = 'engine'): number {
  if (layers.length === 0) return 0;
  const dIns = new Set(layers.map((l) => l.dIn));
  const dOuts = new Set(layers.map((l) => l.dOut));
  const dInMax = Math.max(...dIns);
  const dOutMax = Math.max(...dOuts);
  let floats = rank * (dInMax + dOutMax);
  if (profile === 'engine') {
    for (const d of dIns) if (d < dInMax) floats += rank * d;
    for (const d of dOuts) if (d < dOutMax) floats += rank * d;
  }
  return floats;
}

/**
 * Kept per position by one layer. Engine: h = drop(x) A^T (r floats), z recomputed in
 * backward; the mask. PyTorch autograd (PEFT): h for
 * d lambda_d and z = (lambda_d h) B^T (d_out floats) for d lambda_b, and the mask.
 * Neither keeps x: A gets no gradient.
 */
export function veraKept(l: LinearShape, s: VeraCostSettings, profile: CostProfile = 'engine'): KeptPerToken {
  return {
    floats: s.rank + (profile === 'pytorch' ? l.dOut : 0),
    sharesInput: false,
    masks: s.dropout > 0 ? l.dIn : 0,
  };
}

export function veraMemory(layers: readonly LinearShape[], s: VeraCostSettings, positions: number, profile: CostProfile = 'engine'): AdapterMemory {
  return adapterMemory(layers, positions, veraTrainableParams(layers, s.rank), (l) => veraKept(l, s, profile), veraProjectionFloats(layers, s.rank, profile), 0);
}

/**
 * The adapter's products in one training step over `positions` positions:
 * forward drop(x) A^T and (lambda_d h) B^T; backward z again, g = (dy lambda_b) B and,
 * when x needs a gradient, (g lambda_d) A: 2 P r (2 d_in + 3 d_out) with dx, 2 P r (d_in + 3 d_out) without.
 */
export function veraStepFlops(l: LinearShape, rank: number, positions: number): number {
  const dx = (l.xNeedsGrad ?? true) ? l.dIn : 0;
  return 2 * positions * rank * (l.dIn + 3 * l.dOut + dx);
}
