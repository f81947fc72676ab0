/**
 * Losses: mean cross-entropy of a classifier, and the next-token cross-entropy of a
 * causal language model averaged over the positions its mask keeps.
 */
import type { Batch } from './batches';
import { tf, type Tensor } from './tf';

/** One-hot as float32 (built as int32: the wasm backend's float32 OneHot is broken). */
export function oneHotFloat(labels: Tensor, depth: number): Tensor {
  return tf.cast(tf.oneHot(labels as tf.Tensor1D, depth), 'float32');
}

/** logits [B, K], labels int32 [B] -> scalar mean of -log softmax(logits)[label]. */
export function crossEntropy(logits: Tensor, labels: Tensor): tf.Scalar {
  const k = logits.shape[logits.rank - 1];
  const logp = tf.logSoftmax(logits);
  return tf.neg(tf.mean(tf.sum(tf.mul(logp, oneHotFloat(labels, k)), -1))) as tf.Scalar;
}

/**
 * logits [B, T, V]; targets int32 [B, T] (the next token at each position); weights
 * [B, T] (1 where the position counts). Returns the mean over counted positions.
 */
export function lmCrossEntropy(logits: Tensor, targets: Tensor, weights: Tensor): tf.Scalar {
  const v = logits.shape[logits.rank - 1];
  const flat = tf.reshape(logits, [-1, v]);
  const nll = tf.neg(tf.sum(tf.mul(tf.logSoftmax(flat), oneHotFloat(tf.reshape(targets, [-1]), v)), -1));
  const w = tf.reshape(weights, [-1]);
  return tf.div(tf.sum(tf.mul(nll, w)), tf.maximum(tf.sum(w), 1)) as tf.Scalar;
}

/** The task's loss on a batch: classification cross-entropy, or next-token for causal LM. */
export function taskLoss(logits: Tensor, batch: Batch): tf.Scalar {
  if (batch.labels) return crossEntropy(logits, batch.labels);
  return lmCrossEntropy(logits, batch.targets!, batch.weights!);
}
