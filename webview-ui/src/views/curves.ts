/**
 * Training loss and learning rate against the optimizer step, one line each per method
 * (loss on the left axis, learning rate dashed on the right). Long runs are thinned by
 * chart.js's decimation (LTTB), so thousands of steps stay cheap to draw.
 */
import type { Chart, ChartDataset, TooltipItem } from 'chart.js';
import type { MethodView } from '../../../protocol/runFolder';
import { ChartSlot, legendEntriesCut, recordDrawn } from '../charts';
import { formatLoss, formatRate, formatScore } from '../../../protocol/format';
import { withAlpha, type ThemeColours } from '../theme';

type Point = { x: number; y: number };

export class Curves {
  private readonly slot: ChartSlot<'line'>;

  constructor(
    private readonly figure: HTMLElement,
    canvas: HTMLCanvasElement,
    private readonly caption: HTMLElement,
  ) {
    this.slot = new ChartSlot<'line'>(canvas);
  }

  destroy(): void {
    this.slot.destroy();
  }

  render(methods: MethodView[], theme: ThemeColours): void {
    const series = methods.map((view) => {
      const training = view.progress.filter((p) => p.phase === 'training');
      // One point per step: the last report of a step wins (a step can be reported twice).
      const byStep = new Map<number, { loss?: number; lr?: number }>();
      for (const p of training) byStep.set(p.step, { loss: p.loss ?? byStep.get(p.step)?.loss, lr: p.lr ?? byStep.get(p.step)?.lr });
      const steps = [...byStep.keys()].sort((a, b) => a - b);
      const loss: Point[] = [];
      const lr: Point[] = [];
      for (const s of steps) {
        const v = byStep.get(s)!;
        if (v.loss !== undefined && Number.isFinite(v.loss)) loss.push({ x: s, y: v.loss });
        if (v.lr !== undefined && Number.isFinite(v.lr)) lr.push({ x: s, y: v.lr });
      }
      return { view, loss, lr };
    });
    const any = series.some((s) => s.loss.length > 0 || s.lr.length > 0);
    this.figure.hidden = !any;
    if (!any) {
      this.caption.textContent = 'Waiting for the first training step…';
      recordDrawn(this.figure, { lines: 0, points: 0 });
      return;
    }
    const datasets: ChartDataset<'line', Point[]>[] = [];
    for (const { view, loss, lr } of series) {
      const colour = theme.methods[view.method];
      if (loss.length) datasets.push({ label: `${view.method} loss`, data: loss, yAxisID: 'loss', borderColor: colour, backgroundColor: colour, borderWidth: 1.5, pointRadius: loss.length > 60 ? 0 : 2, parsing: false });
      if (lr.length) datasets.push({ label: `${view.method} learning rate`, data: lr, yAxisID: 'lr', borderColor: withAlpha(colour, 0.6), backgroundColor: withAlpha(colour, 0.6), borderDash: [5, 4], borderWidth: 1, pointRadius: 0, parsing: false });
    }
    const chart = this.slot.draw({
      type: 'line',
      data: { datasets },
      options: {
        parsing: false,
        normalized: true,
        // Every line at the step under the pointer: loss and learning rate of each method.
        interaction: { mode: 'index', intersect: false },
        scales: {
          x: { type: 'linear', title: { display: true, text: 'optimizer step' } },
          loss: { type: 'linear', position: 'left', title: { display: true, text: 'training loss' }, ticks: { callback: (v) => formatScore(Number(v)) } },
          lr: { type: 'linear', position: 'right', title: { display: true, text: 'learning rate' }, grid: { drawOnChartArea: false }, ticks: { callback: (v) => formatRate(Number(v)) } },
        },
        plugins: {
          legend: { position: 'bottom', labels: { boxWidth: 14 } },
          tooltip: {
            callbacks: {
              title: (items: TooltipItem<'line'>[]) => `step ${items[0]?.parsed.x ?? ''}`,
              // Learning rates are small (1e-4): chart.js's default three decimals print 0.
              label: (item: TooltipItem<'line'>) => {
                const y = item.parsed.y ?? Number.NaN;
                return `${item.dataset.label ?? ''}: ${item.dataset.yAxisID === 'lr' ? formatRate(y) : formatLoss(y)}`;
              },
            },
          },
          decimation: { enabled: true, algorithm: 'lttb', samples: 400 },
        },
      },
    });
    const last = series.flatMap((s) => s.loss.slice(-1).map((p) => `${s.view.method} loss ${formatLoss(p.y)} at step ${p.x}`));
    this.caption.textContent = last.join(' · ');
    recordDrawn(this.figure, { lines: chart.data.datasets.length, points: series.reduce((n, s) => n + s.loss.length, 0), legendCut: legendEntriesCut(chart as unknown as Chart) });
  }
}
