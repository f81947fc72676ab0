/**
 * The mean gradient of the loss with respect to frozen weights, over calibration data:
 * G = (1/|D|) sum_{x in D} dL(x)/dW, what Taylor importance needs (appendix A).
 *
 * How: for the duration of the pass, each scored layer's weight is replaced by a
 * trainable copy (the `full` training state), so that one backward pass gives dL/dW of
 * every scored layer; the copies are released afterwards and the model is unchanged.
 *
 * Memory (the choice the metrics document): appendix A takes the mean over the data
 * inside |.|, per weight, so a per-layer accumulator of the weight's size must live
 * across the batches; nothing smaller is exact. Each batch's gradients are added to it
 * and released at once, so at most one batch's gradients exist beside the accumulators.
 * The peak is that of a full fine-tuning step (the backward pass keeps each layer's
 * input) plus the accumulators and the copies: paper 6.1, "gradient-based metrics like
 * Taylor are as memory-intensive as full fine-tuning". `zo-taylor` is the
 * inference-memory alternative (4.2.2).
 */
import { SpruftError } from '../../errors';
import { valueAndGrads } from '../../tensor/autodiff';
import { inferenceContext, type AdaptableLayer } from '../../models/layer';
import type { Model } from '../../models/model';
import { disposeBatch, type Batch } from '../batches';
import { FullTraining } from '../methods/full/layer';
import { tf, type Tensor } from '../../tensor/tf';

export type LossFn = (logits: Tensor, batch: Batch) => Tensor;

/** Weight of a batch in the mean over data: examples, or counted tokens for a causal LM. */
export function batchWeight(batch: Batch): number {
  if (batch.labels || batch.values || !batch.weights) return batch.size;
  const s = tf.tidy(() => tf.sum(batch.weights!));
  const v = s.dataSync()[0];
  s.dispose();
  return v;
}

let probeCounter = 0;

/** Give each layer a trainable copy of its weight (removed by `detachProbes`). */
function attachProbes(layers: AdaptableLayer[]): Map<string, tf.Variable> {
  const vars = new Map<string, tf.Variable>();
  for (const layer of layers) {
    if (layer.training.kind !== 'frozen') {
      throw new SpruftError('INTERNAL', `layer ${layer.name} already trains (${layer.training.kind}); score before attaching a method`);
    }
  }
  for (const layer of layers) {
    probeCounter += 1;
    const w = tf.tidy(() => tf.variable(tf.clone(layer.weight), true, `spruft-probe/${layer.name}#${probeCounter}`));
    layer.training = new FullTraining(w);
    vars.set(layer.name, w);
  }
  return vars;
}

function detachProbes(layers: AdaptableLayer[]): void {
  for (const layer of layers) layer.resetTraining();
}

/**
 * The examples of class `label` in `batches` (qm-taylor's D^t, eq. 6), regrouped into
 * batches of up to `size` examples: one pass over the calibration data per class costs
 * about |D^t| / size forward-backward passes, not one per calibration batch. Each
 * yielded batch is released when the consumer asks for the next.
 */
export function* classBatches(batches: Iterable<Batch>, label: number, size: number): Generator<Batch> {
  let pending: Batch[] = [];
  let count = 0;
  const flush = (): Batch => {
    const out: Batch = pending.length === 1 ? pending[0] : {
      size: count,
      x: tf.concat(pending.map((b) => b.x)),
      labels: tf.concat(pending.map((b) => b.labels!)),
      indices: Int32Array.from(pending.flatMap((b) => Array.from(b.indices))),
    };
    if (pending.length > 1) pending.forEach(disposeBatch);
    pending = [];
    count = 0;
    return out;
  };
  try {
    for (const batch of batches) {
      if (!batch.labels) throw new SpruftError('INTERNAL', 'class batches need labels');
      const labels = batch.labels.dataSync() as Int32Array;
      const picked: number[] = [];
      labels.forEach((l, i) => { if (l === label) picked.push(i); });
      for (let start = 0; start < picked.length;) {
        const take = picked.slice(start, start + size - count);
        start += take.length;
        const idx = tf.tensor1d(take, 'int32');
        pending.push({ size: take.length, x: tf.gather(batch.x, idx), labels: tf.gather(batch.labels, idx), indices: Int32Array.from(take, (i) => batch.indices[i]) });
        idx.dispose();
        count += take.length;
        if (count === size) {
          const out = flush();
          try {
            yield out;
          } finally {
            disposeBatch(out);
          }
        }
      }
    }
    if (count > 0) {
      const out = flush();
      try {
        yield out;
      } finally {
        disposeBatch(out);
      }
    }
  } finally {
    pending.forEach(disposeBatch);
  }
}

export interface MeanGradients {
  /** layer name -> mean gradient of the loss w.r.t. its weight (engine layout); the caller disposes. */
  grads: Map<string, Tensor>;
  /** Total weight of the data (examples, or tokens for a causal LM). */
  total: number;
}

/** Mean gradient over `batches` (zero for a layer the loss does not reach). */
export async function meanWeightGradients(
  model: Model,
  layers: AdaptableLayer[],
  batches: Iterable<Batch>,
  loss: LossFn,
): Promise<MeanGradients> {
  const vars = attachProbes(layers);
  const sums = new Map<string, Tensor>();
  let total = 0;
  try {
    for (const batch of batches) {
      const weight = batchWeight(batch);
      if (weight === 0) continue;
      // The engine's tape (./autodiff.ts): backward keeps only what each op saved.
      const params = layers.map((l) => vars.get(l.name)!);
      const { grads } = valueAndGrads(() => loss(model.forward(batch.x, inferenceContext()), batch), params);
      layers.forEach((layer, k) => {
        const g = grads[k];
        const prev = sums.get(layer.name);
        // dL/dW of the batch's mean loss, times its weight: the batch's sum over examples.
        sums.set(layer.name, tf.tidy(() => (prev ? tf.add(prev, tf.mul(g, weight)) : tf.mul(g, weight))));
        prev?.dispose();
      });
      tf.dispose(grads);
      total += weight;
      // Let the event loop breathe between batches (cancellation, progress output).
      await Promise.resolve();
    }
  } finally {
    detachProbes(layers);
  }
  const grads = new Map<string, Tensor>();
  for (const layer of layers) {
    const sum = sums.get(layer.name);
    grads.set(layer.name, tf.tidy(() => (sum && total > 0 ? tf.div(sum, total) : tf.zerosLike(layer.weight))));
    sum?.dispose();
  }
  return { grads, total };
}
