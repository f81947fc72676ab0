/**
 * Where the run stands: phase, step of total, epoch, loss, speed and ETA, one line per
 * method (compared methods train one after another), and a bar for the active one.
 */
import type { ProgressEvent } from '../../../protocol/results';
import type { DashboardSnapshot } from '../../../protocol/runFolder';
import { describeProgress } from '../../../protocol/format';

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
