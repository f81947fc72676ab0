/**
 * Completion in run-config files: keys of the section under the cursor, enum values,
 * booleans, paths, and the layer names and patterns of the model that `model.path` names
 * (read from its header, without weights).
 *
 * While a YAML file is being typed its syntax tree is often incomplete, so where the
 * cursor is (which section, key or value) is read from the text: the indentation of the
 * lines above names the sections. JSON files are complete enough to use the tree.
 */
import { readdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  CompletionItemKind,
  InsertTextFormat,
  MarkupKind,
  type CompletionItem,
  type Range,
} from 'vscode-languageserver';
import { LineIndex } from '../../protocol/lineIndex';
import {
  ConfigView,
  allowedValues,
  findEntry,
  locateOffset,
  schemaAt,
  validateRunConfig,
  type ConfigPath,
  type ParsedRunConfig,
  type SchemaNode,
} from '../../protocol/configValidate';
import type { InspectResult } from '../../protocol/results';
import type { LayerType } from '../../protocol/config';
import { modelPathFrom, type ModelInspector } from '../../runner/src/config/semantic';
import { isAdaptableKind, suggestPatterns } from '../../runner/src/config/targets';

export interface CompletionContext {
  kind: 'key' | 'value';
  /** The section whose keys are offered (key), or the key whose value is (value). */
  path: ConfigPath;
  /** What is typed so far. */
  prefix: string;
  /** Offsets that a chosen item replaces. */
  replace: [number, number];
  /** Columns of indentation of the key being typed (nested keys go 2 further). */
  indent: number;
  /** The value is an item of a list (`- x`, or inside `[...]`). */
  listItem: boolean;
  /** The quote the typed value opened, if any. */
  quote?: '"' | "'";
  /** Keys already set in the section (not offered again). */
  siblings: string[];
}

const KEY = String.raw`([A-Za-z_$][\w$.-]*|"[^"]*"|'[^']*')`;
const KEY_LINE = new RegExp(String.raw`^(\s*)(?:-\s+)?${KEY}\s*:(?:\s|$)`);

