/**
 * The dashboard page. It posts `ready`, then draws what the host sends: a snapshot
 * first (live run or reopened run folder), then the runner's messages, folded in with
 * the same reducer the host uses (protocol/dashboardSnapshot.ts). The last snapshot is
 * kept with setState, so a hidden and re-shown panel draws at once.
 */
import './dashboard.css';
import { applyRunMessage } from '../../protocol/dashboardSnapshot';
import type { PredictResult } from '../../protocol/rpc';
import type { DashboardSnapshot } from '../../protocol/runFolder';
import { assertNever, type HostToWebview, type RunAction, type WebviewToHost } from '../../protocol/webview';
import { applyThemeDefaults } from './charts';
import { buildLayout } from './layout';
import { readTheme, type ThemeColours } from './theme';
import { Curves } from './views/curves';
import { EvaluationCurves } from './views/evaluation';
import { LabelAccuracy } from './views/labelAccuracy';
import { MemoryBars } from './views/memoryBars';
import { MultipleChoiceView } from './views/multipleChoice';
import { ProgressView } from './views/progress';
import { Playground } from './views/playground';
import { SelectionHeatmap } from './views/selectionHeatmap';
import { connectToHost } from './vscodeApi';
import { describeOutcome, isLive, isResumable } from '../../protocol/runOutcome';

type Request = Extract<WebviewToHost, { requestId: number }>;
type RequestWithoutId = Request extends infer R ? (R extends Request ? Omit<R, 'requestId'> : never) : never;
type Reply = Extract<HostToWebview, { type: 'reply' }>;

const host = connectToHost();
const layout = buildLayout();
let snapshot: DashboardSnapshot | undefined = host.getState();
let theme: ThemeColours = readTheme();
applyThemeDefaults(theme);

const progress = new ProgressView(layout.progressBar, layout.progressLines, layout.status);
const selection = new SelectionHeatmap(layout.selection.figure, layout.selection.box, layout.selection.canvas, layout.selection.caption);
const memory = new MemoryBars(layout.memory.figure, layout.memory.canvas, layout.memory.table, layout.memory.caption);
const labels = new LabelAccuracy(layout.labels.figure, layout.labels.box, layout.labels.canvas, layout.labels.table, layout.labels.caption);
const curves = new Curves(layout.curves.figure, layout.curves.canvas, layout.curves.caption);
const evaluation = new EvaluationCurves(layout.evaluation.figure, layout.evaluation.canvas, layout.evaluation.caption);
const charts = [selection, memory, labels, curves, evaluation];
const multipleChoice = new MultipleChoiceView(document.getElementById('app')!);
const predictions = new Map<number, (answer: { result?: PredictResult; error?: string }) => void>();
const playground = new Playground((input) => {
  const requestId = nextRequestId++;
  return new Promise((resolve) => {
    predictions.set(requestId, resolve);
    host.postMessage({ type: 'predict', requestId, input });
  });
});
// Right under the progress: the first thing to do with a finished run.
document.querySelector('[data-section="progress"]')!.after(playground.section);

const WAITING = 'Waiting for a run…';
let renders = 0;
function render(): void {
  document.body.dataset.hasSnapshot = String(snapshot !== undefined);
  if (!snapshot) {
    layout.message.textContent = WAITING;
    return;
  }
  if (layout.message.textContent === WAITING) layout.message.textContent = '';
  layout.title.textContent = snapshot.name;
  layout.runDir.textContent = snapshot.runDir;
  layout.runDir.title = snapshot.runDir;
  layout.stop.hidden = !isLive(snapshot.status);
  progress.render(snapshot);
  renderOutcome(snapshot);
  // Sections first: a chart drawn into a hidden section has no size to lay its legend out in.
  showSections(snapshot);
  const spruftSelection = snapshot.methods.find((m) => m.selection)?.selection;
  selection.render(spruftSelection, theme);
  memory.render(snapshot.methods, theme);
  labels.render(snapshot.methods, theme);
  curves.render(snapshot.methods, theme);
  evaluation.render(snapshot.methods, theme);
  multipleChoice.render(snapshot.methods);
  document.body.dataset.renders = String(++renders);
}

/**
 * A section shows when it has something to draw, or while a live run will still produce
 * it: a run that ended leaves no "Waiting for…" panels, and a scoring run shows only what
 * scoring produces.
 */
function showSections(s: DashboardSnapshot): void {
  const live = isLive(s.status);
  const trains = s.kind !== 'score';
  const planned = s.plannedMethods ?? s.methods.map((m) => m.method);
  const has = {
    selection: s.methods.some((m) => m.selection && m.selection.layers.length > 0),
    memory: s.methods.some((m) => m.memory),
    labels: s.methods.some((m) => m.labelAccuracy),
    curves: s.methods.some((m) => m.progress.some((p) => p.phase === 'training' && (p.loss !== undefined || p.lr !== undefined))),
    // Only with data: how often a run evaluates is the config's (training.evalEvery).
    evaluation: s.methods.some((m) => (m.evaluations?.length ?? 0) > 0),
  };
  const expected = {
    selection: live && (planned.length === 0 || planned.includes('spruft')),
    memory: live && trains,
    labels: live && trains,
    curves: live && trains,
    evaluation: false,
  };
  for (const key of ['selection', 'memory', 'labels', 'curves', 'evaluation'] as const) layout[key].section.hidden = !(has[key] || expected[key]);
}

