/**
 * Selected rows per layer (paper 4.1): one line per layer, row index across; each
 * selected row is a cell coloured by its importance score relative to its layer's
 * selected scores. A faint band shows the layer's d_out, so layers of different width
 * read at a glance. Hover: layer, row index, score, rank within the layer.
 */
import type { ScriptableContext, TooltipItem } from 'chart.js';
import type { MatrixDataPoint } from 'chartjs-chart-matrix';
import type { SelectionEvent } from '../../../protocol/rpc';
import { ChartSlot, recordDrawn } from '../charts';
import { formatCount, formatScore, shortLayerNames } from '../../../protocol/format';
import { withAlpha, type ThemeColours } from '../theme';

interface Cell extends MatrixDataPoint {
  x: number;
  y: string;
  v: number;
  layer: number;
  rank: number;
  /** 0..1 within the layer's selected scores. */
  t: number;
}

interface Band extends MatrixDataPoint {
  x: number;
  y: string;
  layer: number;
}

/** Pixels per layer line: readable names up to 200 layers (the box scrolls). */
const LINE_PX = 14;

export class SelectionHeatmap {
  private readonly slot: ChartSlot<'matrix'>;

  constructor(
    private readonly figure: HTMLElement,
    private readonly box: HTMLElement,
    canvas: HTMLCanvasElement,
    private readonly caption: HTMLElement,
  ) {
    this.slot = new ChartSlot<'matrix'>(canvas);
  }

  destroy(): void {
    this.slot.destroy();
  }

  render(selection: SelectionEvent | undefined, theme: ThemeColours): void {
    this.figure.hidden = !selection || selection.layers.length === 0;
    if (!selection || selection.layers.length === 0) {
      this.caption.textContent = 'Waiting for scoring…';
      recordDrawn(this.figure, { layers: 0, cells: 0 });
      return;
    }
    const layers = selection.layers;
    const names = shortLayerNames(layers.map((l) => l.name));
    const maxRows = Math.max(...layers.map((l) => l.dOut), 1);
    const cells: Cell[] = [];
    const bands: Band[] = [];
    layers.forEach((layer, i) => {
      bands.push({ x: layer.dOut / 2, y: names[i]!, layer: i });
      const order = layer.scores.map((s, k) => [s, k] as const).sort((a, b) => b[0] - a[0]);
      const rankOf = new Map(order.map(([, k], rank) => [k, rank + 1]));
      const lo = Math.min(...layer.scores);
      const hi = Math.max(...layer.scores);
      layer.rows.forEach((row, k) => {
        const score = layer.scores[k] ?? 0;
        cells.push({ x: row, y: names[i]!, v: score, layer: i, rank: rankOf.get(k) ?? 0, t: hi > lo ? (score - lo) / (hi - lo) : 1 });
      });
    });
    const totalRows = layers.reduce((n, l) => n + l.rows.length, 0);
    this.caption.textContent =
      `${layers.length} layers · ${formatCount(totalRows)} rows selected by ${selection.metric}` +
      ` · darker = higher score within the layer`;
    this.box.style.height = `${layers.length * LINE_PX + 64}px`;

    const pxPerRow = (ctx: ScriptableContext<'matrix'>): number => {
      const x = ctx.chart.scales.x;
      return x ? Math.abs(x.getPixelForValue(1) - x.getPixelForValue(0)) : 1;
    };
    const lineHeight = (ctx: ScriptableContext<'matrix'>): number => {
      const area = ctx.chart.chartArea;
      return area ? Math.max(2, area.height / layers.length - 2) : LINE_PX - 2;
    };
    const chart = this.slot.draw({
      type: 'matrix',
      data: {
        datasets: [
          {
            label: 'layer rows (d_out)',
            data: bands,
            backgroundColor: withAlpha(theme.grid, 0.35),
            borderWidth: 0,
            width: (ctx) => pxPerRow(ctx) * (layers[(ctx.raw as Band | undefined)?.layer ?? 0]?.dOut ?? 0),
            height: lineHeight,
          },
          {
            label: 'selected rows',
            data: cells,
            backgroundColor: (ctx) => withAlpha(theme.heatHigh, 0.25 + 0.75 * ((ctx.raw as Cell | undefined)?.t ?? 1)),
            borderWidth: 0,
            // At least 2 px, so a single row of a 10,000-row layer stays visible.
            width: (ctx) => Math.max(2, pxPerRow(ctx)),
            height: lineHeight,
          },
        ],
      },
      options: {
        parsing: { xAxisKey: 'x', yAxisKey: 'y' },
        scales: {
          x: { type: 'linear', min: 0, max: maxRows, offset: false, title: { display: true, text: 'row index (output neuron)' }, grid: { display: false } },
          y: { type: 'category', labels: names, offset: true, reverse: false, grid: { display: false }, ticks: { autoSkip: false } },
        },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              title: (items: TooltipItem<'matrix'>[]) => {
                const raw = items[0]?.raw as Cell | Band | undefined;
                return raw ? layers[raw.layer]?.name ?? '' : '';
              },
              label: (item: TooltipItem<'matrix'>) => {
                const raw = item.raw as Cell | Band;
                const layer = layers[raw.layer]!;
                if (item.datasetIndex === 0) return `${layer.dOut} rows, ${layer.rows.length} selected`;
                const cell = raw as Cell;
                return `row ${cell.x} · score ${formatScore(cell.v)} · rank ${cell.rank} of ${layer.rows.length}`;
              },
            },
          },
        },
      },
    });
    recordDrawn(this.figure, {
      layers: chart.scales.y?.ticks.length ?? 0,
      cells: chart.getDatasetMeta(1).data.length,
    });
    this.figure.setAttribute('aria-label', this.caption.textContent);
  }
}
