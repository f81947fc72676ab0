/**
 * Writing and reading run folders (protocol/runFolder.ts). Every file is replaced
 * atomically; progress is appended one JSON line at a time (a torn last line from a
 * kill is skipped on reading).
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { LabelAccuracyEvent, MemoryEvent, SelectionEvent } from '../../../protocol/rpc';
import type { MethodName, ProgressEvent, RunResult } from '../../../protocol/results';
import { RUN_FILES, type DashboardSnapshot, type MethodView, type RunStatusFile } from '../../../protocol/runFolder';
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

  /** Progress events in order; a resumed run appends the steps after its checkpoint again. */
  readProgress(): ProgressEvent[] {
    const path = join(this.dir, RUN_FILES.progress);
    if (!existsSync(path)) return [];
    const out: ProgressEvent[] = [];
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        out.push(JSON.parse(line) as ProgressEvent);
      } catch {
        // A line torn by a kill in the middle of a write.
      }
    }
    return out;
  }

  view(): MethodView {
    return {
      method: this.method,
      runDir: this.dir,
      progress: this.readProgress(),
      selection: readJson<SelectionEvent>(join(this.dir, RUN_FILES.selection)),
      memory: readJson<MemoryEvent[]>(join(this.dir, RUN_FILES.memory))?.[0],
      labelAccuracy: readJson<LabelAccuracyEvent[]>(join(this.dir, RUN_FILES.labels))?.[0],
      result: readJson<RunResult>(join(this.dir, RUN_FILES.metrics)),
    };
  }
}

/** Everything the dashboard draws, from the files alone (no runner, no TensorFlow.js). */
export function readDashboardSnapshot(runDir: string): DashboardSnapshot {
  const status = readJson<RunStatusFile>(join(runDir, RUN_FILES.status));
  if (!status) {
    throw new SpruftError('FILE_NOT_FOUND', `not a run folder (no ${RUN_FILES.status}); open the folder that spruft train created`, runDir);
  }
  const methods: MethodView[] = [new MethodFolder(runDir, status.method).view()];
  const compareRoot = join(runDir, RUN_FILES.compareDir);
  if (existsSync(compareRoot)) {
    for (const name of readdirSync(compareRoot).sort()) {
      methods.push(new MethodFolder(join(compareRoot, name), name as MethodName).view());
    }
  }
  return { runId: status.runId, name: basename(runDir), runDir, status: status.status, methods };
}
