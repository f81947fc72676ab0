/**
 * The runner's health and work in the status bar (STYLE.md point 9), updated by pushed
 * events (runner state, run start/end, progress), never by polling. The tooltip links
 * to "Show runner log" and "Restart runner"; a click opens a small menu.
 */
import * as vscode from 'vscode';
import { describeProgress } from '../../../protocol/format';
import { CommandId, ContextKey } from '../commandIds';
import type { RunSessions } from '../training/runSessions';
import type { RunnerClient, RunnerState } from './runnerClient';

export class RunnerStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('spruft.runner', vscode.StatusBarAlignment.Left, 10);
  private readonly disposables: vscode.Disposable[] = [];
  private lastProgress: string | undefined;

  constructor(
    private readonly client: RunnerClient,
    private readonly runs: RunSessions,
  ) {
    this.item.name = 'SPruFT runner';
    this.item.command = CommandId.statusMenu;
    this.disposables.push(
      this.item,
      client.onDidChangeState(() => this.update()),
      runs.onDidChange(() => {
        this.lastProgress = undefined;
        this.update();
      }),
      runs.onRunMessage((message) => {
        if (message.type !== 'progress') return;
        this.lastProgress = describeProgress(message.event, { elapsed: false });
        this.update();
      }),
    );
    this.update();
    this.item.show();
  }

  private tooltip(detail: string): vscode.MarkdownString {
    const md = new vscode.MarkdownString(
      `**SPruFT runner** — ${detail}\n\n[Show runner log](command:${CommandId.showRunnerLog}) · [Restart runner](command:${CommandId.restartRunner})`,
      true,
    );
    md.isTrusted = { enabledCommands: [CommandId.showRunnerLog, CommandId.restartRunner] };
    return md;
  }

  private update(): void {
    const state: RunnerState = this.client.state;
    const run = this.runs.current;
    void vscode.commands.executeCommand('setContext', ContextKey.runnerReady, state.kind === 'ready');
    this.item.backgroundColor = undefined;
    if (run) {
      this.item.text = `$(sync~spin) SPruFT: ${this.lastProgress ?? run.label}`;
      this.item.tooltip = this.tooltip(`busy: ${run.label}${run.runDir ? ` (${run.runDir})` : ''}`);
      return;
    }
    switch (state.kind) {
      case 'stopped':
        this.item.text = '$(beaker) SPruFT';
        this.item.tooltip = this.tooltip('not started; it starts with the first run.');
        return;
      case 'starting':
        this.item.text = '$(loading~spin) SPruFT: starting';
        this.item.tooltip = this.tooltip('starting…');
        return;
      case 'ready':
        this.item.text = `$(beaker) SPruFT: ${state.info.backend.name}`;
        this.item.tooltip = this.tooltip(`ready: runner ${state.info.runnerVersion}, ${state.info.backend.name} backend (${state.info.backend.reason}), Node ${state.info.nodeVersion}.`);
        return;
      case 'failed':
        this.item.text = '$(error) SPruFT: runner stopped';
        this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
        this.item.tooltip = this.tooltip(state.reason);
        return;
    }
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
