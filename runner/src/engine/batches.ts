/**
 * Examples in memory and the batches cut from them. The order of every epoch is a
 * permutation drawn from (seed, epoch) alone, so the batch at any global position can be
 * rebuilt after a restart: a resumed run sees exactly the batches an uninterrupted one
 * would.
 */
import { Rng } from '../tensor/rng';
import { tf, type Tensor } from '../tensor/tf';

/** Images decoded on demand (data/imageFolder.ts's ImageStore): `prepare` a batch, then `get` its images. */
export interface ImageSource {
  get(i: number): Float32Array;
  prepare(indices: ArrayLike<number>): Promise<void>;
}

/** Images (NHWC, preprocessed) with integer labels. */
export interface ImageExamples {
  kind: 'images';
  n: number;
  shape: [number, number, number];
  /** Every image, n x H x W x C; empty when `source` decodes them on demand. */
  inputs: Float32Array;
  labels: Int32Array;
  source?: ImageSource;
}

/** Example `i`'s pixels (H x W x C), from memory or, once prepared, from the source's cache. */
export function imageValues(ex: ImageExamples, i: number): Float32Array {
  if (ex.source) return ex.source.get(i);
  const per = ex.shape[0] * ex.shape[1] * ex.shape[2];
  return ex.inputs.subarray(i * per, (i + 1) * per);
}

/** Make the examples at `indices` ready for `makeBatch` (decodes lazily read images; else nothing). */
export async function prepareExamples(ex: Examples, indices: ArrayLike<number>): Promise<void> {
  if (ex.kind === 'images' && ex.source) await ex.source.prepare(indices);
}

/** Token sequences; `labels` for text classification, next tokens otherwise. */
export interface TokenExamples {
  kind: 'tokens';
  n: number;
  length: number;
  ids: Int32Array;
  /** 1 where a token is real (not padding). */
  mask: Uint8Array;
  /**
   * Causal LM: 1 where predicting the token carries loss (instruction tuning: the response
   * tokens only). Default: `mask`, every real token.
   */
  lossMask?: Uint8Array;
  labels?: Int32Array;
  /** Regression targets, one per example (head.problemType: regression). */
  values?: Float32Array;
}

export type Examples = ImageExamples | TokenExamples;

export interface TaskData {
  train: Examples;
  eval: Examples;
  labelNames?: string[];
  /** Where the data came from, for reports. */
  description: string;
}

export interface Batch {
  size: number;
  /** images [B, H, W, C] float32, or token ids [B, T] int32. */
  x: Tensor;
  /** classification labels int32 [B]. */
  labels?: Tensor;
  /** regression targets float32 [B]. */
  values?: Tensor;
  /** causal LM: next-token targets [B, T] and position weights [B, T]. */
  targets?: Tensor;
  weights?: Tensor;
  /** The example indices this batch holds. */
  indices: Int32Array;
}

export function makeBatch(ex: Examples, indices: Int32Array): Batch {
  const b = indices.length;
  if (ex.kind === 'images') {
    const per = ex.shape[0] * ex.shape[1] * ex.shape[2];
    const x = new Float32Array(b * per);
    const y = new Int32Array(b);
    indices.forEach((idx, i) => {
      x.set(imageValues(ex, idx), i * per);
      y[i] = ex.labels[idx];
    });
    return { size: b, x: tf.tensor(x, [b, ...ex.shape]), labels: tf.tensor1d(y, 'int32'), indices };
  }
  const t = ex.length;
  const ids = new Int32Array(b * t);
  indices.forEach((idx, i) => ids.set(ex.ids.subarray(idx * t, (idx + 1) * t), i * t));
  const batch: Batch = { size: b, x: tf.tensor2d(ids, [b, t], 'int32'), indices };
  if (ex.values) {
    batch.values = tf.tensor1d(Float32Array.from(indices, (idx) => ex.values![idx]));
  } else if (ex.labels) {
    batch.labels = tf.tensor1d(Int32Array.from(indices, (idx) => ex.labels![idx]), 'int32');
  } else {
    // Position p predicts token p+1; the last position and padding do not count, nor do
    // the tokens the loss mask leaves out.
    const targets = new Int32Array(b * t);
    const weights = new Float32Array(b * t);
    const counted = ex.lossMask ?? ex.mask;
    indices.forEach((idx, i) => {
      for (let p = 0; p < t - 1; p++) {
        targets[i * t + p] = ex.ids[idx * t + p + 1];
        weights[i * t + p] = counted[idx * t + p + 1];
      }
    });
    batch.targets = tf.tensor2d(targets, [b, t], 'int32');
    batch.weights = tf.tensor2d(weights, [b, t]);
  }
  return batch;
}