function renderOutcome(s: DashboardSnapshot): void {
  const outcome = describeOutcome(s);
  const banner = layout.outcome;
  banner.root.hidden = !outcome;
  banner.root.dataset.status = s.status;
  if (!outcome) return;
  banner.title.textContent = outcome.title;
  banner.reason.textContent = outcome.reason ?? '';
  banner.reason.hidden = !outcome.reason;
  banner.where.textContent = outcome.where ? `Last progress report: ${outcome.where}.` : '';
  banner.where.hidden = !outcome.where;
  banner.advice.textContent = outcome.advice;
  // Resume needs the run's folder and checkpoint; a failed config check has neither.
  banner.resume.hidden = !(s.runDir && isResumable(s.status) && outcome.action !== 'fix-config');
  banner.rerun.hidden = !s.runDir;
  banner.openConfig.hidden = outcome.action !== 'fix-config';
  banner.showLog.hidden = s.status === 'cancelled';
}

let renderQueued = false;
function scheduleRender(): void {
  if (renderQueued) return;
  renderQueued = true;
  // Many messages a second during a run: draw and save once per frame.
  requestAnimationFrame(() => {
    renderQueued = false;
    render();
    if (snapshot) host.setState(snapshot);
  });
}

let nextRequestId = 1;
const pending = new Map<number, (reply: Reply) => void>();

function request(message: RequestWithoutId): Promise<Reply> {
  const requestId = nextRequestId++;
  return new Promise((resolve) => {
    pending.set(requestId, resolve);
    host.postMessage({ ...message, requestId } as Request);
  });
}

function handle(message: HostToWebview): void {
  switch (message.type) {
    case 'snapshot':
      snapshot = message.snapshot;
      break;
    case 'progress':
    case 'selection':
    case 'memory':
    case 'labelAccuracy':
    case 'evaluation':
    case 'finished':
      // The host sends a snapshot before any run message; one arriving earlier is dropped.
      if (!snapshot) return;
      snapshot = applyRunMessage(snapshot, message);
      break;
    case 'playground':
      playground.configure(message.available, message.task, message.pairs === true);
      if (message.focus) requestAnimationFrame(() => playground.focus());
      return;
    case 'prediction': {
      const settle = predictions.get(message.requestId);
      predictions.delete(message.requestId);
      settle?.({ ...(message.result ? { result: message.result } : {}), ...(message.error ? { error: message.error } : {}) });
      return;
    }
    case 'reply': {
      const settle = pending.get(message.requestId);
      pending.delete(message.requestId);
      settle?.(message);
      return;
    }
    default:
      assertNever(message);
  }
  scheduleRender();
}

window.addEventListener('message', (event: MessageEvent<HostToWebview>) => handle(event.data));

layout.stop.addEventListener('click', async () => {
  if (!snapshot) return;
  layout.stop.disabled = true;
  layout.message.textContent = 'Stopping…';
  const reply = await request({ type: 'stopRun', runId: snapshot.runId });
  layout.stop.disabled = false;
  layout.message.textContent = reply.ok ? 'Stop requested: the run ends after the current step.' : `Could not stop: ${reply.error ?? 'unknown error'}`;
});

async function runAction(action: RunAction, button: HTMLButtonElement): Promise<void> {
  button.disabled = true;
  const reply = await request({ type: 'runAction', action });
  button.disabled = false;
  if (!reply.ok) layout.message.textContent = reply.error ?? `Could not ${action}.`;
}

layout.outcome.resume.addEventListener('click', () => void runAction('resume', layout.outcome.resume));
layout.outcome.rerun.addEventListener('click', () => void runAction('rerun', layout.outcome.rerun));
layout.outcome.showLog.addEventListener('click', () => void runAction('showLog', layout.outcome.showLog));
layout.outcome.openConfig.addEventListener('click', () => void runAction('openConfig', layout.outcome.openConfig));

layout.openFolder.addEventListener('click', async () => {
  const reply = await request({ type: 'openRunFolder' });
  if (!reply.ok && reply.error) layout.message.textContent = reply.error;
});

// VS Code swaps the body's theme class when the user changes theme: rebuild the charts
// with the new colours (chart.js reads them when a chart is made).
new MutationObserver(() => {
  theme = readTheme();
  applyThemeDefaults(theme);
  for (const chart of charts) chart.destroy();
  scheduleRender();
}).observe(document.body, { attributes: true, attributeFilter: ['class'] });

render();
host.postMessage({ type: 'ready' });
