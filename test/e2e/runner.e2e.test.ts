/**
 * The JSON-RPC protocol end to end against a spawned `spruft serve` and the real engine:
 * a short real training run (SPruFT compared with LoRA on MNIST digits) whose
 * notifications arrive in order with sane values; cancellation within a step leaving a
 * consistent run folder; the busy error; malformed requests answered with errors.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ErrorCodes, ResponseError } from 'vscode-jsonrpc/node';
import { snapshotFromRunFolder } from '../../protocol/dashboardSnapshot';
import {
  CancelRequest,
  CheckConfigRequest,
  FinishedNotification,
  InitializeRequest,
  LabelAccuracyNotification,
  LogNotification,
  MemoryNotification,
  ProgressNotification,
  RunnerErrorCode,
  SelectionNotification,
  ShutdownRequest,
  TrainRequest,
  type FinishedEvent,
  type LabelAccuracyEvent,
  type MemoryEvent,
  type RunnerErrorData,
  type SelectionEvent,
} from '../../protocol/rpc';
import type { ProgressEvent, RunResult } from '../../protocol/results';
import { RUN_FILES, type RunStatusFile } from '../../protocol/runFolder';
import { EditorWorkspace } from '../../extension/test/workspace';
import { nextNotification, rawAnswers, spawnRunner, type SpawnedRunner } from './spawnRunner';
import { makeTinyWorkspace, QUICK_RANK, QUICK_STEPS, TINY_MODEL } from './tinyWorkspace';

async function rejection(promise: Promise<unknown>): Promise<ResponseError<RunnerErrorData>> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ResponseError, `expected a ResponseError, got ${String(err)}`);
    return err as ResponseError<RunnerErrorData>;
  }
  assert.fail('expected the request to fail');
}

function ofRun<T extends { runId: string }>(runner: SpawnedRunner, method: string, runId: string): T[] {
  return runner.notifications.filter((n) => n.method === method && (n.params as T).runId === runId).map((n) => n.params as T);
}

describe('spruft serve, spawned, with the real engine', () => {
  let dir: string;
  let runner: SpawnedRunner;

  before(async () => {
    dir = makeTinyWorkspace(mkdtempSync(join(tmpdir(), 'spruft-serve-')));
    runner = spawnRunner(dir);
    const init = await runner.client.sendRequest(InitializeRequest, { clientName: 'e2e', clientVersion: '0', backend: 'wasm' });
    assert.equal(init.backend.name, 'wasm');
  });

  after(async () => {
    if (runner) {
      await runner.client.sendRequest(ShutdownRequest).catch(() => undefined);
      assert.equal(await runner.stop(), 0, 'the runner exits cleanly when stdin ends');
      assert.deepEqual(runner.stdoutProblems, [], 'stdout carried only JSON-RPC frames');
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('trains SPruFT and LoRA: notifications in order with sane values, then the run folder', async () => {
    const started = await runner.client.sendRequest(TrainRequest, { configPath: join(dir, EditorWorkspace.quickConfig) });
    assert.ok(started.runDir?.startsWith(join(dir, EditorWorkspace.runsDir)));
    const finished = await nextNotification<FinishedEvent>(runner, FinishedNotification.method, (e) => e.runId === started.runId);
    assert.equal(finished.status, 'completed', finished.error?.message);

    const own = runner.notifications.filter((n) => n.method !== LogNotification.method && (n.params as { runId: string }).runId === started.runId);
    assert.equal(own[own.length - 1]!.method, FinishedNotification.method, 'run/finished comes last');
    assert.equal(own.filter((n) => n.method === FinishedNotification.method).length, 1);
    const order = own.map((n) => n.method);
    // Selection before any training step; each method's memory after its first step.
    const firstTraining = own.findIndex((n) => n.method === ProgressNotification.method && (n.params as ProgressEvent).phase === 'training');
    assert.ok(order.indexOf(SelectionNotification.method) < firstTraining, order.join(' '));

    const progress = ofRun<ProgressEvent>(runner, ProgressNotification.method, started.runId);
    for (const method of ['spruft', 'lora'] as const) {
      const steps = progress.filter((p) => p.method === method && p.phase === 'training');
      assert.ok(steps.length >= 2, `${method}: training progress`);
      assert.deepEqual(steps.map((p) => p.step), [...steps.map((p) => p.step)].sort((a, b) => a - b), `${method}: steps increase`);
      assert.equal(steps[steps.length - 1]!.step, QUICK_STEPS);
      for (const p of steps) {
        assert.equal(p.totalSteps, QUICK_STEPS);
        assert.ok(p.loss !== undefined && Number.isFinite(p.loss) && p.loss > 0 && p.loss < 10, `loss ${p.loss}`);
        assert.ok(p.lr !== undefined && p.lr > 0 && p.lr <= 0.01 + 1e-12, `lr ${p.lr}`);
        assert.ok(p.etaMs === undefined || p.etaMs >= 0);
      }
      const elapsed = progress.filter((p) => p.method === method).map((p) => p.elapsedMs);
      assert.deepEqual(elapsed, [...elapsed].sort((a, b) => a - b), `${method}: elapsed time never goes back`);
    }

    const [selection] = ofRun<SelectionEvent>(runner, SelectionNotification.method, started.runId);
    assert.ok(selection);
    assert.equal(selection.method, 'spruft');
    assert.equal(selection.metric, 'l2');
    const hiddenLayers = selection.layers.filter((l) => l.name.startsWith('mlp.layers.'));
    assert.equal(hiddenLayers.length, TINY_MODEL.hidden.length, selection.layers.map((l) => l.name).join(', '));
    for (const layer of selection.layers) {
      assert.equal(layer.rows.length, Math.min(QUICK_RANK, layer.dOut), layer.name);
      assert.equal(new Set(layer.rows).size, layer.rows.length, `${layer.name}: distinct rows`);
      assert.ok(layer.rows.every((r) => Number.isInteger(r) && r >= 0 && r < layer.dOut), `${layer.name}: rows within d_out`);
      assert.ok(layer.scores.every((s) => Number.isFinite(s) && s >= 0), `${layer.name}: l2 scores`);
    }

    const memory = ofRun<MemoryEvent>(runner, MemoryNotification.method, started.runId);
    assert.deepEqual(memory.map((m) => m.method).sort(), ['lora', 'spruft']);
    for (const m of memory) {
      const b = m.measurement.breakdown;
      assert.ok(b.total > 0 && b.params > 0 && b.grads > 0 && b.optimizer > 0, `${m.method}: ${JSON.stringify(b)}`);
      assert.ok(b.cache >= 0 && b.dropout >= 0);
      assert.ok(Math.abs(b.params + b.grads + b.optimizer + b.cache + b.dropout + b.other - b.total) <= 1, 'components split the total');
      assert.ok(m.measurement.peakTrain >= m.measurement.peakInference);
      assert.ok(m.trainableParams > 0);
    }
    assert.equal(memory.find((m) => m.method === 'spruft')!.measurement.breakdown.dropout, 0, 'SPruFT has no dropout masks');

    const labels = ofRun<LabelAccuracyEvent>(runner, LabelAccuracyNotification.method, started.runId);
    assert.deepEqual(labels.map((l) => l.method).sort(), ['lora', 'spruft']);
    for (const l of labels) {
      assert.equal(l.labels.length, TINY_MODEL.labels);
      const values = l.labels.map((k) => l.perLabel[k]!);
      assert.ok(values.every((v) => v >= 0 && v <= 1));
      const s = l.perLabelStats;
      assert.ok(s.min <= s.q1 && s.q1 <= s.median && s.median <= s.q3 && s.q3 <= s.max);
      assert.equal(s.min, Math.min(...values));
      assert.equal(s.max, Math.max(...values));
    }

    const result = finished.result as RunResult;
    assert.equal(result.method, 'spruft');
    assert.deepEqual(result.compared?.map((r) => r.method), ['lora']);
    assert.equal(finished.runDir, started.runDir);
    for (const file of [RUN_FILES.status, RUN_FILES.metrics, RUN_FILES.progress, RUN_FILES.selection, RUN_FILES.config]) {
      assert.ok(existsSync(join(started.runDir!, file)), `${file} written`);
    }
    // The folder reopens as the dashboard draws it, without the runner.
    const snapshot = snapshotFromRunFolder(started.runDir!, (p) => (existsSync(join(started.runDir!, p)) ? readFileSync(join(started.runDir!, p), 'utf8') : undefined), ['lora'].filter((m) => existsSync(join(started.runDir!, RUN_FILES.compareDir, m))));
    assert.equal(snapshot?.status, 'completed');
    assert.ok(snapshot?.methods.find((m) => m.method === 'spruft')?.selection);
    assert.ok(snapshot?.methods.every((m) => m.memory && m.labelAccuracy), JSON.stringify(snapshot?.methods.map((m) => [m.method, !!m.memory, !!m.labelAccuracy])));
  });

  it('answers a second start with busy, and stops the running one within a step on run/cancel', async () => {
    const started = await runner.client.sendRequest(TrainRequest, { configPath: join(dir, EditorWorkspace.longConfig) });
    await nextNotification<ProgressEvent>(runner, ProgressNotification.method, (p) => p.runId === started.runId && p.phase === 'training' && p.step >= 3);

    const busy = await rejection(runner.client.sendRequest(TrainRequest, { configPath: join(dir, EditorWorkspace.quickConfig) }));
    assert.equal(busy.code, RunnerErrorCode.busy);
    assert.match(busy.message, new RegExp(started.runId));

    const finished = nextNotification<FinishedEvent>(runner, FinishedNotification.method, (e) => e.runId === started.runId);
    assert.deepEqual(await runner.client.sendRequest(CancelRequest, { runId: started.runId }), { cancelled: true });
    // The runner writes notifications and responses to one ordered stream, so the progress
    // received before the cancel's response is every step it had reported when it took the
    // cancel; a loaded machine may deliver it late, so this, not the last step seen when the
    // request was sent, is what "within a step" is measured from.
    const before = ofRun<ProgressEvent>(runner, ProgressNotification.method, started.runId).filter((p) => p.phase === 'training');
    const lastStepBefore = before[before.length - 1]!.step;
    const end = await finished;
    assert.equal(end.status, 'cancelled');
    assert.equal(end.error?.code, 'RUN_CANCELLED');
    const steps = ofRun<ProgressEvent>(runner, ProgressNotification.method, started.runId).filter((p) => p.phase === 'training');
    assert.ok(steps[steps.length - 1]!.step <= lastStepBefore + 1, `stopped within one step (cancel after step ${lastStepBefore}, last step ${steps[steps.length - 1]!.step})`);

    // A consistent folder: status says cancelled, every progress line parses.
    const status = JSON.parse(readFileSync(join(started.runDir!, RUN_FILES.status), 'utf8')) as RunStatusFile;
    assert.equal(status.status, 'cancelled');
    const lines = readFileSync(join(started.runDir!, RUN_FILES.progress), 'utf8').split('\n').filter(Boolean);
    assert.ok(lines.length > 0);
    for (const line of lines) JSON.parse(line);
    assert.deepEqual(await runner.client.sendRequest(CancelRequest, { runId: started.runId }), { cancelled: false }, 'a late cancel is not an error');
  });

  it('answers malformed and unknown messages with JSON-RPC errors and keeps serving', async () => {
    const frame = (body: string) => `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    runner.writeRaw(frame('{"jsonrpc":"2.0","id":"raw-1","method":"run/train","params":'));
    runner.writeRaw(frame('{"jsonrpc":"2.0","id":"raw-2","method":"run/fly"}'));
    runner.writeRaw(frame('{"jsonrpc":"2.0","id":"raw-3","method":"run/train","params":{"configPath":42}}'));
    runner.writeRaw(frame('{"id":"raw-4","method":"initialize"}'));
    const answers = await rawAnswers(runner, 4);
    const codes = new Map(answers.map((a) => [a.id, (a.error as { code: number }).code]));
    assert.equal(codes.get(null), ErrorCodes.ParseError);
    assert.equal(codes.get('raw-2'), ErrorCodes.MethodNotFound);
    assert.equal(codes.get('raw-3'), ErrorCodes.InvalidParams);
    assert.equal(codes.get('raw-4'), ErrorCodes.InvalidRequest);
    const checked = await runner.client.sendRequest(CheckConfigRequest, { configPath: join(dir, EditorWorkspace.brokenConfig) });
    assert.ok(checked.diagnostics.some((d) => d.severity === 'error'), 'still serving, and the broken config is reported');
    const invalid = await rejection(runner.client.sendRequest(TrainRequest, { configPath: join(dir, EditorWorkspace.brokenConfig) }));
    assert.equal(invalid.code, RunnerErrorCode.invalidConfig);
    assert.ok(invalid.data?.diagnostics?.length, 'the error carries the diagnostics');
    assert.ok(runner.notifications.some((n) => n.method === LogNotification.method), 'logs arrive as log notifications');
    assert.match(runner.stderr(), /\[info\] run .* started/, 'and on stderr');
  });
});
