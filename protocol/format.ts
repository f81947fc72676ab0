/**
 * Numbers and progress as a person reads them, the same in the dashboard, the progress
 * notification and the status bar (pure; no vscode, Node or DOM).
 */
import type { ProgressEvent } from './results';

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(bytes: number): string {
  const sign = bytes < 0 ? '-' : '';
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${sign}${value.toFixed(digits)} ${BYTE_UNITS[unit]}`;
}

/** Milliseconds as `1:05:07`, `4:09`, `12 s`, `2.4 s` or `340 ms`: the one duration formatter. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  // Below 10 s a tenth of a second is still worth reading (a scoring pass, a prediction).
  if (ms < 9950) return `${Number((ms / 1000).toFixed(1))} s`;
  const totalSeconds = Math.round(ms / 1000);
  if (totalSeconds < 60) return `${totalSeconds} s`;
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  const mm = hours > 0 ? String(minutes).padStart(2, '0') : String(minutes);
  return `${hours > 0 ? `${hours}:` : ''}${mm}:${String(seconds).padStart(2, '0')}`;
}

export function formatPercent(fraction: number, digits = 1): string {
  return `${(fraction * 100).toFixed(digits)}%`;
}

/** Parameter counts as `1.2M`, `35.4k`, `812`. */
export function formatCount(n: number): string {
  const abs = Math.abs(n);
  if (abs >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (abs >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (abs >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n));
}

/** Scores span many orders of magnitude (Taylor scores): 3 significant digits. */
export function formatScore(score: number): string {
  if (score === 0) return '0';
  const abs = Math.abs(score);
  return abs >= 1e4 || abs < 1e-3 ? score.toExponential(2) : score.toPrecision(3);
}

/**
 * Layer names share long prefixes (`model.layers.12.mlp.up_proj`); the axis shows the
 * part after the prefix all of them share (two segments at least), the tooltip the full name.
 */
export function shortLayerNames(names: string[]): string[] {
  if (names.length < 2) return names.slice();
  const parts = names.map((n) => n.split('.'));
  let common = 0;
  const shortest = Math.min(...parts.map((p) => p.length));
  // Keep two segments at least: `layers.0` says more than `0`.
  while (common < shortest - 2 && parts.every((p) => p[common] === parts[0]![common])) common++;
  return parts.map((p) => p.slice(common).join('.'));
}

/**
 * Learning rates, losses and speeds: the one formatting every view uses (a learning rate
 * of 1e-4 printed with three decimals reads 0, which is what the issue saw).
 */
export function formatRate(rate: number): string {
  if (!Number.isFinite(rate)) return '–';
  if (rate === 0) return '0';
  const abs = Math.abs(rate);
  return abs < 1e-2 || abs >= 1e4 ? rate.toExponential(1) : String(Number(rate.toPrecision(3)));
}

/** Losses: four decimals below 100 (the curves move in the third), else 3 significant digits. */
export function formatLoss(loss: number): string {
  if (!Number.isFinite(loss)) return String(loss);
  return Math.abs(loss) < 100 ? loss.toFixed(4) : loss.toPrecision(3);
}

/** Samples (or tokens) a second. */
export function formatSpeed(perSecond: number, unit = 'samples/s'): string {
  return `${perSecond >= 1000 ? Math.round(perSecond).toLocaleString('en') : perSecond.toFixed(1)} ${unit}`;
}

/** One line for a progress event: `spruft: training · step 12/100 · loss 0.5321 · 180.2 samples/s · ETA 0:34`. */
export function describeProgress(p: ProgressEvent, options: { elapsed?: boolean; eta?: boolean; lr?: boolean } = {}): string {
  const parts = [`${p.method}: ${p.phase}`];
  if (p.totalSteps > 0) parts.push(`step ${p.step}/${p.totalSteps}`);
  if (p.totalEpochs > 1) parts.push(`epoch ${p.epoch}/${p.totalEpochs}`);
  if (p.loss !== undefined) parts.push(`loss ${formatLoss(p.loss)}`);
  if (p.lr !== undefined && options.lr) parts.push(`lr ${formatRate(p.lr)}`);
  if (p.samplesPerSec !== undefined) parts.push(formatSpeed(p.samplesPerSec));
  if (p.etaMs !== undefined && p.phase !== 'done' && options.eta !== false) parts.push(`ETA ${formatDuration(p.etaMs)}`);
  if (options.elapsed !== false) parts.push(`elapsed ${formatDuration(p.elapsedMs)}`);
  return parts.join(' · ');
}

/** Sizes `parseByteSize` reads: transformers' units (KB = 10^3 ... and KiB = 2^10 ...). */
const SIZE_UNITS: Record<string, number> = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KIB: 2 ** 10, MIB: 2 ** 20, GIB: 2 ** 30, TIB: 2 ** 40 };

/**
 * A size as transformers' `max_shard_size` takes it: bytes as an integer, or a string
 * such as "5GB" (5 * 10^9, transformers' default), "200MB", "2GiB" (2 * 2^30). Undefined
 * when the text is no such size.
 */
export function parseByteSize(value: number | string): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value > 0 ? value : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$/i.exec(value);
  if (!m) return undefined;
  const bytes = Math.floor(Number(m[1]) * SIZE_UNITS[(m[2] ?? 'B').toUpperCase()]);
  return bytes > 0 ? bytes : undefined;
}
