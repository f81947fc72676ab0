import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MultipleChoiceScore, RunResult } from '../../../protocol/results';
import type { MethodView } from '../../../protocol/runFolder';
import { multipleChoiceRows } from './multipleChoice';

const score = (acc: number, accNorm: number, n = 4): MultipleChoiceScore => ({ acc, accNorm, n, accStderr: 0, accNormStderr: 0, layout: 'arc', path: 'x' });
const view = (method: 'spruft' | 'lora', after: Record<string, MultipleChoiceScore>, before?: Record<string, MultipleChoiceScore>): MethodView => ({
  method, runDir: '', progress: [],
  result: { method, metrics: { loss: 1, perplexity: 2.7, tokens: 9, multipleChoice: after }, ...(before ? { before: { loss: 1, perplexity: 2.7, tokens: 9, multipleChoice: before } } : {}) } as unknown as RunResult,
});

test('multiple-choice rows: one per task, the frozen model before, each method after', () => {
  const rows = multipleChoiceRows([
    view('spruft', { arc: score(0.5, 0.75), piqa: score(1, 0.5, 2) }, { arc: score(0.25, 0.5), piqa: score(0.5, 0.5, 2) }),
    view('lora', { arc: score(0.75, 0.75) }, { arc: score(0.25, 0.5) }),
    { method: 'full', runDir: '', progress: [] },
  ]);
  assert.deepEqual(rows, [
    { task: 'arc', questions: 4, before: { acc: 0.25, accNorm: 0.5 }, after: [{ method: 'spruft', acc: 0.5, accNorm: 0.75 }, { method: 'lora', acc: 0.75, accNorm: 0.75 }] },
    { task: 'piqa', questions: 2, before: { acc: 0.5, accNorm: 0.5 }, after: [{ method: 'spruft', acc: 1, accNorm: 0.5 }] },
  ]);
  assert.deepEqual(multipleChoiceRows([{ method: 'spruft', runDir: '', progress: [] }]), []);
});
