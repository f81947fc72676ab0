/**
 * The run the runner is doing for this window (one at a time, as the runner allows):
 * starts it, folds the runner's notifications into its DashboardSnapshot (the same
 * reducer as the dashboard), shows the progress notification (step, ETA, Cancel), and
 * ends it on `run/finished`, or as failed when the runner dies under it.
 */
import * as vscode from 'vscode';
import { applyRunMessage, type RunMessage } from '../../../protocol/dashboardSnapshot';
import { describeProgress, formatDuration, formatPercent } from '../../../protocol/format';
import { overallProgress } from '../../../protocol/runOutcome';
import {
  CancelRequest,
  EvaluateRequest,
  ScoreRequest,
  TrainRequest,
  type EvaluateParams,
  type FinishedEvent,
  type RunParams,
} from '../../../protocol/rpc';
import type { RunResult } from '../../../protocol/results';
import type { DashboardSnapshot } from '../../../protocol/runFolder';
import { ContextKey } from '../commandIds';
import { describeError, type RunnerClient } from '../runner/runnerClient';
import { isRunFolder, plannedMethodsOf, readRunFolder } from '../dashboard/runFolderReader';

export type RunKind = FinishedEvent['kind'];

export type StartRequest =
  | { kind: 'train'; params: RunParams }
  | { kind: 'score'; params: RunParams }
  | { kind: 'evaluate'; params: EvaluateParams };

export interface ActiveRun {
  runId: string;
  runDir?: string;
  kind: RunKind;
  /** What the notification and dashboard title say, e.g. "fine-tune fashion-tiny". */
  label: string;
  snapshot: DashboardSnapshot;
  finished: Promise<FinishedEvent>;
}

/** Messages for runs the client does not know yet (none expected: the runner holds them). */
const EARLY_LIMIT = 2000;

export class RunSessions implements vscode.Disposable {
  private active: (ActiveRun & { resolve: (e: FinishedEvent) => void }) | undefined;
  private readonly early: RunMessage[] = [];
  private readonly disposables: vscode.Disposable[] = [];
  private readonly changeEmitter = new vscode.EventEmitter<ActiveRun | undefined>();
  private readonly messageEmitter = new vscode.EventEmitter<RunMessage>();
  /** Fires when a run starts or ends. */
  readonly onDidChange = this.changeEmitter.event;
  /** Every runner message of the active run, after it was folded into its snapshot. */
  readonly onRunMessage = this.messageEmitter.event;

  constructor(
    private readonly client: RunnerClient,
    private readonly output: vscode.LogOutputChannel,
  ) {
    this.disposables.push(
      this.changeEmitter,
      this.messageEmitter,
      client.onProgress((event) => this.accept({ type: 'progress', event })),
      client.onSelection((event) => this.accept({ type: 'selection', event })),
      client.onMemory((event) => this.accept({ type: 'memory', event })),
      client.onLabelAccuracy((event) => this.accept({ type: 'labelAccuracy', event })),
      client.onEvaluation((event) => this.accept({ type: 'evaluation', event })),
      client.onFinished((event) => this.accept({ type: 'finished', event })),
      // A runner that dies mid-run sends no run/finished: end the run here, as failed.
      client.onDidChangeState((state) => {
        if (this.active && (state.kind === 'failed' || state.kind === 'stopped')) {
          const reason = state.kind === 'failed' ? state.reason : 'The runner was stopped.';
          this.accept({ type: 'finished', event: { runId: this.active.runId, kind: this.active.kind, status: 'failed', runDir: this.active.runDir, error: { message: reason, code: 'RUNNER_EXITED' } } });
        }
      }),
    );
  }

  get current(): ActiveRun | undefined {
    return this.active;
  }

  /** Start a run; fails with the runner's message (busy, invalid config...) when refused. */
  async start(request: StartRequest, label: string): Promise<ActiveRun> {
    if (this.active) {
      throw new Error(`A run is already going (${this.active.label}). Stop it with "SPruFT: Stop run" first.`);
    }
    const started =
      request.kind === 'train'
        ? await this.client.request(TrainRequest, request.params)
        : request.kind === 'score'
          ? await this.client.request(ScoreRequest, request.params)
          : await this.client.request(EvaluateRequest, request.params);
    let resolve!: (e: FinishedEvent) => void;
    const finished = new Promise<FinishedEvent>((r) => (resolve = r));
    const snapshot = startingSnapshot(request, started.runId, started.runDir, label);
    this.active = { runId: started.runId, runDir: started.runDir, kind: request.kind, label, snapshot, finished, resolve };
    this.output.info(`run ${started.runId} started: ${label}${started.runDir ? ` -> ${started.runDir}` : ''}`);
    void vscode.commands.executeCommand('setContext', ContextKey.runActive, true);
    this.changeEmitter.fire(this.active);
    const active = this.active;
    for (const message of this.early.splice(0)) this.accept(message);
    this.showProgress(active);
    return active;
  }

