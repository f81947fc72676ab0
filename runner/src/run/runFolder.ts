/**
 * Writing and reading run folders (protocol/runFolder.ts). Every file is replaced
 * atomically; progress is appended one JSON line at a time (a torn last line from a
 * kill is skipped on reading).
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { snapshotFromRunFolder } from '../../../protocol/dashboardSnapshot';
import type { EvaluationEvent, LabelAccuracyEvent, MemoryEvent, SelectionEvent } from '../../../protocol/rpc';
import type { MethodName, ProgressEvent, RunResult } from '../../../protocol/results';
import { RUN_FILES, type DashboardSnapshot, type RunStatusFile } from '../../../protocol/runFolder';
import { SpruftError } from '../errors';
import { writeFileAtomic } from '../io/atomicWrite';

export function writeJson(path: string, value: unknown): void {
  writeFileAtomic(path, [JSON.stringify(value, null, 2) + '\n']);
}

function readJson<T>(path: string): T | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** One method's files inside a run folder (the primary method at the top, others under compare/). */
export class MethodFolder {
  constructor(readonly dir: string, readonly method: MethodName) {}

  get adapterDir(): string {
    return join(this.dir, RUN_FILES.adapterDir);
  }

  get checkpointDir(): string {
    return join(this.dir, RUN_FILES.checkpointDir);
  }

  appendProgress(e: ProgressEvent): void {
    mkdirSync(this.dir, { recursive: true });
    appendFileSync(join(this.dir, RUN_FILES.progress), JSON.stringify(e) + '\n');
  }

  writeSelection(e: SelectionEvent): void {
    writeJson(join(this.dir, RUN_FILES.selection), e);
  }

  writeMemory(e: MemoryEvent): void {
    writeJson(join(this.dir, RUN_FILES.memory), [e]);
  }

  appendEvaluation(e: EvaluationEvent): void {
    mkdirSync(this.dir, { recursive: true });
    appendFileSync(join(this.dir, RUN_FILES.evaluations), JSON.stringify(e) + '\n');
  }

  writeLabels(e: LabelAccuracyEvent): void {
    writeJson(join(this.dir, RUN_FILES.labels), [e]);
  }

  writeMetrics(r: RunResult): void {
    writeJson(join(this.dir, RUN_FILES.metrics), r);
  }

  writeStatus(s: RunStatusFile): void {
    writeJson(join(this.dir, RUN_FILES.status), s);
  }

  readStatus(): RunStatusFile | undefined {
    return readJson<RunStatusFile>(join(this.dir, RUN_FILES.status));
  }

  /** The finished method's result (a resumed run skips methods already done). */
  readMetrics(): RunResult | undefined {
    return readJson<RunResult>(join(this.dir, RUN_FILES.metrics));
  }
}

/** Everything the dashboard draws, from the files alone (no runner, no TensorFlow.js). */
export function readDashboardSnapshot(runDir: string): DashboardSnapshot {
  const read = (rel: string): string | undefined => {
    const path = join(runDir, rel);
    return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
  };
  const compareRoot = join(runDir, RUN_FILES.compareDir);
  const compared = existsSync(compareRoot) ? readdirSync(compareRoot).sort() : [];
  const snapshot = snapshotFromRunFolder(runDir, read, compared);
  if (!snapshot) {
    throw new SpruftError('FILE_NOT_FOUND', `not a run folder (no ${RUN_FILES.status}); open the folder that spruft train created`, runDir);
  }
  return snapshot;
}
