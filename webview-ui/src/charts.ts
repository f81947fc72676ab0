/**
 * Chart.js set-up shared by the views: only the pieces the dashboard uses are
 * registered (a smaller bundle), the matrix controller draws the heatmap, and the
 * defaults follow the VS Code theme. Animations are off: the dashboard redraws several
 * times a second during a run, and a moving chart there is noise.
 */
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Decimation,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  LogarithmicScale,
  PointElement,
  Tooltip,
  type ChartConfiguration,
  type ChartType,
  type TooltipModel,
} from 'chart.js';
import { MatrixController, MatrixElement } from 'chartjs-chart-matrix';
import type { ThemeColours } from './theme';

Chart.register(
  BarController,
  BarElement,
  CategoryScale,
  Decimation,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  LogarithmicScale,
  MatrixController,
  MatrixElement,
  PointElement,
  Tooltip,
);

/**
 * Tooltips are HTML, styled like VS Code's hover widget (and readable by tests and
 * screen readers), instead of text painted on the canvas.
 */
function htmlTooltip(): (context: { chart: Chart; tooltip: TooltipModel<ChartType> }) => void {
  let tip: HTMLElement | undefined;
  return ({ chart, tooltip }) => {
    if (!tip) {
      tip = document.createElement('div');
      tip.className = 'tooltip';
      tip.setAttribute('role', 'tooltip');
      tip.dataset.view = 'tooltip';
      document.body.append(tip);
    }
    if (tooltip.opacity === 0) {
      tip.hidden = true;
      return;
    }
    const lines = [
      ...tooltip.title.map((text) => ({ text, cls: 'title' })),
      ...tooltip.body.flatMap((b) => b.lines).map((text) => ({ text, cls: 'line' })),
      ...tooltip.footer.map((text) => ({ text, cls: 'footer' })),
    ];
    tip.replaceChildren(
      ...lines.map(({ text, cls }) => {
        const div = document.createElement('div');
        div.className = cls;
        div.textContent = text;
        return div;
      }),
    );
    const rect = chart.canvas.getBoundingClientRect();
    tip.hidden = false;
    const left = Math.min(window.scrollX + rect.left + tooltip.caretX + 12, window.scrollX + document.documentElement.clientWidth - tip.offsetWidth - 4);
    tip.style.left = `${Math.max(0, left)}px`;
    tip.style.top = `${window.scrollY + rect.top + tooltip.caretY + 12}px`;
  };
}

const tooltipHandler = htmlTooltip();

export function applyThemeDefaults(theme: ThemeColours): void {
  Chart.defaults.plugins.tooltip.enabled = false;
  Chart.defaults.plugins.tooltip.external = tooltipHandler;
  Chart.defaults.color = theme.foreground;
  Chart.defaults.borderColor = theme.grid;
  Chart.defaults.font.family = theme.font;
  Chart.defaults.font.size = Math.max(10, theme.fontSize - 2);
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.responsive = true;
}

/** What a view reports about its last draw: the test reads these from the DOM. */
export interface DrawnFacts {
  [key: string]: number | string;
}

/** Records what was laid out on the figure element (`data-drawn-*`), for tests and a11y. */
export function recordDrawn(figure: HTMLElement, facts: DrawnFacts): void {
  for (const [key, value] of Object.entries(facts)) figure.dataset[`drawn${key[0]!.toUpperCase()}${key.slice(1)}`] = String(value);
}

/**
 * How many legend entries chart.js laid out outside the canvas (cut at the editor's side
 * width); the views record it and the browser test requires 0.
 */
export function legendEntriesCut(chart: Chart): number {
  const legend = chart.legend as unknown as { legendHitBoxes?: Array<{ left: number; top: number; width: number; height: number }> } | undefined;
  const boxes = legend?.legendHitBoxes ?? [];
  return boxes.filter((b) => b.left < 0 || b.top < 0 || b.left + b.width > chart.width + 0.5 || b.top + b.height > chart.height + 0.5).length;
}

/**
 * A chart bound to one canvas, created on first use and destroyed on theme changes
 * (chart.js reads colours at construction).
 */
export class ChartSlot<TType extends ChartType> {
  private chart: Chart<TType> | undefined;

  constructor(private readonly canvas: HTMLCanvasElement) {}

  /** Replace the chart's data and options in place (a full rebuild only when absent). */
  draw(config: ChartConfiguration<TType>): Chart<TType> {
    if (!this.chart) {
      this.chart = new Chart(this.canvas, config);
    } else {
      this.chart.data = config.data;
      if (config.options) this.chart.options = config.options;
      this.chart.update('none');
    }
    return this.chart;
  }

  destroy(): void {
    this.chart?.destroy();
    this.chart = undefined;
  }
}
