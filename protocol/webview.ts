/**
 * Messages between the extension host and the dashboard webview: a discriminated union
 * each way, handled by an exhaustive switch on both ends (STYLE.md point 3). The
 * webview posts `ready` first; the host sends nothing before it. Requests from the
 * webview carry a `requestId` that the host's `reply` echoes.
 */
import type { EvaluationEvent, FinishedEvent, LabelAccuracyEvent, MemoryEvent, PredictInput, PredictResult, SelectionEvent } from './rpc';
import type { ProgressEvent } from './results';
import type { DashboardSnapshot } from './runFolder';

export type HostToWebview =
  | { type: 'snapshot'; snapshot: DashboardSnapshot }
  | { type: 'progress'; event: ProgressEvent }
  | { type: 'selection'; event: SelectionEvent }
  | { type: 'memory'; event: MemoryEvent }
  | { type: 'labelAccuracy'; event: LabelAccuracyEvent }
  | { type: 'evaluation'; event: EvaluationEvent }
  | { type: 'finished'; event: FinishedEvent }
  | { type: 'reply'; requestId: number; ok: boolean; error?: string }
  /**
   * Whether the run can be tried (it holds an adapter), on what task, and whether it reads
   * text pairs (its `data.columns.textPair`: two text boxes); `focus` scrolls to it.
   */
  | { type: 'playground'; available: boolean; task?: PredictResult['task']; pairs?: boolean; focus?: boolean }
  /** The answer to a `predict` request. */
  | { type: 'prediction'; requestId: number; result?: PredictResult; error?: string };

/** What the dashboard's buttons ask the host to do with its run. */
export type RunAction = 'resume' | 'rerun' | 'showLog' | 'openConfig';

export type WebviewToHost =
  | { type: 'ready' }
  | { type: 'runAction'; requestId: number; action: RunAction }
  /** An `image` input with an empty path: the host asks the person for the file first. */
  | { type: 'predict'; requestId: number; input: PredictInput }
  | { type: 'stopRun'; requestId: number; runId: string }
  | { type: 'openRunFolder'; requestId: number }
  | { type: 'revealFile'; requestId: number; path: string };

/** Compile-time exhaustiveness guard for the switches on both ends. */
export function assertNever(value: never): never {
  throw new Error(`unhandled message: ${JSON.stringify(value)}`);
}
