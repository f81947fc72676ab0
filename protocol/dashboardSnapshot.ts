/**
 * How a DashboardSnapshot is built, once, for every side that builds one:
 *   - live: the extension host folds the runner's notifications into the snapshot it
 *     hands a newly opened dashboard, and the webview folds the same messages into what
 *     it draws (`applyRunMessage`);
 *   - reopened: the extension reads a run folder's files without the runner
 *     (`snapshotFromRunFolder`), and the runner's `loadDashboardSnapshot` can do the same.
 * Pure functions over the contract types: no vscode, Node or DOM imports. File access is
 * the caller's (`RunFolderReader`), so this module never touches a disk.
 */
import type { EvaluationEvent, FinishedEvent, LabelAccuracyEvent, MemoryEvent, SelectionEvent } from './rpc';
import type { MethodName, ProgressEvent, RunResult } from './results';
import { RUN_FILES, runStateOf, type DashboardSnapshot, type MethodView, type OwnerProbe, type RunStatusFile } from './runFolder';
import type { HostToWebview } from './webview';

/** The messages that change a snapshot while a run goes. */
export type RunMessage = Extract<HostToWebview, { type: 'progress' | 'selection' | 'memory' | 'labelAccuracy' | 'evaluation' | 'finished' }>;

export function emptySnapshot(runId: string, name: string, runDir: string, method: MethodName): DashboardSnapshot {
  return { runId, name, runDir, status: 'running', methods: [{ method, runDir, progress: [] }] };
}

function withMethod(snapshot: DashboardSnapshot, method: MethodName, change: (view: MethodView) => MethodView): DashboardSnapshot {
  const index = snapshot.methods.findIndex((m) => m.method === method);
  const current: MethodView = index >= 0 ? snapshot.methods[index]! : { method, runDir: snapshot.runDir, progress: [] };
  const methods = snapshot.methods.slice();
  if (index >= 0) methods[index] = change(current);
  else methods.push(change(current));
  return { ...snapshot, methods };
}

function resultsByMethod(result: RunResult): Map<MethodName, RunResult> {
  const byMethod = new Map<MethodName, RunResult>([[result.method, result]]);
  for (const compared of result.compared ?? []) byMethod.set(compared.method, compared);
  return byMethod;
}

function isRunResult(result: FinishedEvent['result']): result is RunResult {
  return result !== undefined && 'method' in result && 'metrics' in result;
}

/**
 * Fold one runner message into a snapshot (a new object; the old one is untouched).
 * Messages of another run are ignored, so a dashboard never mixes two runs.
 */
export function applyRunMessage(snapshot: DashboardSnapshot, message: RunMessage): DashboardSnapshot {
  if (message.event.runId !== snapshot.runId) return snapshot;
  switch (message.type) {
    case 'progress':
      return withMethod(snapshot, message.event.method, (view) => ({ ...view, progress: [...view.progress, message.event] }));
    case 'selection':
      return withMethod(snapshot, message.event.method, (view) => ({ ...view, selection: message.event }));
    case 'memory':
      return withMethod(snapshot, message.event.method, (view) => ({ ...view, memory: message.event }));
    case 'labelAccuracy':
      return withMethod(snapshot, message.event.method, (view) => ({ ...view, labelAccuracy: message.event }));
    case 'evaluation':
      return withMethod(snapshot, message.event.method, (view) => ({ ...view, evaluations: [...(view.evaluations ?? []), message.event] }));
    case 'finished': {
      const { error } = message.event;
      let next: DashboardSnapshot = { ...snapshot, status: message.event.status, kind: snapshot.kind ?? message.event.kind };
      if (error) next.error = { message: error.message, code: error.code, ...(error.where ? { where: error.where } : {}), ...(activeMethod(snapshot) ? { method: activeMethod(snapshot) } : {}) };
      const result = message.event.result;
      if (isRunResult(result)) {
        for (const [method, methodResult] of resultsByMethod(result)) {
          next = withMethod(next, method, (view) => ({ ...view, result: methodResult }));
        }
      }
      return next;
    }
  }
}

/** The method of the latest progress event: the one running when a run ends early. */
function activeMethod(snapshot: DashboardSnapshot): MethodName | undefined {
  let latest: ProgressEvent | undefined;
  for (const view of snapshot.methods) {
    const last = view.progress[view.progress.length - 1];
    if (last && (!latest || last.elapsedMs >= latest.elapsedMs)) latest = last;
  }
  return latest?.method;
}

/** Reads one file of a run folder, by path relative to the folder; undefined when absent. */
export type RunFolderReader = (relativePath: string) => string | undefined;

function parseJson<T>(text: string | undefined): T | undefined {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    // A file cut short by a killed writer is treated as absent: files are written
    // atomically, so this only happens with files copied mid-write.
    return undefined;
  }
}

