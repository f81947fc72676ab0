/**
 * Every command of the extension: one table from id to factory (STYLE.md point 6), each
 * body a named function. Commands that start work on the runner refuse in untrusted
 * workspaces (the runner executes code and reads models and data from the workspace).
 */
import { basename, dirname, join } from 'node:path';
import { statSync } from 'node:fs';
import * as vscode from 'vscode';
import { ResponseError } from 'vscode-jsonrpc/node';
import { MergeRequest, RunnerErrorCode, type RunOverrides, type RunParams } from '../../../protocol/rpc';
import { RUN_FILES } from '../../../protocol/runFolder';
import { CommandId, CONFIG_FILE_GLOB, CONFIG_FILE_PATTERN, type CommandIdValue } from '../commandIds';
import { settings } from '../config';
import type { DashboardPanels } from '../dashboard/dashboardPanels';
import { describeError, type RunnerClient } from '../runner/runnerClient';
import { summarizeFinished, type RunSessions, type StartRequest } from '../training/runSessions';

export interface CommandContext {
  client: RunnerClient;
  runs: RunSessions;
  dashboards: DashboardPanels;
  output: vscode.LogOutputChannel;
}

/** What the run commands return (the in-editor tests read it). */
export interface StartedRunInfo {
  runId: string;
  runDir?: string;
}

type CommandBody = (...args: unknown[]) => unknown;

export const commandTable: Record<CommandIdValue, (ctx: CommandContext) => CommandBody> = {
  [CommandId.fineTune]: (ctx) => (uri) => fineTune(ctx, uri),
  [CommandId.scoreImportance]: (ctx) => (uri) => scoreImportance(ctx, uri),
  [CommandId.compareWithLora]: (ctx) => (uri) => compareWithLora(ctx, uri),
  [CommandId.stopRun]: (ctx) => () => stopRun(ctx),
  [CommandId.openDashboard]: (ctx) => (uri) => openDashboard(ctx, uri),
  [CommandId.mergeAdapter]: (ctx) => (uri, outDir) => mergeAdapter(ctx, uri, typeof outDir === 'string' ? outDir : undefined),
  [CommandId.restartRunner]: (ctx) => () => restartRunner(ctx),
  [CommandId.showRunnerLog]: (ctx) => () => showRunnerLog(ctx),
  [CommandId.statusMenu]: (ctx) => () => statusMenu(ctx),
};

export function registerCommands(ctx: CommandContext): vscode.Disposable[] {
  return Object.entries(commandTable).map(([id, factory]) => vscode.commands.registerCommand(id, factory(ctx)));
}

// ---- helpers ----------------------------------------------------------------------------

function requireTrust(action: string): boolean {
  if (vscode.workspace.isTrusted) return true;
  const manage = 'Manage Workspace Trust';
  void vscode.window
    .showWarningMessage(`SPruFT does not ${action} in an untrusted workspace: the runner loads models and data and executes training from this folder. Trust the workspace to ${action}.`, manage)
    .then((choice) => choice === manage && vscode.commands.executeCommand('workbench.trust.manage'));
  return false;
}

/** The config a command is about: its argument, the active editor, or one picked from the workspace. */
async function pickConfig(arg: unknown): Promise<vscode.Uri | undefined> {
  let uri: vscode.Uri | undefined;
  if (arg instanceof vscode.Uri && CONFIG_FILE_PATTERN.test(arg.path)) uri = arg;
  const active = vscode.window.activeTextEditor?.document;
  if (!uri && active && CONFIG_FILE_PATTERN.test(active.uri.path)) uri = active.uri;
  if (!uri) {
    const found = await vscode.workspace.findFiles(CONFIG_FILE_GLOB, '**/node_modules/**', 500);
    if (found.length === 0) {
      void vscode.window.showInformationMessage('No run config (*.spruft.yaml) in this workspace. Create one, e.g. `fashion.spruft.yaml`, then run this command again.');
      return undefined;
    }
    const picked = await vscode.window.showQuickPick(
      found.sort((a, b) => a.path.localeCompare(b.path)).map((u) => ({ label: basename(u.fsPath), description: vscode.workspace.asRelativePath(dirname(u.fsPath)), uri: u })),
      { placeHolder: 'Run config to use' },
    );
    uri = picked?.uri;
  }
  if (!uri) return undefined;
  // The runner reads the file from disk: save unsaved edits first.
  const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri!.toString());
  if (open?.isDirty) await open.save();
  return uri;
}

function configName(uri: vscode.Uri): string {
  return basename(uri.fsPath).replace(CONFIG_FILE_PATTERN, '');
}

