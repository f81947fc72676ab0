/**
 * Losses: mean cross-entropy of a classifier, and the next-token cross-entropy of a
 * causal language model averaged over the positions its mask keeps.
 */
import type { Batch } from './batches';
import { customOp, reshape } from '../tensor/ops/grad';
import { mseLoss } from './regressionLoss';
import { tf, type Tensor } from '../tensor/tf';

/** One-hot as float32 (built as int32: the wasm backend's float32 OneHot is broken). */
export function oneHotFloat(labels: Tensor, depth: number): Tensor {
  return tf.cast(tf.oneHot(labels as tf.Tensor1D, depth), 'float32');
}

/**
 * sum_n w_n * -log softmax(logits_n)[target_n] / sum_n w_n over rows of [N, K] logits,
 * with the familiar backward (softmax(logits) - onehot) * w / sum w, keeping only the
 * softmax.
 */
function weightedCrossEntropy(logits2: Tensor, targets: Tensor, weights: Tensor): tf.Scalar {
  const k = logits2.shape[1]!;
  return customOp(
    [logits2],
    (save) => {
      const logp = tf.logSoftmax(logits2);
      save([tf.exp(logp), targets, weights]);
      const nll = tf.neg(tf.sum(tf.mul(logp, oneHotFloat(targets, k)), -1));
      return tf.div(tf.sum(tf.mul(nll, weights)), tf.maximum(tf.sum(weights), 1));
    },
    (dy, [p, t, wts]) => {
      const w = tf.div(wts, tf.maximum(tf.sum(wts), 1));
      return [tf.mul(tf.mul(tf.sub(p, oneHotFloat(t, k)), tf.reshape(w, [-1, 1])), dy)];
    },
  ) as tf.Scalar;
}

/** logits [B, K], labels int32 [B] -> scalar mean of -log softmax(logits)[label]. */
export function crossEntropy(logits: Tensor, labels: Tensor): tf.Scalar {
  return weightedCrossEntropy(logits, labels, tf.ones(labels.shape));
}

/**
 * logits [B, T, V]; targets int32 [B, T] (the next token at each position); weights
 * [B, T] (1 where the position counts). Returns the mean over counted positions.
 */
export function lmCrossEntropy(logits: Tensor, targets: Tensor, weights: Tensor): tf.Scalar {
  const v = logits.shape[logits.rank - 1]!;
  return weightedCrossEntropy(reshape(logits, [-1, v]), tf.reshape(targets, [-1]), tf.reshape(weights, [-1]));
}

/** The task's loss on a batch: classification cross-entropy, regression MSE, or next-token for causal LM. */
export function taskLoss(logits: Tensor, batch: Batch): tf.Scalar {
  if (batch.values) return mseLoss(logits, batch.values);
  if (batch.labels) return crossEntropy(logits, batch.labels);
  return lmCrossEntropy(logits, batch.targets!, batch.weights!);
}
