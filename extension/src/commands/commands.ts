/**
 * Every command of the extension: one table from id to factory (STYLE.md point 6), each
 * body a named function. Commands that start work on the runner refuse in untrusted
 * workspaces (the runner executes code and reads models and data from the workspace).
 */
import { basename, dirname, join, relative } from 'node:path';
import { existsSync, statSync } from 'node:fs';
import * as vscode from 'vscode';
import { ResponseError } from 'vscode-jsonrpc/node';
import { MergeRequest, PredictRequest, RunnerErrorCode, type RunnerErrorData, type RunOverrides, type RunParams } from '../../../protocol/rpc';
import type { ConfigDiagnostic } from '../../../protocol/diagnostics';
import { isLive, isResumable } from '../../../protocol/runOutcome';
import type { DashboardSnapshot } from '../../../protocol/runFolder';
import { RUN_FILES } from '../../../protocol/runFolder';
import { CommandId, CONFIG_FILE_GLOB, CONFIG_FILE_PATTERN, type CommandIdValue } from '../commandIds';
import { settings } from '../config';
import type { DashboardActions, DashboardPanels, Predictor } from '../dashboard/dashboardPanels';
import { hasAdapter, isRunFolder, plannedMethodsOf, readRunSummary, runConfigSource } from '../dashboard/runFolderReader';
import { newRunConfig } from '../newConfig/newRunConfig';
import type { RunsView } from '../runs/runsView';
import { describeError, type RunnerClient } from '../runner/runnerClient';
import { summarizeFinished, type RunSessions, type StartRequest } from '../training/runSessions';

export interface CommandContext {
  client: RunnerClient;
  runs: RunSessions;
  dashboards: DashboardPanels;
  output: vscode.LogOutputChannel;
  runsView?: RunsView;
  /** Findings of the runner's config check when a run was refused (the Problems panel). */
  configProblems: vscode.DiagnosticCollection;
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
  [CommandId.newRunConfig]: () => (choices) => newRunConfig(choices),
  [CommandId.resumeRun]: (ctx) => (arg) => resumeRun(ctx, arg),
  [CommandId.rerun]: (ctx) => (arg) => rerun(ctx, arg),
  [CommandId.revealRun]: () => (arg) => revealRun(arg),
  [CommandId.deleteRun]: (ctx) => (arg, confirmed) => deleteRun(ctx, arg, confirmed === true),
  [CommandId.refreshRuns]: (ctx) => () => ctx.runsView?.refresh(),
  [CommandId.openPlayground]: (ctx) => (arg) => openPlayground(ctx, arg),
};

/** The playground's requests: `model/predict` on the runner (loading a model and its data takes a while). */
export function predictor(ctx: CommandContext): Predictor {
  return (runDir, input) => ctx.client.request(PredictRequest, { runDir, input }, { timeoutMs: Math.max(settings.requestTimeoutMs(), 300_000) });
}

/** The dashboard's buttons, bound to the same functions as the commands. */
export function dashboardActions(ctx: CommandContext): DashboardActions {
  const folderUri = (s: DashboardSnapshot) => {
    if (!s.runDir) throw new Error('This run has no folder.');
    return vscode.Uri.file(s.runDir);
  };
  return {
    resume: async (s) => resumeRun(ctx, folderUri(s)),
    rerun: async (s) => rerun(ctx, folderUri(s)),
    showLog: async () => ctx.output.show(true),
    openConfig: async (s) => {
      const source = s.runDir ? runConfigSource(s.runDir) : undefined;
      if (!source) throw new Error('The config this run came from is no longer there.');
      await vscode.window.showTextDocument(vscode.Uri.file(source));
    },
  };
}

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

