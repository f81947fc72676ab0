/**
 * Reads a run folder for the dashboard without the runner: the files RUN_FILES names,
 * folded by protocol/dashboardSnapshot.ts (the same reading the runner does).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { snapshotFromRunFolder } from '../../../protocol/dashboardSnapshot';
import type { MethodName } from '../../../protocol/results';
import { RUN_FILES, type DashboardSnapshot, type RunStatusFile } from '../../../protocol/runFolder';
import { probeRunOwner } from '../../../runner/src/run/owner';

export class NotARunFolderError extends Error {
  constructor(dir: string) {
    super(`${dir} is not a SPruFT run folder (it has no ${RUN_FILES.status}). Pick a folder that \`spruft train\` wrote, under the config's output.dir (default: runs/).`);
    this.name = 'NotARunFolderError';
  }
}

export function isRunFolder(dir: string): boolean {
  return existsSync(join(dir, RUN_FILES.status));
}

export function readRunFolder(runDir: string): DashboardSnapshot {
  const read = (relativePath: string): string | undefined => {
    try {
      return readFileSync(join(runDir, relativePath), 'utf8');
    } catch {
      return undefined;
    }
  };
  const compareRoot = join(runDir, RUN_FILES.compareDir);
  const compared = existsSync(compareRoot) ? readdirSync(compareRoot).filter((name) => statSync(join(compareRoot, name)).isDirectory()).sort() : [];
  // With the owner probe, a run whose runner was killed or crashed reads `interrupted`.
  const snapshot = snapshotFromRunFolder(runDir, read, compared, probeRunOwner);
  if (!snapshot) throw new NotARunFolderError(runDir);
  return snapshot;
}

/** What the Runs view lists about a run folder (status through readRunFolder, as the dashboard reads it). */
export interface RunSummary {
  runDir: string;
  runId: string;
  name: string;
  status: string;
  methods: MethodName[];
  /** Accuracy (classification) per method that was evaluated. */
  accuracy: Array<{ method: MethodName; accuracy?: number; loss?: number; trainableParams?: number; percent?: number; trainMs?: number }>;
  startedAt?: string;
  endedAt?: string;
  /** The config file the run came from (run.spruft.json's sourcePath), when it still exists. */
  configPath?: string;
  /** Whether `adapter/` holds an adapter to merge, evaluate or try. */
  hasAdapter: boolean;
  snapshot: DashboardSnapshot;
}

function readJsonFile<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

export function hasAdapter(runDir: string): boolean {
  return existsSync(join(runDir, RUN_FILES.adapterDir, 'adapter_config.json'));
}

/** The config a run came from, when that file is still there. */
export function runConfigSource(runDir: string): string | undefined {
  const source = readJsonFile<{ sourcePath?: string }>(join(runDir, RUN_FILES.config))?.sourcePath;
  return source && existsSync(source) ? source : undefined;
}

/** The methods a run trains in order (run.spruft.json's method, then compare). */
export function plannedMethodsOf(runDir: string): MethodName[] | undefined {
  const config = readJsonFile<{ method?: MethodName; compare?: MethodName[] }>(join(runDir, RUN_FILES.config));
  return config?.method ? [config.method, ...(config.compare ?? [])] : undefined;
}

export function readRunSummary(runDir: string): RunSummary {
  const snapshot = readRunFolder(runDir);
  const status = readJsonFile<RunStatusFile>(join(runDir, RUN_FILES.status));
  return {
    runDir,
    runId: snapshot.runId,
    name: snapshot.name,
    status: snapshot.status,
    methods: snapshot.methods.map((m) => m.method),
    accuracy: snapshot.methods.map((m) => {
      const metrics = m.result?.metrics;
      return {
        method: m.method,
        ...(metrics?.accuracy !== undefined ? { accuracy: metrics.accuracy } : m.labelAccuracy ? { accuracy: m.labelAccuracy.accuracy } : {}),
        ...(metrics ? { loss: metrics.loss } : {}),
        ...(m.result ? { trainableParams: m.result.trainableParams, percent: m.result.percent } : {}),
        ...(m.result?.trainMs !== undefined ? { trainMs: m.result.trainMs } : {}),
      };
    }),
    ...(status?.startedAt ? { startedAt: status.startedAt } : {}),
    ...(status?.endedAt ? { endedAt: status.endedAt } : {}),
    ...(runConfigSource(runDir) ? { configPath: runConfigSource(runDir) } : {}),
    hasAdapter: hasAdapter(runDir),
    snapshot,
  };
}
