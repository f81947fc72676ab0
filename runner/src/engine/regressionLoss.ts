/**
 * The loss of a regression head (`head.problemType: regression`, GLUE's STS-B): the mean
 * squared error between the head's one output and the target, as transformers'
 * sequence-classification models compute it for `problem_type: "regression"`
 * (MSELoss(logits.squeeze(), labels)). Kept apart from loss.ts's cross-entropies.
 */
import { customOp } from '../tensor/ops/grad';
import { tf, type Tensor } from '../tensor/tf';

/** logits [B, 1], values float32 [B] -> mean_n (logit_n - value_n)^2, backward 2 (logit - value) / B. */
export function mseLoss(logits: Tensor, values: Tensor): tf.Scalar {
  const b = values.shape[0]!;
  if (logits.shape[logits.rank - 1] !== 1) throw new Error(`internal: a regression head has one output, got logits [${logits.shape}]`);
  return customOp(
    [logits],
    (save) => {
      const diff = tf.sub(tf.reshape(logits, [b]), values);
      save([diff]);
      return tf.div(tf.sum(tf.square(diff)), tf.scalar(b));
    },
    (dy, [diff]) => [tf.mul(tf.reshape(tf.mul(diff, tf.scalar(2 / b)), [b, 1]), dy)],
  ) as tf.Scalar;
}
