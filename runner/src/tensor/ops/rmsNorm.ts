/**
 * RMSNorm (Llama): y = x / sqrt(mean(x^2) + eps) * w. The backward keeps xhat and the
 * reciprocal RMS, or only xhat's selected channels when no gradient flows to x.
 */
import { tf, type Tensor } from '../tf';
import { customOp, flatten2d } from './grad';
import { affineGrads, effectiveAffine, trainableOf, xhatToKeep, type NormTraining } from './normAffine';

export function rmsNorm(x: Tensor, weight: Tensor, eps: number, training: NormTraining, xNeedsGrad: boolean): Tensor {
  const { x2, restore } = flatten2d(x);
  const d = x2.shape[1];
  const trainables = trainableOf(training);
  const y = customOp(
    xNeedsGrad ? [x2, ...trainables] : trainables,
    (save) => {
      const rrms = tf.rsqrt(tf.add(tf.mean(tf.square(x2), -1, true), eps));
      const xhat = tf.mul(x2, rrms);
      const kept = xhatToKeep(training, xhat);
      save(xNeedsGrad ? [xhat, rrms] : kept ? [kept] : []);
      return tf.mul(xhat, effectiveAffine(weight, undefined, training).scale);
    },
    (dy, saved) => {
      if (!xNeedsGrad) return affineGrads(training, dy, saved[0]);
      const [xhat, rrms] = saved;
      const g = tf.mul(dy, effectiveAffine(weight, undefined, training).scale);
      const dx = tf.mul(rrms, tf.sub(g, tf.mul(xhat, tf.mean(tf.mul(g, xhat), -1, true))));
      return [dx, ...affineGrads(training, dy, xhatToKeep(training, xhat) ?? xhat)];
    },
  );
  return restore(y, d);
}