function unquote(key: string): string {
  return /^(["']).*\1$/.test(key) ? key.slice(1, -1) : key;
}

function isBlank(line: string): boolean {
  return /^\s*(#.*)?$/.test(line);
}

function indentOf(line: string): number {
  return /^\s*/.exec(line)![0].length;
}

/** The sections enclosing a line indented by `indent`, read from the lines above. */
function sectionPath(lines: LineIndex, line: number, indent: number): ConfigPath {
  const path: string[] = [];
  let need = indent;
  for (let l = line - 1; l >= 0 && need > 0; l--) {
    const text = lines.lineText(l);
    if (isBlank(text)) continue;
    const ind = indentOf(text);
    if (ind >= need) continue;
    const key = KEY_LINE.exec(text);
    if (!key) break;
    path.unshift(unquote(key[2]!));
    need = ind;
  }
  return path;
}

/** Keys set at `indent` in the section that holds `line`. */
function siblingKeys(lines: LineIndex, line: number, indent: number): string[] {
  const keys: string[] = [];
  const scan = (from: number, step: number) => {
    for (let l = from; l >= 0 && l < lines.lineCount; l += step) {
      const text = lines.lineText(l);
      if (isBlank(text)) continue;
      const ind = indentOf(text);
      if (ind < indent) break;
      const key = ind === indent ? KEY_LINE.exec(text) : null;
      if (key) keys.push(unquote(key[2]!));
    }
  };
  scan(line - 1, -1);
  scan(line + 1, 1);
  return keys;
}

function inComment(before: string): boolean {
  let quote: string | undefined;
  for (let i = 0; i < before.length; i++) {
    const c = before[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(before[i - 1]!))) return true;
  }
  return false;
}

function valueContext(path: ConfigPath, rest: string, restStart: number, after: string, indent: number, listItem: boolean, siblings: string[]): CompletionContext {
  let itemStart = restStart;
  let item = rest;
  let inList = listItem;
  if (rest.startsWith('[')) {
    inList = true;
    const cut = Math.max(rest.lastIndexOf(','), rest.lastIndexOf('['));
    const lead = /^\s*/.exec(rest.slice(cut + 1))![0].length;
    itemStart = restStart + cut + 1 + lead;
    item = rest.slice(cut + 1 + lead);
  }
  const quote = item.startsWith('"') ? '"' : item.startsWith("'") ? "'" : undefined;
  const tail = /^[^\s,\]#]*/.exec(after)![0];
  return {
    kind: 'value',
    path,
    prefix: quote ? item.slice(1) : item,
    replace: [itemStart, restStart + rest.length + tail.length],
    indent,
    listItem: inList,
    ...(quote ? { quote } : {}),
    siblings,
  };
}

/** Where the cursor is in a YAML run config, from the text around it. */
export function yamlCompletionContext(text: string, offset: number): CompletionContext | undefined {
  const lines = new LineIndex(text);
  const pos = lines.positionAt(offset);
  const line = lines.lineText(pos.line);
  const before = line.slice(0, pos.character);
  const after = line.slice(pos.character);
  const lineStart = lines.lineStart(pos.line);
  if (inComment(before)) return undefined;

  const keyValue = new RegExp(String.raw`^(\s*)(-\s+)?${KEY}\s*:(\s+)(.*)$`).exec(before);
  if (keyValue) {
    const indent = keyValue[1]!.length + (keyValue[2]?.length ?? 0);
    const path = [...sectionPath(lines, pos.line, indent), unquote(keyValue[3]!)];
    const rest = keyValue[5]!;
    return valueContext(path, rest, lineStart + before.length - rest.length, after, indent, false, []);
  }
  const item = /^(\s*)-(\s+)(.*)$/.exec(before);
  if (item) {
    // `- x` belongs to the nearest key above that is less indented, or equally indented
    // with nothing after its colon (YAML lets a list sit at its key's indentation).
    const indent = item[1]!.length;
    for (let l = pos.line - 1; l >= 0; l--) {
      const text2 = lines.lineText(l);
      if (isBlank(text2) || /^\s*-\s/.test(text2)) continue;
      const ind = indentOf(text2);
      const key = KEY_LINE.exec(text2);
      if (!key || ind > indent) return undefined;
      const path = [...sectionPath(lines, l, ind), unquote(key[2]!)];
      const rest = item[3]!;
      return valueContext(path, rest, lineStart + before.length - rest.length, after, indent, true, []);
    }
    return undefined;
  }
  const key = /^(\s*)([\w$.-]*)$/.exec(before);
  if (key) {
    const indent = key[1]!.length;
    const tail = /^[\w$.-]*/.exec(after)![0];
    return {
      kind: 'key',
      path: sectionPath(lines, pos.line, indent),
      prefix: key[2]!,
      replace: [offset - key[2]!.length, offset + tail.length],
      indent,
      listItem: false,
      siblings: siblingKeys(lines, pos.line, indent),
    };
  }
  return undefined;
}

/** Where the cursor is in a JSON run config: only inside string values (keys and enums are VS Code's JSON support's). */
export function jsonCompletionContext(parsed: ParsedRunConfig, offset: number): CompletionContext | undefined {
  const at = locateOffset(parsed, offset);
  if (!at || at.on !== 'value') return undefined;
  const raw = parsed.text.slice(at.span[0], at.span[1]);
  if (!raw.startsWith('"')) return undefined;
  const listItem = typeof at.path[at.path.length - 1] === 'number';
  return {
    kind: 'value',
    path: listItem ? at.path.slice(0, -1) : at.path,
    prefix: parsed.text.slice(at.span[0] + 1, offset),
    replace: [at.span[0], at.span[1]],
    indent: 0,
    listItem,
    quote: '"',
    siblings: [],
  };
}

// ---- items ---------------------------------------------------------------------------------

export interface CompletionEnv {
  parsed: ParsedRunConfig;
  /** Folder of the document, for paths; absent for unsaved documents. */
  baseDir?: string;
  inspect: ModelInspector;
  snippets: boolean;
}

function docs(schema: SchemaNode | undefined): { kind: 'markdown'; value: string } | undefined {
  return schema?.markdownDescription ? { kind: MarkupKind.Markdown, value: schema.markdownDescription } : undefined;
}

function typeLabel(schema: SchemaNode): string {
  const values = allowedValues(schema);
  if (values) return values.join(' | ');
  return schema.type === 'object' ? 'section' : schema.type === 'array' ? 'list' : (schema.type ?? 'value');
}

function detailOf(schema: SchemaNode): string {
  const d = schema.default;
  return `${typeLabel(schema)}${d !== undefined ? ` = ${Array.isArray(d) ? `[${d.join(', ')}]` : String(d)}` : ''}`;
}

/** YAML plain scalars cannot start with these, nor hold ": " or " #". */
function needsQuotes(value: string): boolean {
  return /^[-?:,[\]{}#&*!|>'"%@`\s]/.test(value) || /: | #|:$|\s$/.test(value) || value === '';
}

function valueText(value: string, ctx: CompletionContext, json: boolean): string {
  if (ctx.quote) return `${ctx.quote}${value}${ctx.quote}`;
  return json || needsQuotes(value) ? JSON.stringify(value) : value;
}

function rangeOf(parsed: ParsedRunConfig, span: [number, number]): Range {
  return parsed.lines.range(span[0], span[1]);
}

function keyItems(ctx: CompletionContext, env: CompletionEnv): CompletionItem[] {
  const section = schemaAt(ctx.path);
  if (!section?.properties) return [];
  const required = new Set(section.required ?? []);
  const pad = ' '.repeat(ctx.indent + 2);
  return Object.entries(section.properties)
    .filter(([key]) => key === ctx.prefix || !ctx.siblings.includes(key))
    .map(([key, schema], index): CompletionItem => {
      const values = allowedValues(schema);
      let insert: string;
      let snippet = env.snippets;
      if (schema.type === 'object') insert = snippet ? `${key}:\n${pad}$0` : `${key}:\n${pad}`;
      else if (schema.type === 'array') insert = snippet ? `${key}: [$0]` : `${key}: []`;
      else if (values && snippet) insert = `${key}: \${1|${values.map(String).join(',')}|}`;
      else if (schema.default !== undefined && snippet) insert = `${key}: \${1:${String(schema.default)}}`;
      else {
        insert = `${key}: `;
        snippet = false;
      }
      return {
        label: key,
        kind: schema.type === 'object' ? CompletionItemKind.Module : CompletionItemKind.Property,
        detail: detailOf(schema),
        documentation: docs(schema),
        sortText: `${required.has(key) ? '0' : '1'}${String(index).padStart(3, '0')}`,
        textEdit: { range: rangeOf(env.parsed, ctx.replace), newText: insert },
        insertTextFormat: snippet ? InsertTextFormat.Snippet : InsertTextFormat.PlainText,
        // After `key: [` or `key: `, the values are the next thing to choose.
        ...(schema.type === 'array' || (!values && schema.type !== 'object') ? { command: { title: 'Suggest', command: 'editor.action.triggerSuggest' } } : {}),
      };
    });
}

async function modelOf(env: CompletionEnv, withCut: boolean): Promise<InspectResult | undefined> {
  const path = findEntry(env.parsed, ['model', 'path'])?.value;
  const value = path && 'value' in path ? path.value : undefined;
  if (typeof value !== 'string' || !value) return undefined;
  if (!value.startsWith('npm:') && !env.baseDir) return undefined;
  const format = findEntry(env.parsed, ['model', 'format'])?.value;
  const cutAt = findEntry(env.parsed, ['model', 'cutAt'])?.value;
  const options = {
    ...(format && 'value' in format && typeof format.value === 'string' ? { format: format.value as 'auto' | 'hf' | 'tfjs-layers' } : {}),
    ...(withCut && cutAt && 'value' in cutAt && typeof cutAt.value === 'string' ? { cutAt: cutAt.value } : {}),
  };
  try {
    return await env.inspect(modelPathFrom(value, env.baseDir ?? ''), options);
  } catch {
    return undefined;
  }
}

async function layerItems(ctx: CompletionContext, env: CompletionEnv, hint: 'layer-name' | 'layer-pattern'): Promise<CompletionItem[]> {
  const model = await modelOf(env, hint === 'layer-pattern');
  if (!model) return [];
  const json = env.parsed.syntax === 'json';
  const range = rangeOf(env.parsed, ctx.replace);
  const view = new ConfigView(validateRunConfig(env.parsed).value);
  const layerTypes = view.list(['targets', 'layerTypes']).filter((t): t is LayerType => typeof t === 'string');
  const items: CompletionItem[] = [];
  if (hint === 'layer-pattern') {
    for (const { pattern, count } of suggestPatterns(model, layerTypes)) {
      items.push({
        label: pattern,
        kind: CompletionItemKind.Value,
        detail: `pattern: ${count} layer${count === 1 ? '' : 's'} of ${model.name}`,
        sortText: `0${pattern}`,
        filterText: ctx.quote ? `${ctx.quote}${pattern}` : pattern,
        textEdit: { range, newText: valueText(pattern, ctx, json) },
      });
    }
  }
  for (const layer of model.layers) {
    if (hint === 'layer-pattern' && !isAdaptableKind(layer.kind, layerTypes)) continue;
    items.push({
      label: layer.name,
      kind: CompletionItemKind.Field,
      detail: `${layer.kind}${layer.dOut !== undefined ? ` ${layer.dOut} x ${layer.dIn ?? '?'}` : ''} (${model.name})`,
      sortText: `1${layer.name}`,
      filterText: ctx.quote ? `${ctx.quote}${layer.name}` : layer.name,
      textEdit: { range, newText: valueText(layer.name, ctx, json) },
    });
  }
  return items;
}

async function pathItems(ctx: CompletionContext, env: CompletionEnv, key: string | number | undefined): Promise<CompletionItem[]> {
  const items: CompletionItem[] = [];
  const json = env.parsed.syntax === 'json';
  const range = rangeOf(env.parsed, ctx.replace);
  if (key === 'path' && ctx.path[0] === 'model') {
    items.push({ label: 'npm:nsfwjs/mobilenet_v2', kind: CompletionItemKind.Module, detail: 'MobileNetV2 shipped by the npm package nsfwjs', textEdit: { range, newText: valueText('npm:nsfwjs/mobilenet_v2', ctx, json) } });
  }
  if (!env.baseDir) return items;
  const typedDir = ctx.prefix.includes('/') ? ctx.prefix.slice(0, ctx.prefix.lastIndexOf('/') + 1) : '';
  try {
    const entries = await readdir(resolve(env.baseDir, typedDir || '.'), { withFileTypes: true });
    for (const entry of entries.slice(0, 500)) {
      if (entry.name.startsWith('.')) continue;
      const value = `${typedDir}${entry.name}${entry.isDirectory() ? '/' : ''}`;
      items.push({
        label: value,
        kind: entry.isDirectory() ? CompletionItemKind.Folder : CompletionItemKind.File,
        textEdit: { range, newText: valueText(entry.isDirectory() ? value.slice(0, -1) : value, ctx, json) },
        ...(entry.isDirectory() ? { command: { title: 'Suggest', command: 'editor.action.triggerSuggest' } } : {}),
      });
    }
  } catch {
    // a folder typed that does not exist: nothing to offer
  }
  return items;
}

export async function completionItems(ctx: CompletionContext, env: CompletionEnv): Promise<CompletionItem[]> {
  if (ctx.kind === 'key') return keyItems(ctx, env);
  const keySchema = schemaAt(ctx.path);
  const schema = ctx.listItem && keySchema?.items ? keySchema.items : keySchema;
  if (!schema) return [];
  const json = env.parsed.syntax === 'json';
  const range = rangeOf(env.parsed, ctx.replace);
  const values = allowedValues(schema);
  if (values) {
    return values.map((value, i) => ({
      label: String(value),
      kind: CompletionItemKind.EnumMember,
      detail: value === schema.default ? 'default' : undefined,
      documentation: schema.markdownEnumDescriptions?.[i] ? { kind: MarkupKind.Markdown, value: schema.markdownEnumDescriptions[i]! } : docs(schema),
      sortText: String(i).padStart(3, '0'),
      textEdit: { range, newText: typeof value === 'number' ? String(value) : valueText(value, ctx, json) },
    }));
  }
  if (schema.type === 'boolean') {
    return ['true', 'false'].map((v) => ({ label: v, kind: CompletionItemKind.Keyword, detail: String(schema.default) === v ? 'default' : undefined, textEdit: { range, newText: v } }));
  }
  const hint = schema['x-completion'];
  if (hint === 'layer-name' || hint === 'layer-pattern') return layerItems(ctx, env, hint);
  if (hint === 'path') return pathItems(ctx, env, ctx.path[ctx.path.length - 1]);
  return [];
}

