import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accuracyOf, f1Of, glueClassificationMetrics, macroF1, matthewsCorrelation, pearson, spearman } from './textMetrics';

const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);

test('binary: accuracy, F1 of label 1, MCC, by hand', () => {
  // rows true, columns predicted: TN 5, FP 2, FN 1, TP 4.
  const c = [[5, 2], [1, 4]];
  close(accuracyOf(c), 9 / 12, 'accuracy');
  close(f1Of(c, 1), (2 * 4) / (2 * 4 + 2 + 1), 'F1'); // 8/11
  close(matthewsCorrelation(c), (4 * 5 - 2 * 1) / Math.sqrt((4 + 2) * (4 + 1) * (5 + 2) * (5 + 1)), 'MCC'); // 18/sqrt(1260)
  assert.deepEqual(glueClassificationMetrics(c).f1Average, 'binary');
  // A classifier that always says 0: F1 of label 1 is 0, MCC is 0 (undefined, as scikit-learn).
  assert.equal(f1Of([[6, 0], [6, 0]], 1), 0);
  assert.equal(matthewsCorrelation([[6, 0], [6, 0]]), 0);
  // Perfect and perfectly wrong.
  assert.equal(matthewsCorrelation([[3, 0], [0, 5]]), 1);
  assert.equal(matthewsCorrelation([[0, 3], [5, 0]]), -1);
});

test('three classes: MCC (Gorodkin R_K) and macro F1, by hand', () => {
  const c = [[2, 1, 0], [0, 3, 1], [1, 0, 2]];
  // c = 7, s = 10, t = p = [3, 4, 3]: (70 - 34) / sqrt((100 - 34)(100 - 34)) = 36 / 66.
  close(matthewsCorrelation(c), 36 / 66, 'MCC');
  // Per-class F1: 2*2/(4+1+1), 2*3/(6+1+1), 2*2/(4+1+1).
  close(macroF1(c), (4 / 6 + 6 / 8 + 4 / 6) / 3, 'macro F1');
  assert.deepEqual(glueClassificationMetrics(c).f1Average, 'macro');
});

test('regression (STS-B): Pearson and Spearman, by hand', () => {
  // mean x 2.5, mean y 3.75; sum dx dy 3.5, sum dx^2 5, sum dy^2 4.75.
  close(pearson([1, 2, 3, 4], [2, 4, 5, 4]), 3.5 / Math.sqrt(5 * 4.75), 'pearson');
  // ranks of y with the tie averaged: [1, 2.5, 4, 2.5]; Pearson of ranks: 3 / sqrt(5 * 4.5).
  close(spearman([1, 2, 3, 4], [2, 4, 5, 4]), 3 / Math.sqrt(5 * 4.5), 'spearman');
  close(pearson([1, 2, 3], [-2, -4, -6]), -1, 'anti-correlated');
  assert.ok(Number.isNaN(pearson([1, 1, 1], [1, 2, 3])));
  assert.throws(() => pearson([1], [1, 2]), /lists of 1 and 2 values/);
});