function overridesFromSettings(extra: RunOverrides = {}): RunOverrides | undefined {
  const backend = settings.backend();
  const overrides: RunOverrides = { ...extra, ...(backend !== 'auto' ? { backend } : {}) };
  return Object.keys(overrides).length ? overrides : undefined;
}

async function startRun(ctx: CommandContext, request: StartRequest, label: string, plannedMethods = 1): Promise<StartedRunInfo | undefined> {
  try {
    const run = await ctx.runs.start(request, label, plannedMethods);
    if (request.kind !== 'evaluate' && settings.openDashboardOnRun()) ctx.dashboards.showLive(run);
    void run.finished.then(async (event) => {
      const text = `SPruFT: ${label} ${summarizeFinished(event)}`;
      const actions = event.runDir ? ['Open dashboard'] : [];
      const choice = event.status === 'failed' ? await vscode.window.showErrorMessage(text, ...actions, 'Show runner log') : await vscode.window.showInformationMessage(text, ...actions);
      if (choice === 'Open dashboard' && event.runDir) ctx.dashboards.showFolder(event.runDir);
      if (choice === 'Show runner log') ctx.output.show(true);
    });
    return { runId: run.runId, runDir: run.runDir };
  } catch (err) {
    const busy = (err instanceof ResponseError && err.code === RunnerErrorCode.busy) || ctx.runs.current !== undefined;
    // Not awaited: the command answers now; the message waits for the person.
    void vscode.window.showErrorMessage(`SPruFT: could not start ${label}: ${describeError(err)}`, busy ? 'Stop run' : 'Show runner log').then((choice) => {
      if (choice === 'Stop run') void stopRun(ctx);
      if (choice === 'Show runner log') ctx.output.show(true);
    });
    return undefined;
  }
}

// ---- run commands -----------------------------------------------------------------------

/** "SPruFT: Fine-tune model": score, train and evaluate with the config's method. */
export async function fineTune(ctx: CommandContext, arg?: unknown): Promise<StartedRunInfo | undefined> {
  if (!requireTrust('fine-tune')) return undefined;
  const uri = await pickConfig(arg);
  if (!uri) return undefined;
  const params: RunParams = { configPath: uri.fsPath, overrides: overridesFromSettings() };
  return startRun(ctx, { kind: 'train', params }, `fine-tune ${configName(uri)}`);
}

/** "SPruFT: Score importance": rows per layer by the config's metric, no training. */
export async function scoreImportance(ctx: CommandContext, arg?: unknown): Promise<StartedRunInfo | undefined> {
  if (!requireTrust('score importance')) return undefined;
  const uri = await pickConfig(arg);
  if (!uri) return undefined;
  return startRun(ctx, { kind: 'score', params: { configPath: uri.fsPath, overrides: overridesFromSettings() } }, `score importance ${configName(uri)}`);
}

/** "SPruFT: Compare with LoRA": the same config trained with SPruFT and with LoRA, side by side. */
export async function compareWithLora(ctx: CommandContext, arg?: unknown): Promise<StartedRunInfo | undefined> {
  if (!requireTrust('compare methods')) return undefined;
  const uri = await pickConfig(arg);
  if (!uri) return undefined;
  const params: RunParams = { configPath: uri.fsPath, overrides: overridesFromSettings({ method: 'spruft', compare: ['lora'] }) };
  return startRun(ctx, { kind: 'train', params }, `SPruFT vs LoRA ${configName(uri)}`, 2);
}

/** "SPruFT: Stop run": the runner stops after the current step; the run folder stays consistent. */
export async function stopRun(ctx: CommandContext): Promise<boolean> {
  const run = ctx.runs.current;
  if (!run) {
    void vscode.window.showInformationMessage('SPruFT: no run is going.');
    return false;
  }
  try {
    const cancelled = await ctx.runs.stop(run.runId);
    if (cancelled) vscode.window.setStatusBarMessage(`SPruFT: stopping ${run.label} after the current step…`, 5000);
    return cancelled;
  } catch (err) {
    void vscode.window.showErrorMessage(`SPruFT: could not stop the run: ${describeError(err)}`);
    return false;
  }
}

// ---- run folders ----------------------------------------------------------------------------

function folderOf(arg: unknown): string | undefined {
  if (!(arg instanceof vscode.Uri) || arg.scheme !== 'file') return undefined;
  try {
    return statSync(arg.fsPath).isDirectory() ? arg.fsPath : dirname(arg.fsPath);
  } catch {
    return undefined;
  }
}