async function startRun(ctx: CommandContext, request: StartRequest, label: string): Promise<StartedRunInfo | undefined> {
  const configUri = request.kind !== 'evaluate' && request.params.configPath ? vscode.Uri.file(request.params.configPath) : undefined;
  if (configUri) ctx.configProblems.delete(configUri);
  try {
    const run = await ctx.runs.start(request, label);
    if (request.kind !== 'evaluate' && settings.openDashboardOnRun()) ctx.dashboards.showLive(run);
    void run.finished.then(async (event) => {
      // The dashboard says why at length; the toast says what happened in a line.
      const text = `SPruFT: ${label} ${shortSummary(summarizeFinished(event))}`;
      const actions = event.runDir ? ['Open dashboard'] : [];
      const choice = event.status === 'failed' ? await vscode.window.showErrorMessage(text, ...actions, 'Show runner log') : await vscode.window.showInformationMessage(text, ...actions);
      if (choice === 'Open dashboard' && event.runDir) ctx.dashboards.showFolder(event.runDir);
      if (choice === 'Show runner log') ctx.output.show(true);
    });
    return { runId: run.runId, runDir: run.runDir };
  } catch (err) {
    const diagnostics = err instanceof ResponseError && err.code === RunnerErrorCode.invalidConfig ? (err.data as RunnerErrorData | undefined)?.diagnostics : undefined;
    if (configUri && diagnostics?.length) {
      await showConfigProblems(ctx, configUri, diagnostics, label);
      return undefined;
    }
    const busy = (err instanceof ResponseError && err.code === RunnerErrorCode.busy) || ctx.runs.current !== undefined;
    // Not awaited: the command answers now; the message waits for the person.
    void vscode.window.showErrorMessage(`SPruFT: could not start ${label}: ${shortSummary(describeError(err))}`, busy ? 'Stop run' : 'Show runner log').then((choice) => {
      if (choice === 'Stop run') void stopRun(ctx);
      if (choice === 'Show runner log') ctx.output.show(true);
    });
    return undefined;
  }
}

/** A toast holds one short line; the rest is in the dashboard, the Problems panel or the log. */
function shortSummary(text: string, max = 160): string {
  const line = text.split('\n')[0]!.trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

const SEVERITY: Record<ConfigDiagnostic['severity'], vscode.DiagnosticSeverity> = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
  information: vscode.DiagnosticSeverity.Information,
};

/**
 * A run refused for its config: the findings go to the Problems panel (those the language
 * server already shows are not repeated), the editor opens at the first error, and one
 * short message says how many there are.
 */