export function disposeBatch(batch: Batch): void {
  tf.dispose([batch.x, ...[batch.labels, batch.values, batch.targets, batch.weights].filter((t): t is Tensor => t !== undefined)]);
}

/**
 * The examples of several batches, in memory (what scoring reads: its calibration batches
 * are walked more than once). Lazily read images are decoded batch by batch and copied
 * out; in-memory examples are returned as they are.
 */
export async function residentBatches(ex: Examples, batches: Int32Array[]): Promise<{ examples: Examples; batches: Int32Array[] }> {
  if (ex.kind !== 'images' || !ex.source) return { examples: ex, batches };
  const per = ex.shape[0] * ex.shape[1] * ex.shape[2];
  const total = batches.reduce((s, b) => s + b.length, 0);
  const inputs = new Float32Array(total * per);
  const labels = new Int32Array(total);
  const local: Int32Array[] = [];
  let at = 0;
  for (const b of batches) {
    await ex.source.prepare(b);
    local.push(Int32Array.from(b, (idx, k) => {
      inputs.set(ex.source!.get(idx), (at + k) * per);
      labels[at + k] = ex.labels[idx];
      return at + k;
    }));
    at += b.length;
  }
  return { examples: { kind: 'images', n: total, shape: ex.shape, inputs, labels }, batches: local };
}

/** Training order: micro-batch `m` (global, from 0) -> its example indices. */
export class BatchPlan {
  readonly perEpoch: number;
  private cachedEpoch = -1;
  private order: Int32Array = new Int32Array(0);

  constructor(readonly n: number, readonly batchSize: number, readonly seed: number) {
    this.perEpoch = Math.ceil(n / batchSize);
  }

  epochOf(micro: number): number {
    return Math.floor(micro / this.perEpoch);
  }

  indices(micro: number): Int32Array {
    const epoch = this.epochOf(micro);
    if (epoch !== this.cachedEpoch) {
      this.order = Rng.derive(this.seed, `data-order/epoch-${epoch}`).permutation(this.n);
      this.cachedEpoch = epoch;
    }
    const pos = micro - epoch * this.perEpoch;
    return this.order.subarray(pos * this.batchSize, Math.min(this.n, (pos + 1) * this.batchSize));
  }
}

/**
 * Evaluation batches in data order. Lazily read images are decoded a batch ahead: the
 * next batch decodes (in sharp's thread pool) while the caller works on this one.
 */
export async function* sequentialBatches(ex: Examples, batchSize: number, limit = ex.n): AsyncGenerator<Batch> {
  const range = (start: number): Int32Array => Int32Array.from({ length: Math.min(limit, start + batchSize) - start }, (_, i) => start + i);
  let ready = limit > 0 ? prepareExamples(ex, range(0)) : undefined;
  for (let start = 0; start < limit; start += batchSize) {
    await ready;
    const next = start + batchSize < limit ? prepareExamples(ex, range(start + batchSize)) : undefined;
    // Handled when awaited on the next turn; this keeps a failure from counting as unhandled meanwhile.
    next?.catch(() => undefined);
    ready = next;
    yield makeBatch(ex, range(start));
  }
}
