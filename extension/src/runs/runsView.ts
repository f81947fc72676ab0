/**
 * The Runs view in the SPruFT sidebar: every run folder of the workspace (those with a
 * status.json, compared methods' sub-folders left out), newest first, with its status,
 * methods, accuracy and date; a run's children are its methods. Status is read the way
 * the dashboard reads it (runFolderReader -> protocol/runFolder), so a run whose owner
 * died shows as `interrupted` and offers Resume. Refreshed when a status.json changes
 * and when a run starts or ends.
 */
import { basename, dirname, sep } from 'node:path';
import * as vscode from 'vscode';
import { formatCount, formatDuration, formatLoss, formatPercent } from '../../../protocol/format';
import { isLive, isResumable } from '../../../protocol/runOutcome';
import { RUN_FILES } from '../../../protocol/runFolder';
import { RUNS_VIEW_ID } from '../commandIds';
import { readRunSummary, type RunSummary } from '../dashboard/runFolderReader';
import type { RunSessions } from '../training/runSessions';

/** A run in the tree; commands receive it as their argument (`runDir` is what they read). */
export class RunItem extends vscode.TreeItem {
  constructor(readonly run: RunSummary) {
    super(run.name, vscode.TreeItemCollapsibleState.Collapsed);
    this.id = `run:${run.runDir}`;
    this.description = runDescription(run);
    this.tooltip = runTooltip(run);
    this.iconPath = statusIcon(run.status);
    this.resourceUri = vscode.Uri.file(run.runDir);
    // viewItem: spruftRun plus flags the menus match on (package.json view/item/context).
    const flags = [isResumable(run.status) ? 'resumable' : '', run.hasAdapter ? 'adapter' : '', isLive(run.status) ? 'live' : '', run.configPath ? 'config' : ''].filter(Boolean);
    this.contextValue = ['spruftRun', ...flags].join(':');
    this.command = { command: 'spruft.openDashboard', title: 'Open dashboard', arguments: [vscode.Uri.file(run.runDir)] };
  }

  get runDir(): string {
    return this.run.runDir;
  }
}

class MethodItem extends vscode.TreeItem {
  constructor(run: RunSummary, entry: RunSummary['accuracy'][number]) {
    super(entry.method, vscode.TreeItemCollapsibleState.None);
    this.id = `method:${run.runDir}:${entry.method}`;
    const parts: string[] = [];
    if (entry.accuracy !== undefined) parts.push(`accuracy ${formatPercent(entry.accuracy)}`);
    else if (entry.loss !== undefined) parts.push(`eval loss ${formatLoss(entry.loss)}`);
    if (entry.trainableParams !== undefined) parts.push(`${formatCount(entry.trainableParams)} trainable${entry.percent !== undefined ? ` (${formatPercent(entry.percent / 100, 2)})` : ''}`);
    if (entry.trainMs !== undefined) parts.push(formatDuration(entry.trainMs));
    this.description = parts.join(' · ') || 'not evaluated';
    this.contextValue = 'spruftRunMethod';
  }
}

function statusIcon(status: string): vscode.ThemeIcon {
  switch (status) {
    case 'completed':
      return new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed'));
    case 'failed':
      return new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed'));
    case 'cancelled':
      return new vscode.ThemeIcon('circle-slash', new vscode.ThemeColor('editorWarning.foreground'));
    case 'interrupted':
      return new vscode.ThemeIcon('warning', new vscode.ThemeColor('editorWarning.foreground'));
    case 'running':
      return new vscode.ThemeIcon('sync~spin');
    default:
      return new vscode.ThemeIcon('circle-outline');
  }
}

/** "completed · spruft 81.2% · lora 79.9% · 3 Dec 07:41". */
export function runDescription(run: RunSummary): string {
  const scored = run.accuracy.filter((a) => a.accuracy !== undefined).map((a) => `${a.method} ${formatPercent(a.accuracy!)}`);
  const methods = scored.length ? scored.join(' · ') : run.methods.join(', ');
  return [run.status, methods, run.startedAt ? shortDate(run.startedAt) : ''].filter(Boolean).join(' · ');
}

function shortDate(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleString('en-GB', { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
}

function runTooltip(run: RunSummary): vscode.MarkdownString {
  const md = new vscode.MarkdownString(undefined, true);
  md.appendMarkdown(`**${run.name}** — ${run.status}\n\n`);
  md.appendMarkdown(`Methods: ${run.methods.join(', ') || '–'}\n\n`);
  if (run.startedAt) md.appendMarkdown(`Started ${new Date(run.startedAt).toLocaleString()}${run.endedAt ? `, ended ${new Date(run.endedAt).toLocaleString()}` : ''}\n\n`);
  if (run.snapshot.error) md.appendText(`Error: ${run.snapshot.error.message}\n\n`);
  md.appendText(run.runDir);
  return md;
}

/** Run folders under the workspace: a status.json that is not a compared method's or a checkpoint's. */
export async function findRunFolders(): Promise<string[]> {
  const files = await vscode.workspace.findFiles(`**/${RUN_FILES.status}`, '**/node_modules/**', 1000);
  const dirs = files.map((u) => dirname(u.fsPath)).filter((dir) => {
    const parent = basename(dirname(dir));
    return parent !== RUN_FILES.compareDir && !dir.split(sep).includes(RUN_FILES.checkpointDir);
  });
  return [...new Set(dirs)];
}

export class RunsView implements vscode.TreeDataProvider<RunItem | MethodItem>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly disposables: vscode.Disposable[] = [];
  private timer: NodeJS.Timeout | undefined;
  private runs: RunSummary[] = [];
  private readonly view: vscode.TreeView<RunItem | MethodItem>;

  constructor(runs: RunSessions) {
    this.view = vscode.window.createTreeView(RUNS_VIEW_ID, { treeDataProvider: this, showCollapseAll: true });
    const watcher = vscode.workspace.createFileSystemWatcher(`**/${RUN_FILES.status}`);
    this.disposables.push(
      this.changed,
      this.view,
      watcher,
      watcher.onDidCreate(() => this.refreshSoon()),
      watcher.onDidChange(() => this.refreshSoon()),
      watcher.onDidDelete(() => this.refreshSoon()),
      runs.onDidChange(() => this.refreshSoon()),
    );
  }

  /** Many status writes in a burst (a compare writes several): one re-read. */
  private refreshSoon(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), 300);
  }

  refresh(): void {
    this.changed.fire();
  }

  /** The runs listed at the last read (the in-editor tests read it). */
  get listed(): readonly RunSummary[] {
    return this.runs;
  }

  async getChildren(element?: RunItem | MethodItem): Promise<Array<RunItem | MethodItem>> {
    if (element instanceof RunItem) return element.run.accuracy.map((a) => new MethodItem(element.run, a));
    if (element) return [];
    const summaries: RunSummary[] = [];
    for (const dir of await findRunFolders()) {
      try {
        summaries.push(readRunSummary(dir));
      } catch {
        // A folder being written or removed right now: the next refresh lists it.
      }
    }
    summaries.sort((a, b) => (b.startedAt ?? '').localeCompare(a.startedAt ?? '') || a.runDir.localeCompare(b.runDir));
    this.runs = summaries;
    this.view.badge = undefined;
    return summaries.map((s) => new RunItem(s));
  }

  getTreeItem(element: RunItem | MethodItem): vscode.TreeItem {
    return element;
  }

  dispose(): void {
    clearTimeout(this.timer);
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
