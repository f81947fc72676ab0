/**
 * `l2` (magnitude importance, appendix A): eta_i = sqrt(sum_j w_ij^2), the norm of row
 * i's parameters (a conv filter for an output channel; |gamma_i| for a norm channel).
 */
import { tf } from '../tf';
import type { ImportanceMetric } from './metric';

export const l2Importance: ImportanceMetric = async (ctx) => {
  const scores = new Map<string, Float32Array>();
  for (const layer of ctx.layers) {
    const norms = tf.tidy(() => tf.norm(layer.rowMatrix(), 'euclidean', 1));
    scores.set(layer.name, (await norms.data()) as Float32Array);
    norms.dispose();
  }
  return scores;
};
