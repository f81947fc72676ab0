/**
 * The dashboard panels: one per run, live while the run goes (the run's messages are
 * folded into the panel's snapshot and forwarded), or reopened from a run folder. The
 * webview posts `ready` first; the host answers with the whole snapshot and only then
 * forwards messages (STYLE.md points 3 and 10).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { relative, isAbsolute, join, normalize } from 'node:path';
import * as vscode from 'vscode';
import { applyRunMessage, type RunMessage } from '../../../protocol/dashboardSnapshot';
import type { PredictInput, PredictResult } from '../../../protocol/rpc';
import { RUN_FILES, type DashboardSnapshot } from '../../../protocol/runFolder';
import { assertNever, type HostToWebview, type RunAction, type WebviewToHost } from '../../../protocol/webview';
import { DASHBOARD_VIEW_TYPE } from '../commandIds';
import { describeError } from '../runner/runnerClient';
import type { ActiveRun, RunSessions } from '../training/runSessions';
import { dashboardHtml, makeNonce } from './dashboardHtml';
import { hasAdapter, isRunFolder, readRunFolder } from './runFolderReader';

class DashboardPanel {
  private ready = false;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    readonly panel: vscode.WebviewPanel,
    public snapshot: DashboardSnapshot,
    private readonly host: DashboardPanels,
    extensionUri: vscode.Uri,
  ) {
    const assets = vscode.Uri.joinPath(extensionUri, 'dist', 'webview');
    const webview = panel.webview;
    webview.options = { enableScripts: true, localResourceRoots: [assets] };
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'spruft.svg');
    panel.title = `SPruFT: ${snapshot.name}`;
    webview.html = dashboardHtml({
      cspSource: webview.cspSource,
      nonce: makeNonce((n) => randomBytes(n)),
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(assets, 'dashboard.js')).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(assets, 'dashboard.css')).toString(),
      title: panel.title,
    });
    this.disposables.push(
      webview.onDidReceiveMessage((message: WebviewToHost) => this.receive(message)),
      panel.onDidDispose(() => this.dispose()),
    );
  }

  /** Set by showPlayground before the page is ready: scroll to the playground once it is. */
  focusPlayground = false;

  /** Tells the page whether the run can be tried: a finished run folder that holds an adapter. */
  postPlayground(focus = false): void {
    const available = this.snapshot.status !== 'running' && this.snapshot.runDir !== '' && hasAdapter(this.snapshot.runDir);
    const { task, pairs } = available ? taskOf(this.snapshot.runDir) : {};
    this.post({ type: 'playground', available, ...(task ? { task } : {}), ...(pairs ? { pairs } : {}), focus });
  }

  /** Whether the page has posted `ready` and drawn the snapshot it was sent. */
  get isReady(): boolean {
    return this.ready;
  }

  private post(message: HostToWebview): void {
    // Before `ready` nothing is sent: the snapshot that answers `ready` holds it all.
    if (this.ready) void this.panel.webview.postMessage(message);
  }

  replace(snapshot: DashboardSnapshot): void {
    this.snapshot = snapshot;
    this.panel.title = `SPruFT: ${snapshot.name}`;
    this.post({ type: 'snapshot', snapshot });
    this.postPlayground();
  }

  forward(message: RunMessage): void {
    this.snapshot = applyRunMessage(this.snapshot, message);
    this.post(message);
    if (message.type === 'finished') this.postPlayground();
  }

  private receive(message: WebviewToHost): void {
    switch (message.type) {
      case 'ready':
        // Also after the webview was hidden and re-created: it starts over from the snapshot.
        this.ready = true;
        this.post({ type: 'snapshot', snapshot: this.snapshot });
        this.postPlayground(this.focusPlayground);
        this.focusPlayground = false;
        this.host.fireReady(this.snapshot.runId);
        return;
      case 'predict':
        this.host.predict(this.snapshot.runDir, message.input).then(
          (result) => this.post({ type: 'prediction', requestId: message.requestId, result }),
          (err: unknown) => this.post({ type: 'prediction', requestId: message.requestId, error: describeError(err) }),
        );
        return;
      case 'stopRun':
        this.host.stopRun(message.runId).then(
          (stopped) => this.post({ type: 'reply', requestId: message.requestId, ok: stopped, ...(stopped ? {} : { error: 'The run had already ended.' }) }),
          (err: unknown) => this.post({ type: 'reply', requestId: message.requestId, ok: false, error: describeError(err) }),
        );
        return;
      case 'runAction':
        this.host.runAction(message.action, this.snapshot).then(
          () => this.post({ type: 'reply', requestId: message.requestId, ok: true }),
          (err: unknown) => this.post({ type: 'reply', requestId: message.requestId, ok: false, error: describeError(err) }),
        );
        return;
      case 'openRunFolder':
        void this.revealRunFolder().then(() => this.post({ type: 'reply', requestId: message.requestId, ok: true }));
        return;
      case 'revealFile': {
        // Only files inside this run's folder: the page cannot open anything else.
        const rel = relative(this.snapshot.runDir, message.path);
        if (!this.snapshot.runDir || rel.startsWith('..') || isAbsolute(rel)) {
          this.post({ type: 'reply', requestId: message.requestId, ok: false, error: 'Only files of this run folder can be opened.' });
          return;
        }
        void vscode.window.showTextDocument(vscode.Uri.file(message.path), { preview: true }).then(
          () => this.post({ type: 'reply', requestId: message.requestId, ok: true }),
          (err: unknown) => this.post({ type: 'reply', requestId: message.requestId, ok: false, error: describeError(err) }),
        );
        return;
      }
      default:
        assertNever(message);
    }
  }

  private async revealRunFolder(): Promise<void> {
    if (!this.snapshot.runDir) return;
    const uri = vscode.Uri.file(this.snapshot.runDir);
    const inWorkspace = vscode.workspace.getWorkspaceFolder(uri) !== undefined;
    await vscode.commands.executeCommand(inWorkspace ? 'revealInExplorer' : 'revealFileInOS', uri);
  }

  dispose(): void {
    this.host.forget(this);
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
  }
}

