/**
 * Where the run stands: phase, step of total, epoch, loss, speed and ETA, one line per
 * method (compared methods train one after another), and a bar for the active one.
 */
import type { ProgressEvent } from '../../../protocol/results';
import type { DashboardSnapshot } from '../../../protocol/runFolder';
import { formatDuration } from '../format';

export function describeProgress(p: ProgressEvent): string {
  const parts = [`${p.method}: ${p.phase}`];
  if (p.totalSteps > 0) parts.push(`step ${p.step}/${p.totalSteps}`);
  if (p.totalEpochs > 0) parts.push(`epoch ${p.epoch}/${p.totalEpochs}`);
  if (p.loss !== undefined) parts.push(`loss ${p.loss.toFixed(4)}`);
  if (p.samplesPerSec !== undefined) parts.push(`${p.samplesPerSec.toFixed(1)} samples/s`);
  if (p.etaMs !== undefined && p.phase !== 'done') parts.push(`ETA ${formatDuration(p.etaMs)}`);
  parts.push(`elapsed ${formatDuration(p.elapsedMs)}`);
  return parts.join(' · ');
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
    const latest = snapshot.methods
      .map((m) => m.progress[m.progress.length - 1])
      .filter((p): p is ProgressEvent => p !== undefined);
    const active = latest.reduce<ProgressEvent | undefined>((a, p) => (!a || p.elapsedMs >= a.elapsedMs ? p : a), undefined);
    if (active && active.totalSteps > 0) {
      this.bar.max = active.totalSteps;
      this.bar.value = snapshot.status === 'completed' ? active.totalSteps : Math.min(active.step, active.totalSteps);
    } else if (snapshot.status === 'running') {
      this.bar.removeAttribute('value');
    } else {
      this.bar.max = 1;
      this.bar.value = snapshot.status === 'completed' ? 1 : 0;
    }
    this.lines.replaceChildren(
      ...latest.map((p) => {
        const li = document.createElement('li');
        li.dataset.method = p.method;
        li.textContent = describeProgress(p);
        return li;
      }),
    );
  }
}
