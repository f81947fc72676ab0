/**
 * Writing and reading run folders (protocol/runFolder.ts). Every file is replaced
 * atomically; progress is appended one JSON line at a time (a torn last line from a
 * kill is skipped on reading). The process that runs a run holds `run.lock` and keeps a
 * heartbeat in `status.json`, so that any reader can tell a live run from one whose
 * runner was killed or crashed (`interrupted`, see runStateOf).
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { snapshotFromRunFolder } from '../../../protocol/dashboardSnapshot';
import type { EvaluationEvent, LabelAccuracyEvent, MemoryEvent, SelectionEvent } from '../../../protocol/rpc';
import type { MethodName, ProgressEvent, RunResult } from '../../../protocol/results';
import {
  HEARTBEAT_INTERVAL_MS,
  RUN_FILES,
  runStateOf,
  type DashboardSnapshot,
  type RunOwner,
  type RunState,
  type RunStatusFile,
  type RunStatusValue,
} from '../../../protocol/runFolder';
import { SpruftError } from '../errors';
import { writeFileAtomic } from '../io/atomicWrite';
import { readJsonFile } from '../io/jsonText';
import { READ_LIMITS, readRegularFile, readTextFile } from '../io/regularFile';
import { currentOwner, isCurrentOwner, probeRunOwner } from './owner';

export function writeJson(path: string, value: unknown): void {
  writeFileAtomic(path, [JSON.stringify(value, null, 2) + '\n']);
}

/**
 * A run-folder JSON file: undefined when absent; a corrupt one (or one that is no JSON
 * object) is RUN_FOLDER_INVALID located at `file:line:col`, never a stack.
 */
export function readRunFile<T>(path: string, what: string): T | undefined {
  if (!existsSync(path)) return undefined;
  const value = readJsonFile(path, 'RUN_FOLDER_INVALID', what);
  if (typeof value !== 'object' || value === null) {
    throw new SpruftError('RUN_FOLDER_INVALID', `${what} must hold a JSON object or array; the file is corrupt (delete it, or start the run again)`, path);
  }
  return value as T;
}

function checkStatusFile(status: RunStatusFile, path: string): RunStatusFile {
  const values: RunStatusValue[] = ['running', 'completed', 'cancelled', 'failed'];
  if (!values.includes(status.status) || typeof status.runId !== 'string' || typeof status.method !== 'string') {
    throw new SpruftError('RUN_FOLDER_INVALID', `${RUN_FILES.status} needs "status" (${values.join(', ')}), "runId" and "method"; the file is corrupt`, path);
  }
  return status;
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
    const path = join(this.dir, RUN_FILES.status);
    const status = readRunFile<RunStatusFile>(path, RUN_FILES.status);
    return status && checkStatusFile(status, path);
  }

  /** The finished method's result (a resumed run skips methods already done). */
  readMetrics(): RunResult | undefined {
    return readRunFile<RunResult>(join(this.dir, RUN_FILES.metrics), RUN_FILES.metrics);
  }
}

/**
 * The whole run's `status.json` while it runs: its owner, a heartbeat every
 * HEARTBEAT_INTERVAL_MS, each method's status, and the final status. A run stopped
 * during a compared method is stopped as a whole (`cancelled`), not `completed` because
 * its first method was.
 */
export class RunStatusKeeper {
  private status: RunStatusFile;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly folder: MethodFolder,
    initial: Pick<RunStatusFile, 'runId' | 'method' | 'methods'>,
  ) {
    const owner = currentOwner();
    const now = new Date().toISOString();
    this.status = { status: 'running', ...initial, methods: { ...initial.methods }, startedAt: now, pid: owner.pid, owner, heartbeatAt: now };
  }

  get methods(): NonNullable<RunStatusFile['methods']> {
    return this.status.methods ?? {};
  }

  start(): void {
    this.write();
    this.timer = setInterval(() => {
      try {
        this.write();
      } catch {
        // A missed heartbeat (disk full, folder removed) must not stop the run; readers
        // then see it as interrupted after HEARTBEAT_STALE_MS.
      }
    }, HEARTBEAT_INTERVAL_MS);
    this.timer.unref();
  }

  setMethod(method: MethodName, value: RunStatusValue): void {
    this.status.methods = { ...this.status.methods, [method]: value };
    this.write();
  }

  finish(value: Exclude<RunStatusValue, 'running'>, error?: string): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.status = { ...this.status, status: value, endedAt: new Date().toISOString(), ...(error ? { error } : {}) };
    this.write();
  }

  private write(): void {
    if (this.status.status === 'running') this.status.heartbeatAt = new Date().toISOString();
    this.folder.writeStatus(this.status);
  }
}

