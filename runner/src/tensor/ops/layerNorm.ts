/**
 * LayerNorm over the last axis: y = (x - mu) / sqrt(var + eps) * gamma + beta, with a
 * hand-written backward that keeps xhat and 1/sigma (what the input gradient needs),
 * or only xhat's selected channels when no gradient flows to x.
 */
import { tf, type Tensor } from '../tf';
import { customOp, flatten2d } from './grad';
import { affineGrads, effectiveAffine, trainableOf, xhatToKeep, type NormTraining } from './normAffine';

export function layerNorm(
  x: Tensor, gamma: Tensor, beta: Tensor | undefined, eps: number, training: NormTraining, xNeedsGrad: boolean,
): Tensor {
  const { x2, restore } = flatten2d(x);
  const d = x2.shape[1];
  const trainables = trainableOf(training);
  const y = customOp(
    xNeedsGrad ? [x2, ...trainables] : trainables,
    (save) => {
      const { mean, variance } = tf.moments(x2, -1, true);
      const rstd = tf.rsqrt(tf.add(variance, eps));
      const xhat = tf.mul(tf.sub(x2, mean), rstd);
      const kept = xhatToKeep(training, xhat);
      save(xNeedsGrad ? [xhat, rstd] : kept ? [kept] : []);
      const { scale, shift } = effectiveAffine(gamma, beta, training);
      const out = tf.mul(xhat, scale);
      return shift ? tf.add(out, shift) : out;
    },
    (dy, saved) => {
      if (!xNeedsGrad) return affineGrads(training, dy, saved[0]);
      const [xhat, rstd] = saved;
      const { scale } = effectiveAffine(gamma, beta, training);
      const g = tf.mul(dy, scale);
      const dx = tf.mul(rstd, tf.sub(tf.sub(g, tf.mean(g, -1, true)), tf.mul(xhat, tf.mean(tf.mul(g, xhat), -1, true))));
      return [dx, ...affineGrads(training, dy, xhatToKeep(training, xhat) ?? xhat)];
    },
  );
  return restore(y, d);
}
