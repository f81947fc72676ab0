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
  /** Per row member, the row offsets of its blocks (channel c is row offset + c); [0] for a whole layer. */
  rowOffsets: Map<string, number[]>;
  /** Target layers whose input columns are the group's channels. */
  columns: AdaptableLayer[];
}

/** The row offsets of a group's row member: its blocks, or the whole layer. */
export function rowOffsetsOf(g: ChannelGroup, layer: string): number[] {
  return g.rowBlocks?.[layer] ?? [0];
}

/** Check a model's described groups against its layers (shapes, single membership of each row and column). */
export function checkGroups(model: Model, groups: ChannelGroup[]): void {
  const byName = new Map(model.layers.map((l) => [l.name, l]));
  const rowOwner = new Map<string, Array<string | undefined>>();
  const columnOwner = new Map<string, string>();
  for (const g of groups) {
    for (const name of Object.keys(g.rowBlocks ?? {})) {
      if (!g.rows.includes(name)) throw new SpruftError('INTERNAL', `dependency group "${g.name}" has row blocks for ${name}, which is not among its rows`);
    }
    for (const name of g.rows) {
      const l = byName.get(name);
      if (!l) throw new SpruftError('INTERNAL', `dependency group "${g.name}" names layer "${name}", which the model does not have`);
      const offsets = rowOffsetsOf(g, name);
      if (!g.rowBlocks?.[name] && l.dOut !== g.channels) throw new SpruftError('INTERNAL', `dependency group "${g.name}": ${name} has ${l.dOut} rows, the group ${g.channels} channels`);
      const owners = rowOwner.get(name) ?? new Array<string | undefined>(l.dOut);
      rowOwner.set(name, owners);
      for (const offset of offsets) {
        if (!Number.isInteger(offset) || offset < 0 || offset + g.channels > l.dOut) {
          throw new SpruftError('INTERNAL', `dependency group "${g.name}": rows ${offset}..${offset + g.channels - 1} of ${name} lie outside its ${l.dOut} rows`);
        }
        for (let r = offset; r < offset + g.channels; r++) {
          if (owners[r] !== undefined) throw new SpruftError('INTERNAL', `layer ${name} has its row ${r} in two dependency groups ("${owners[r]}", "${g.name}")`);
          owners[r] = g.name;
        }
      }
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
    out.push({ name: g.name, channels: g.channels, rows, columns, rowOffsets: new Map(rows.map((l) => [l.name, rowOffsetsOf(g, l.name)])) });
  }
  return out;
}

/** Every layer whose columns a group tunes (what the metric must score by column). */
export function columnLayersOf(groups: TargetGroup[]): AdaptableLayer[] {
  return groups.flatMap((g) => g.columns);
}
