/**
 * How a micro-batch is split between data-parallel ranks, and what each share weighs.
 * The task's loss is a weighted mean (loss.ts: sum_n w_n l_n / sum_n w_n, with w_n = 1
 * per example for classification and 1 per counted next-token position for a causal
 * LM), so with W_r the weight of rank r's share and W = sum_r W_r:
 *   L = sum_r (W_r / W) L_r   and   grad L = sum_r (W_r / W) grad L_r,
 * which is what rank 0 combines (up to float rounding), in rank order.
 */
import { imageValues, type Examples } from '../batches';

/**
 * Rank r's contiguous share [start, end) of a micro-batch of `size` examples among
 * `ranks` ranks. Shares differ by at most one example, and rank 0 (which also runs the
 * optimizer and combines the gradients) never has more than another rank.
 */
export function shareBounds(size: number, ranks: number, rank: number): [number, number] {
  return [Math.floor((rank * size) / ranks), Math.floor(((rank + 1) * size) / ranks)];
}

/** The examples rank 0 computes of a micro-batch of `size` (mem_M is measured on these). */
export function rankZeroShare(size: number, ranks: number): number {
  if (!(ranks > 1)) return size;
  const [start, end] = shareBounds(size, ranks, 0);
  return Math.max(1, end - start);
}

/**
 * The denominator the examples at `indices` add to the task's loss (loss.ts): 1 each for
 * classification; for a causal LM, the positions p < T-1 whose next token is real
 * (batches.ts: weight[p] = lossMask[p + 1], else mask[p + 1]).
 */
export function lossWeight(ex: Examples, indices: Int32Array): number {
  if (ex.kind === 'images' || ex.labels) return indices.length;
  const t = ex.length;
  const counted = ex.lossMask ?? ex.mask;
  let w = 0;
  for (const idx of indices) {
    for (let p = 1; p < t; p++) w += counted[idx * t + p];
  }
  return w;
}

/** The examples at `indices`, copied into a set of their own (what a worker receives). */
export function takeShare(ex: Examples, indices: Int32Array): Examples {
  const n = indices.length;
  if (ex.kind === 'images') {
    const per = ex.shape[0] * ex.shape[1] * ex.shape[2];
    const inputs = new Float32Array(n * per);
    indices.forEach((idx, i) => inputs.set(imageValues(ex, idx), i * per));
    return { kind: 'images', n, shape: ex.shape, inputs, labels: Int32Array.from(indices, (idx) => ex.labels[idx]) };
  }
  const t = ex.length;
  const ids = new Int32Array(n * t);
  const mask = new Uint8Array(n * t);
  const lossMask = ex.lossMask ? new Uint8Array(n * t) : undefined;
  indices.forEach((idx, i) => {
    ids.set(ex.ids.subarray(idx * t, (idx + 1) * t), i * t);
    mask.set(ex.mask.subarray(idx * t, (idx + 1) * t), i * t);
    lossMask?.set(ex.lossMask!.subarray(idx * t, (idx + 1) * t), i * t);
  });
  return {
    kind: 'tokens', n, length: t, ids, mask,
    ...(lossMask ? { lossMask } : {}),
    ...(ex.labels ? { labels: Int32Array.from(indices, (idx) => ex.labels![idx]) } : {}),
    ...(ex.values ? { values: Float32Array.from(indices, (idx) => ex.values![idx]) } : {}),
  };
}

/** 0, 1, ..., n-1: every example of a share, in order. */
export function allIndices(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i);
}
