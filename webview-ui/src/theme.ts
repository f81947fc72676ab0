/**
 * Chart colours from the VS Code theme: the webview receives the theme as CSS variables
 * (`--vscode-*`) on <html> and a `vscode-light|dark|high-contrast` class on <body>, which
 * changes when the user switches theme (main.ts redraws then).
 */
import type { MethodName } from '../../protocol/results';

export interface ThemeColours {
  foreground: string;
  muted: string;
  grid: string;
  background: string;
  font: string;
  fontSize: number;
  methods: Record<MethodName, string>;
  /** Memory components, in stacking order (see views/memoryBars.ts). */
  weights: string;
  params: string;
  grads: string;
  optimizer: string;
  cache: string;
  dropout: string;
  other: string;
  /** Heatmap: cell colour at the lowest and highest score of a layer. */
  heatLow: string;
  heatHigh: string;
}

function cssVar(style: CSSStyleDeclaration, name: string, fallback: string): string {
  const value = style.getPropertyValue(name).trim();
  return value || fallback;
}

export function readTheme(): ThemeColours {
  const style = getComputedStyle(document.documentElement);
  const dark = !document.body.classList.contains('vscode-light');
  const v = (name: string, fallback: string) => cssVar(style, `--vscode-${name}`, fallback);
  const blue = v('charts-blue', dark ? '#3794ff' : '#1a85ff');
  const red = v('charts-red', dark ? '#f14c4c' : '#e51400');
  const yellow = v('charts-yellow', dark ? '#cca700' : '#bf8803');
  const orange = v('charts-orange', dark ? '#d18616' : '#d18616');
  const green = v('charts-green', dark ? '#89d185' : '#388a34');
  const purple = v('charts-purple', dark ? '#b180d7' : '#652d90');
  const foreground = v('charts-foreground', v('foreground', dark ? '#cccccc' : '#616161'));
  return {
    foreground,
    muted: v('descriptionForeground', dark ? '#9d9d9d' : '#717171'),
    grid: v('charts-lines', dark ? 'rgba(204,204,204,0.25)' : 'rgba(97,97,97,0.25)'),
    background: v('editor-background', dark ? '#1e1e1e' : '#ffffff'),
    font: v('font-family', 'system-ui, sans-serif'),
    fontSize: Number.parseFloat(v('font-size', '13')) || 13,
    methods: { spruft: blue, lora: orange, full: purple, head: green },
    weights: v('charts-lines', dark ? '#6b6b6b' : '#a0a0a0'),
    params: blue,
    grads: orange,
    optimizer: purple,
    cache: yellow,
    dropout: red,
    other: green,
    heatLow: withAlpha(blue, 0.25),
    heatHigh: blue,
  };
}

/** `#rrggbb`, `#rgb` or `rgb()/rgba()` with a new alpha; anything else unchanged. */
export function withAlpha(colour: string, alpha: number): string {
  const hex = /^#([0-9a-f]{3}|[0-9a-f]{6}|[0-9a-f]{8})$/i.exec(colour.trim());
  if (hex) {
    let h = hex[1]!;
    if (h.length === 3) h = [...h].map((c) => c + c).join('');
    const [r, g, b] = [0, 2, 4].map((i) => Number.parseInt(h.slice(i, i + 2), 16));
    return `rgba(${r}, ${g}, ${b}, ${alpha})`;
  }
  const rgb = /^rgba?\(([^,]+),([^,]+),([^,)]+)/i.exec(colour.trim());
  if (rgb) return `rgba(${rgb[1]!.trim()}, ${rgb[2]!.trim()}, ${rgb[3]!.trim()}, ${alpha})`;
  return colour;
}
