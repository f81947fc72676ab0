/**
 * What the Runs view and the dashboard read from a run folder: a run whose owner died
 * shows `interrupted` (through protocol/runFolder.ts's runStateOf) and is offered Resume;
 * only a folder with an adapter is offered Merge and the playground; the config a run came
 * from and the methods it trains are found.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { describeOutcome, isResumable } from '../../../protocol/runOutcome';
import { RUN_FILES } from '../../../protocol/runFolder';
import { hasAdapter, plannedMethodsOf, readRunSummary, runConfigSource } from './runFolderReader';

const root = mkdtempSync(join(tmpdir(), 'spruft-runs-view-'));
after(() => rmSync(root, { recursive: true, force: true }));

function runFolder(name: string, status: Record<string, unknown>, adapter: boolean): string {
  const dir = join(root, 'runs', name);
  mkdirSync(dir, { recursive: true });
  const source = join(root, `${name}.spruft.yaml`);
  writeFileSync(source, 'name: x\n');
  writeFileSync(join(dir, RUN_FILES.config), JSON.stringify({ name, sourcePath: source, method: 'spruft', compare: ['lora'] }));
  writeFileSync(join(dir, RUN_FILES.status), JSON.stringify({ runId: `${name}#1`, method: 'spruft', startedAt: '2026-12-03T07:00:00.000Z', ...status }));
  writeFileSync(join(dir, RUN_FILES.progress), JSON.stringify({ runId: `${name}#1`, method: 'spruft', phase: 'training', step: 40, totalSteps: 100, epoch: 1, totalEpochs: 1, elapsedMs: 9000 }) + '\n');
  if (adapter) {
    mkdirSync(join(dir, RUN_FILES.adapterDir));
    writeFileSync(join(dir, RUN_FILES.adapterDir, 'adapter_config.json'), '{}');
  }
  return dir;
}

it('shows a run whose owner died as interrupted, with Resume, and no adapter to merge', () => {
  // A pid no process has (above the kernel's pid_max), on this host.
  const dir = runFolder('killed', { status: 'running', pid: 2 ** 30, owner: { pid: 2 ** 30, host: hostname() }, heartbeatAt: '2026-12-03T07:00:05.000Z' }, false);
  const run = readRunSummary(dir);
  assert.equal(run.status, 'interrupted');
  assert.ok(isResumable(run.status));
  assert.equal(describeOutcome(run.snapshot)?.action, 'resume');
  assert.equal(describeOutcome(run.snapshot)?.where, 'spruft: training, step 40 of 100, after 9 s');
  assert.equal(run.hasAdapter, false, 'Merge is not offered');
  assert.deepEqual(plannedMethodsOf(dir), ['spruft', 'lora']);
  assert.equal(runConfigSource(dir), join(root, 'killed.spruft.yaml'), 'Re-run finds its config');
  assert.equal(run.startedAt, '2026-12-03T07:00:00.000Z');
});

it('offers Merge and the playground only for a run that holds an adapter', () => {
  const dir = runFolder('done', { status: 'completed', endedAt: '2026-12-03T07:01:00.000Z' }, true);
  const run = readRunSummary(dir);
  assert.equal(run.status, 'completed');
  assert.equal(run.hasAdapter, true);
  assert.ok(hasAdapter(dir));
  assert.ok(!isResumable(run.status));
  assert.equal(describeOutcome(run.snapshot), undefined);
  rmSync(join(root, 'done.spruft.yaml'));
  assert.equal(runConfigSource(dir), undefined, 'no Re-run once its config is gone');
});
