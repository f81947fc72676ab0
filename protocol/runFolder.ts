/**
 * The run folder: what `spruft train` writes and what the dashboard reopens without the
 * runner. Every file is written atomically (temp file + rename), so a killed run leaves
 * either the previous version of a file or the new one, never half of one.
 *
 *   <runDir>/run.spruft.json       the resolved config (ResolvedRunConfig)
 *   <runDir>/status.json           RunStatusFile: running | completed | cancelled | failed
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
} as const;

export interface RunStatusFile {
  status: 'running' | FinishedEvent['status'];
  runId: string;
  method: MethodName;
  startedAt: string;
  endedAt?: string;
  error?: string;
  pid?: number;
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
  status: RunStatusFile['status'];
  methods: MethodView[];
  /** Set once a run failed or was cancelled, when the runner or the folder says why. */
  error?: RunError;
  /** `score`: importance only, so the dashboard shows no training views. Unknown for old folders. */
  kind?: 'score' | 'train' | 'evaluate';
  /** The methods the run trains one after another (the config's method, then `compare`). */
  plannedMethods?: MethodName[];
}
