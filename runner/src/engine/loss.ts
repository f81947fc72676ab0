/**
 * Losses: mean cross-entropy of a classifier, and the next-token cross-entropy of a
 * causal language model averaged over the positions its mask keeps; for training, the
 * latter fused with a frozen (or fully trained) LM head and computed chunk by chunk over
 * the tokens, so that the vocabulary-wide logits are never all alive (`modelLoss`).
 */
import type { Batch } from './batches';
import type { DenseWeights, ForwardContext, Training } from '../models/layer';
import type { Model } from '../models/model';
import { requiresGrad, tapeActive } from '../tensor/autodiff';
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

/**
 * Tokens per chunk of the fused LM-head loss: about 2^18 logits (1 MiB of float32) at a
 * time, at least 16 tokens (a product with fewer rows wastes the GEMM).
 */
export function lmHeadChunkRows(vocab: number, elements = 2 ** 18): number {
  return Math.max(16, Math.floor(elements / Math.max(1, vocab)));
}

/**
 * The causal-LM loss fused with its LM head, over hidden states h [B, T, d] (or [N, d]):
 * sum_n w_n (lse_n - z_n[t_n]) / max(sum_n w_n, 1) with z_n = W h_n + b, computed
 * `chunkRows` tokens at a time so that no more than one chunk of logits ever exists
 * (paper C.3: the logits and their softmax, vocabulary-wide per token, are otherwise the
 * largest tensors of a decoder's step, kept by every method alike). Forward keeps h, the
 * targets and weights and one log-sum-exp per token; backward recomputes each chunk's
 * logits and forms dL/dz = (softmax(z) - onehot(t)) w / sum w for that chunk only, then
 * dL/dh = dL/dz W (and, when the head trains, dL/dW += dL/dz^T h, dL/db += sum dL/dz).
 * Gradients equal those of `lmCrossEntropy` over the full logits to rounding.
 */
export function lmHeadCrossEntropy(
  hidden: Tensor, head: DenseWeights, targets: Tensor, weights: Tensor, chunkRows?: number,
): tf.Scalar {
  const d = hidden.shape[hidden.rank - 1]!;
  const h2 = hidden.rank === 2 ? hidden : reshape(hidden, [-1, d]);
  const n = h2.shape[0]!;
  const vocab = head.weight.shape[0]!;
  const rows = Math.max(1, Math.min(n, chunkRows ?? lmHeadChunkRows(vocab)));
  const t1 = tf.reshape(targets, [-1]);
  const w1 = tf.reshape(weights, [-1]);
  const hNeedsGrad = !tapeActive() || requiresGrad(h2);
  const trainsW = head.weightTrains;
  const trainsB = head.biasTrains && head.bias !== undefined;
  const params = [...(trainsW ? [head.weight] : []), ...(trainsB ? [head.bias!] : [])];
  const starts: number[] = [];
  for (let s = 0; s < n; s += rows) starts.push(s);
  const logitsOf = (hc: Tensor): Tensor => {
    const z = tf.matMul(hc, head.weight, false, true);
    return head.bias ? tf.add(z, head.bias) : z;
  };
  const loss = customOp(
    [...(hNeedsGrad ? [h2] : []), ...params],
    (save) => {
      let total: Tensor = tf.scalar(0);
      const lse: Tensor[] = [];
      for (const s of starts) {
        const m = Math.min(rows, n - s);
        const [next, lseC] = tf.tidy(() => {
          const z = logitsOf(tf.slice(h2, [s, 0], [m, d]));
          const l = tf.logSumExp(z, -1);
          const picked = tf.sum(tf.mul(z, oneHotFloat(tf.slice(t1, [s], [m]), vocab)), -1);
          return [tf.add(total, tf.sum(tf.mul(tf.sub(l, picked), tf.slice(w1, [s], [m])))), l];
        });
        total.dispose();
        total = next;
        lse.push(lseC);
      }
      const lseAll = tf.concat(lse);
      tf.dispose(lse);
      save([h2, t1, w1, lseAll]);
      return tf.div(total, tf.maximum(tf.sum(w1), 1));
    },
    (dy, [hs, ts, ws, lseAll]) => {
      const scale = tf.div(dy, tf.maximum(tf.sum(ws), 1));
      const dh: Tensor[] = [];
      let dW: Tensor | undefined;
      let db: Tensor | undefined;
      for (const s of starts) {
        const m = Math.min(rows, n - s);
        const out = tf.tidy(() => {
          const hc = tf.slice(hs, [s, 0], [m, d]);
          const p = tf.exp(tf.sub(logitsOf(hc), tf.reshape(tf.slice(lseAll, [s], [m]), [m, 1])));
          const wc = tf.reshape(tf.mul(tf.slice(ws, [s], [m]), scale), [m, 1]);
          const g = tf.mul(tf.sub(p, oneHotFloat(tf.slice(ts, [s], [m]), vocab)), wc);
          const parts: Tensor[] = [hNeedsGrad ? tf.matMul(g, head.weight) : tf.scalar(0)];
          if (trainsW) {
            const gw = tf.matMul(g, hc, true, false);
            parts.push(dW ? tf.add(dW, gw) : gw);
          }
          if (trainsB) {
            const gb = tf.sum(g, 0);
            parts.push(db ? tf.add(db, gb) : gb);
          }
          return parts;
        });
        if (hNeedsGrad) dh.push(out[0]);
        else out[0].dispose();
        if (trainsW) {
          dW?.dispose();
          dW = out[1];
        }
        if (trainsB) {
          db?.dispose();
          db = out[trainsW ? 2 : 1];
        }
      }
      scale.dispose();
      const grads: Tensor[] = [];
      if (hNeedsGrad) {
        grads.push(dh.length === 1 ? dh[0] : tf.concat(dh));
        if (dh.length > 1) tf.dispose(dh);
      }
      if (trainsW) grads.push(dW!);
      if (trainsB) grads.push(db!);
      return grads;
    },
  ) as tf.Scalar;
  // Flat views of the targets and weights: the op saved handles of its own.
  tf.dispose([t1, w1]);
  return loss;
}

/**
 * The loss of `model` on `batch`, forward included, as a training step takes it: a causal
 * LM whose LM head is a frozen or fully trained linear layer gets the fused, chunked loss
 * over its last hidden state (`lmHeadCrossEntropy`); anything else (classifiers, a head
 * adapted by SPruFT or LoRA, a head under a scoring hook) the logits and `taskLoss`.
 */
export function modelLoss(model: Model, batch: Batch, ctx: ForwardContext): tf.Scalar {
  const head = batch.targets ? model.lmHead : undefined;
  const training: Training | undefined = head?.training;
  const weights = head && head.kind === 'linear' && !head.perturbedForward ? training?.denseWeights?.(head) : undefined;
  if (head && weights) return lmHeadCrossEntropy(model.lmHeadInput(batch.x, ctx), weights, batch.targets!, batch.weights!);
  return taskLoss(model.forward(batch.x, ctx), batch);
}