export async function showConfigProblems(ctx: CommandContext, uri: vscode.Uri, findings: ConfigDiagnostic[], label: string): Promise<void> {
  const shown = vscode.languages.getDiagnostics(uri);
  const toRange = (d: ConfigDiagnostic) => new vscode.Range(d.range.start.line, d.range.start.character, d.range.end.line, d.range.end.character);
  const fresh = findings
    .filter((d) => !shown.some((s) => s.message === d.message && s.range.start.line === d.range.start.line))
    .map((d) => {
      const diagnostic = new vscode.Diagnostic(toRange(d), d.message, SEVERITY[d.severity]);
      diagnostic.source = 'spruft run';
      diagnostic.code = d.code;
      return diagnostic;
    });
  ctx.configProblems.set(uri, fresh);
  const errors = findings.filter((d) => d.severity === 'error');
  const first = errors[0] ?? findings[0]!;
  const editor = await vscode.window.showTextDocument(uri, { preview: false });
  const range = toRange(first);
  editor.selection = new vscode.Selection(range.start, range.end);
  editor.revealRange(range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  const problems = 'Show Problems';
  void vscode.window
    .showErrorMessage(`SPruFT: ${label} not started: ${errors.length || findings.length} problem${(errors.length || findings.length) === 1 ? '' : 's'} in ${basename(uri.fsPath)} (line ${first.range.start.line + 1}: see the Problems panel).`, problems)
    .then((choice) => choice === problems && vscode.commands.executeCommand('workbench.actions.view.problems'));
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
  return startRun(ctx, { kind: 'train', params }, `SPruFT vs LoRA ${configName(uri)}`);
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
  // A Runs view item carries its folder.
  if (typeof arg === 'object' && arg !== null && 'runDir' in arg && typeof (arg as { runDir: unknown }).runDir === 'string') return (arg as { runDir: string }).runDir;
  if (!(arg instanceof vscode.Uri) || arg.scheme !== 'file') return undefined;
  try {
    return statSync(arg.fsPath).isDirectory() ? arg.fsPath : dirname(arg.fsPath);
  } catch {
    return undefined;
  }
}

/**
 * Run folders in the workspace (those with a status file), newest first, or one browsed
 * to; `accept` keeps only the runs the command can act on (Merge: those with an adapter).
 */
async function pickRunFolder(arg: unknown, placeHolder: string, accept: (dir: string) => boolean = () => true): Promise<string | undefined> {
  const given = folderOf(arg);
  if (given) return given;
  const statusFiles = await vscode.workspace.findFiles(`**/${RUN_FILES.status}`, '**/node_modules/**', 200);
  const folders = statusFiles
    .map((u) => dirname(u.fsPath))
    .filter((dir) => basename(dirname(dir)) !== RUN_FILES.compareDir && accept(dir))
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
  const runDir = await pickRunFolder(arg, 'Run whose adapter to merge (runs that hold one)', hasAdapter);
  if (!runDir) return undefined;
  if (!hasAdapter(runDir)) {
    void vscode.window.showErrorMessage(`SPruFT: ${basename(runDir)} holds no adapter to merge (only completed training runs write \`${RUN_FILES.adapterDir}/\`).`);
    return undefined;
  }
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

// ---- runs of the Runs view ----------------------------------------------------------------

function statusOf(dir: string): string | undefined {
  try {
    return readRunSummary(dir).status;
  } catch {
    return undefined;
  }
}

/** "SPruFT: Resume run": continue a cancelled, interrupted or failed run from its checkpoint. */
export async function resumeRun(ctx: CommandContext, arg?: unknown): Promise<StartedRunInfo | undefined> {
  if (!requireTrust('resume runs')) return undefined;
  const runDir = await pickRunFolder(arg, 'Run to resume (cancelled, interrupted or failed)', (dir) => isResumable(statusOf(dir) ?? ''));
  if (!runDir) return undefined;
  const status = statusOf(runDir);
  if (status === undefined || !isRunFolder(runDir)) {
    void vscode.window.showErrorMessage(`SPruFT: ${runDir} is not a run folder.`);
    return undefined;
  }
  if (!isResumable(status)) {
    void vscode.window.showInformationMessage(`SPruFT: ${basename(runDir)} is ${status}; only cancelled, interrupted or failed runs resume. Re-run starts it over.`);
    return undefined;
  }
  const params: RunParams = { configPath: '', resumeDir: runDir, overrides: overridesFromSettings() };
  return startRun(ctx, { kind: 'train', params }, `resume ${basename(runDir)}`);
}

/** "SPruFT: Re-run": the config a run came from, with the same methods, into a new folder. */
export async function rerun(ctx: CommandContext, arg?: unknown): Promise<StartedRunInfo | undefined> {
  if (!requireTrust('run')) return undefined;
  const runDir = await pickRunFolder(arg, 'Run to start again');
  if (!runDir) return undefined;
  const source = runConfigSource(runDir);
  if (!source) {
    void vscode.window.showErrorMessage(`SPruFT: the config ${basename(runDir)} came from is no longer there; open a config and use "SPruFT: Fine-tune model".`);
    return undefined;
  }
  const planned = plannedMethodsOf(runDir);
  const overrides = overridesFromSettings(planned ? { method: planned[0]!, compare: planned.slice(1) } : {});
  const uri = vscode.Uri.file(source);
  const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
  if (open?.isDirty) await open.save();
  return startRun(ctx, { kind: 'train', params: { configPath: source, overrides } }, `re-run ${configName(uri)}`);
}

/** "SPruFT: Reveal run folder": in the Explorer when it is in the workspace, else in the OS. */
export async function revealRun(arg?: unknown): Promise<void> {
  const runDir = folderOf(arg);
  if (!runDir) return;
  const uri = vscode.Uri.file(runDir);
  await vscode.commands.executeCommand(vscode.workspace.getWorkspaceFolder(uri) ? 'revealInExplorer' : 'revealFileInOS', uri);
}

/** "SPruFT: Delete run": the whole run folder, after a modal confirmation; never the running one. */
export async function deleteRun(ctx: CommandContext, arg?: unknown, confirmed = false): Promise<boolean> {
  const runDir = await pickRunFolder(arg, 'Run folder to delete');
  if (!runDir || !isRunFolder(runDir)) return false;
  const active = ctx.runs.current?.runDir;
  if ((active && relative(active, runDir) === '') || isLive(statusOf(runDir) ?? '')) {
    void vscode.window.showWarningMessage(`SPruFT: ${basename(runDir)} is running; stop it before deleting it.`);
    return false;
  }
  if (!confirmed) {
    const remove = 'Delete';
    const choice = await vscode.window.showWarningMessage(`Delete the run folder ${basename(runDir)}? Its adapter, metrics and checkpoint go with it.`, { modal: true, detail: runDir }, remove);
    if (choice !== remove) return false;
  }
  await vscode.workspace.fs.delete(vscode.Uri.file(runDir), { recursive: true, useTrash: false });
  ctx.runsView?.refresh();
  return !existsSync(runDir);
}

/** "SPruFT: Try the fine-tuned model": the playground of a run that holds an adapter. */
export async function openPlayground(ctx: CommandContext, arg?: unknown): Promise<string | undefined> {
  if (!requireTrust('run models')) return undefined;
  const runDir = await pickRunFolder(arg, 'Run whose fine-tuned model to try (runs that hold an adapter)', hasAdapter);
  if (!runDir) return undefined;
  if (!hasAdapter(runDir)) {
    void vscode.window.showErrorMessage(`SPruFT: ${basename(runDir)} holds no adapter to try (only completed training runs write one).`);
    return undefined;
  }
  ctx.dashboards.showPlayground(runDir);
  return runDir;
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
