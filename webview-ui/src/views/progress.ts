/**
 * Where the run stands: one bar over every method the run trains (a "Compare with LoRA"
 * run is one job with one ETA), one line per method (compared methods train one after
 * another), and, once the run has ended, each method's end state instead of its last
 * live report: no "evaluating" or ETA outlives the run.
 */
import type { ProgressEvent } from '../../../protocol/results';
import type { DashboardSnapshot, MethodView } from '../../../protocol/runFolder';
import { describeProgress, formatDuration, formatLoss, formatPercent } from '../../../protocol/format';
import { isLive, overallProgress } from '../../../protocol/runOutcome';
import { scoreText } from './scores';

/** A method's line once it is done, or once the run ended. */
function endLine(view: MethodView, last: ProgressEvent | undefined, runStatus: string): string {
  const score = scoreText(view, true);
  const steps = view.result?.steps ?? last?.step;
  if (view.result || view.labelAccuracy) {
    const parts = [`${view.method}: done`];
    if (steps !== undefined) parts.push(`${steps} steps`);
    if (view.result?.trainMs !== undefined) parts.push(`trained in ${formatDuration(view.result.trainMs)}`);
    if (score !== undefined) parts.push(score);
    else if (view.result && 'perplexity' in view.result.metrics) parts.push(`eval loss ${formatLoss(view.result.metrics.loss)}`);
    return parts.join(' · ');
  }
  if (view.selection && !last?.totalSteps && runStatus === 'completed') return `${view.method}: scored ${view.selection.layers.length} layers`;
  if (!last) return `${view.method}: not started`;
  const step = last.totalSteps > 0 ? ` at step ${last.step}/${last.totalSteps}` : ` while ${last.phase}`;
  return `${view.method}: ${runStatus}${step}${last.loss !== undefined ? ` · loss ${formatLoss(last.loss)}` : ''}`;
}

export class ProgressView {
  constructor(
    private readonly bar: HTMLProgressElement,
    private readonly lines: HTMLElement,
    private readonly status: HTMLElement,
  ) {}

  render(snapshot: DashboardSnapshot): void {
    this.status.textContent = snapshot.status;
    this.status.dataset.status = snapshot.status;
    const live = isLive(snapshot.status);
    const overall = overallProgress(snapshot);
    const anyProgress = snapshot.methods.some((m) => m.progress.length > 0);
    if (live && !anyProgress) {
      this.bar.removeAttribute('value');
    } else {
      this.bar.max = 1;
      this.bar.value = overall.fraction;
    }
    this.bar.title = `${formatPercent(overall.fraction, 0)} of the run`;
    const items: HTMLLIElement[] = [];
    for (const view of snapshot.methods) {
      const last = view.progress[view.progress.length - 1];
      const li = document.createElement('li');
      li.dataset.method = view.method;
      const done = view.result !== undefined || view.labelAccuracy !== undefined;
      li.textContent = live && !done && last ? describeProgress(last, { lr: true }) : endLine(view, last, snapshot.status);
      items.push(li);
    }
    for (const method of overall.methods.slice(snapshot.methods.length)) {
      if (snapshot.methods.some((m) => m.method === method)) continue;
      const li = document.createElement('li');
      li.dataset.method = method;
      li.textContent = `${method}: ${live ? 'waiting for its turn' : 'not run'}`;
      items.push(li);
    }
    if (live && overall.methods.length > 1) {
      const li = document.createElement('li');
      li.dataset.view = 'overall';
      li.textContent = `whole run: method ${overall.current + 1} of ${overall.methods.length} · ${formatPercent(overall.fraction, 0)}${overall.etaMs !== undefined ? ` · ETA ${formatDuration(overall.etaMs)}` : ''}`;
      items.push(li);
    }
    this.lines.replaceChildren(...items);
  }
}
