/**
 * Channel groups of a layer graph, found by tracing which tensors share channels
 * (appendix B: "searching for dependencies by tracing the computation graph"), as
 * Torch-Pruning's dependency graph does for element-wise and channel-wise operations:
 *
 *   mix          (conv, dense) reads the columns of its input's space, starts a new one
 *                whose rows are its output channels
 *   channelwise  (batch norm, depthwise conv) rows on its input's space, same channels out
 *   pass         (activations, padding, pooling, dropout, global pooling) same space
 *   merge        (add) its inputs' spaces become one: a residual connection ties them
 *   opaque       (flatten, reshape, concatenate) channels are not followed through it:
 *                a fresh space with no rows, so nothing after it depends on what is before
 */
import { SpruftError } from '../../errors';
import type { ChannelGroup } from './types';

export type ChannelOp =
  | { kind: 'input' }
  | { kind: 'mix'; layer: string; channels: number }
  | { kind: 'channelwise'; layer: string }
  | { kind: 'pass' }
  | { kind: 'merge' }
  | { kind: 'opaque' };

export interface ChannelNode {
  name: string;
  inputs: string[];
  op: ChannelOp;
}

interface Space {
  parent: number;
  /** Known channel count, or undefined for a space nothing produces (the input). */
  channels?: number;
  rows: string[];
  columns: string[];
  /** Whether an add merged it with another space. */
  merged: boolean;
}

export function traceChannelGroups(nodes: ChannelNode[]): ChannelGroup[] {
  const spaces: Space[] = [];
  const fresh = (channels?: number): number => {
    spaces.push({ parent: spaces.length, channels, rows: [], columns: [], merged: false });
    return spaces.length - 1;
  };
  const find = (i: number): number => {
    while (spaces[i].parent !== i) {
      spaces[i].parent = spaces[spaces[i].parent].parent;
      i = spaces[i].parent;
    }
    return i;
  };
  const union = (a: number, b: number, where: string): number => {
    const ra = find(a);
    const rb = find(b);
    if (ra === rb) return ra;
    const sa = spaces[ra];
    const sb = spaces[rb];
    if (sa.channels !== undefined && sb.channels !== undefined && sa.channels !== sb.channels) {
      throw new SpruftError('MODEL_INVALID', `dependency tracing: "${where}" adds tensors of ${sa.channels} and ${sb.channels} channels`);
    }
    sb.parent = ra;
    sa.channels ??= sb.channels;
    sa.rows.push(...sb.rows);
    sa.columns.push(...sb.columns);
    sa.merged = true;
    return ra;
  };
  const spaceOf = new Map<string, number>();
  const inputSpace = (node: ChannelNode, i = 0): number => {
    const s = spaceOf.get(node.inputs[i]);
    if (s === undefined) throw new SpruftError('MODEL_INVALID', `dependency tracing: "${node.name}" reads "${node.inputs[i]}", which is not computed before it`);
    return find(s);
  };
  for (const node of nodes) {
    const op = node.op;
    switch (op.kind) {
      case 'input':
        spaceOf.set(node.name, fresh());
        break;
      case 'mix': {
        spaces[inputSpace(node)].columns.push(op.layer);
        const out = fresh(op.channels);
        spaces[out].rows.push(op.layer);
        spaceOf.set(node.name, out);
        break;
      }
      case 'channelwise': {
        const s = inputSpace(node);
        spaces[s].rows.push(op.layer);
        spaceOf.set(node.name, s);
        break;
      }
      case 'pass':
        spaceOf.set(node.name, inputSpace(node));
        break;
      case 'merge': {
        let s = inputSpace(node);
        for (let i = 1; i < node.inputs.length; i++) s = union(s, inputSpace(node, i), node.name);
        spaceOf.set(node.name, s);
        break;
      }
      case 'opaque':
        spaceOf.set(node.name, fresh());
        break;
    }
  }
  // Members and groups in forward order, whatever order the merges happened in.
  const order = new Map<string, number>();
  nodes.forEach((n, i) => { if (n.op.kind === 'mix' || n.op.kind === 'channelwise') order.set(n.op.layer, i); });
  const byOrder = (a: string, b: string) => order.get(a)! - order.get(b)!;
  const groups: ChannelGroup[] = [];
  spaces.forEach((s, i) => {
    // A layer alone (its outputs read by nothing it could be tuned with) is no group.
    if (find(i) !== i || s.channels === undefined || s.rows.length + s.columns.length < 2 || s.rows.length === 0) return;
    const rows = s.rows.slice().sort(byOrder);
    const name = s.merged ? `residual ${rows[0]} .. ${rows[rows.length - 1]}` : `${rows[0]} outputs`;
    groups.push({ name, channels: s.channels, rows, columns: s.columns.slice().sort(byOrder) });
  });
  return groups.sort((a, b) => byOrder(a.rows[0], b.rows[0]));
}
