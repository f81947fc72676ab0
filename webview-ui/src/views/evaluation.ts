/**
 * Evaluation over the run: evaluation loss (left axis) and accuracy or perplexity (right
 * axis) against the optimizer step, one line each per method, from the evaluations the
 * runner makes every `training.evalEvery` steps and once training ends. Compared methods
 * train one after another from step 0, so their lines share the step axis.
 */
import type { Chart, ChartDataset, TooltipItem } from 'chart.js';
import type { MethodView } from '../../../protocol/runFolder';
import { ChartSlot, legendEntriesCut, recordDrawn } from '../charts';
import { formatLoss, formatPercent, formatScore } from '../../../protocol/format';
import { withAlpha, type ThemeColours } from '../theme';

type Point = { x: number; y: number };

export class EvaluationCurves {
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
    const evaluated = methods.filter((m) => (m.evaluations?.length ?? 0) > 0);
    this.figure.hidden = evaluated.length === 0;
    if (evaluated.length === 0) {
      recordDrawn(this.figure, { lines: 0, points: 0 });
      return;
    }
    const perplexity = evaluated.some((m) => m.evaluations!.some((e) => e.perplexity !== undefined && e.accuracy === undefined));
    const datasets: ChartDataset<'line', Point[]>[] = [];
    let points = 0;
    for (const view of evaluated) {
      // One point per step: a resumed run may evaluate a step again; the last one wins.
      const byStep = new Map(view.evaluations!.map((e) => [e.step, e]));
      const ordered = [...byStep.values()].sort((a, b) => a.step - b.step);
      const colour = theme.methods[view.method];
      const loss = ordered.map((e) => ({ x: e.step, y: e.loss }));
      const second = ordered.flatMap((e) => {
        const y = perplexity ? e.perplexity : e.accuracy !== undefined ? e.accuracy * 100 : undefined;
        return y === undefined ? [] : [{ x: e.step, y }];
      });
      points += loss.length;
      datasets.push({ label: `${view.method} eval loss`, data: loss, yAxisID: 'loss', borderColor: colour, backgroundColor: colour, borderWidth: 1.5, pointRadius: 3, parsing: false });
      if (second.length) {
        datasets.push({
          label: `${view.method} ${perplexity ? 'perplexity' : 'accuracy'}`,
          data: second, yAxisID: 'second', borderColor: withAlpha(colour, 0.7), backgroundColor: withAlpha(colour, 0.7), borderDash: [5, 4], borderWidth: 1.5, pointRadius: 3, pointStyle: 'rectRot', parsing: false,
        });
      }
    }
    const chart = this.slot.draw({
      type: 'line',
      data: { datasets },
      options: {
        parsing: false,
        interaction: { mode: 'nearest', intersect: false },
        scales: {
          x: { type: 'linear', min: 0, title: { display: true, text: 'optimizer step' } },
          loss: { type: 'linear', position: 'left', title: { display: true, text: 'evaluation loss' }, ticks: { callback: (v) => formatScore(Number(v)) } },
          second: perplexity
            ? { type: 'linear', position: 'right', title: { display: true, text: 'perplexity' }, grid: { drawOnChartArea: false } }
            : { type: 'linear', position: 'right', min: 0, max: 100, title: { display: true, text: 'accuracy (%)' }, grid: { drawOnChartArea: false } },
        },
        plugins: {
          legend: { position: 'bottom', labels: { boxWidth: 14 } },
          tooltip: {
            callbacks: {
              title: (items: TooltipItem<'line'>[]) => `step ${items[0]?.parsed.x ?? ''}`,
              label: (item: TooltipItem<'line'>) => {
                const y = item.parsed.y ?? Number.NaN;
                const value = item.dataset.yAxisID === 'loss' ? formatLoss(y) : perplexity ? formatScore(y) : formatPercent(y / 100);
                return `${item.dataset.label ?? ''}: ${value}`;
              },
            },
          },
        },
      },
    });
    this.caption.textContent = evaluated
      .map((v) => {
        const last = v.evaluations![v.evaluations!.length - 1]!;
        const second = last.accuracy !== undefined ? ` · accuracy ${formatPercent(last.accuracy)}` : last.perplexity !== undefined ? ` · perplexity ${formatScore(last.perplexity)}` : '';
        return `${v.method}: ${v.evaluations!.length} evaluation${v.evaluations!.length > 1 ? 's' : ''}, last at step ${last.step} · loss ${formatLoss(last.loss)}${second}`;
      })
      .join(' — ');
    recordDrawn(this.figure, { lines: chart.data.datasets.length, points, legendCut: legendEntriesCut(chart as unknown as Chart) });
  }
}