  private accept(message: RunMessage): void {
    const active = this.active;
    if (!active || message.event.runId !== active.runId) {
      if (this.early.length < EARLY_LIMIT) this.early.push(message);
      return;
    }
    active.snapshot = applyRunMessage(active.snapshot, message);
    this.messageEmitter.fire(message);
    if (message.type !== 'finished') return;
    this.active = undefined;
    this.early.length = 0;
    void vscode.commands.executeCommand('setContext', ContextKey.runActive, false);
    this.output.info(`run ${active.runId} ${message.event.status}${message.event.error ? `: ${message.event.error.message}` : ''}`);
    active.resolve(message.event);
    this.changeEmitter.fire(undefined);
  }

  /** Ask the runner to stop the run; it ends within one step with run/finished. */
  async stop(runId?: string): Promise<boolean> {
    const id = runId ?? this.active?.runId;
    if (!id) return false;
    const { cancelled } = await this.client.request(CancelRequest, { runId: id });
    return cancelled;
  }

  private showProgress(run: ActiveRun): void {
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `SPruFT: ${run.label}`, cancellable: true },
      async (progress, token) => {
        const cancel = token.onCancellationRequested(() => {
          this.stop(run.runId).catch((err: unknown) => void vscode.window.showErrorMessage(`Could not stop the run: ${describeError(err)}`));
        });
        let reported = 0;
        const listener = this.onRunMessage((message) => {
          if (message.type !== 'progress' || message.event.runId !== run.runId) return;
          const e = message.event;
          // One bar and one ETA over every method the run trains (protocol/runOutcome.ts).
          const overall = overallProgress(run.snapshot);
          const percent = Math.min(100, overall.fraction * 100);
          const increment = percent > reported ? percent - reported : undefined;
          if (increment !== undefined) reported = percent;
          const many = overall.methods.length > 1;
          const eta = overall.etaMs !== undefined ? ` · ETA ${formatDuration(overall.etaMs)}${many ? ' for the whole run' : ''}` : '';
          progress.report({ message: `${describeProgress(e, { elapsed: false, eta: false })}${many ? ` · method ${overall.current + 1} of ${overall.methods.length}` : ''}${eta}`, increment });
        });
        try {
          await run.finished;
        } finally {
          listener.dispose();
          cancel.dispose();
        }
      },
    );
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}

/**
 * The snapshot a live run starts from. A resumed run starts from its folder (the curves
 * go on from where they stopped) under its new run id; a new one from nothing. Either way
 * the methods it will train come from the run.spruft.json the runner has written by now.
 */
function startingSnapshot(request: StartRequest, runId: string, runDir: string | undefined, label: string): DashboardSnapshot {
  const fresh: DashboardSnapshot = { runId, name: label, runDir: runDir ?? '', status: 'running', methods: [], kind: request.kind };
  if (!runDir) return fresh;
  let base = fresh;
  if (request.kind === 'train' && request.params.resumeDir && isRunFolder(runDir)) {
    try {
      const { error: _previousError, ...folder } = readRunFolder(runDir);
      base = { ...folder, runId, name: label, status: 'running', kind: 'train' };
    } catch {
      base = fresh;
    }
  }
  const planned = request.kind === 'train' ? plannedMethodsOf(runDir) : undefined;
  return planned ? { ...base, plannedMethods: planned } : base;
}

/** "completed: spruft 81.2% · lora 79.9%" for the end-of-run message. */
export function summarizeFinished(event: FinishedEvent): string {
  if (event.status !== 'completed') return `${event.status}${event.error ? `: ${event.error.message}` : ''}`;
  const result = event.result;
  if (result && 'metrics' in result) {
    const all: RunResult[] = [result, ...(result.compared ?? [])];
    const accuracies = all.filter((r) => r.metrics.accuracy !== undefined).map((r) => `${r.method} ${formatPercent(r.metrics.accuracy!)}`);
    return accuracies.length ? `completed: accuracy ${accuracies.join(' · ')}` : 'completed';
  }
  if (result && 'layers' in result) return `completed: ${result.layers.length} layers scored with ${result.metric}`;
  return 'completed';
}
