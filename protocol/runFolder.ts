/**
 * The run folder: what `spruft train` writes and what the dashboard reopens without the
 * runner. Every file is written atomically (temp file + rename), so a killed run leaves
 * either the previous version of a file or the new one, never half of one.
 *
 *   <runDir>/run.spruft.json       the resolved config (ResolvedRunConfig)
 *   <runDir>/status.json           RunStatusFile: running | completed | cancelled | failed, the
 *                                  owner (pid, host, process start) and a heartbeat; the whole
 *                                  run's status (compared methods included)
 *   <runDir>/run.lock              held by the process that runs it (a second --resume is refused)
 *   <runDir>/adapter/              adapter_config.json + adapter_model.safetensors
 *   <runDir>/metrics.json          RunResult (with `compared` results)
 *   <runDir>/progress.jsonl        one ProgressEvent per line
 *   <runDir>/selection.json        SelectionEvent (spruft)
 *   <runDir>/memory.json           MemoryEvent[] (one per method measured)
 *   <runDir>/labels.json           LabelAccuracyEvent[]
 *   <runDir>/evaluations.jsonl     one EvaluationEvent per line (every training.evalEvery steps and at the end)
 *   <runDir>/checkpoint/           resumable state (adapter, optimizer, schedule, data order, RNG)
 *   <runDir>/compare/<method>/     the same files for each compared method
 */
import type { EvaluationEvent, FinishedEvent, LabelAccuracyEvent, MemoryEvent, SelectionEvent } from './rpc';
import type { MethodName, ProgressEvent, RunResult } from './results';

export const RUN_FILES = {
  config: 'run.spruft.json',
  status: 'status.json',
  adapterDir: 'adapter',
  metrics: 'metrics.json',
  progress: 'progress.jsonl',
  selection: 'selection.json',
  memory: 'memory.json',
  labels: 'labels.json',
  evaluations: 'evaluations.jsonl',
  checkpointDir: 'checkpoint',
  compareDir: 'compare',
  lock: 'run.lock',
} as const;

/** The process that runs a run (and writes its folder). */
export interface RunOwner {
  pid: number;
  /** A pid means nothing on another machine. */
  host: string;
  /**
   * When the process started, as the OS tells it (Linux: boot id and start time in clock
   * ticks), so that another process that got the same pid later is not taken for the owner.
   */
  startTime?: string;
}

export type RunStatusValue = 'running' | FinishedEvent['status'];

export interface RunStatusFile {
  /** The whole run's: `completed` once every method (the compared ones too) is done. */
  status: RunStatusValue;
  runId: string;
  method: MethodName;
  startedAt: string;
  endedAt?: string;
  error?: string;
  pid?: number;
  owner?: RunOwner;
  /** Rewritten every HEARTBEAT_INTERVAL_MS while the owner runs. */
  heartbeatAt?: string;
  /** Each method's own status (the main method's and the compared ones'). */
  methods?: Partial<Record<MethodName, RunStatusValue>>;
}

/** What a reader shows: the file's status, or `interrupted` when it says running but its owner is gone. */
export type RunState = RunStatusValue | 'interrupted';

export const HEARTBEAT_INTERVAL_MS = 10_000;
/**
 * A `running` run whose owner cannot be asked (another machine) and whose heartbeat is
 * older than this is interrupted. Long enough for a slow step or evaluation on a busy machine.
 */
export const HEARTBEAT_STALE_MS = 5 * 60_000;

/** Whether a run's owner still runs: each reader brings its own (the OS is not reachable from here). */
export type OwnerLiveness = 'alive' | 'dead' | 'unknown';
export type OwnerProbe = (owner: RunOwner) => OwnerLiveness;

/**
 * The one definition of `interrupted`, which every reader (CLI, extension, dashboard) uses:
 * the folder says `running`, but its owner process is gone (killed, crashed, or its pid now
 * belongs to another process), or, where the owner cannot be asked, its heartbeat stopped
 * more than HEARTBEAT_STALE_MS ago. Such a run is resumed with `spruft train --resume`.
 */
export function runStateOf(status: Pick<RunStatusFile, 'status' | 'owner' | 'heartbeatAt' | 'startedAt'>, probe?: OwnerProbe, nowMs: number = Date.now()): RunState {
  if (status.status !== 'running') return status.status;
  if (status.owner && probe) {
    const liveness = probe(status.owner);
    if (liveness === 'dead') return 'interrupted';
    if (liveness === 'alive') return 'running';
  }
  const beat = Date.parse(status.heartbeatAt ?? status.startedAt);
  return Number.isFinite(beat) && nowMs - beat > HEARTBEAT_STALE_MS ? 'interrupted' : 'running';
}

/** One method's view in the dashboard. */
export interface MethodView {
  method: MethodName;
  runDir: string;
  progress: ProgressEvent[];
  selection?: SelectionEvent;
  memory?: MemoryEvent;
  labelAccuracy?: LabelAccuracyEvent;
  /** Evaluation loss (and accuracy or perplexity) over the run, by step. */
  evaluations?: EvaluationEvent[];
  result?: RunResult;
}

/** Why a run did not complete: run/finished's error live, status.json's `error` reopened. */
export interface RunError {
  message: string;
  /** The engine's error code (live runs; status.json keeps only the message). */
  code?: string;
  where?: string;
  /** The method that was running when it happened (compared runs). */
  method?: MethodName;
}

/** Everything the dashboard draws, live or reopened from a run folder. */
export interface DashboardSnapshot {
  runId: string;
  name: string;
  runDir: string;
  status: RunState;
  methods: MethodView[];
  /** Set once a run failed or was cancelled, when the runner or the folder says why. */
  error?: RunError;
  /** `score`: importance only, so the dashboard shows no training views. Unknown for old folders. */
  kind?: 'score' | 'train' | 'evaluate';
  /** The methods the run trains one after another (the config's method, then `compare`). */
  plannedMethods?: MethodName[];
}
