import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { syntheticRun } from '../test/fixtures/syntheticRun';
import { applyRunMessage, emptySnapshot, parseProgressLines, snapshotFromRunFolder, type RunMessage } from './dashboardSnapshot';
import { RUN_FILES, type DashboardSnapshot } from './runFolder';
import type { HostToWebview } from './webview';

function fold(messages: HostToWebview[]): DashboardSnapshot {
  const first = messages[0]!;
  assert.equal(first.type, 'snapshot');
  let snapshot = (first as Extract<HostToWebview, { type: 'snapshot' }>).snapshot;
  for (const m of messages.slice(1)) snapshot = applyRunMessage(snapshot, m as RunMessage);
  return snapshot;
}

describe('dashboard snapshot', () => {
  it('folds a run\'s messages into one view per method', () => {
    const snapshot = fold(syntheticRun());
    assert.equal(snapshot.status, 'completed');
    assert.deepEqual(snapshot.methods.map((m) => m.method), ['spruft', 'lora']);
    const [spruft, lora] = snapshot.methods;
    assert.equal(spruft!.selection?.layers.length, 42);
    assert.equal(spruft!.progress.filter((p) => p.phase === 'training').length, 60);
    assert.equal(lora!.progress.filter((p) => p.phase === 'training').length, 60);
    assert.ok(spruft!.memory && lora!.memory && spruft!.labelAccuracy && lora!.labelAccuracy);
    assert.equal(spruft!.result?.method, 'spruft');
    assert.equal(lora!.result?.method, 'lora', 'compared results land on their own method');
  });

  it('ignores messages of another run and leaves the old snapshot untouched', () => {
    const before = emptySnapshot('run-a', 'a', '/runs/a', 'spruft');
    const progress = { runId: 'run-b', method: 'spruft' as const, phase: 'training' as const, step: 1, totalSteps: 2, epoch: 1, totalEpochs: 1, elapsedMs: 5 };
    assert.equal(applyRunMessage(before, { type: 'progress', event: progress }), before);
    const after = applyRunMessage(before, { type: 'progress', event: { ...progress, runId: 'run-a' } });
    assert.equal(after.methods[0]!.progress.length, 1);
    assert.equal(before.methods[0]!.progress.length, 0);
  });

  it('reads a run folder, compared methods included, and skips a cut-off progress line', () => {
    const live = fold(syntheticRun());
    const [spruft, lora] = live.methods;
    const progressText = (events: typeof spruft.progress) => events.map((e) => JSON.stringify(e)).join('\n') + '\n{"runId":"cut';
    const files: Record<string, string> = {
      [RUN_FILES.status]: JSON.stringify({ status: 'completed', runId: live.runId, method: 'spruft', startedAt: '2026-11-26T22:15:00Z' }),
      [RUN_FILES.config]: JSON.stringify({ name: 'fashion-tiny' }),
      [RUN_FILES.progress]: progressText(spruft!.progress),
      [RUN_FILES.selection]: JSON.stringify(spruft!.selection),
      [RUN_FILES.memory]: JSON.stringify([spruft!.memory]),
      [RUN_FILES.labels]: JSON.stringify([spruft!.labelAccuracy]),
      [RUN_FILES.metrics]: JSON.stringify({ ...spruft!.result, compared: [lora!.result] }),
      [`${RUN_FILES.compareDir}/lora/${RUN_FILES.status}`]: JSON.stringify({ status: 'completed', runId: live.runId, method: 'lora', startedAt: '2026-11-26T22:16:00Z' }),
      [`${RUN_FILES.compareDir}/lora/${RUN_FILES.progress}`]: progressText(lora!.progress),
      [`${RUN_FILES.compareDir}/lora/${RUN_FILES.memory}`]: JSON.stringify([lora!.memory]),
      [`${RUN_FILES.compareDir}/lora/${RUN_FILES.labels}`]: JSON.stringify([lora!.labelAccuracy]),
    };
    const reopened = snapshotFromRunFolder('/runs/x/', (p) => files[p], ['lora']);
    assert.ok(reopened);
    assert.equal(reopened.name, 'fashion-tiny');
    assert.deepEqual(reopened.methods.map((m) => [m.method, m.runDir]), [['spruft', '/runs/x/'], ['lora', '/runs/x/compare/lora']]);
    for (const [i, view] of reopened.methods.entries()) {
      const original = live.methods[i]!;
      assert.deepEqual(view.progress, original.progress);
      assert.deepEqual(view.memory, original.memory);
      assert.deepEqual(view.labelAccuracy, original.labelAccuracy);
      assert.deepEqual(view.result, original.result);
    }
    assert.equal(snapshotFromRunFolder('/tmp', () => undefined, []), undefined, 'no status.json: not a run folder');
  });

  it('parses progress lines with blank and broken lines', () => {
    assert.deepEqual(parseProgressLines(undefined), []);
    assert.equal(parseProgressLines('{"step":1}\n\n{"step":2}\n{"st').length, 2);
  });
});
