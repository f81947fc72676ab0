/**
 * Accuracy per label (paper table 2): one bar per label, worst first, for each method;
 * dashed lines in each method's colour mark its Q1, median and Q3, and the table gives
 * min, Q1, median, Q3 and max of every method. Horizontal bars keep 200 label names readable
 * (the box scrolls).
 */
import type { Chart, ChartDataset, TooltipItem } from 'chart.js';
import type { LabelAccuracyEvent } from '../../../protocol/rpc';
import type { MethodView } from '../../../protocol/runFolder';
import { ChartSlot, legendEntriesCut, recordDrawn } from '../charts';
import { formatPercent } from '../../../protocol/format';
import { withAlpha, type ThemeColours } from '../theme';

const LINE_PX = 16;
const QUARTILES = [
  { key: 'q1', label: 'Q1' },
  { key: 'median', label: 'median' },
  { key: 'q3', label: 'Q3' },
] as const;

export class LabelAccuracy {
  private readonly slot: ChartSlot<'bar' | 'line'>;

  constructor(
    private readonly figure: HTMLElement,
    private readonly box: HTMLElement,
    canvas: HTMLCanvasElement,
    private readonly table: HTMLTableElement,
    private readonly caption: HTMLElement,
  ) {
    this.slot = new ChartSlot<'bar' | 'line'>(canvas);
  }

  destroy(): void {
    this.slot.destroy();
  }

  render(methods: MethodView[], theme: ThemeColours): void {
    const evaluated = methods.filter((m): m is MethodView & { labelAccuracy: LabelAccuracyEvent } => m.labelAccuracy !== undefined);
    this.figure.hidden = evaluated.length === 0;
    this.renderTable(evaluated);
    if (evaluated.length === 0) {
      this.caption.textContent = 'Waiting for evaluation…';
      recordDrawn(this.figure, { labels: 0, bars: 0 });
      return;
    }
    const first = evaluated[0]!.labelAccuracy;
    const labels = first.labels.slice().sort((a, b) => (first.perLabel[a] ?? 0) - (first.perLabel[b] ?? 0) || a.localeCompare(b));
    this.box.style.height = `${Math.max(labels.length * LINE_PX * Math.max(1, evaluated.length * 0.75), 120) + 60}px`;
    const bars: ChartDataset<'bar', number[]>[] = evaluated.map((view) => ({
      type: 'bar',
      label: view.method,
      data: labels.map((l) => (view.labelAccuracy.perLabel[l] ?? 0) * 100),
      backgroundColor: theme.methods[view.method],
      barPercentage: 0.9,
      categoryPercentage: 0.85,
    }));
    const quartileLines: ChartDataset<'line', Array<{ x: number; y: string }>>[] = evaluated.flatMap((view) =>
      QUARTILES.map(({ key, label }) => {
        const x = view.labelAccuracy.perLabelStats[key] * 100;
        return {
          type: 'line' as const,
          label: `${view.method} ${label}`,
          data: [
            { x, y: labels[0]! },
            { x, y: labels[labels.length - 1]! },
          ],
          indexAxis: 'y' as const,
          borderColor: withAlpha(theme.methods[view.method], key === 'median' ? 1 : 0.6),
          borderDash: key === 'median' ? [6, 3] : [2, 3],
          borderWidth: key === 'median' ? 2 : 1.5,
          pointRadius: 0,
        };
      }),
    );
    const chart = this.slot.draw({
      type: 'bar',
      data: { labels, datasets: [...bars, ...quartileLines] as ChartDataset<'bar' | 'line'>[] },
      options: {
        indexAxis: 'y',
        scales: {
          x: { min: 0, max: 100, title: { display: true, text: 'accuracy (%)' } },
          y: { ticks: { autoSkip: false }, grid: { display: false } },
        },
        plugins: {
          // Quartile lines are named in the tooltip and the table; the legend keeps the methods.
          legend: { display: true, position: 'top', labels: { boxWidth: 14, filter: (item) => (item.datasetIndex ?? 0) < evaluated.length } },
          tooltip: {
            callbacks: {
              label: (item: TooltipItem<'bar' | 'line'>) => `${item.dataset.label}: ${formatPercent((item.parsed.x ?? 0) / 100)}`,
            },
          },
        },
      },
    });
    let drawnBars = 0;
    bars.forEach((_, i) => {
      if (chart.isDatasetVisible(i)) drawnBars += chart.getDatasetMeta(i).data.length;
    });
    this.caption.textContent =
      `${labels.length} labels, worst first · ${evaluated.map((v) => `${v.method} ${formatPercent(v.labelAccuracy.accuracy)}`).join(' · ')}`;
    recordDrawn(this.figure, { labels: chart.scales.y?.ticks.length ?? 0, bars: drawnBars, worst: labels[0]!, quartileLines: quartileLines.length, legendCut: legendEntriesCut(chart as unknown as Chart) });
    this.figure.setAttribute('aria-label', this.caption.textContent);
  }

  private renderTable(evaluated: Array<MethodView & { labelAccuracy: LabelAccuracyEvent }>): void {
    this.table.hidden = evaluated.length === 0;
    const body = this.table.tBodies[0] ?? this.table.createTBody();
    body.replaceChildren(
      ...evaluated.map((view) => {
        const s = view.labelAccuracy.perLabelStats;
        const tr = document.createElement('tr');
        tr.dataset.method = view.method;
        for (const text of [view.method, formatPercent(view.labelAccuracy.accuracy), ...[s.min, s.q1, s.median, s.q3, s.max].map((x) => formatPercent(x))]) {
          const td = document.createElement('td');
          td.textContent = text;
          tr.append(td);
        }
        return tr;
      }),
    );
  }
}
