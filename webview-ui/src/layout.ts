/**
 * The page's structure, built here so the host's HTML is only a shell (CSP, stylesheet,
 * script). Every figure is a <figure> with a caption and a canvas; tests find them by
 * their `data-view` attribute.
 */

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: Array<Node | string>): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

export interface ChartFigure {
  /** The whole section (heading, caption, figure): hidden when the run has nothing for it. */
  section: HTMLElement;
  figure: HTMLElement;
  box: HTMLElement;
  canvas: HTMLCanvasElement;
  caption: HTMLElement;
}

function chartFigure(view: string, title: string, boxClass = 'chart-box'): ChartFigure {
  const canvas = el('canvas', { role: 'img' });
  const box = el('div', { class: boxClass }, canvas);
  const caption = el('p', { class: 'caption' });
  const figure = el('figure', { 'data-view': view, role: 'group', 'aria-label': title }, el('div', { class: 'scroll' }, box));
  const section = el('section', { 'data-section': view }, el('h2', {}, title), caption, figure);
  document.getElementById('app')!.append(section);
  return { section, figure, box, canvas, caption };
}

function table(view: string, headers: string[]): HTMLTableElement {
  const t = el('table', { 'data-view': view }, el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', { scope: 'col' }, h)))), el('tbody'));
  t.hidden = true;
  return t;
}

export interface DashboardLayout {
  title: HTMLElement;
  status: HTMLElement;
  runDir: HTMLElement;
  stop: HTMLButtonElement;
  openFolder: HTMLButtonElement;
  message: HTMLElement;
  progressBar: HTMLProgressElement;
  progressLines: HTMLElement;
  /** Why a run ended early and what to do (failed, cancelled, interrupted runs). */
  outcome: OutcomeBanner;
  selection: ChartFigure;
  memory: ChartFigure & { table: HTMLTableElement };
  labels: ChartFigure & { table: HTMLTableElement };
  curves: ChartFigure;
  evaluation: ChartFigure;
}

export interface OutcomeBanner {
  root: HTMLElement;
  title: HTMLElement;
  reason: HTMLElement;
  where: HTMLElement;
  advice: HTMLElement;
  resume: HTMLButtonElement;
  rerun: HTMLButtonElement;
  showLog: HTMLButtonElement;
  openConfig: HTMLButtonElement;
}

function outcomeBanner(): OutcomeBanner {
  const title = el('strong', { 'data-view': 'outcome-title' });
  const reason = el('p', { class: 'reason', 'data-view': 'outcome-reason' });
  const where = el('p', { 'data-view': 'outcome-where' });
  const advice = el('p', { 'data-view': 'outcome-advice' });
  const resume = el('button', { type: 'button', 'data-action': 'resume' }, 'Resume');
  const rerun = el('button', { type: 'button', class: 'secondary', 'data-action': 'rerun' }, 'Re-run');
  const openConfig = el('button', { type: 'button', class: 'secondary', 'data-action': 'open-config' }, 'Open config');
  const showLog = el('button', { type: 'button', class: 'secondary', 'data-action': 'show-log' }, 'Show runner log');
  const root = el('section', { class: 'outcome', role: 'alert', 'data-view': 'outcome' }, title, reason, where, advice, el('div', { class: 'actions' }, resume, rerun, openConfig, showLog));
  root.hidden = true;
  return { root, title, reason, where, advice, resume, rerun, showLog, openConfig };
}

export function buildLayout(): DashboardLayout {
  const app = document.getElementById('app')!;
  const title = el('h1', { 'data-view': 'title' }, 'SPruFT run');
  const status = el('span', { class: 'badge', 'data-view': 'status' });
  const runDir = el('span', { class: 'run-dir', 'data-view': 'run-dir' });
  const stop = el('button', { type: 'button', 'data-action': 'stop' }, 'Stop run');
  const openFolder = el('button', { type: 'button', class: 'secondary', 'data-action': 'open-folder' }, 'Open run folder…');
  const message = el('p', { class: 'message', role: 'status', 'data-view': 'message' });
  const outcome = outcomeBanner();
  app.append(el('header', {}, el('div', { class: 'heading' }, title, status), runDir, el('div', { class: 'actions' }, stop, openFolder)), message, outcome.root);

  const progressBar = el('progress', { 'data-view': 'progress-bar', max: '1' });
  const progressLines = el('ul', { class: 'progress-lines', 'data-view': 'progress' });
  app.append(el('section', { 'data-section': 'progress' }, progressBar, progressLines));

  const selection = chartFigure('selection', 'Selected rows per layer', 'chart-box tall');
  const memory = chartFigure('memory', 'Memory by component');
  const memoryTable = table('memory-table', ['method', 'trainable', 'mem', 'peak (mem_TTL)', 'train time', 'accuracy']);
  memory.figure.after(memoryTable);
  const labels = chartFigure('labels', 'Accuracy per label', 'chart-box tall');
  const labelTable = table('label-table', ['method', 'accuracy', 'min', 'Q1', 'median', 'Q3', 'max']);
  labels.figure.after(labelTable);
  const curves = chartFigure('curves', 'Training loss and learning rate');
  const evaluation = chartFigure('evaluation', 'Evaluation over the run');
  return {
    title,
    status,
    runDir,
    stop,
    openFolder,
    message,
    progressBar,
    progressLines,
    outcome,
    selection,
    memory: { ...memory, table: memoryTable },
    labels: { ...labels, table: labelTable },
    curves,
    evaluation,
  };
}
