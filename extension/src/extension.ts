/**
 * SPruFT Studio's extension: a thin client of the runner (STYLE.md point 1). It spawns
 * `spruft serve`, forwards commands, shows progress and status, hosts the dashboard and
 * starts the run-config language client. Two lifetimes (STYLE.md point 8): what is
 * pushed to `context.subscriptions` lives as long as the extension; the runner's own
 * disposables live inside RunnerClient and go with each restart.
 */
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { CommandId, CONFIG_FILE_GLOB, ContextKey } from './commandIds';
import { RUN_CONFIG_LANGUAGE_ID } from '../../protocol/languageServer';
import { ConfigCodeLensProvider } from './codeLens';
import { dashboardActions, predictor, registerCommands, type CommandContext } from './commands/commands';
import { DashboardPanels } from './dashboard/dashboardPanels';
import { startLanguageClient } from './languageClient';
import { RunnerClient } from './runner/runnerClient';
import { RunsView } from './runs/runsView';
import { RunnerStatusBar } from './runner/statusBar';
import { RunSessions } from './training/runSessions';

/** What `activate` returns: handles for the in-editor tests. */
export interface SpruftExtensionApi {
  runner: RunnerClient;
  runsView: RunsView;
  configProblems: vscode.DiagnosticCollection;
  runs: RunSessions;
  dashboards: DashboardPanels;
  languageClient: Promise<LanguageClient | undefined>;
  commandIds: typeof CommandId;
}

let languageClient: Promise<LanguageClient | undefined> = Promise.resolve(undefined);
let runnerClient: RunnerClient | undefined;

export function activate(context: vscode.ExtensionContext): SpruftExtensionApi {
  const output = vscode.window.createOutputChannel('SPruFT Runner', { log: true });
  const version = (context.extension.packageJSON as { version?: string }).version ?? '0.0.0';
  const runner = new RunnerClient({ runnerScript: context.asAbsolutePath('dist/runner.js'), output, clientVersion: version });
  runnerClient = runner;
  const runs = new RunSessions(runner, output);
  const dashboards = new DashboardPanels(context.extensionUri, runs);
  const configProblems = vscode.languages.createDiagnosticCollection('spruft-run');
  const runsView = new RunsView(runs);
  const ctx: CommandContext = { client: runner, runs, dashboards, output, runsView, configProblems };
  dashboards.setActions(dashboardActions(ctx), predictor(ctx));
  void vscode.commands.executeCommand('setContext', ContextKey.runActive, false);

  context.subscriptions.push(
    output,
    runner,
    runs,
    dashboards,
    configProblems,
    runsView,
    // A run refused for its config: its findings leave the Problems panel once the file
    // changes, or once the language server (which checks open files) reports them itself.
    vscode.workspace.onDidChangeTextDocument((e) => {
      if (e.contentChanges.length && configProblems.has(e.document.uri)) configProblems.delete(e.document.uri);
    }),
    vscode.languages.onDidChangeDiagnostics((e) => {
      for (const uri of e.uris) {
        const ours = configProblems.get(uri);
        if (!ours?.length) continue;
        const theirs = vscode.languages.getDiagnostics(uri).filter((d) => d.source === 'spruft');
        if (ours.every((o) => theirs.some((t) => t.message === o.message && t.range.start.line === o.range.start.line))) configProblems.delete(uri);
      }
    }),
    new RunnerStatusBar(runner, runs),
    ...registerCommands(ctx),
    vscode.languages.registerCodeLensProvider(
      [{ language: RUN_CONFIG_LANGUAGE_ID }, { pattern: CONFIG_FILE_GLOB }],
      new ConfigCodeLensProvider(),
    ),
  );

  languageClient = startLanguageClient(context, output).catch((err: unknown) => {
    output.error(`language server failed to start: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  });
  return { runner, runs, dashboards, runsView, configProblems, languageClient, commandIds: CommandId };
}

/** Stop the runner (a running run is cancelled and its folder left consistent) and the language server. */
export async function deactivate(): Promise<void> {
  const client = await languageClient;
  await Promise.all([runnerClient?.stop(), client?.stop()]);
}