/** A JSONL file of events; a last line cut short by a killed run is skipped. */
function parseJsonLines<T>(text: string | undefined): T[] {
  if (!text) return [];
  const events: T[] = [];
  for (const line of text.split('\n')) {
    const event = parseJson<T>(line.trim() || undefined);
    if (event) events.push(event);
  }
  return events;
}

/** progress.jsonl: one event a line; a last line cut short by a killed run is skipped. */
export function parseProgressLines(text: string | undefined): ProgressEvent[] {
  return parseJsonLines<ProgressEvent>(text);
}

function asArray<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

interface FolderFiles {
  status?: RunStatusFile;
  metrics?: RunResult;
  progress: ProgressEvent[];
  selection: SelectionEvent[];
  memory: MemoryEvent[];
  labels: LabelAccuracyEvent[];
  evaluations: EvaluationEvent[];
}

function readFolderFiles(read: RunFolderReader, prefix: string): FolderFiles {
  return {
    status: parseJson<RunStatusFile>(read(prefix + RUN_FILES.status)),
    metrics: parseJson<RunResult>(read(prefix + RUN_FILES.metrics)),
    progress: parseProgressLines(read(prefix + RUN_FILES.progress)),
    selection: asArray(parseJson<SelectionEvent | SelectionEvent[]>(read(prefix + RUN_FILES.selection))),
    memory: asArray(parseJson<MemoryEvent | MemoryEvent[]>(read(prefix + RUN_FILES.memory))),
    labels: asArray(parseJson<LabelAccuracyEvent | LabelAccuracyEvent[]>(read(prefix + RUN_FILES.labels))),
    evaluations: parseJsonLines<EvaluationEvent>(read(prefix + RUN_FILES.evaluations)),
  };
}

/**
 * Build the snapshot of a run folder from its files (RUN_FILES), the main method's and
 * those under `compare/<method>/`. `comparedMethods` are the folder names found there.
 * Returns undefined when the folder holds no status.json (not a run folder).
 */
export function snapshotFromRunFolder(
  runDir: string,
  read: RunFolderReader,
  comparedMethods: string[],
  /** Asks whether the run's owner still runs; with it, a dead owner's run shows `interrupted` (runStateOf). */
  probe?: OwnerProbe,
): DashboardSnapshot | undefined {
  const main = readFolderFiles(read, '');
  if (!main.status) return undefined;
  const joinDir = (dir: string, name: string): string => `${dir.replace(/[\\/]+$/, '')}/${name}`;
  const folders: Array<{ dir: string; files: FolderFiles }> = [{ dir: runDir, files: main }];
  for (const method of comparedMethods) {
    const prefix = `${RUN_FILES.compareDir}/${method}/`;
    folders.push({ dir: joinDir(joinDir(runDir, RUN_FILES.compareDir), method), files: readFolderFiles(read, prefix) });
  }
  const runId = main.status.runId;
  const results = main.metrics ? resultsByMethod(main.metrics) : new Map<MethodName, RunResult>();
  const views = new Map<MethodName, MethodView>();
  const view = (method: MethodName, dir: string): MethodView => {
    let v = views.get(method);
    if (!v) {
      v = { method, runDir: dir, progress: [] };
      views.set(method, v);
    }
    return v;
  };
  view(main.status.method, runDir);
  for (const { dir, files } of folders) {
    const folderMethod = files.status?.method ?? (dir === runDir ? main.status.method : undefined);
    if (folderMethod) view(folderMethod, dir);
    for (const p of files.progress) view(p.method, dir).progress.push(p);
    for (const s of files.selection) view(s.method, dir).selection = s;
    for (const m of files.memory) view(m.method, dir).memory = m;
    for (const l of files.labels) view(l.method, dir).labelAccuracy = l;
    for (const e of files.evaluations) {
      const v = view(e.method, dir);
      v.evaluations = [...(v.evaluations ?? []), e];
    }
    if (files.metrics) for (const [method, r] of resultsByMethod(files.metrics)) results.set(method, r);
  }
  for (const [method, result] of results) view(method, runDir).result = result;
  const config = parseJson<{ name?: string; method?: MethodName; compare?: MethodName[] }>(read(RUN_FILES.config));
  const name = config?.name ?? runDir.split(/[\\/]/).filter(Boolean).pop() ?? runId;
  // The main method first, then the compared ones in the order they were found.
  const methods = [...views.values()];
  const snapshot: DashboardSnapshot = { runId, name, runDir, status: runStateOf(main.status, probe), methods };
  if (config?.method) snapshot.plannedMethods = [config.method, ...(config.compare ?? [])];
  // The first folder that says why it stopped (a compared method can fail after the main one completed).
  const stopped = folders.find(({ files }) => files.status?.error !== undefined);
  if (stopped?.files.status?.error) snapshot.error = { message: stopped.files.status.error, method: stopped.files.status.method };
  return snapshot;
}
