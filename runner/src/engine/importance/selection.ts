/**
 * Row selection from importance scores (paper 4.1: the top-r rows of each layer by their
 * importance, or one parameter budget spent across layers), beside the metrics that score them.
 */
import type { ResolvedRunConfig } from '../../../../protocol/config';
import type { AdaptableLayer } from '../../models/layer';

/** Rows to tune in a layer with d_out rows (paper: r per layer, or a ratio of them). */
export function rowsForLayer(dOut: number, spruft: ResolvedRunConfig['spruft']): number {
  const ratio = spruft.dependency && spruft.ratio !== undefined ? spruft.ratio / 2 : spruft.ratio;
  const r = spruft.rank !== undefined ? spruft.rank : Math.round((ratio ?? 0) * dOut);
  return Math.max(1, Math.min(dOut, r));
}

/** Top-k rows of a score vector, returned ascending (ties: lower index first). */
export function topRows(scores: Float32Array, k: number): number[] {
  const order = Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a] || a - b);
  return order.slice(0, k).sort((a, b) => a - b);
}

/**
 * Choose rows from scores: `per-layer` takes each layer's top rows; `global` spends
 * the same parameter budget across layers, ranking rows by their score relative to
 * their layer's mean (so that layers of different scales compete fairly), at least
 * one row per layer.
 */
export function chooseRows(
  layers: AdaptableLayer[], scores: Map<string, Float32Array>, spruft: ResolvedRunConfig['spruft'],
): Map<string, number[]> {
  const chosen = new Map<string, number[]>();
  if (spruft.budget === 'per-layer') {
    for (const l of layers) chosen.set(l.name, topRows(scores.get(l.name)!, rowsForLayer(l.dOut, spruft)));
    return chosen;
  }
  let budget = layers.reduce((s, l) => s + rowsForLayer(l.dOut, spruft) * l.dIn, 0);
  const candidates: Array<{ layer: AdaptableLayer; row: number; value: number }> = [];
  for (const l of layers) {
    const s = scores.get(l.name)!;
    const mean = s.reduce((a, b) => a + b, 0) / s.length || 1;
    const best = topRows(s, 1)[0];
    chosen.set(l.name, [best]);
    budget -= l.dIn;
    s.forEach((v, row) => { if (row !== best) candidates.push({ layer: l, row, value: v / mean }); });
  }
  candidates.sort((a, b) => b.value - a.value);
  for (const c of candidates) {
    if (c.layer.dIn > budget) continue;
    chosen.get(c.layer.name)!.push(c.row);
    budget -= c.layer.dIn;
  }
  for (const rows of chosen.values()) rows.sort((a, b) => a - b);
  return chosen;
}
