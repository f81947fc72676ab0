/**
 * Memory by component (paper appendix C.3), one stacked bar per method compared: the
 * training peak (mem_TTL) as frozen weights, trainable parameters, gradients, optimizer
 * state, activation cache, dropout masks and the rest of the peak (protocol's peakStack).
 * Each bar's label carries the paper's "mem" (= mem_TTL - mem_M); the table below adds
 * time and accuracy, so "Compare with LoRA" reads side by side.
 */
import type { TooltipItem } from 'chart.js';
import { peakStack, type MemoryBreakdown } from '../../../protocol/results';
import type { MethodView } from '../../../protocol/runFolder';
import type { Chart } from 'chart.js';
import { ChartSlot, legendEntriesCut, recordDrawn } from '../charts';
import { formatBytes, formatCount, formatDuration } from '../../../protocol/format';
import { scoreText } from './scores';
import type { ThemeColours } from '../theme';

type Component = 'weights' | Exclude<keyof MemoryBreakdown, 'total'>;

/** Stacking order, bottom to top, with the legend's words. */
export const MEMORY_COMPONENTS: ReadonlyArray<{ key: Component; label: string }> = [
  { key: 'weights', label: 'frozen weights' },
  { key: 'params', label: 'trainable params' },
  { key: 'grads', label: 'gradients' },
  { key: 'optimizer', label: 'optimizer state' },
  { key: 'cache', label: 'activation cache' },
  { key: 'dropout', label: 'dropout masks' },
  { key: 'other', label: 'rest of the peak' },
];

const MIB = 1024 * 1024;


export class MemoryBars {
  private readonly slot: ChartSlot<'bar'>;

  constructor(
    private readonly figure: HTMLElement,
    canvas: HTMLCanvasElement,
    private readonly table: HTMLTableElement,
    private readonly caption: HTMLElement,
  ) {
    this.slot = new ChartSlot<'bar'>(canvas);
  }

  destroy(): void {
    this.slot.destroy();
  }

  render(methods: MethodView[], theme: ThemeColours): void {
    const measured = methods.filter((m) => m.memory);
    this.figure.hidden = measured.length === 0;
    this.renderTable(methods);
    if (measured.length === 0) {
      this.caption.textContent = 'Waiting for the first measured training step…';
      recordDrawn(this.figure, { methods: 0, bars: 0 });
      return;
    }
    const valueOf = (view: MethodView, key: Component): number => peakStack(view.memory!.measurement)[key];
    const labels = measured.map((v) => [v.memory!.variant || v.method, `mem ${formatBytes(v.memory!.measurement.breakdown.total)}`]);
    const chart = this.slot.draw({
      type: 'bar',
      data: {
        labels,
        datasets: MEMORY_COMPONENTS.map(({ key, label }) => ({
          label,
          data: measured.map((v) => valueOf(v, key) / MIB),
          backgroundColor: theme[key],
          stack: 'memory',
          maxBarThickness: 72,
        })),
      },
      options: {
        scales: {
          x: { stacked: true, grid: { display: false } },
          y: { stacked: true, title: { display: true, text: 'training peak' }, ticks: { callback: (v) => formatBytes(Number(v) * MIB) } },
        },
        plugins: {
          // Below the bars: at the editor's side width a legend on the right squeezes them away.
          legend: { display: true, position: 'bottom', labels: { boxWidth: 14 } },
          tooltip: {
            callbacks: {
              label: (item: TooltipItem<'bar'>) => `${item.dataset.label}: ${formatBytes((item.raw as number) * MIB)}`,
              footer: (items: TooltipItem<'bar'>[]) => {
                const view = measured[items[0]?.dataIndex ?? 0];
                if (!view?.memory) return '';
                const m = view.memory.measurement;
                return [
                  `mem (paper) = mem_TTL - mem_M = ${formatBytes(m.breakdown.total)}`,
                  `mem_TTL ${formatBytes(m.peakTrain)} · mem_M ${formatBytes(m.peakInference)}`,
                  m.source,
                ];
              },
            },
          },
        },
      },
    });
    let bars = 0;
    chart.data.datasets.forEach((_, i) => {
      if (chart.isDatasetVisible(i)) bars += chart.getDatasetMeta(i).data.filter((el) => Math.abs((el as unknown as { height: number }).height) > 0).length;
    });
    this.caption.textContent = `${measured.length} method${measured.length > 1 ? 's' : ''} measured · bar: the training peak by component · label: the paper's "mem" (peak training minus peak inference)`;
    recordDrawn(this.figure, { methods: chart.data.labels?.length ?? 0, bars, legendCut: legendEntriesCut(chart as unknown as Chart) });
    this.figure.setAttribute('aria-label', measured.map((v) => `${v.method}: mem ${formatBytes(v.memory!.measurement.breakdown.total)}`).join('; '));
  }

  private renderTable(methods: MethodView[]): void {
    const rows = methods.filter((v) => v.memory || v.result || v.labelAccuracy);
    this.table.hidden = rows.length === 0;
    const body = this.table.tBodies[0] ?? this.table.createTBody();
    body.replaceChildren(
      ...rows.map((view) => {
        const tr = document.createElement('tr');
        tr.dataset.method = view.method;
        const m = view.memory?.measurement;
        const trainable = view.memory?.trainableParams ?? view.result?.trainableParams;
        const cells = [
          view.memory?.variant || view.method,
          trainable === undefined ? '–' : formatCount(trainable),
          m ? formatBytes(m.breakdown.total) : '–',
          m ? formatBytes(m.peakTrain) : '–',
          view.result?.trainMs === undefined ? '–' : formatDuration(view.result.trainMs),
          scoreText(view) ?? '–',
        ];
        for (const text of cells) {
          const td = document.createElement('td');
          td.textContent = text;
          tr.append(td);
        }
        return tr;
      }),
    );
  }
}
