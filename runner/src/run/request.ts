/**
 * What a run is asked (RunRequest), how it reports (RunHooks) and what starting it gives
 * (StartedRun): the contract between the run sessions and their callers (CLI, server).
 */
import type { EvaluationEvent, LabelAccuracyEvent, MemoryEvent, RunOverrides, SelectionEvent } from '../../../protocol/rpc';
import type { ProgressEvent } from '../../../protocol/results';

export interface RunHooks {
  onProgress?(event: ProgressEvent): void;
  onSelection?(event: SelectionEvent): void;
  onMemory?(event: MemoryEvent): void;
  onLabelAccuracy?(event: LabelAccuracyEvent): void;
  onEvaluation?(event: EvaluationEvent): void;
  onLog?(level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
  /** Aborting stops the run within one training step; the run folder stays consistent. */
  signal?: AbortSignal;
}

export interface RunRequest {
  configPath: string;
  overrides?: RunOverrides;
  /** Config text that replaces the file's (unsaved editor buffer). */
  text?: string;
  /** `spruft train --resume <runDir>`: continue that run from its checkpoint. */
  resumeDir?: string;
}

/** A run that has been accepted: its id and folder now, its result when it ends. */
export interface StartedRun<T> {
  runId: string;
  runDir?: string;
  /** Resolves with the result; rejects with SpruftError (code RUN_CANCELLED when aborted). */
  done: Promise<T>;
}
