/**
 * Which layers a run adapts: `targets` (include/exclude patterns, layer types,
 * freezeAttention) applied to a model's layer list. One definition, used by the config
 * checks, the language server's completion and hover, and the engine, so that what the
 * editor says matches what a run does.
 */
import type { LayerType, ResolvedRunConfig } from '../../../protocol/config';
import type { InspectResult, LayerKind } from '../../../protocol/results';

export type InspectedLayer = InspectResult['layers'][number];

/** The layer kinds each `targets.layerTypes` entry stands for (rows = output features/channels). */
export const LAYER_TYPE_KINDS: { readonly [T in LayerType]: readonly LayerKind[] } = {
  linear: ['linear'],
  conv2d: ['conv2d', 'depthwise-conv2d'],
  norm: ['layernorm', 'rmsnorm', 'batchnorm'],
};

function escapeRegExp(text: string): string {
  return text.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}

/** `*` matches any characters, dots included; the pattern must match the whole name. */
export function patternRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.split('*').map(escapeRegExp).join('.*')}$`);
}

export function matchesPattern(name: string, pattern: string): boolean {
  return patternRegExp(pattern).test(name);
}

/**
 * Attention layers in Hugging Face naming: a name segment `self_attn`, `attn`,
 * `attention`, `cross_attn` or `crossattention` (Llama's `self_attn.q_proj`, ViT's
 * `attention.attention.query` and `attention.output.dense`, BERT's `attention.self.key`).
 * The MLP after an attention block is not attention (paper table 4: "not including MLP
 * layers followed by attention blocks").
 */
export function isAttentionLayer(name: string): boolean {
  return name.split('.').some((segment) => /^(self_?attn|attn|attention|cross_?attn|crossattention|self_?attention)$/i.test(segment));
}

export function isAdaptableKind(kind: InspectedLayer['kind'], layerTypes: readonly LayerType[]): boolean {
  return layerTypes.some((t) => (LAYER_TYPE_KINDS[t] as readonly string[]).includes(kind));
}

export interface PatternMatch {
  pattern: string;
  /** Every layer whose name matches, whatever its kind. */
  matched: InspectedLayer[];
  /** Those of a kind in `layerTypes` (and outside attention with freezeAttention). */
  adaptable: InspectedLayer[];
}

export interface TargetSelection {
  /** The layers that get adapters, in model order. */
  layers: InspectedLayer[];
  include: PatternMatch[];
  exclude: PatternMatch[];
}

export function selectTargetLayers(model: Pick<InspectResult, 'layers'>, targets: ResolvedRunConfig['targets']): TargetSelection {
  // The head is never a target (it trains whole, or not at all).
  const eligible = (layer: InspectedLayer): boolean =>
    !layer.head && isAdaptableKind(layer.kind, targets.layerTypes) && !(targets.freezeAttention && isAttentionLayer(layer.name));
  const match = (pattern: string): PatternMatch => {
    const re = patternRegExp(pattern);
    const matched = model.layers.filter((l) => re.test(l.name));
    return { pattern, matched, adaptable: matched.filter(eligible) };
  };
  const include = targets.include.map(match);
  const exclude = targets.exclude.map(match);
  const excluded = new Set(exclude.flatMap((m) => m.matched.map((l) => l.name)));
  const included = new Set(include.flatMap((m) => m.adaptable.map((l) => l.name)));
  return { layers: model.layers.filter((l) => included.has(l.name) && !excluded.has(l.name)), include, exclude };
}

/**
 * Patterns worth offering for a model: each name with its block numbers as `*`
 * (`model.layers.*.mlp.up_proj`, Keras' `block_*_project`), `*.<segment>.*` for the named
 * parts of dotted names (`*.mlp.*`), and `*.<last>` / `*_<last>` for the kind of layer
 * (`*.q_proj`, `*_depthwise`), with how many layers of the adaptable types each matches.
 */
export function suggestPatterns(model: Pick<InspectResult, 'layers'>, layerTypes: readonly LayerType[]): Array<{ pattern: string; count: number }> {
  const adaptable = model.layers.filter((l) => isAdaptableKind(l.kind, layerTypes));
  const candidates = new Set<string>();
  for (const { name } of adaptable) {
    const numbered = name.replace(/(^|[._])\d+(?=[._]|$)/g, '$1*');
    if (numbered !== name) candidates.add(numbered);
    const segments = name.split('.');
    segments.slice(1, -1).forEach((segment) => {
      if (!/^\d+$/.test(segment)) candidates.add(`*.${segment}.*`);
    });
    const last = segments[segments.length - 1]!;
    if (segments.length > 1 && !/^\d+$/.test(last)) candidates.add(`*.${last}`);
    const tail = /_([^._]+)$/.exec(last);
    if (segments.length === 1 && tail && !/^\d+$/.test(tail[1]!)) candidates.add(`*_${tail[1]}`);
  }
  const out: Array<{ pattern: string; count: number }> = [];
  for (const pattern of candidates) {
    const re = patternRegExp(pattern);
    const count = adaptable.filter((l) => re.test(l.name)).length;
    if (count > 1) out.push({ pattern, count });
  }
  return out.sort((a, b) => a.pattern.localeCompare(b.pattern));
}
