/**
 * Text classification metrics as GLUE reports them (paper appendix C, table 5): accuracy,
 * F1 of the positive class (MRPC, QQP), Matthews correlation (CoLA), and for regression
 * (STS-B) Pearson and Spearman correlation. Each follows scikit-learn's definition (what
 * the GLUE scripts call), computed from the confusion matrix or the value lists.
 */
import type { ClassificationMetrics } from '../../../protocol/results';

/** confusion[true][predicted] counts. */
export type Confusion = readonly (readonly number[])[];

export function accuracyOf(confusion: Confusion): number {
  let correct = 0;
  let total = 0;
  confusion.forEach((row, t) => row.forEach((count, p) => {
    total += count;
    if (t === p) correct += count;
  }));
  return total > 0 ? correct / total : NaN;
}

/** F1 of one class: 2 TP / (2 TP + FP + FN); 0 when the class is neither present nor predicted (scikit-learn's zero_division). */
export function f1Of(confusion: Confusion, positive: number): number {
  const tp = confusion[positive][positive];
  let fp = 0;
  let fn = 0;
  confusion.forEach((row, t) => row.forEach((count, p) => {
    if (p === positive && t !== positive) fp += count;
    if (t === positive && p !== positive) fn += count;
  }));
  const denominator = 2 * tp + fp + fn;
  return denominator > 0 ? (2 * tp) / denominator : 0;
}

/** Unweighted mean of the per-class F1 (scikit-learn's average="macro"). */
export function macroF1(confusion: Confusion): number {
  return confusion.reduce((s, _, k) => s + f1Of(confusion, k), 0) / confusion.length;
}

/**
 * Matthews correlation coefficient, for any number of classes (Gorodkin's R_K, as
 * scikit-learn computes it): (c s - sum_k p_k t_k) / sqrt((s^2 - sum p_k^2)(s^2 - sum t_k^2))
 * with c correct, s total, t_k true and p_k predicted counts of class k; 0 when undefined.
 * For two classes it is (TP TN - FP FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)).
 */
export function matthewsCorrelation(confusion: Confusion): number {
  const k = confusion.length;
  const t = new Array<number>(k).fill(0);
  const p = new Array<number>(k).fill(0);
  let c = 0;
  let s = 0;
  confusion.forEach((row, i) => row.forEach((count, j) => {
    t[i] += count;
    p[j] += count;
    s += count;
    if (i === j) c += count;
  }));
  const pt = t.reduce((acc, ti, i) => acc + ti * p[i], 0);
  const pp = p.reduce((acc, v) => acc + v * v, 0);
  const tt = t.reduce((acc, v) => acc + v * v, 0);
  const denominator = Math.sqrt((s * s - pp) * (s * s - tt));
  return denominator > 0 ? (c * s - pt) / denominator : 0;
}

/** Pearson correlation of two equally long lists; NaN when either is constant. */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  if (n !== y.length) throw new RangeError(`pearson: lists of ${n} and ${y.length} values`);
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i] / n;
    my += y[i] / n;
  }
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i] - mx;
    const dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : NaN;
}

/** Ranks from 1, ties sharing the mean of their ranks. */
function ranks(values: ArrayLike<number>): Float64Array {
  const order = Array.from({ length: values.length }, (_, i) => i).sort((a, b) => values[a] - values[b]);
  const out = new Float64Array(values.length);
  for (let start = 0; start < order.length;) {
    let end = start;
    while (end + 1 < order.length && values[order[end + 1]] === values[order[start]]) end++;
    const rank = (start + end) / 2 + 1;
    for (let i = start; i <= end; i++) out[order[i]] = rank;
    start = end + 1;
  }
  return out;
}

/** Spearman correlation: Pearson of the ranks (ties averaged). */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  return pearson(ranks(x), ranks(y));
}

/**
 * What GLUE reports of a classifier: accuracy, Matthews correlation, and F1 of label 1
 * for two labels (GLUE's positive class) or the macro F1 for more.
 */
export function glueClassificationMetrics(confusion: Confusion): Required<Pick<ClassificationMetrics, 'accuracy' | 'mcc' | 'f1' | 'f1Average'>> {
  const binary = confusion.length === 2;
  return {
    accuracy: accuracyOf(confusion),
    mcc: matthewsCorrelation(confusion),
    f1: binary ? f1Of(confusion, 1) : macroF1(confusion),
    f1Average: binary ? 'binary' : 'macro',
  };
}
