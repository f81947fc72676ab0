/**
 * Which layers a method adapts: name patterns (`*` = any characters), layer types, and
 * freezeAttention (FA, paper 6.1 / table 4: attention blocks stay frozen, MLP layers
 * train). The classification head is never a target: it trains whole when it trains.
 */
import type { LayerType, ResolvedRunConfig } from '../../../protocol/config';
import type { AdaptableLayer } from '../models/layer';

export function patternToRegExp(pattern: string): RegExp {
  const escaped = pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${escaped}$`);
}

export function matchesAny(name: string, patterns: string[]): boolean {
  return patterns.some((p) => patternToRegExp(p).test(name));
}

export function layerTypeOf(layer: AdaptableLayer): LayerType {
  if (layer.kind === 'linear') return 'linear';
  if (layer.kind === 'conv2d' || layer.kind === 'depthwise-conv2d') return 'conv2d';
  return 'norm';
}

/** The layers `targets` selects, in forward order. */
export function targetLayers(layers: AdaptableLayer[], targets: ResolvedRunConfig['targets']): AdaptableLayer[] {
  return layers.filter((l) =>
    !l.head
    && targets.layerTypes.includes(layerTypeOf(l))
    && matchesAny(l.name, targets.include)
    && !matchesAny(l.name, targets.exclude)
    && !(targets.freezeAttention && l.attention));
}
