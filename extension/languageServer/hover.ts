/**
 * Hover: a key's docs (what it does, its default, the paper section), a value's docs,
 * and, for layer names and patterns, the layers of the model they match.
 */
import { MarkupKind, type Hover } from 'vscode-languageserver';
import { ConfigView, allowedValues, formatPath, locateOffset, schemaAt, validateRunConfig, type ConfigPath } from '../../protocol/configValidate';
import type { LayerType } from '../../protocol/config';
import type { InspectResult } from '../../protocol/results';
import { modelPathFrom } from '../../runner/src/config/semantic';
import { isAdaptableKind, isAttentionLayer, matchesPattern } from '../../runner/src/config/targets';
import type { CompletionEnv } from './completion';

function layerLine(layer: InspectResult['layers'][number]): string {
  return `- \`${layer.name}\`: ${layer.kind}${layer.dOut !== undefined ? `, d_out ${layer.dOut} x d_in ${layer.dIn ?? '?'}` : ''}, ${layer.params.toLocaleString('en-US')} parameters`;
}

function keyDocs(path: ConfigPath): string | undefined {
  const schema = schemaAt(path);
  if (!schema) return undefined;
  const values = allowedValues(schema);
  const lines = [`**${formatPath(path.filter((p) => typeof p === 'string'))}**${schema.type || values ? ` (${values ? values.map((v) => `\`${v}\``).join(' \\| ') : schema.type})` : ''}`, '', schema.markdownDescription ?? ''];
  return lines.join('\n');
}

async function model(env: CompletionEnv, withCut: boolean): Promise<InspectResult | undefined> {
  const view = new ConfigView(validateRunConfig(env.parsed).value);
  const path = view.raw(['model', 'path']);
  if (typeof path !== 'string' || (!path.startsWith('npm:') && !env.baseDir)) return undefined;
  const format = view.raw(['model', 'format']);
  const cutAt = view.raw(['model', 'cutAt']);
  try {
    return await env.inspect(modelPathFrom(path, env.baseDir ?? ''), {
      ...(typeof format === 'string' ? { format: format as 'auto' | 'hf' | 'tfjs-layers' } : {}),
      ...(withCut && typeof cutAt === 'string' ? { cutAt } : {}),
    });
  } catch {
    return undefined;
  }
}

export async function hoverAt(env: CompletionEnv, offset: number): Promise<Hover | null> {
  const at = locateOffset(env.parsed, offset);
  if (!at) return null;
  const range = env.parsed.lines.range(at.span[0], at.span[1]);
  const markdown = (value: string): Hover => ({ contents: { kind: MarkupKind.Markdown, value }, range });
  if (at.on === 'key') {
    const text = keyDocs(at.path);
    return text ? markdown(text) : null;
  }
  const keyPath = at.path.filter((p) => typeof p === 'string');
  const isItem = typeof at.path[at.path.length - 1] === 'number';
  const keySchema = schemaAt(keyPath);
  const schema = isItem ? keySchema?.items : keySchema;
  if (!schema) return null;
  const raw = env.parsed.text.slice(at.span[0], at.span[1]).replace(/^(["'])(.*)\1$/, '$2');
  const values = allowedValues(schema);
  if (values) {
    const index = values.map(String).indexOf(raw);
    const doc = index >= 0 ? schema.markdownEnumDescriptions?.[index] : undefined;
    return markdown(`\`${raw}\`${doc ? `: ${doc}` : ''}\n\n---\n\n${keyDocs(keyPath) ?? ''}`);
  }
  const hint = schema['x-completion'];
  if (hint === 'layer-pattern') {
    const m = await model(env, true);
    if (!m) return markdown(keyDocs(keyPath) ?? '');
    const view = new ConfigView(validateRunConfig(env.parsed).value);
    const types = view.list(['targets', 'layerTypes']).filter((t): t is LayerType => typeof t === 'string');
    const freeze = view.effective(['targets', 'freezeAttention']) === true;
    const matched = m.layers.filter((l) => matchesPattern(l.name, raw));
    const adapted = matched.filter((l) => isAdaptableKind(l.kind, types) && !(freeze && isAttentionLayer(l.name)));
    const lines = matched.slice(0, 20).map(layerLine);
    const more = matched.length > 20 ? [`- ... and ${matched.length - 20} more`] : [];
    return markdown(
      [`\`${raw}\` matches **${matched.length}** layer${matched.length === 1 ? '' : 's'} of ${m.name} (${adapted.length} of the types ${types.join('/')}${freeze ? ', outside attention' : ''}):`, '', ...lines, ...more].join('\n'),
    );
  }
  if (hint === 'layer-name') {
    const m = await model(env, false);
    const layer = m?.layers.find((l) => l.name === raw);
    return markdown(layer ? layerLine(layer).slice(2) : (keyDocs(keyPath) ?? ''));
  }
  if (keyPath.join('.') === 'model.path') {
    const m = await model(env, false);
    if (m) {
      const kinds = new Map<string, number>();
      for (const l of m.layers) kinds.set(l.kind, (kinds.get(l.kind) ?? 0) + 1);
      return markdown(
        `**${m.name}** (${m.architecture}, ${m.format}): ${m.params.toLocaleString('en-US')} parameters, ${m.layers.length} layers (${[...kinds].map(([k, n]) => `${n} ${k}`).join(', ')})\n\n---\n\n${keyDocs(keyPath) ?? ''}`,
      );
    }
  }
  return markdown(keyDocs(keyPath) ?? '');
}
