/**
 * What a person reads about a run as a whole, the same in the dashboard and the Runs
 * view: how far it got over every method it trains (one ETA for a whole "Compare with
 * LoRA", not one per method), and, for a run that did not complete, why, at which step,
 * and what to do next. Pure: no vscode, Node or DOM.
 */
import { formatDuration } from './format';
import type { MethodName, ProgressEvent } from './results';
import type { DashboardSnapshot, MethodView } from './runFolder';

/** Statuses a run can be resumed from (its checkpoint is kept): stopped, or its owner died. */
export function isResumable(status: string): boolean {
  return status === 'cancelled' || status === 'interrupted' || status === 'failed';
}

/** Whether a status means the run is still going (its owner alive). */
export function isLive(status: string): boolean {
  return status === 'running';
}

function lastProgress(view: MethodView): ProgressEvent | undefined {
  return view.progress[view.progress.length - 1];
}

/** A method is done once it has its result or its evaluation. */
function methodDone(view: MethodView | undefined): boolean {
  return view !== undefined && (view.result !== undefined || view.labelAccuracy !== undefined);
}

export interface OverallProgress {
  /** 0..1 over every planned method. */
  fraction: number;
  /** Time left for the whole run, when it can be told (a running training phase). */
  etaMs?: number;
  /** Index of the method now training in `methods`, and how many there are. */
  current: number;
  methods: MethodName[];
}

/**
 * Progress over the whole run: methods done count whole, the current one by its step;
 * a method not started yet is assumed to take as long as those seen so far took on
 * average (compared methods train on the same data with the same steps).
 */
export function overallProgress(snapshot: DashboardSnapshot): OverallProgress {
  const seen = snapshot.methods.map((m) => m.method);
  const methods = [...(snapshot.plannedMethods ?? [])];
  for (const m of seen) if (!methods.includes(m)) methods.push(m);
  if (methods.length === 0) return { fraction: snapshot.status === 'completed' ? 1 : 0, current: 0, methods };
  const viewOf = (m: MethodName) => snapshot.methods.find((v) => v.method === m);
  let done = 0;
  let current = -1;
  let currentFraction = 0;
  let currentEta: number | undefined;
  const durations: number[] = [];
  methods.forEach((m, i) => {
    const view = viewOf(m);
    const last = view && lastProgress(view);
    if (methodDone(view)) {
      done++;
      if (last) durations.push(last.elapsedMs);
      return;
    }
    if (current === -1 && last) {
      current = i;
      currentFraction = last.totalSteps > 0 ? Math.min(1, last.step / last.totalSteps) : 0;
      if (last.phase === 'training' && last.etaMs !== undefined) {
        currentEta = last.etaMs;
        durations.push(last.elapsedMs + last.etaMs);
      }
    }
  });
  if (snapshot.status === 'completed') return { fraction: 1, current: methods.length - 1, methods };
  const fraction = Math.min(1, (done + currentFraction) / methods.length);
  const result: OverallProgress = { fraction, current: current === -1 ? Math.min(done, methods.length - 1) : current, methods };
  if (isLive(snapshot.status) && currentEta !== undefined) {
    const notStarted = methods.length - done - 1;
    const perMethod = durations.reduce((a, b) => a + b, 0) / durations.length;
    result.etaMs = currentEta + Math.max(0, notStarted) * perMethod;
  }
  return result;
}

export interface RunOutcome {
  /** "Failed", "Cancelled", "Interrupted". */
  title: string;
  /** The error as the runner gave it (failed runs). */
  reason?: string;
  /** The last progress report: "lora: training, step 40 of 120, after 12 s". */
  where?: string;
  /** What to do next, in a sentence. */
  advice: string;
  /** The action the advice points at. */
  action: 'resume' | 'fix-config' | 'show-log' | 'rerun';
}

/** Advice by the engine's error code (runner/src/errors.ts), else by what the message says. */
function adviceFor(code: string | undefined, message: string): Pick<RunOutcome, 'advice' | 'action'> {
  if (code === 'CONFIG_INVALID' || code === 'RUN_CONFIG_INVALID') return { advice: 'Fix the config: its problems are listed in the Problems panel, then run it again.', action: 'fix-config' };
  if (code === 'RUNNER_EXITED') return { advice: 'The runner stopped under the run (its log says why). Resume continues from the last checkpoint.', action: 'resume' };
  if (code === 'FILE_NOT_FOUND' || /not found|does not exist|ENOENT|not installed/i.test(message)) {
    return { advice: 'A file or package the config names is missing: fix the path (relative paths start at the config\'s folder) or install the package, then run it again.', action: 'fix-config' };
  }
  if (code === 'BACKEND_UNAVAILABLE') return { advice: 'Pick another backend (the `backend:` key or the spruft.runner.backend setting) and run it again.', action: 'fix-config' };
  if (/out of memory|allocat|memory limit|heap/i.test(message)) {
    return { advice: 'It ran out of memory: lower `training.batchSize` (or the input size), then resume or run it again.', action: 'fix-config' };
  }
  if (code && /INVALID$/.test(code)) return { advice: 'A model, data or adapter file could not be read: the message names it. Fix or replace the file, then run it again.', action: 'fix-config' };
  return { advice: 'The runner log has the details. Resume continues from the last checkpoint; Re-run starts over.', action: 'show-log' };
}

function whereItStopped(snapshot: DashboardSnapshot, method?: MethodName): string | undefined {
  const views = method ? snapshot.methods.filter((m) => m.method === method) : snapshot.methods;
  let last: ProgressEvent | undefined;
  for (const view of views) {
    const p = lastProgress(view);
    if (p && (!last || p.elapsedMs >= last.elapsedMs)) last = p;
  }
  if (!last) return method ? `${method}, before its first step` : undefined;
  const step = last.totalSteps > 0 ? `, step ${last.step} of ${last.totalSteps}` : '';
  return `${last.method}: ${last.phase}${step}, after ${formatDuration(last.elapsedMs)}`;
}

/** Why a run that ended early ended, and what to do; undefined for running and completed runs. */
export function describeOutcome(snapshot: DashboardSnapshot): RunOutcome | undefined {
  const { error } = snapshot;
  // A string: `interrupted` (a dead owner) is read from status.json by newer runners.
  const status: string = snapshot.status;
  const where = whereItStopped(snapshot, error?.method);
  const at = where ? { where } : {};
  if (status === 'cancelled') {
    // The runner's message names the step it stopped after; progress is reported a few times a second, so the last report may be a little earlier.
    // The CLI's hint ("resume with spruft train --resume") is the Resume button here.
    const reason = error?.message.replace(/;\s*resume with spruft train --resume\s*$/, '');
    return { title: 'Cancelled', ...(reason ? { reason } : {}), ...at, advice: 'Stopped on request; the checkpoint is kept. Resume continues from it, bit for bit.', action: 'resume' };
  }
  if (status === 'interrupted') {
    return {
      title: 'Interrupted',
      ...at,
      ...(error ? { reason: error.message } : {}),
      advice: 'The process that ran it is gone (killed, or the editor or runner closed) without finishing. Resume continues from the last checkpoint.',
      action: 'resume',
    };
  }
  if (status === 'failed') {
    const reason = error ? `${error.message}${error.where ? ` (${error.where})` : ''}` : 'The runner did not say why.';
    return { title: 'Failed', reason, ...at, ...adviceFor(error?.code, error?.message ?? '') };
  }
  return undefined;
}
