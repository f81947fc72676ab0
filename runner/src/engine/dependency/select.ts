/**
 * Choosing rows and dependent columns together (appendix B). Each channel group is
 * scored as a whole: channel c's score is the sum of its members' scores at c (row c of
 * every row member, column c of every column member), Torch-Pruning's group reduction as
 * a sum. For Taylor importance that sum is the first-order loss change of removing the
 * whole group channel. The top channels of a group become rows of its row members and
 * columns of its column members; target layers in no group keep their own rows.
 *
 * Counts: `rowsForLayer` already halves the ratio under `dependency` (appendix B: 2.5%
 * rows for a 5% budget, the dependent columns making up the rest), applied to a group's
 * channel count. The `global` budget ranks group channels and ungrouped rows across the
 * model by score over their unit's mean, each costing all the parameters it tunes.
 */
import type { ResolvedRunConfig } from '../../../../protocol/config';
import type { AdaptableLayer } from '../../models/layer';
import { columnSize } from '../importance/axes';
import type { ImportanceScores } from '../importance/metric';
import { rowsForLayer, topRows } from '../importance/selection';
import type { TargetGroup } from './groups';

export interface DependentSelection {
  rows: number[];
  /** The score that chose each row: its group's, or the layer's own. */
  scores: number[];
  /** Input columns tuned with W_f,dep (the layer's input group's chosen channels). */
  columns?: number[];
}

interface Unit {
  score: Float32Array;
  /** Parameters tuned per chosen channel. */
  cost: number;
  count: number;
  chosen: number[];
}

function groupScore(g: TargetGroup, scores: ImportanceScores): Float32Array {
  const s = new Float32Array(g.channels);
  for (const l of g.rows) {
    const rows = scores.rows.get(l.name)!;
    // A fused layer's blocks (GPT-2's q|k|v) each add their row offset + c.
    for (const offset of g.rowOffsets.get(l.name)!) for (let c = 0; c < g.channels; c++) s[c] += rows[offset + c];
  }
  for (const l of g.columns) {
    const col = scores.columns.get(l.name);
    if (!col) throw new Error(`internal: no column scores for ${l.name}`);
    col.forEach((v, c) => { s[c] += v; });
  }
  return s;
}

function spend(units: Unit[], spruft: ResolvedRunConfig['spruft']): void {
  if (spruft.budget === 'per-layer') {
    for (const u of units) u.chosen = topRows(u.score, u.count);
    return;
  }
  let budget = units.reduce((s, u) => s + u.count * u.cost, 0);
  const candidates: Array<{ unit: Unit; channel: number; value: number }> = [];
  for (const u of units) {
    const mean = u.score.reduce((a, b) => a + b, 0) / u.score.length || 1;
    const best = topRows(u.score, 1)[0];
    u.chosen = [best];
    budget -= u.cost;
    u.score.forEach((v, c) => { if (c !== best) candidates.push({ unit: u, channel: c, value: v / mean }); });
  }
  candidates.sort((a, b) => b.value - a.value);
  for (const c of candidates) {
    if (c.unit.cost > budget) continue;
    c.unit.chosen.push(c.channel);
    budget -= c.unit.cost;
  }
  for (const u of units) u.chosen.sort((a, b) => a - b);
}

export function chooseWithDependencies(
  layers: AdaptableLayer[], scores: ImportanceScores, groups: TargetGroup[], spruft: ResolvedRunConfig['spruft'],
): Map<string, DependentSelection> {
  const groupUnits = groups.map((g) => ({
    group: g,
    unit: {
      score: groupScore(g, scores),
      cost: g.rows.reduce((s, l) => s + l.dIn * g.rowOffsets.get(l.name)!.length, 0) + g.columns.reduce((s, l) => s + columnSize(l), 0),
      count: rowsForLayer(g.channels, spruft),
      chosen: [],
    } as Unit,
  }));
  const inGroups = new Set(groups.flatMap((g) => g.rows.map((l) => l.name)));
  const ownUnits = layers.filter((l) => !inGroups.has(l.name)).map((l) => ({
    layer: l,
    unit: { score: scores.rows.get(l.name)!, cost: l.dIn, count: rowsForLayer(l.dOut, spruft), chosen: [] } as Unit,
  }));
  spend([...groupUnits.map((g) => g.unit), ...ownUnits.map((o) => o.unit)], spruft);
  const out = new Map<string, DependentSelection>();
  const pick = (u: Unit): { rows: number[]; scores: number[] } => ({ rows: u.chosen.slice(), scores: u.chosen.map((c) => u.score[c]) });
  // A layer's rows: its groups' chosen channels at each of its block offsets, in row order.
  const grouped = new Map<string, Array<{ row: number; score: number }>>();
  for (const { group, unit } of groupUnits) {
    for (const l of group.rows) {
      const list = grouped.get(l.name) ?? [];
      grouped.set(l.name, list);
      for (const offset of group.rowOffsets.get(l.name)!) for (const c of unit.chosen) list.push({ row: offset + c, score: unit.score[c] });
    }
  }
  for (const [name, list] of grouped) {
    list.sort((a, b) => a.row - b.row);
    out.set(name, { rows: list.map((x) => x.row), scores: list.map((x) => x.score) });
  }
  for (const { layer, unit } of ownUnits) out.set(layer.name, pick(unit));
  for (const { group, unit } of groupUnits) {
    for (const l of group.columns) {
      const sel = out.get(l.name);
      if (sel) sel.columns = unit.chosen.slice();
    }
  }
  return out;
}
