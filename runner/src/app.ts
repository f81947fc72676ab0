/**
 * The runner's application layer: what `spruft <command>` and `spruft serve` both call.
 * Each run reports through RunHooks (the CLI prints them, the server forwards them as
 * notifications) and stops within one step when its signal aborts.
 */
import type { MergeResult } from '../../protocol/rpc';
import type { BackendChoice, BackendInfo, InspectResult } from '../../protocol/results';
import type { ConfigDiagnostic } from '../../protocol/diagnostics';
import type { DashboardSnapshot } from '../../protocol/runFolder';
import { loadRunConfig } from './config/load';
import { inspectModelHeader } from './models/inspect';
import { mergeRuns } from './run/merge';
import { readDashboardSnapshot } from './run/runFolder';
import { ensureBackend } from './run/session';

export { startEvaluate, startScore, startTrain } from './run/session';
export { predictRun } from './run/predict';
export { mergeRuns };

/** Merge one run's adapter into its base model and export it in the base's format. */
export async function mergeRun(runDir: string, outDir: string, force = false, maxShardSize?: number | string): Promise<MergeResult> {
  return mergeRuns([runDir], outDir, { force, maxShardSize });
}

/** Layers, shapes and parameter counts from the model's headers (no weights read). */
export async function inspectModel(path: string): Promise<InspectResult> {
  return inspectModelHeader(path);
}

/** Validate a run config exactly as a run would (schema, then files and model). */
export async function checkConfig(configPath: string, text?: string): Promise<ConfigDiagnostic[]> {
  return (await loadRunConfig(configPath, text)).diagnostics;
}

export async function loadDashboardSnapshot(runDir: string): Promise<DashboardSnapshot> {
  return readDashboardSnapshot(runDir);
}

export async function initRunner(backend: BackendChoice): Promise<BackendInfo> {
  return ensureBackend(backend);
}
