/**
 * Evaluation: loss, accuracy, per-label accuracy with its distribution (min, Q1,
 * median, Q3, max: paper table 2) and the confusion matrix for classifiers; loss,
 * perplexity and zero-shot multiple choice (the choice with the highest log-likelihood,
 * as the LM evaluation harness scores it) for causal language models.
 */
import type { ClassificationMetrics, LanguageModelMetrics, MultipleChoiceScore, QuantileSummary, RegressionMetrics } from '../../../protocol/results';
import type { McTask } from '../data/multipleChoice';
import type { TextTokenizer } from '../data/tokenizers/types';
import { SpruftError } from '../errors';
import { inferenceContext } from '../models/layer';
import type { Model } from '../models/model';
import { disposeBatch, sequentialBatches, type Examples, type TokenExamples } from './batches';
import { glueClassificationMetrics, pearson, spearman } from './textMetrics';
import { tf } from '../tensor/tf';

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
  const { mcc, f1, f1Average } = glueClassificationMetrics(confusion);
  return {
    loss: lossSum / count,
    accuracy: correct / count,
    perLabel,
    perLabelStats: quantileSummary(accs),
    confusion,
    labels: o.labelNames,
    examples: count,
    mcc, f1, f1Average,
  };
}

/** A regression head on examples with `values`: MSE, Pearson and Spearman as GLUE's STS-B reports them. */
export async function evaluateRegression(model: Model, ex: Examples, o: { batchSize: number; limit?: number }): Promise<RegressionMetrics> {
  const n = Math.min(ex.n, o.limit ?? ex.n);
  const predicted = new Float64Array(n);
  const targets = new Float64Array(n);
  let at = 0;
  for await (const batch of sequentialBatches(ex, o.batchSize, n)) {
    if (!batch.values) throw new SpruftError('INTERNAL', 'regression evaluation needs examples with values');
    const out = tf.tidy(() => tf.reshape(model.forward(batch.x, inferenceContext()), [-1]));
    if (out.size !== batch.size) throw new SpruftError('INTERNAL', `a regression head has one output per example, got ${out.size / batch.size}`);
    predicted.set(await out.data(), at);
    targets.set(await batch.values.data(), at);
    at += batch.size;
    out.dispose();
    disposeBatch(batch);
  }
  let sq = 0;
  for (let i = 0; i < n; i++) sq += (predicted[i] - targets[i]) ** 2;
  const mse = sq / Math.max(1, n);
  return { loss: mse, mse, pearson: pearson(predicted, targets), spearman: spearman(predicted, targets), examples: n };
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

/** Next-token loss and perplexity over the positions the examples' loss mask counts. */
export async function evaluateLanguageModel(model: Model, ex: TokenExamples, batchSize: number, limit = ex.n): Promise<LanguageModelMetrics> {
  const n = Math.min(limit, ex.n);
  const { ll, tokens } = await sequenceLogLikelihoods(model, ex, batchSize, n);
  const totalLl = ll.reduce((a, b) => a + b, 0);
  const totalTokens = tokens.reduce((a, b) => a + b, 0);
  const loss = -totalLl / Math.max(1, totalTokens);
  return { loss, perplexity: Math.exp(loss), tokens: totalTokens };
}

// ---------------------------------------------------------------- zero-shot multiple choice

/**
 * A (context, continuation) pair as token ids, as the LM evaluation harness builds it:
 * spaces that end the context move to the continuation; the continuation's tokens are
 * those of the whole text after the context's own tokens (so a merge across the boundary
 * is scored as the model would see it). An empty context is replaced by the end-of-text
 * (else BOS) token, which the model can condition on.
 */
export function encodeChoice(tok: TextTokenizer, context: string, continuation: string): { context: number[]; continuation: number[] } {
  const trimmed = context.replace(/\s+$/, '');
  const moved = context.slice(trimmed.length) + continuation;
  const whole = tok.encodeText(trimmed + moved);
  const ctx = tok.encodeText(trimmed);
  const cont = ctx.length === 0 ? tok.encodeText(moved) : whole.slice(ctx.length);
  // The tokenizer's own prefix (BOS for Llama-family tokenizers), then the context.
  const prefix = [...tok.prefixIds];
  if (prefix.length === 0 && ctx.length === 0) {
    const start = tok.eosId ?? tok.bosId;
    if (start === undefined) throw new SpruftError('DATA_INVALID', 'an empty context needs an end-of-text or BOS token to condition on, and the tokenizer names neither');
    prefix.push(start);
  }
  return { context: [...prefix, ...ctx], continuation: cont };
}

/** Logits held at once when scoring choices (float32 elements: 64 MiB). */
const LOGITS_BUDGET = 16 * 1024 * 1024;

/**
 * Sum of log p(continuation tokens | context) for each pair, batched by length (longest
 * first, each batch padded to its own longest). Pairs longer than `maxLength` keep their
 * last `maxLength` tokens (the context is cut from the left, as the harness does).
 */
export async function continuationLogLikelihoods(
  model: Model, pairs: Array<{ context: number[]; continuation: number[] }>, padId: number, batchSize: number, maxLength: number,
  logitsBudget = LOGITS_BUDGET,
): Promise<Float64Array> {
  const out = new Float64Array(pairs.length);
  const order = pairs.map((_, i) => i).sort((a, b) => pairs[b].context.length + pairs[b].continuation.length - (pairs[a].context.length + pairs[a].continuation.length));
  const vocab = model.input.kind === 'tokens' ? model.input.vocabSize : 1;
  for (let start = 0; start < order.length;) {
    // At most `logitsBudget` logits per batch ([B, T, vocab] and its log-softmax): GPT-2's
    // 50,257-way logits for 128 sequences of 100 tokens would take 2.6 GB, past the wasm heap.
    const longest = Math.min(maxLength, pairs[order[start]].context.length + pairs[order[start]].continuation.length);
    const size = Math.max(1, Math.min(batchSize, Math.floor(logitsBudget / (Math.max(2, longest) * vocab))));
    const chunk = order.slice(start, start + size);
    start += size;
    const rows = chunk.map((i) => {
      const { context, continuation } = pairs[i];
      if (continuation.length === 0) throw new SpruftError('INTERNAL', 'a choice with no continuation tokens cannot be scored');
      let ids = [...context, ...continuation];
      if (ids.length > maxLength) ids = ids.slice(ids.length - maxLength);
      return { ids, scored: Math.min(continuation.length, ids.length - 1) };
    });
    const length = Math.max(2, ...rows.map((r) => r.ids.length));
    const n = rows.length;
    const ids = new Int32Array(n * length).fill(padId);
    const mask = new Uint8Array(n * length);
    const lossMask = new Uint8Array(n * length);
    rows.forEach((r, k) => {
      ids.set(r.ids, k * length);
      mask.fill(1, k * length, k * length + r.ids.length);
      lossMask.fill(1, k * length + r.ids.length - r.scored, k * length + r.ids.length);
    });
    const { ll } = await sequenceLogLikelihoods(model, { kind: 'tokens', n, length, ids, mask, lossMask }, n, n);
    chunk.forEach((i, k) => (out[i] = ll[k]));
  }
  return out;
}

/** Index of the largest value; the first on ties (numpy's argmax, as the harness). */
function argmax(values: number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** The harness's standard error of a mean of 0/1 outcomes: sqrt(p (1 - p) / (n - 1)). */
function stderrOfMean(p: number, n: number): number {
  return n > 1 ? Math.sqrt((p * (1 - p)) / (n - 1)) : NaN;
}

export interface McScoreOptions {
  batchSize: number;
  /** Longest sequence the model reads. */
  maxLength: number;
}

/**
 * Zero-shot accuracy on one task, as the LM evaluation harness scores `multiple_choice`
 * tasks: `acc` picks the choice of highest log-likelihood, `acc_norm` the highest
 * log-likelihood per character of the choice's text.
 */
export async function scoreMultipleChoice(model: Model, tok: TextTokenizer, task: McTask, o: McScoreOptions): Promise<MultipleChoiceScore> {
  const pairs: Array<{ context: number[]; continuation: number[] }> = [];
  for (const q of task.questions) q.contexts.forEach((c, j) => pairs.push(encodeChoice(tok, c, q.continuations[j])));
  const ll = await continuationLogLikelihoods(model, pairs, tok.padId, o.batchSize, o.maxLength);
  let correct = 0;
  let correctNorm = 0;
  let offset = 0;
  const predictions: number[] = [];
  for (const q of task.questions) {
    const scores = Array.from(ll.subarray(offset, offset + q.contexts.length));
    offset += q.contexts.length;
    const pick = argmax(scores);
    predictions.push(pick);
    if (pick === q.gold) correct++;
    if (argmax(scores.map((s, j) => s / q.choiceTexts[j].length)) === q.gold) correctNorm++;
  }
  const n = task.questions.length;
  const acc = correct / n;
  const accNorm = correctNorm / n;
  return { acc, accNorm, n, accStderr: stderrOfMean(acc, n), accNormStderr: stderrOfMean(accNorm, n), layout: task.layout, path: task.path, predictions };
}
