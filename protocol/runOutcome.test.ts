import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyRunMessage, snapshotFromRunFolder } from './dashboardSnapshot';
import { formatLoss, formatRate, formatSpeed } from './format';
import type { ProgressEvent, RunResult } from './results';
import type { DashboardSnapshot } from './runFolder';
import { describeOutcome, isResumable, overallProgress } from './runOutcome';

const progress = (method: 'spruft' | 'lora', step: number, total: number, elapsedMs: number, etaMs?: number): ProgressEvent => ({
  runId: 'r', method, phase: 'training', step, totalSteps: total, epoch: 1, totalEpochs: 1, elapsedMs, ...(etaMs !== undefined ? { etaMs } : {}),
});

function compareRun(): DashboardSnapshot {
  return { runId: 'r', name: 'quick', runDir: '/runs/quick', status: 'running', methods: [], plannedMethods: ['spruft', 'lora'], kind: 'train' };
}

describe('progress over a whole compare', () => {
  it('counts the first method whole once evaluated and adds the second\'s time to the ETA', () => {
    let s = compareRun();
    s = applyRunMessage(s, { type: 'progress', event: progress('spruft', 30, 100, 30_000, 70_000) });
    let p = overallProgress(s);
    assert.equal(p.fraction, 0.15);
    // 70 s left of spruft, and lora not started: as long as spruft's 100 s in all.
    assert.equal(p.etaMs, 70_000 + 100_000);
    assert.equal(p.current, 0);
    s = applyRunMessage(s, { type: 'labelAccuracy', event: { runId: 'r', method: 'spruft', labels: ['a'], perLabel: { a: 1 }, perLabelStats: { min: 1, q1: 1, median: 1, q3: 1, max: 1 }, accuracy: 1 } });
    s = applyRunMessage(s, { type: 'progress', event: progress('lora', 50, 100, 40_000, 40_000) });
    p = overallProgress(s);
    assert.equal(p.fraction, 0.75);
    assert.equal(p.etaMs, 40_000, 'only lora\'s own time is left');
    assert.equal(p.current, 1);
  });

  it('tells no ETA once the run ended', () => {
    let s = applyRunMessage(compareRun(), { type: 'progress', event: progress('spruft', 30, 100, 30_000, 70_000) });
    s = applyRunMessage(s, { type: 'finished', event: { runId: 'r', status: 'cancelled', kind: 'train' } });
    assert.equal(overallProgress(s).etaMs, undefined);
  });
});

describe('why a run ended early', () => {
  it('says a failed run\'s error, where it stopped and what to do', () => {
    let s = applyRunMessage(compareRun(), { type: 'progress', event: progress('spruft', 12, 100, 9_000, 60_000) });
    s = applyRunMessage(s, { type: 'finished', event: { runId: 'r', status: 'failed', kind: 'train', error: { message: 'label 11 is out of range', code: 'DATA_INVALID', where: 'train-labels.idx' } } });
    const outcome = describeOutcome(s)!;
    assert.equal(outcome.title, 'Failed');
    assert.equal(outcome.reason, 'label 11 is out of range (train-labels.idx)');
    assert.equal(outcome.where, 'spruft: training, step 12 of 100, after 9 s');
    assert.match(outcome.advice, /could not be read/);
    assert.equal(outcome.action, 'fix-config');
    assert.equal(s.error?.method, 'spruft');
  });

  it('offers Resume for cancelled and interrupted runs, reopened from their folder', () => {
    const files: Record<string, string> = {
      'status.json': JSON.stringify({ status: 'cancelled', runId: 'r', method: 'spruft', startedAt: '2026-12-03T07:00:00Z', error: 'run r cancelled at step 40' }),
      'run.spruft.json': JSON.stringify({ name: 'quick', method: 'spruft', compare: ['lora'] }),
      'progress.jsonl': JSON.stringify(progress('spruft', 40, 100, 20_000, 30_000)) + '\n',
    };
    const s = snapshotFromRunFolder('/runs/quick', (p) => files[p], [])!;
    assert.deepEqual(s.plannedMethods, ['spruft', 'lora']);
    assert.equal(s.error?.message, 'run r cancelled at step 40');
    const fromCli = describeOutcome({ ...s, error: { message: 'run cancelled after step 41 of 100; resume with spruft train --resume' } })!;
    assert.equal(fromCli.reason, 'run cancelled after step 41 of 100', 'the Resume button replaces the CLI hint');
    const outcome = describeOutcome(s)!;
    assert.equal(outcome.title, 'Cancelled');
    assert.equal(outcome.action, 'resume');
    assert.equal(outcome.where, 'spruft: training, step 40 of 100, after 20 s');
    const interrupted = describeOutcome({ ...s, status: 'interrupted' as DashboardSnapshot['status'] })!;
    assert.equal(interrupted.title, 'Interrupted');
    assert.equal(interrupted.action, 'resume');
    assert.ok(isResumable('interrupted') && isResumable('cancelled') && !isResumable('completed') && !isResumable('running'));
  });

  it('has nothing to say about running and completed runs', () => {
    const result = { method: 'spruft', metrics: { loss: 1, perplexity: 2, tokens: 3 } } as unknown as RunResult;
    const done = applyRunMessage(compareRun(), { type: 'finished', event: { runId: 'r', status: 'completed', kind: 'train', result } });
    assert.equal(describeOutcome(done), undefined);
    assert.equal(describeOutcome(compareRun()), undefined);
  });
});

it('formats rates, losses and speeds one way', () => {
  assert.equal(formatRate(1e-4), '1.0e-4');
  assert.equal(formatRate(0.05), '0.05');
  assert.equal(formatRate(0), '0');
  assert.equal(formatLoss(0.123456), '0.1235');
  assert.equal(formatLoss(1234.5), '1.23e+3');
  assert.equal(formatSpeed(180.24), '180.2 samples/s');
  assert.equal(formatSpeed(12_345.6, 'tokens/s'), '12,346 tokens/s');
});
