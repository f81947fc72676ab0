import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunResult } from '../../../protocol/results';
import type { MethodView } from '../../../protocol/runFolder';
import { scoreText } from './scores';

const view = (metrics: Record<string, unknown>): MethodView => ({ method: 'spruft', runDir: '', progress: [], result: { method: 'spruft', metrics } as unknown as RunResult });

test('a method\'s score: accuracy for a classifier, MSE and Pearson for a regression head, none for a language model', () => {
  assert.equal(scoreText(view({ loss: 0.5, accuracy: 0.8125 })), '81.3%');
  assert.equal(scoreText(view({ loss: 0.5, accuracy: 0.8125 }), true), 'accuracy 81.3%');
  const regression = view({ loss: 3.4517, mse: 3.4517, pearson: 0.5634, spearman: 0.37, examples: 6 });
  assert.match(scoreText(regression)!, /^Pearson 0\.56/);
  assert.match(scoreText(regression, true)!, /^MSE 3\.45\d* · Pearson 0\.56/);
  assert.equal(scoreText(view({ loss: 2, perplexity: 7.4, tokens: 10 })), undefined);
  assert.equal(scoreText({ method: 'lora', runDir: '', progress: [] }), undefined);
});