/** Run folders in the workspace (those with a status file), newest first, or one browsed to. */
async function pickRunFolder(arg: unknown, placeHolder: string): Promise<string | undefined> {
  const given = folderOf(arg);
  if (given) return given;
  const statusFiles = await vscode.workspace.findFiles(`**/${RUN_FILES.status}`, '**/node_modules/**', 200);
  const folders = statusFiles
    .map((u) => dirname(u.fsPath))
    .filter((dir) => basename(dirname(dir)) !== RUN_FILES.compareDir)
    .map((dir) => ({ dir, mtime: statSync(join(dir, RUN_FILES.status)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  const browse = { label: '$(folder-opened) Browse…', dir: '' };
  const picked = await vscode.window.showQuickPick(
    [...folders.map(({ dir }) => ({ label: basename(dir), description: vscode.workspace.asRelativePath(dirname(dir)), dir })), browse],
    { placeHolder },
  );
  if (!picked) return undefined;
  if (picked.dir) return picked.dir;
  const chosen = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: 'Open run folder' });
  return chosen?.[0]?.fsPath;
}

/** "SPruFT: Open dashboard": the running run's dashboard, or a run folder's, without the runner. */
export async function openDashboard(ctx: CommandContext, arg?: unknown): Promise<string | undefined> {
  const active = ctx.runs.current;
  if (!folderOf(arg) && active) {
    ctx.dashboards.showLive(active);
    return active.runId;
  }
  const runDir = await pickRunFolder(arg, 'Run folder to show');
  if (!runDir) return undefined;
  try {
    ctx.dashboards.showFolder(runDir);
    return runDir;
  } catch (err) {
    void vscode.window.showErrorMessage(`SPruFT: ${describeError(err)}`);
    return undefined;
  }
}

/**
 * "SPruFT: Merge adapter into model": W[idx] += W_f, written as a full model. Called with
 * a run folder and an output folder (scripts, tests), it asks nothing.
 */
export async function mergeAdapter(ctx: CommandContext, arg?: unknown, givenOutDir?: string): Promise<string | undefined> {
  if (!requireTrust('merge adapters')) return undefined;
  const runDir = await pickRunFolder(arg, 'Run folder whose adapter to merge');
  if (!runDir) return undefined;
  const outDir =
    givenOutDir ??
    (await vscode.window.showInputBox({
      prompt: 'Folder for the merged model (created; the base model is left as it is)',
      value: join(runDir, 'merged'),
      validateInput: (v) => (v.trim() ? undefined : 'Give a folder path.'),
    }));
  if (!outDir) return undefined;
  try {
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `SPruFT: merging ${basename(runDir)}`, cancellable: true },
      (_progress, token) => ctx.client.request(MergeRequest, { runDir, outDir: outDir.trim() }, { token }),
    );
    const reveal = 'Reveal';
    void vscode.window.showInformationMessage(`SPruFT: merged ${result.mergedLayers} layers into ${result.outDir} (${result.format}).`, reveal).then((choice) => {
      if (choice === reveal) void vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(result.outDir));
    });
    return result.outDir;
  } catch (err) {
    void vscode.window.showErrorMessage(`SPruFT: could not merge: ${describeError(err)}`);
    return undefined;
  }
}

// ---- the runner ------------------------------------------------------------------------------

/** "SPruFT: Restart runner": a fresh process; a running run ends as failed. */
export async function restartRunner(ctx: CommandContext): Promise<void> {
  if (!requireTrust('start the runner')) return;
  try {
    await ctx.client.restart();
  } catch (err) {
    void vscode.window.showErrorMessage(`SPruFT: the runner did not start: ${describeError(err)}`, 'Show runner log').then((c) => c && ctx.output.show(true));
  }
}

/** "SPruFT: Show runner log". */
export function showRunnerLog(ctx: CommandContext): void {
  ctx.output.show(true);
}

async function statusMenu(ctx: CommandContext): Promise<void> {
  const items: Array<vscode.QuickPickItem & { command: CommandIdValue }> = [
    ...(ctx.runs.current ? [{ label: '$(debug-stop) Stop run', description: ctx.runs.current.label, command: CommandId.stopRun }] : []),
    { label: '$(graph) Open dashboard', command: CommandId.openDashboard },
    { label: '$(output) Show runner log', command: CommandId.showRunnerLog },
    { label: '$(debug-restart) Restart runner', command: CommandId.restartRunner },
  ];
  const picked = await vscode.window.showQuickPick(items, { placeHolder: 'SPruFT runner' });
  if (picked) await vscode.commands.executeCommand(picked.command);
}
