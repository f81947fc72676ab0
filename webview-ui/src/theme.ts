/**
 * Chart colours from the VS Code theme: the webview receives the theme as CSS variables
 * (`--vscode-*`) on <html> and a `vscode-light|dark|high-contrast` class on <body>, which
 * changes when the user switches theme (main.ts redraws then).
 */
import { METHODS } from '../../protocol/methods';
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

export type ThemeKind = 'light' | 'dark' | 'high-contrast' | 'high-contrast-light';

/**
 * Memory components: seven colours that must read apart from each other in one stacked
 * bar, on the editor's background, in light and dark themes alike. VS Code's seven
 * `charts-*` colours do not (yellow and orange are close in the dark theme, and the
 * grey `charts-lines` is near the foreground), so the bars use a palette of their own,
 * after Okabe and Ito's colour-blind-safe set, each checked by theme.test.ts (pairwise
 * CIE76 distance, contrast with the background).
 */
export const COMPONENT_PALETTES: Record<'light' | 'dark', Record<MemoryComponent, string>> = {
  light: {
    weights: '#8a8a8a',
    params: '#0072b2',
    grads: '#e69f00',
    optimizer: '#7e3c99',
    cache: '#009e73',
    dropout: '#c4001f',
    other: '#c979b0',
  },
  dark: {
    weights: '#8c8c8c',
    params: '#4fa8ee',
    grads: '#e69f00',
    optimizer: '#b88ee0',
    cache: '#2fbf8a',
    dropout: '#f2545b',
    other: '#f0e442',
  },
};

export type MemoryComponent = 'weights' | 'params' | 'grads' | 'optimizer' | 'cache' | 'dropout' | 'other';

/** Theme colours from a lookup of `--vscode-*` variables (pure, so node tests can call it). */
export function themeColours(lookup: (name: string) => string | undefined, kind: ThemeKind): ThemeColours {
  const dark = kind === 'dark' || kind === 'high-contrast';
  const v = (name: string, fallback: string) => lookup(`--vscode-${name}`)?.trim() || fallback;
  const blue = v('charts-blue', dark ? '#3794ff' : '#1a85ff');
  const orange = v('charts-orange', '#d18616');
  const green = v('charts-green', dark ? '#89d185' : '#388a34');
  const purple = v('charts-purple', dark ? '#b180d7' : '#652d90');
  const red = v('charts-red', dark ? '#f14c4c' : '#e51400');
  const yellow = v('charts-yellow', dark ? '#cca700' : '#bf8803');
  const foreground = v('charts-foreground', v('foreground', dark ? '#cccccc' : '#616161'));
  const palette = COMPONENT_PALETTES[dark ? 'dark' : 'light'];
  return {
    foreground,
    muted: v('descriptionForeground', dark ? '#9d9d9d' : '#717171'),
    grid: v('charts-lines', dark ? 'rgba(204,204,204,0.25)' : 'rgba(97,97,97,0.25)'),
    background: v('editor-background', dark ? '#1e1e1e' : '#ffffff'),
    font: v('font-family', 'system-ui, sans-serif'),
    fontSize: Number.parseFloat(v('font-size', '13')) || 13,
    methods: methodColours([blue, orange, purple, green, red, yellow, foreground]),
    ...palette,
    heatLow: withAlpha(blue, 0.25),
    heatHigh: blue,
  };
}

/** Each method (protocol/methods.ts, in its order) its chart colour: spruft blue, lora orange, full purple, head green, then the rest. */
function methodColours(palette: string[]): Record<MethodName, string> {
  return Object.fromEntries(METHODS.map((m, i) => [m, palette[i % palette.length]])) as Record<MethodName, string>;
}

function themeKindOf(body: HTMLElement): ThemeKind {
  if (body.classList.contains('vscode-high-contrast-light')) return 'high-contrast-light';
  if (body.classList.contains('vscode-high-contrast')) return 'high-contrast';
  return body.classList.contains('vscode-light') ? 'light' : 'dark';
}

export function readTheme(): ThemeColours {
  const style = getComputedStyle(document.documentElement);
  return themeColours((name) => style.getPropertyValue(name), themeKindOf(document.body));
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
