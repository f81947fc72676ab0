/**
 * Which layers a method adapts: the one target selection of config/targets.ts (name
 * patterns, layer types, freezeAttention: FA in paper 6.1 / table 4), applied to a
 * loaded model, so that a run adapts exactly the layers the editor showed. The
 * classification head is never a target: it trains whole when it trains.
 */
import type { ResolvedRunConfig } from '../../../protocol/config';
import { selectTargetLayers } from '../config/targets';
import type { AdaptableLayer } from '../models/layer';

/** The layers `targets` selects, in forward order. */
export function targetLayers(layers: AdaptableLayer[], targets: ResolvedRunConfig['targets']): AdaptableLayer[] {
  const candidates = layers.filter((l) => !l.head);
  const selected = selectTargetLayers({
    layers: candidates.map((l) => ({ name: l.name, kind: l.kind, shape: [], params: 0 })),
  }, targets);
  const names = new Set(selected.layers.map((l) => l.name));
  return candidates.filter((l) => names.has(l.name));
}