/**
 * `run.lock`: taken by the process that runs (or resumes) a run and removed when it ends.
 * A lock whose owner is gone (killed, crashed) is taken over; one whose owner is alive is
 * refused with RUN_BUSY, so two processes never write one run folder.
 */
export class RunLock {
  private constructor(private readonly path: string) {}

  static acquire(runDir: string): RunLock {
    const path = join(runDir, RUN_FILES.lock);
    const me = currentOwner();
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        writeFileSync(path, JSON.stringify({ owner: me, lockedAt: new Date().toISOString() }) + '\n', { flag: 'wx' });
        return new RunLock(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = lockOwner(path);
      if (holder && isCurrentOwner(holder)) {
        throw new SpruftError('RUN_BUSY', 'this run is already running in this runner; wait for it to end or stop it', runDir);
      }
      const liveness = holder ? probeRunOwner(holder) : 'dead';
      if (liveness === 'alive') {
        throw new SpruftError('RUN_BUSY', `this run is running in process ${holder!.pid}; stop it (Ctrl-C, or SPruFT: Stop run) before resuming it`, runDir);
      }
      if (liveness === 'unknown') {
        throw new SpruftError('RUN_BUSY', `this run is locked by process ${holder!.pid} on host ${holder!.host}; if that run is gone, delete ${RUN_FILES.lock} and resume again`, runDir);
      }
      // The holder is gone (killed, crashed, or an empty lock from a writer killed at once).
      rmSync(path, { force: true });
    }
    throw new SpruftError('RUN_BUSY', `could not take ${RUN_FILES.lock}: another process takes it at the same time`, runDir);
  }

  release(): void {
    if (isCurrentOwner(lockOwner(this.path))) rmSync(this.path, { force: true });
  }
}

function lockOwner(path: string): RunOwner | undefined {
  try {
    const value = JSON.parse(readTextFile(path, RUN_FILES.lock, 'RUN_FOLDER_INVALID', 64 * 1024)) as { owner?: RunOwner };
    const owner = value.owner;
    return owner && typeof owner.pid === 'number' && typeof owner.host === 'string' ? owner : undefined;
  } catch {
    return undefined;
  }
}

/** The status a reader shows for a run folder: `interrupted` when its owner is gone. */
export function readRunState(runDir: string): { status: RunStatusFile; state: RunState } | undefined {
  const status = new MethodFolder(runDir, 'spruft').readStatus();
  return status && { status, state: runStateOf(status, probeRunOwner) };
}

/** Everything the dashboard draws, from the files alone (no runner, no TensorFlow.js). */
export function readDashboardSnapshot(runDir: string): DashboardSnapshot {
  const read = (rel: string): string | undefined => {
    const path = join(runDir, rel);
    // Lenient decoding: a line torn by a kill may end inside a character (it is skipped).
    return existsSync(path) ? readRegularFile(path, rel, 'RUN_FOLDER_INVALID', READ_LIMITS.wholeFileBytes).toString('utf8') : undefined;
  };
  // A status.json that is there but corrupt is named, not taken for "not a run folder".
  new MethodFolder(runDir, 'spruft').readStatus();
  const compareRoot = join(runDir, RUN_FILES.compareDir);
  const compared = existsSync(compareRoot) ? readdirSync(compareRoot).filter((name) => statSync(join(compareRoot, name)).isDirectory()).sort() : [];
  const snapshot = snapshotFromRunFolder(runDir, read, compared, probeRunOwner);
  if (!snapshot) {
    throw new SpruftError('FILE_NOT_FOUND', `not a run folder (no ${RUN_FILES.status}); open the folder that spruft train created`, runDir);
  }
  return snapshot;
}

