/**
 * A model's channel groups (appendix B), checked against its layers and narrowed to the
 * layers a run targets. A layer is a row member of at most one group (its output space)
 * and a column member of at most one (its input space). Groups whose target members
 * include no rows are dropped: columns are tuned only alongside the rows they depend on.
 */
import { SpruftError } from '../../errors';
import type { AdaptableLayer } from '../../models/layer';
import type { Model } from '../../models/model';
import { columnCount, hasColumns } from '../importance/axes';
import type { ChannelGroup } from '../../models/channels/types';

export interface TargetGroup {
  name: string;
  channels: number;
  /** Target layers whose rows are the group's channels. */
  rows: AdaptableLayer[];
  /** Target layers whose input columns are the group's channels. */
  columns: AdaptableLayer[];
}

/** Check a model's described groups against its layers (shapes, single membership). */
export function checkGroups(model: Model, groups: ChannelGroup[]): void {
  const byName = new Map(model.layers.map((l) => [l.name, l]));
  const rowOwner = new Map<string, string>();
  const columnOwner = new Map<string, string>();
  for (const g of groups) {
    for (const name of g.rows) {
      const l = byName.get(name);
      if (!l) throw new SpruftError('INTERNAL', `dependency group "${g.name}" names layer "${name}", which the model does not have`);
      if (l.dOut !== g.channels) throw new SpruftError('INTERNAL', `dependency group "${g.name}": ${name} has ${l.dOut} rows, the group ${g.channels} channels`);
      if (rowOwner.has(name)) throw new SpruftError('INTERNAL', `layer ${name} has its rows in two dependency groups ("${rowOwner.get(name)}", "${g.name}")`);
      rowOwner.set(name, g.name);
    }
    for (const name of g.columns) {
      const l = byName.get(name);
      if (!l) throw new SpruftError('INTERNAL', `dependency group "${g.name}" names layer "${name}", which the model does not have`);
      if (!hasColumns(l)) throw new SpruftError('INTERNAL', `dependency group "${g.name}": ${name} (${l.kind}) has no input columns`);
      if (columnCount(l) !== g.channels) throw new SpruftError('INTERNAL', `dependency group "${g.name}": ${name} has ${columnCount(l)} input columns, the group ${g.channels} channels`);
      if (columnOwner.has(name)) throw new SpruftError('INTERNAL', `layer ${name} has its columns in two dependency groups ("${columnOwner.get(name)}", "${g.name}")`);
      columnOwner.set(name, g.name);
    }
  }
}

/** The model's groups restricted to `targets` (the layers the run adapts). */
export function targetGroups(model: Model, targets: AdaptableLayer[]): TargetGroup[] {
  const described = model.dependencies();
  if (!described) {
    throw new SpruftError('UNSUPPORTED', `spruft.dependency: the ${model.architecture} model does not describe its parameter dependencies; set spruft.dependency: false`);
  }
  checkGroups(model, described);
  const targeted = new Map(targets.map((l) => [l.name, l]));
  const out: TargetGroup[] = [];
  for (const g of described) {
    const rows = g.rows.flatMap((n) => targeted.get(n) ?? []);
    const columns = g.columns.flatMap((n) => targeted.get(n) ?? []);
    if (rows.length === 0) continue;
    out.push({ name: g.name, channels: g.channels, rows, columns });
  }
  return out;
}

/** Every layer whose columns a group tunes (what the metric must score by column). */
export function columnLayersOf(groups: TargetGroup[]): AdaptableLayer[] {
  return groups.flatMap((g) => g.columns);
}
