/**
 * BatchNorm with its stored statistics: y = (x - mean) / sqrt(var + eps) * gamma + beta
 * over the channel (last) axis. Fine-tuning keeps the statistics fixed (the usual
 * choice for small fine-tuning batches), so the layer is a per-channel affine map:
 * the input gradient needs nothing saved, the scale gradient only xhat's trained
 * channels.
 */
import { tf, type Tensor } from '../tf';
import { customOp } from './grad';
import { affineGrads, effectiveAffine, trainableOf, xhatToKeep, type NormTraining } from './normAffine';

export interface BatchNormStats {
  mean: Tensor;
  variance: Tensor;
  eps: number;
}

export function batchNorm(
  x: Tensor, gamma: Tensor, beta: Tensor | undefined, stats: BatchNormStats, training: NormTraining, xNeedsGrad: boolean,
): Tensor {
  const c = x.shape[x.rank - 1];
  const trainables = trainableOf(training);
  const inv = (): Tensor => tf.rsqrt(tf.add(stats.variance, stats.eps));
  return customOp(
    xNeedsGrad ? [x, ...trainables] : trainables,
    (save) => {
      const xhat = tf.mul(tf.sub(x, stats.mean), inv());
      const kept = xhatToKeep(training, tf.reshape(xhat, [-1, c]));
      save(kept ? [kept] : []);
      const { scale, shift } = effectiveAffine(gamma, beta, training);
      const out = tf.mul(xhat, scale);
      return shift ? tf.add(out, shift) : out;
    },
    (dy, saved) => {
      const grads = affineGrads(training, tf.reshape(dy, [-1, c]), saved[0]);
      if (!xNeedsGrad) return grads;
      const { scale } = effectiveAffine(gamma, beta, training);
      return [tf.mul(dy, tf.mul(scale, inv())), ...grads];
    },
  );
}