/** What the dashboard's buttons do; the commands module provides them (it also owns the palette's). */
export type DashboardActions = Record<RunAction, (snapshot: DashboardSnapshot) => Promise<unknown>>;

/** Runs `model/predict` for the playground (the runner client, bound by the commands module). */
export type Predictor = (runDir: string, input: PredictInput) => Promise<PredictResult>;

/** The task of a run, from its run.spruft.json. */
/** The run's task, and whether it reads text pairs, from its resolved config. */
function taskOf(runDir: string): { task?: PredictResult['task']; pairs?: boolean } {
  try {
    const c = JSON.parse(readFileSync(join(runDir, RUN_FILES.config), 'utf8')) as { task?: PredictResult['task']; data?: { columns?: { textPair?: string } } };
    return { task: c.task, pairs: c.data?.columns?.textPair !== undefined };
  } catch {
    return {};
  }
}

/** One tab per run folder: a resumed run (new run id, same folder) reuses its tab. */
function panelKey(snapshot: DashboardSnapshot): string {
  return snapshot.runDir ? `dir:${normalize(snapshot.runDir).replace(/[\\/]+$/, '')}` : `id:${snapshot.runId}`;
}

export class DashboardPanels implements vscode.Disposable, vscode.WebviewPanelSerializer<DashboardSnapshot> {
  private readonly panels = new Map<string, DashboardPanel>();
  private actions: Partial<DashboardActions> = {};
  private predictor: Predictor | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly readyEmitter = new vscode.EventEmitter<string>();
  /** Fires with a run id when its page has drawn its first snapshot. */
  readonly onDidBecomeReady = this.readyEmitter.event;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly runs: RunSessions,
  ) {
    this.disposables.push(
      this.readyEmitter,
      runs.onRunMessage((message) => this.byRunId(message.event.runId)?.forward(message)),
      vscode.window.registerWebviewPanelSerializer(DASHBOARD_VIEW_TYPE, this),
    );
  }

  setActions(actions: DashboardActions, predictor: Predictor): void {
    this.actions = actions;
    this.predictor = predictor;
  }

  async predict(runDir: string, input: PredictInput): Promise<PredictResult> {
    if (!runDir || !this.predictor) throw new Error('This run cannot be tried here.');
    if (input.kind === 'image' && !input.path) {
      const picked = await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: 'Try this image', filters: { Images: ['png', 'jpg', 'jpeg', 'webp'] } });
      if (!picked?.[0]) throw new Error('No image chosen.');
      return this.predictor(runDir, { kind: 'image', path: picked[0].fsPath });
    }
    return this.predictor(runDir, input);
  }

  /** The dashboard of a run folder, scrolled to its playground. */
  showPlayground(runDir: string): void {
    this.showFolder(runDir);
    const panel = [...this.panels.values()].find((p) => p.snapshot.runDir && relative(p.snapshot.runDir, runDir) === '');
    if (!panel) return;
    if (panel.isReady) panel.postPlayground(true);
    else panel.focusPlayground = true;
  }

  runAction(action: RunAction, snapshot: DashboardSnapshot): Promise<unknown> {
    const act = this.actions[action];
    return act ? act(snapshot) : Promise.reject(new Error(`"${action}" is not available here.`));
  }

  private byRunId(runId: string): DashboardPanel | undefined {
    for (const panel of this.panels.values()) if (panel.snapshot.runId === runId) return panel;
    return undefined;
  }

  fireReady(runId: string): void {
    this.readyEmitter.fire(runId);
  }

  stopRun(runId: string): Promise<boolean> {
    return this.runs.stop(runId);
  }

  forget(panel: DashboardPanel): void {
    for (const [key, value] of this.panels) if (value === panel) this.panels.delete(key);
  }

  private open(snapshot: DashboardSnapshot, column = vscode.ViewColumn.Beside): DashboardPanel {
    const existing = this.panels.get(panelKey(snapshot)) ?? this.byRunId(snapshot.runId);
    if (existing) {
      existing.replace(snapshot);
      existing.panel.reveal(undefined, true);
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(DASHBOARD_VIEW_TYPE, `SPruFT: ${snapshot.name}`, { viewColumn: column, preserveFocus: true }, { enableScripts: true });
    const dashboard = new DashboardPanel(panel, snapshot, this, this.extensionUri);
    this.panels.set(panelKey(snapshot), dashboard);
    return dashboard;
  }

  /** The dashboard of the running run, kept live by its messages. */
  showLive(run: ActiveRun): void {
    this.open(run.snapshot);
  }

  /** How many dashboard tabs are open (the in-editor tests check that tabs are reused). */
  get openCount(): number {
    return this.panels.size;
  }

  /** The dashboard of a run folder: live if it is the running run, else from its files. */
  showFolder(runDir: string): void {
    const active = this.runs.current;
    if (active?.runDir && relative(active.runDir, runDir) === '') {
      this.showLive(active);
      return;
    }
    this.open(readRunFolder(runDir), vscode.ViewColumn.Active);
  }

  /** What a panel holds, for the in-editor tests (undefined when none is open). */
  snapshotOf(runId: string): { snapshot: DashboardSnapshot; ready: boolean } | undefined {
    const panel = this.byRunId(runId);
    return panel ? { snapshot: panel.snapshot, ready: panel.isReady } : undefined;
  }

  /** Panels restored after a window reload: from the run folder when it is still there. */
  async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: DashboardSnapshot | undefined): Promise<void> {
    if (!state) {
      panel.dispose();
      return;
    }
    let snapshot = state;
    if (state.runDir && isRunFolder(state.runDir)) {
      try {
        snapshot = readRunFolder(state.runDir);
      } catch {
        snapshot = state;
      }
    }
    this.panels.get(panelKey(snapshot))?.dispose();
    this.panels.set(panelKey(snapshot), new DashboardPanel(panel, snapshot, this, this.extensionUri));
  }

  dispose(): void {
    for (const panel of [...this.panels.values()]) panel.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
