/**
 * Evaluation: loss, accuracy, per-label accuracy with its distribution (min, Q1,
 * median, Q3, max: paper table 2) and the confusion matrix for classifiers; loss,
 * perplexity and zero-shot multiple choice (the choice with the highest log-likelihood)
 * for causal language models.
 */
import type { ClassificationMetrics, LanguageModelMetrics, QuantileSummary } from '../../../protocol/results';
import { inferenceContext } from '../models/layer';
import type { Model } from '../models/model';
import { disposeBatch, sequentialBatches, type Examples, type TokenExamples } from './batches';
import { tf } from './tf';

/** Quantile with linear interpolation between order statistics (numpy's default). */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function quantileSummary(values: number[]): QuantileSummary {
  const s = values.slice().sort((a, b) => a - b);
  return { min: s[0], q1: quantile(s, 0.25), median: quantile(s, 0.5), q3: quantile(s, 0.75), max: s[s.length - 1] };
}

export interface EvalOptions {
  batchSize: number;
  labelNames: string[];
  limit?: number;
}

export async function evaluateClassifier(model: Model, ex: Examples, o: EvalOptions): Promise<ClassificationMetrics> {
  const k = o.labelNames.length;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let lossSum = 0;
  let count = 0;
  const n = Math.min(ex.n, o.limit ?? ex.n);
  for await (const batch of sequentialBatches(ex, o.batchSize, n)) {
    const [nll, pred] = tf.tidy(() => {
      const logits = model.forward(batch.x, inferenceContext());
      const logp = tf.logSoftmax(logits);
      const picked = tf.gather(tf.reshape(logp, [-1]), tf.add(tf.mul(tf.range(0, batch.size, 1, 'int32'), tf.scalar(k, 'int32')), batch.labels!));
      return [tf.neg(tf.sum(picked)), tf.argMax(logits, -1)];
    });
    lossSum += (await nll.data())[0];
    const predicted = await pred.data();
    const labels = await batch.labels!.data();
    for (let i = 0; i < batch.size; i++) confusion[labels[i]][predicted[i]] += 1;
    count += batch.size;
    tf.dispose([nll, pred]);
    disposeBatch(batch);
  }
  const perLabel: Record<string, number> = {};
  const accs: number[] = [];
  let correct = 0;
  o.labelNames.forEach((name, t) => {
    const total = confusion[t].reduce((a, b) => a + b, 0);
    correct += confusion[t][t];
    if (total > 0) {
      perLabel[name] = confusion[t][t] / total;
      accs.push(perLabel[name]);
    }
  });
  return {
    loss: lossSum / count,
    accuracy: correct / count,
    perLabel,
    perLabelStats: quantileSummary(accs),
    confusion,
    labels: o.labelNames,
    examples: count,
  };
}

/** Sum of next-token log-likelihoods per sequence, and the token counts. */
async function sequenceLogLikelihoods(model: Model, ex: TokenExamples, batchSize: number, limit: number): Promise<{ ll: Float64Array; tokens: Float64Array }> {
  const ll = new Float64Array(limit);
  const tokens = new Float64Array(limit);
  let offset = 0;
  for await (const batch of sequentialBatches(ex, batchSize, limit)) {
    const [sums, counts] = tf.tidy(() => {
      const logits = model.forward(batch.x, inferenceContext());
      const v = logits.shape[logits.rank - 1];
      const logp = tf.reshape(tf.logSoftmax(tf.reshape(logits, [-1, v])), [-1]);
      const flatTargets = tf.reshape(batch.targets!, [-1]);
      const picked = tf.gather(logp, tf.add(tf.mul(tf.range(0, flatTargets.shape[0], 1, 'int32'), tf.scalar(v, 'int32')), flatTargets));
      const weighted = tf.reshape(tf.mul(picked, tf.reshape(batch.weights!, [-1])), [batch.size, -1]);
      return [tf.sum(weighted, 1), tf.sum(batch.weights!, 1)];
    });
    const s = await sums.data();
    const c = await counts.data();
    for (let i = 0; i < batch.size; i++) {
      ll[offset + i] = s[i];
      tokens[offset + i] = c[i];
    }
    offset += batch.size;
    tf.dispose([sums, counts]);
    disposeBatch(batch);
  }
  return { ll, tokens };
}

export async function evaluateLanguageModel(model: Model, ex: TokenExamples, batchSize: number, limit = ex.n): Promise<LanguageModelMetrics> {
  const n = Math.min(limit, ex.n);
  const { ll, tokens } = await sequenceLogLikelihoods(model, ex, batchSize, n);
  const totalLl = ll.reduce((a, b) => a + b, 0);
  const totalTokens = tokens.reduce((a, b) => a + b, 0);
  const loss = -totalLl / Math.max(1, totalTokens);
  const metrics: LanguageModelMetrics = { loss, perplexity: Math.exp(loss), tokens: totalTokens };
  if (ex.choiceGroup && ex.choiceCorrect) {
    // Zero-shot multiple choice: per question, the choice with the highest mean log-likelihood.
    const best = new Map<number, { score: number; correct: boolean }>();
    for (let i = 0; i < n; i++) {
      const score = ll[i] / Math.max(1, tokens[i]);
      const g = ex.choiceGroup[i];
      const cur = best.get(g);
      if (!cur || score > cur.score) best.set(g, { score, correct: ex.choiceCorrect[i] === 1 });
    }
    const answers = [...best.values()];
    metrics.multipleChoiceAccuracy = answers.filter((a) => a.correct).length / answers.length;
  }
  return metrics;
}
