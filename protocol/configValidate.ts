/**
 * Reading and checking a run-config text against the one schema (protocol/config.ts):
 * `spruft check`, the runner before every run and the language server all call this,
 * so they find the same problems with the same words at the same places.
 *
 * The text is parsed with `yaml` keeping source ranges (a `*.spruft.json` file is parsed
 * the same way: JSON is YAML). The schema is walked directly, keyword by keyword, rather
 * than through a generic JSON Schema validator, because each finding has to say what to
 * do in this language: the nearest valid key, the section a stray key belongs to, quotes
 * to remove. Findings that need the file system or the model (paths, layers, memory) are
 * the runner's (runner/src/config/semantic.ts); everything here is pure.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, parseDocument, type Document, type ParsedNode, type Scalar, type YAMLMap } from 'yaml';
import {
  DATASET_LABEL_COUNTS,
  DEFAULT_DATA_PATHS,
  LABELLED_TASKS,
  RunConfigSchema,
  TASK_DATASETS,
  INSTRUCTION_FORMATS,
  type CompletionHint,
  type RunConfigFile,
} from './config';
import type { ConfigDiagnostic, ConfigFix, ConfigRange, ConfigSeverity } from './diagnostics';
import { formatBytes } from './format';
import { LineIndex } from './lineIndex';

export { LineIndex };

export type ConfigPath = Array<string | number>;
export type ConfigSyntax = 'yaml' | 'json';

/** Run configs are a few KB; above this the text is refused unparsed (and answered at once). */
export const MAX_CONFIG_CHARS = 256 * 1024;
/** Findings reported per file; the rest are counted in one last finding. */
export const MAX_DIAGNOSTICS = 200;

/** The JSON Schema keywords the walker below understands (a test keeps the schema within them). */
export const UNDERSTOOD_KEYWORDS = [
  'type', 'properties', 'required', 'additionalProperties', 'items', 'enum', 'anyOf', 'const', 'allOf', 'not',
  'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'pattern', 'patternErrorMessage',
  'minItems', 'uniqueItems', 'default', 'description', 'markdownDescription', 'markdownEnumDescriptions',
  'errorMessage', 'x-completion', 'x-aliases',
] as const;

/** The part of JSON Schema that protocol/config.ts uses, as the walker reads it. */
export interface SchemaNode {
  type?: 'object' | 'array' | 'string' | 'number' | 'integer' | 'boolean';
  properties?: Record<string, SchemaNode>;
  required?: string[];
  additionalProperties?: boolean;
  items?: SchemaNode;
  enum?: Array<string | number>;
  anyOf?: SchemaNode[];
  const?: string | number | boolean;
  allOf?: Array<{ not?: { required?: string[] }; errorMessage?: string }>;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  pattern?: string;
  patternErrorMessage?: string;
  minItems?: number;
  uniqueItems?: boolean;
  default?: unknown;
  description?: string;
  markdownDescription?: string;
  markdownEnumDescriptions?: string[];
  errorMessage?: string;
  'x-completion'?: CompletionHint;
  'x-aliases'?: string[];
}

/** The run-config schema seen through the keywords above (TypeBox schemas are JSON Schema). */
export const runConfigSchema: SchemaNode = RunConfigSchema as unknown as SchemaNode;

// ---- parsing --------------------------------------------------------------------------

export interface ParsedRunConfig {
  text: string;
  syntax: ConfigSyntax;
  lines: LineIndex;
  /** Absent when the text was refused before parsing (too large, not text). */
  document?: Document.Parsed;
  /** Findings of reading: refusal, YAML syntax, duplicate keys. */
  diagnostics: ConfigDiagnostic[];
}

export function configSyntaxOf(fileName: string): ConfigSyntax {
  return /\.json$/i.test(fileName) ? 'json' : 'yaml';
}

function firstLineRange(lines: LineIndex): ConfigRange {
  return { start: { line: 0, character: 0 }, end: { line: 0, character: Math.min(lines.lineText(0).length, 200) } };
}

/** YAML's own messages, reworded where the plain one does not say what to do. */
const YAML_HINTS: Partial<Record<string, string>> = {
  TAB_AS_INDENT: 'Indent with spaces: YAML does not allow tabs for indentation.',
  BLOCK_AS_IMPLICIT_KEY: 'A key and its value must be on one line, or the nested keys on their own lines, indented.',
  MULTIPLE_DOCS: 'A run config is one YAML document: remove the `---` separator and what follows, or put it in its own file.',
  MISSING_CHAR: 'Close the quote or bracket that is still open.',
  MULTILINE_IMPLICIT_KEY: 'A key must fit on one line and end with `:`.',
};

/**
 * Parse a run-config text, keeping source ranges. Never throws: what cannot be read
 * becomes findings.
 */
export function parseRunConfig(text: string, syntax: ConfigSyntax = 'yaml'): ParsedRunConfig {
  const lines = new LineIndex(text);
  const diagnostics: ConfigDiagnostic[] = [];
  if (text.length > MAX_CONFIG_CHARS) {
    diagnostics.push({
      severity: 'error',
      code: 'file-too-large',
      message: `This file has ${formatBytes(text.length)} of text; a run config has a few KiB, and files above ${formatBytes(MAX_CONFIG_CHARS)} are not checked. Is this the right file?`,
      range: firstLineRange(lines),
      path: [],
    });
    return { text, syntax, lines, diagnostics };
  }
  // YAML excludes C0 control characters other than tab and line breaks; finding one
  // means the file is not text (a model, an archive) opened as a config.
  const control = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/.exec(text);
  if (control) {
    const at = lines.positionAt(control.index);
    diagnostics.push({
      severity: 'error',
      code: 'not-text',
      message: `This is not a text file: it holds the control byte 0x${control[0].charCodeAt(0).toString(16).padStart(2, '0')} at line ${at.line + 1}, column ${at.character + 1}. A run config is YAML (or JSON) text.`,
      range: lines.range(control.index, control.index + 1),
      path: [],
    });
    return { text, syntax, lines, diagnostics };
  }
  const document = parseDocument(text, { prettyErrors: false, uniqueKeys: false, keepSourceTokens: false });
  let tooDeep = false;
  for (const [severity, list] of [['error', document.errors], ['warning', document.warnings]] as const) {
    for (const error of list) {
      if (error.code === 'RESOURCE_EXHAUSTION') {
        // One finding for the lot: YAML reports it at every level it unwinds.
        if (!tooDeep) {
          tooDeep = true;
          diagnostics.push({
            severity: 'error',
            code: 'too-deep',
            message: 'The nesting is too deep to read (a run config nests 4 levels at most). Remove the nested brackets or list markers.',
            range: lines.range(error.pos[0], Math.max(error.pos[1], error.pos[0] + 1)),
            path: [],
          });
        }
        continue;
      }
      const hint = YAML_HINTS[error.code];
      const plain = error.message.replace(/ at line \d+, column \d+[\s\S]*$/, '').trim();
      diagnostics.push({
        severity: severity as ConfigSeverity,
        code: 'yaml-syntax',
        message: `${syntax === 'json' ? 'JSON' : 'YAML'} syntax: ${plain.endsWith('.') ? plain : plain + '.'}${hint ? ' ' + hint : ''}`,
        range: lines.range(error.pos[0], Math.max(error.pos[1], error.pos[0] + 1)),
        path: [],
      });
    }
  }
  // YAML reads more than JSON allows (`{"a": }`, comments, single quotes); a .json file
  // must be JSON, so what JSON.parse refuses is a syntax error too.
  if (syntax === 'json' && diagnostics.length === 0) {
    try {
      JSON.parse(text);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const position = /at position (\d+)/.exec(message);
      const offset = position ? Number(position[1]) : 0;
      diagnostics.push({
        severity: 'error',
        code: 'yaml-syntax',
        message: `JSON syntax: ${message.replace(/ in JSON at position \d+.*$/, '').replace(/, ".*" is not valid JSON$/, '')}.`,
        range: position ? lines.range(offset, Math.min(offset + 1, text.length)) : firstLineRange(lines),
        path: [],
      });
    }
  }
  // What was read of a document nested too deeply is not worth checking further.
  return { text, syntax, lines, ...(tooDeep ? {} : { document }), diagnostics };
}

// ---- schema navigation ----------------------------------------------------------------

export function schemaAt(path: ConfigPath, root: SchemaNode = runConfigSchema): SchemaNode | undefined {
  let node: SchemaNode | undefined = root;
  for (const segment of path) {
    if (!node) return undefined;
    node = typeof segment === 'number' ? node.items : node.properties?.[segment];
  }
  return node;
}

/** Values an enum-like schema allows (`enum`, or an `anyOf` of `const`s). */
export function allowedValues(schema: SchemaNode): Array<string | number> | undefined {
  if (schema.enum) return schema.enum;
  if (schema.anyOf && schema.anyOf.every((s) => s.const !== undefined)) return schema.anyOf.map((s) => s.const as string | number);
  return undefined;
}

export function formatPath(path: ConfigPath): string {
  let out = '';
  for (const segment of path) out += typeof segment === 'number' ? `[${segment}]` : out ? `.${segment}` : segment;
  return out;
}

/** Every key the schema knows, wherever it is, with its paths (for "it belongs in ..."). */
export function allSchemaKeys(root: SchemaNode = runConfigSchema): Map<string, ConfigPath[]> {
  const out = new Map<string, ConfigPath[]>();
  const visit = (node: SchemaNode, path: ConfigPath): void => {
    for (const [key, child] of Object.entries(node.properties ?? {})) {
      const list = out.get(key) ?? [];
      list.push([...path, key]);
      out.set(key, list);
      visit(child, [...path, key]);
    }
    if (node.items) visit(node.items, [...path, 0]);
  };
  visit(root, []);
  return out;
}

/** The first sentence of a key's docs, without markdown, for messages. */
export function summaryOf(schema: SchemaNode | undefined): string {
  const text = schema?.description ?? '';
  const end = text.search(/\.(\s|$)/);
  return end < 0 ? text : text.slice(0, end + 1);
}

// ---- names ------------------------------------------------------------------------------

function normalizedName(name: string): string {
  return name.toLowerCase().replace(/[_\-\s]/g, '');
}

/** Optimal string alignment distance (Levenshtein with adjacent transpositions). */
export function editDistance(a: string, b: string, cap = Infinity): number {
  if (Math.abs(a.length - b.length) > cap) return cap + 1;
  let prev2: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, prev2[j - 2]! + 1);
      row.push(d);
      best = Math.min(best, d);
    }
    if (best > cap) return cap + 1;
    prev2 = prev;
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * The candidates nearest to `word`, best first, ignoring case, `_` and `-`. Only close
 * ones (see the default `maxDistance` below); `Infinity` always names the nearest.
 */
export function nearestNames(word: string, candidates: Iterable<string>, options: { limit?: number; maxDistance?: number } = {}): string[] {
  const limit = options.limit ?? 3;
  const w = normalizedName(word);
  // Short words need close matches: "lr" is not a typo of "lora".
  const cap = options.maxDistance ?? (w.length <= 3 ? 1 : w.length <= 6 ? 2 : Math.floor(w.length / 3));
  const scored: Array<{ name: string; score: number }> = [];
  const seen = new Set<string>();
  for (const name of candidates) {
    if (seen.has(name)) continue;
    seen.add(name);
    const n = normalizedName(name);
    let score = n === w ? 0 : editDistance(w, n, cap);
    // Dotted names (layers) are also compared by their tails: `q_prj` is near `model.q_proj`.
    const segments = name.split('.');
    for (let i = 1; i < segments.length && score > 1; i++) {
      score = Math.min(score, editDistance(w, normalizedName(segments.slice(i).join('.')), cap) + 1);
    }
    // A word that is a whole part of a longer name ("proj" in "q_proj") is near it.
    if (score > cap && w.length >= 3 && n.includes(w)) score = cap;
    if (score <= cap) scored.push({ name, score });
  }
  scored.sort((x, y) => x.score - y.score || x.name.length - y.name.length || (x.name < y.name ? -1 : 1));
  return scored.slice(0, limit).map((s) => s.name);
}

function codeList(values: ReadonlyArray<string | number>, conjunction = 'or'): string {
  const quoted = values.map((v) => `\`${v}\``);
  return quoted.length <= 1 ? quoted.join('') : `${quoted.slice(0, -1).join(', ')} ${conjunction} ${quoted[quoted.length - 1]}`;
}

function showValue(source: string): string {
  const oneLine = source.replace(/\s+/g, ' ').trim();
  return oneLine.length > 40 ? `${oneLine.slice(0, 37)}...` : oneLine;
}

// ---- locating nodes ---------------------------------------------------------------------

export interface LocatedEntry {
  /** The key node (maps) or undefined (sequence items). */
  key?: ParsedNode;
  /** The value node; null for `key:` with nothing after it. */
  value: ParsedNode | null;
}

function keyName(node: ParsedNode | null): string | undefined {
  if (!node || !isScalar(node)) return undefined;
  const v = node.value;
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : v === null ? '' : undefined;
}

function deref(node: ParsedNode | null, document: Document.Parsed): ParsedNode | null {
  let current = node;
  for (let hops = 0; current && isAlias(current) && hops < 8; hops++) {
    current = (current.resolve(document) as ParsedNode | undefined) ?? null;
  }
  return current && isAlias(current) ? null : current;
}

/** The entry at a key path (the first one where a key repeats), if the file has it. */
export function findEntry(parsed: ParsedRunConfig, path: ConfigPath): LocatedEntry | undefined {
  const document = parsed.document;
  if (!document) return undefined;
  let entry: LocatedEntry = { value: document.contents as ParsedNode | null };
  for (const segment of path) {
    const node = deref(entry.value, document);
    if (typeof segment === 'number') {
      if (!node || !isSeq(node)) return undefined;
      const item = node.items[segment] as ParsedNode | undefined;
      if (item === undefined) return undefined;
      entry = { value: item };
    } else {
      if (!node || !isMap(node)) return undefined;
      const pair = node.items.find((p) => keyName(p.key as ParsedNode | null) === segment);
      if (!pair) return undefined;
      entry = { key: pair.key as ParsedNode, value: (pair.value as ParsedNode | null) ?? null };
    }
  }
  return entry;
}

function nodeRange(node: ParsedNode): [number, number] {
  return [node.range[0], node.range[1]];
}

/**
 * Where a key path is in the text: its key, its value, or the whole entry. Falls back to
 * the nearest ancestor that the file has (a missing key is reported on its section),
 * and to the first line for the document itself.
 */
export function rangeOfPath(parsed: ParsedRunConfig, path: ConfigPath, part: 'key' | 'value' | 'entry' = 'key'): ConfigRange {
  for (let depth = path.length; depth > 0; depth--) {
    const entry = findEntry(parsed, path.slice(0, depth));
    if (!entry) continue;
    const keyRange = entry.key ? nodeRange(entry.key) : undefined;
    const valueRange = entry.value && entry.value.range[1] > entry.value.range[0] ? nodeRange(entry.value) : undefined;
    const exact = depth === path.length;
    let span: [number, number] | undefined;
    if (exact && part === 'value') span = valueRange ?? keyRange;
    else if (exact && part === 'entry') span = keyRange && valueRange ? [keyRange[0], valueRange[1]] : (keyRange ?? valueRange);
    else span = keyRange ?? valueRange;
    if (span) return parsed.lines.range(span[0], span[1]);
  }
  return firstLineRange(parsed.lines);
}

/** What the cursor is on: the key path, and whether on a key or in a value. */
export interface OffsetLocation {
  path: ConfigPath;
  on: 'key' | 'value';
  /** Offsets of the key or value node under the cursor. */
  span: [number, number];
}

export function locateOffset(parsed: ParsedRunConfig, offset: number): OffsetLocation | undefined {
  const document = parsed.document;
  if (!document) return undefined;
  const within = (node: ParsedNode | null | undefined): node is ParsedNode => !!node && node.range[0] <= offset && offset <= node.range[1];
  let node = document.contents as ParsedNode | null;
  const path: ConfigPath = [];
  for (let depth = 0; node && depth < 64; depth++) {
    if (isMap(node)) {
      const pair = node.items.find((p) => within(p.key as ParsedNode) || within(p.value as ParsedNode));
      const name = pair ? keyName(pair.key as ParsedNode) : undefined;
      if (!pair || name === undefined) return undefined;
      const key = pair.key as ParsedNode;
      if (within(key)) return { path: [...path, name], on: 'key', span: nodeRange(key) };
      path.push(name);
      node = (pair.value as ParsedNode | null) ?? null;
    } else if (isSeq(node)) {
      const index = node.items.findIndex((item) => within(item as ParsedNode));
      if (index < 0) return undefined;
      path.push(index);
      node = node.items[index] as ParsedNode;
    } else {
      return { path: [...path], on: 'value', span: nodeRange(node) };
    }
  }
  return undefined;
}

// ---- validation -------------------------------------------------------------------------

export interface ValidationResult {
  /** Reading and schema findings, in document order. */
  diagnostics: ConfigDiagnostic[];
  /** The file's content when it has no error (safe to resolve). */
  config?: RunConfigFile;
  /** The plain value as far as it could be read (keys the schema knows only). */
  value: unknown;
}

interface WalkContext {
  parsed: ParsedRunConfig;
  document: Document.Parsed;
  out: ConfigDiagnostic[];
  keyIndex: Map<string, ConfigPath[]>;
}

function rangeOf(ctx: WalkContext, span: [number, number]): ConfigRange {
  return ctx.parsed.lines.range(span[0], span[1]);
}

function sourceOf(ctx: WalkContext, span: [number, number]): string {
  return ctx.parsed.text.slice(span[0], span[1]);
}

/** Keep the quoting style of what is replaced (JSON keys stay quoted). */
function requote(original: string, replacement: string): string {
  if (original.startsWith('"')) return JSON.stringify(replacement);
  if (original.startsWith("'")) return `'${replacement.replace(/'/g, "''")}'`;
  return replacement;
}

/** Lines an entry spans, when it starts its line (block style): what "remove" deletes. */
export function entryLinesRange(parsed: ParsedRunConfig, path: ConfigPath): ConfigRange | undefined {
  const entry = findEntry(parsed, path);
  if (!entry?.key) return undefined;
  const start = parsed.lines.positionAt(entry.key.range[0]);
  const before = parsed.lines.lineText(start.line).slice(0, start.character);
  if (before.trim() !== '') return undefined;
  const endOffset = Math.max(entry.key.range[1], entry.value?.range[1] ?? 0);
  const end = parsed.lines.positionAt(endOffset);
  // A block value's range ends at the start of the next line; a scalar ends on its line.
  const endLine = end.character === 0 && end.line > start.line ? end.line : end.line + 1;
  if (endLine >= parsed.lines.lineCount) {
    const last = parsed.lines.lineCount - 1;
    return { start: { line: start.line, character: 0 }, end: { line: last, character: parsed.lines.lineText(last).length } };
  }
  return { start: { line: start.line, character: 0 }, end: { line: endLine, character: 0 } };
}

function removeFix(parsed: ParsedRunConfig, path: ConfigPath): ConfigFix[] {
  const range = entryLinesRange(parsed, path);
  const name = path[path.length - 1];
  return range ? [{ title: `Remove \`${name}\``, range, newText: '' }] : [];
}

function typeWord(schema: SchemaNode): string {
  switch (schema.type) {
    case 'object':
      return 'a mapping of keys';
    case 'array':
      return 'a list';
    case 'string':
      return 'a string';
    case 'integer':
      return 'a whole number';
    case 'number':
      return 'a number';
    case 'boolean':
      return '`true` or `false`';
    default: {
      const values = allowedValues(schema);
      return values ? `one of ${codeList(values)}` : 'a value';
    }
  }
}

function nodeWord(node: ParsedNode | null, document: Document.Parsed): string {
  const n = deref(node, document);
  if (!n) return 'nothing';
  if (isMap(n)) return 'a mapping';
  if (isSeq(n)) return 'a list';
  if (isScalar(n)) {
    const v = n.value;
    if (v === null) return 'nothing';
    if (typeof v === 'string') return `the string "${showValue(v)}"`;
    if (typeof v === 'number') return `the number ${v}`;
    if (typeof v === 'boolean') return `\`${v}\``;
  }
  return 'a value of another kind';
}

function defaultNote(schema: SchemaNode): string {
  if (schema.default === undefined) return '';
  const d = schema.default;
  return ` (default: ${Array.isArray(d) ? `[${d.join(', ')}]` : String(d)})`;
}

function push(ctx: WalkContext, d: ConfigDiagnostic): void {
  ctx.out.push(d);
}

/** Walk one node against its schema; return its plain value (known keys only). */
function walk(ctx: WalkContext, raw: ParsedNode | null, schema: SchemaNode, path: ConfigPath, keySpan: [number, number] | undefined): unknown {
  const node = deref(raw, ctx.document);
  const where = formatPath(path);
  const span: [number, number] = raw && raw.range[1] > raw.range[0] ? nodeRange(raw) : (keySpan ?? [0, 0]);
  const typeError = (message: string, fixes?: ConfigFix[]): undefined => {
    push(ctx, { severity: 'error', code: 'type', message, range: rangeOf(ctx, span), path, ...(fixes?.length ? { fixes } : {}) });
    return undefined;
  };

  const isNull = !node || (isScalar(node) && node.value === null);
  if (isNull) {
    if (schema.type === 'object') {
      return typeError(`\`${where}\` is empty: add its keys below it, indented, or remove the line.`, removeFix(ctx.parsed, path));
    }
    if (schema.type === 'array') return typeError(`\`${where}\` is empty: write a list such as \`[a, b]\`, or remove the line.`, removeFix(ctx.parsed, path));
    return typeError(`\`${where}\` has no value: write ${typeWord(schema)}${defaultNote(schema)}, or remove the line.`, removeFix(ctx.parsed, path));
  }

  if (schema.type === 'object') {
    if (!isMap(node)) return typeError(`${where ? `\`${where}\`` : 'A run config'} must be ${typeWord(schema)} (\`key: value\` lines), not ${nodeWord(node, ctx.document)}.`);
    return walkMap(ctx, node, schema, path, span);
  }

  if (schema.type === 'array') {
    if (!isSeq(node)) {
      const fix: ConfigFix[] = isScalar(node) ? [{ title: `Make it a list: [${sourceOf(ctx, span)}]`, range: rangeOf(ctx, span), newText: `[${sourceOf(ctx, span)}]` }] : [];
      return typeError(`\`${where}\` must be a list (e.g. \`[${schema.default && Array.isArray(schema.default) && schema.default.length ? schema.default.join(', ') : 'a, b'}]\` or \`- item\` lines), not ${nodeWord(node, ctx.document)}.`, fix);
    }
    const items: unknown[] = [];
    node.items.forEach((item, index) => {
      items.push(schema.items ? walk(ctx, item as ParsedNode | null, schema.items, [...path, index], span) : undefined);
    });
    if (schema.minItems !== undefined && items.length < schema.minItems) {
      push(ctx, { severity: 'error', code: 'too-few-items', message: `\`${where}\` needs at least ${schema.minItems} entries (it has ${items.length}).`, range: rangeOf(ctx, span), path });
    }
    if (schema.uniqueItems) {
      const seen = new Map<string, number>();
      items.forEach((value, index) => {
        if (value === undefined) return;
        const k = JSON.stringify(value);
        const first = seen.get(k);
        if (first === undefined) {
          seen.set(k, index);
          return;
        }
        const itemNode = node.items[index] as ParsedNode;
        push(ctx, {
          severity: 'error',
          code: 'duplicate-item',
          message: `\`${where}\` lists ${JSON.stringify(value)} twice (items ${first + 1} and ${index + 1}); keep one.`,
          range: rangeOf(ctx, nodeRange(itemNode)),
          path: [...path, index],
        });
      });
    }
    return items;
  }

  if (!isScalar(node)) return typeError(`\`${where}\` must be ${typeWord(schema)}, not ${nodeWord(node, ctx.document)}.`);
  return walkScalar(ctx, node, schema, path, span);
}

function walkScalar(ctx: WalkContext, node: Scalar.Parsed, schema: SchemaNode, path: ConfigPath, span: [number, number]): unknown {
  const where = formatPath(path);
  const value = node.value;
  const source = sourceOf(ctx, span);
  const range = rangeOf(ctx, span);
  const error = (code: string, message: string, fixes: ConfigFix[] = []): undefined => {
    push(ctx, { severity: 'error', code, message, range, path, ...(fixes.length ? { fixes } : {}) });
    return undefined;
  };

  const allowed = allowedValues(schema);
  if (allowed) {
    if (allowed.includes(value as string | number)) return value;
    const text = String(value);
    const unquoted = allowed.find((a) => typeof a === 'number' && String(a) === text.trim());
    if (unquoted !== undefined) {
      return error('type', `\`${where}\` must be the number ${unquoted}, not the string "${text}": remove the quotes.`, [
        { title: `Remove the quotes: ${unquoted}`, range, newText: String(unquoted) },
      ]);
    }
    const near = nearestNames(text, allowed.map(String), { limit: 1 });
    const fixes = near.map((n) => ({ title: `Change to \`${n}\``, range, newText: requote(source, n) }));
    return error(
      'invalid-value',
      `\`${where}\` must be ${allowed.length === 1 ? '' : 'one of '}${codeList(allowed)}, not \`${showValue(text)}\`.${near.length ? ` Did you mean \`${near[0]}\`?` : ''}`,
      fixes,
    );
  }

  switch (schema.type) {
    case 'string': {
      if (typeof value !== 'string') {
        const text = source.trim();
        return error('type', `\`${where}\` must be a string, not ${nodeWord(node, ctx.document)}: put it in quotes.`, [
          { title: `Quote it: "${text}"`, range, newText: JSON.stringify(text) },
        ]);
      }
      if (schema.minLength !== undefined && value.length < schema.minLength) return error('type', `\`${where}\` is an empty string: write a value, or remove the line.`, removeFix(ctx.parsed, path));
      if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value)) {
        return error('invalid-value', `\`${where}\`: \`${showValue(value)}\` is not allowed here. ${schema.patternErrorMessage ?? `It must match ${schema.pattern}.`}`);
      }
      return value;
    }
    case 'number':
    case 'integer': {
      if (typeof value === 'string') {
        const asNumber = Number(value.trim());
        if (value.trim() !== '' && Number.isFinite(asNumber) && (schema.type === 'number' || Number.isInteger(asNumber))) {
          return error('type', `\`${where}\` must be a number, not the string "${showValue(value)}": remove the quotes.`, [
            { title: `Remove the quotes: ${value.trim()}`, range, newText: value.trim() },
          ]);
        }
      }
      if (typeof value !== 'number') return error('type', `\`${where}\` must be ${typeWord(schema)}${defaultNote(schema)}, not ${nodeWord(node, ctx.document)}.`);
      if (!Number.isFinite(value)) return error('type', `\`${where}\` must be a finite number, not ${source.trim()}.`);
      if (schema.type === 'integer' && !Number.isInteger(value)) {
        const rounded = Math.round(value);
        return error('type', `\`${where}\` must be a whole number, not ${value}.`, [{ title: `Change to ${rounded}`, range, newText: String(rounded) }]);
      }
      return checkRange(ctx, value, schema, path, range);
    }
    case 'boolean': {
      if (typeof value === 'boolean') return value;
      const text = typeof value === 'string' ? value.trim().toLowerCase() : '';
      const meant = ['yes', 'on', 'y'].includes(text) ? 'true' : ['no', 'off', 'n'].includes(text) ? 'false' : undefined;
      if (meant) {
        return error('type', `\`${where}\` must be \`true\` or \`false\`; YAML 1.2 reads \`${value}\` as a string. Write \`${meant}\`.`, [
          { title: `Change to \`${meant}\``, range, newText: meant },
        ]);
      }
      return error('type', `\`${where}\` must be \`true\` or \`false\`${defaultNote(schema)}, not ${nodeWord(node, ctx.document)}.`);
    }
    default:
      return value;
  }
}

function checkRange(ctx: WalkContext, value: number, schema: SchemaNode, path: ConfigPath, range: ConfigRange): unknown {
  const where = formatPath(path);
  const fail = (bound: string, fixTo?: number): undefined => {
    push(ctx, {
      severity: 'error',
      code: 'out-of-range',
      message: `\`${where}\` must be ${bound} (it is ${value}).`,
      range,
      path,
      ...(fixTo !== undefined ? { fixes: [{ title: `Change to ${fixTo}`, range, newText: String(fixTo) }] } : {}),
    });
    return undefined;
  };
  const lo = schema.minimum;
  const hi = schema.maximum;
  if (lo !== undefined && hi !== undefined && (value < lo || value > hi)) return fail(`between ${lo} and ${hi}`, value < lo ? lo : hi);
  if (lo !== undefined && value < lo) return fail(`at least ${lo}`, lo);
  if (hi !== undefined && value > hi) return fail(`at most ${hi}`, hi);
  if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) {
    return fail(schema.exclusiveMaximum !== undefined ? `between ${schema.exclusiveMinimum} and ${schema.exclusiveMaximum}, both excluded` : `greater than ${schema.exclusiveMinimum}`);
  }
  if (schema.exclusiveMaximum !== undefined && value >= schema.exclusiveMaximum) {
    return fail(schema.exclusiveMinimum !== undefined ? `between ${schema.exclusiveMinimum} and ${schema.exclusiveMaximum}, both excluded` : `less than ${schema.exclusiveMaximum}`);
  }
  return value;
}

function walkMap(ctx: WalkContext, node: YAMLMap.Parsed, schema: SchemaNode, path: ConfigPath, span: [number, number]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const where = formatPath(path);
  const seen = new Map<string, ParsedNode>();
  const properties = schema.properties ?? {};
  for (const pair of node.items) {
    if (!isPair(pair)) continue;
    const keyNode = pair.key as ParsedNode | null;
    const valueNode = (pair.value as ParsedNode | null) ?? null;
    const name = keyName(keyNode);
    if (!keyNode || name === undefined) {
      const at: [number, number] = keyNode ? nodeRange(keyNode) : valueNode ? nodeRange(valueNode) : span;
      push(ctx, { severity: 'error', code: 'type', message: `Keys must be plain names; this one is ${nodeWord(keyNode, ctx.document)}.`, range: rangeOf(ctx, at), path });
      continue;
    }
    const keySpan = nodeRange(keyNode);
    const keyPath = [...path, name];
    const first = seen.get(name);
    if (first) {
      const firstLine = ctx.parsed.lines.positionAt(first.range[0]).line + 1;
      push(ctx, {
        severity: 'error',
        code: 'duplicate-key',
        message: `\`${formatPath(keyPath)}\` is set twice (first on line ${firstLine}); keep one.`,
        range: rangeOf(ctx, keySpan),
        path: keyPath,
        fixes: duplicateRemoval(ctx, keyNode, valueNode, name),
      });
      continue;
    }
    seen.set(name, keyNode);
    const child = properties[name];
    if (!child) {
      if (schema.additionalProperties === false) unknownKey(ctx, name, keyNode, schema, path);
      continue;
    }
    out[name] = walk(ctx, valueNode, child, keyPath, keySpan);
  }
  for (const key of schema.required ?? []) {
    if (seen.has(key)) continue;
    const child = properties[key];
    const values = child ? allowedValues(child) : undefined;
    push(ctx, {
      severity: 'error',
      code: 'missing-key',
      message: `Missing \`${key}\`${where ? ` in \`${where}\`` : ' at the top level'}: ${summaryOf(child)}${values ? ` Add \`${key}:\` with ${codeList(values)}.` : ` Add \`${key}:\`.`}`,
      range: rangeOfPath(ctx.parsed, path, 'key'),
      path: [...path, key],
    });
  }
  for (const rule of schema.allOf ?? []) {
    const names = rule.not?.required ?? [];
    if (names.length < 2 || !names.every((n) => seen.has(n))) continue;
    const later = names.map((n) => seen.get(n)!).sort((a, b) => a.range[0] - b.range[0]);
    const last = names.find((n) => seen.get(n) === later[later.length - 1])!;
    push(ctx, {
      severity: 'error',
      code: 'mutually-exclusive',
      message: `${codeList(names.map((n) => formatPath([...path, n])), 'and')} exclude each other. ${rule.errorMessage ?? 'Set only one.'}`,
      range: rangeOf(ctx, nodeRange(seen.get(last)!)),
      path: [...path, last],
      fixes: names.flatMap((n) => removeFix(ctx.parsed, [...path, n])),
    });
  }
  return out;
}

function duplicateRemoval(ctx: WalkContext, keyNode: ParsedNode, valueNode: ParsedNode | null, name: string): ConfigFix[] {
  const start = ctx.parsed.lines.positionAt(keyNode.range[0]);
  if (ctx.parsed.lines.lineText(start.line).slice(0, start.character).trim() !== '') return [];
  const end = ctx.parsed.lines.positionAt(Math.max(keyNode.range[1], valueNode?.range[1] ?? 0));
  const endLine = end.character === 0 && end.line > start.line ? end.line : end.line + 1;
  if (endLine >= ctx.parsed.lines.lineCount) return [];
  return [{ title: `Remove this \`${name}\``, range: { start: { line: start.line, character: 0 }, end: { line: endLine, character: 0 } }, newText: '' }];
}

function unknownKey(ctx: WalkContext, name: string, keyNode: ParsedNode, schema: SchemaNode, path: ConfigPath): void {
  const where = formatPath(path);
  const range = rangeOf(ctx, nodeRange(keyNode));
  const properties = schema.properties ?? {};
  const keys = Object.keys(properties);
  const source = sourceOf(ctx, nodeRange(keyNode));
  const place = where ? `in \`${where}\`` : 'at the top level';
  // Names from other tools (`learning_rate`, `target_modules`) lead to ours.
  const aliasOf = new Map<string, string>();
  for (const key of keys) for (const alias of properties[key]!['x-aliases'] ?? []) aliasOf.set(alias, key);
  const alias = [...aliasOf].find(([a]) => normalizedName(a) === normalizedName(name))?.[1];
  const elsewhere = (ctx.keyIndex.get(name) ?? [])
    .map((p) => p.slice(0, -1))
    .filter((p) => !p.some((s) => typeof s === 'number') && formatPath(p) !== where);
  const near = alias ? [alias] : elsewhere.length ? [] : [...new Set(nearestNames(name, [...keys, ...aliasOf.keys()], { limit: 1 }).map((n) => aliasOf.get(n) ?? n))];
  let message: string;
  if (alias) {
    message = `Unknown key \`${name}\` ${place}: it is called \`${alias}\` here.`;
  } else if (elsewhere.length) {
    const sections = elsewhere.map((p) => (p.length ? `\`${formatPath(p)}\`` : 'the top level'));
    message = `Unknown key \`${name}\` ${place}: it belongs in ${sections.length > 1 ? `${sections.slice(0, -1).join(', ')} or ${sections[sections.length - 1]}` : sections[0]}; move it there.`;
  } else if (near.length) {
    message = `Unknown key \`${name}\` ${place}. Did you mean \`${near[0]}\`?`;
  } else {
    message = `Unknown key \`${name}\` ${place}. The keys here are ${codeList(keys, 'and')}.`;
  }
  push(ctx, {
    severity: 'error',
    code: 'unknown-key',
    message,
    range,
    path: [...path, name],
    fixes: [
      ...near.map((n) => ({ title: `Change to \`${n}\``, range, newText: requote(source, n) })),
      ...removeFix(ctx.parsed, [...path, name]),
    ],
  });
}

// ---- checks across keys -------------------------------------------------------------------

/** Typed reads of the walked value: the file's value when valid, else the schema default. */
export class ConfigView {
  constructor(readonly value: unknown) {}

  raw(path: ConfigPath): unknown {
    let node: unknown = this.value;
    for (const segment of path) {
      if (node === null || typeof node !== 'object') return undefined;
      node = (node as Record<string | number, unknown>)[segment];
    }
    return node;
  }

  has(path: ConfigPath): boolean {
    let node: unknown = this.value;
    for (const segment of path) {
      if (node === null || typeof node !== 'object' || !(segment in (node as object))) return false;
      node = (node as Record<string | number, unknown>)[segment];
    }
    return true;
  }

  /** The value in effect: the file's (when it was valid) or the schema's default. */
  effective(path: ConfigPath): unknown {
    const v = this.raw(path);
    if (v !== undefined) return v;
    // Present but invalid: nothing is in effect, and rules that read it stay quiet.
    return this.has(path) ? undefined : schemaAt(path)?.default;
  }

  string(path: ConfigPath): string | undefined {
    const v = this.effective(path);
    return typeof v === 'string' ? v : undefined;
  }

  number(path: ConfigPath): number | undefined {
    const v = this.effective(path);
    return typeof v === 'number' ? v : undefined;
  }

  list(path: ConfigPath): unknown[] {
    const v = this.effective(path);
    return Array.isArray(v) ? v : [];
  }

  /** Methods this run trains: `method` and those in `compare`. */
  methods(): string[] {
    const method = this.string(['method']);
    return [...(method ? [method] : []), ...this.list(['compare']).filter((m): m is string => typeof m === 'string')];
  }
}

interface IgnoredRule {
  path: ConfigPath;
  /** Why the key has no effect here, or undefined when it has. */
  reason: (view: ConfigView) => string | undefined;
}

const notTrained = (method: string) => (view: ConfigView): string | undefined => {
  const current = view.string(['method']);
  if (current === undefined || view.methods().includes(method)) return undefined;
  return `\`method\` is \`${current}\` and \`compare\` does not name \`${method}\``;
};
const metricNot = (...metrics: string[]) => (view: ConfigView): string | undefined => {
  if (view.has(['spruft', 'selectionFrom'])) return 'rows come from `spruft.selectionFrom`; nothing is scored';
  const metric = view.string(['spruft', 'importance', 'metric']);
  return metric && !metrics.includes(metric) ? `the metric is \`${metric}\`; it is read by ${codeList(metrics)} only` : undefined;
};
const scheduleNot = (schedule: string) => (view: ConfigView): string | undefined => {
  const s = view.string(['training', 'schedule']);
  return s !== schedule ? `\`training.schedule\` is \`${s}\`` : undefined;
};
const formatIs = (...formats: string[]) => (view: ConfigView): string | undefined => {
  const format = view.string(['data', 'format']) ?? 'text';
  return formats.includes(format) ? `\`data.format\` is \`${format}\`` : undefined;
};
const taskIs = (...tasks: string[]) => (view: ConfigView): string | undefined => {
  const task = view.string(['task']);
  return task && tasks.includes(task) ? `\`task\` is \`${task}\`` : undefined;
};

/** `training.epochs` above this is a warning; above MAX_EPOCHS an error (a run that cannot finish). */
const MAX_SENSIBLE_EPOCHS = 1000;
const MAX_EPOCHS = 100_000;

/** Keys that do nothing given other keys: said as warnings, so a setting is never silently dropped. */
const IGNORED_RULES: IgnoredRule[] = [
  { path: ['lora'], reason: notTrained('lora') },
  { path: ['spruft'], reason: notTrained('spruft') },
  {
    path: ['targets'],
    reason: (view) =>
      view.string(['method']) === undefined || view.methods().some((m) => m === 'spruft' || m === 'lora') ? undefined : 'neither `spruft` nor `lora` is trained',
  },
  { path: ['spruft', 'importance', 'perturbations'], reason: metricNot('zo-taylor') },
  { path: ['spruft', 'importance', 'calibrationSets'], reason: metricNot('zo-taylor') },
  { path: ['spruft', 'importance', 'epsilon'], reason: metricNot('zo-taylor') },
  { path: ['spruft', 'importance', 'classAggregation'], reason: metricNot('qm-taylor') },
  { path: ['spruft', 'importance', 'classScore'], reason: metricNot('qm-taylor') },
  { path: ['spruft', 'importance', 'calibrationBatches'], reason: metricNot('taylor', 'qm-taylor') },
  { path: ['spruft', 'importance', 'seed'], reason: metricNot('random', 'zo-taylor') },
  { path: ['training', 'minLr'], reason: scheduleNot('cosine') },
  { path: ['training', 'linearDecayTo'], reason: scheduleNot('linear') },
  { path: ['data', 'image'], reason: taskIs('text-classification', 'causal-lm') },
  { path: ['data', 'text'], reason: taskIs('image-classification') },
  { path: ['data', 'text', 'labelField'], reason: taskIs('causal-lm') },
  { path: ['data', 'classes'], reason: taskIs('causal-lm') },
  { path: ['data', 'labelNames'], reason: taskIs('causal-lm') },
  { path: ['head'], reason: taskIs('causal-lm') },
  { path: ['data', 'promptTemplate'], reason: formatIs('text') },
  { path: ['data', 'chatTemplate'], reason: formatIs('text') },
  { path: ['data', 'text', 'field'], reason: formatIs('alpaca', 'chat') },
  { path: ['data', 'evalFraction'], reason: (view) => (view.has(['data', 'evalPath']) ? '`data.evalPath` gives the evaluation data' : undefined) },
];

/** Checks that relate several keys; all pure (no files, no model). */
function crossChecks(parsed: ParsedRunConfig, view: ConfigView, out: ConfigDiagnostic[]): void {
  const at = (path: ConfigPath, part: 'key' | 'value' = 'value') => rangeOfPath(parsed, path, part);
  const task = view.raw(['task']);
  const dataset = view.raw(['data', 'dataset']);
  const validTask = typeof task === 'string' && task in TASK_DATASETS ? (task as keyof typeof TASK_DATASETS) : undefined;

  if (validTask && typeof dataset === 'string') {
    const fits = TASK_DATASETS[validTask] as readonly string[];
    if (!fits.includes(dataset)) {
      out.push({
        severity: 'error',
        code: 'dataset-task-mismatch',
        message: `\`data.dataset: ${dataset}\` does not fit \`task: ${validTask}\`; that task reads ${codeList(fits)}.`,
        range: at(['data', 'dataset']),
        path: ['data', 'dataset'],
        fixes: fits.map((d) => ({ title: `Change to \`${d}\``, range: at(['data', 'dataset']), newText: d })),
      });
    }
  }
  if (typeof dataset === 'string' && DEFAULT_DATA_PATHS[dataset as keyof typeof DEFAULT_DATA_PATHS] === undefined && !view.has(['data', 'path'])) {
    out.push({
      severity: 'error',
      code: 'missing-key',
      message: `Missing \`data.path\`: the dataset \`${dataset}\` is read from a file or folder that you name. Add \`path:\` under \`data\`.`,
      range: at(['data'], 'key'),
      path: ['data', 'path'],
    });
  }

  const format = view.raw(['data', 'format']);
  if ((INSTRUCTION_FORMATS as readonly unknown[]).includes(format)) {
    if (validTask && validTask !== 'causal-lm') {
      out.push({
        severity: 'error', code: 'format-task-mismatch', path: ['data', 'format'], range: at(['data', 'format']),
        message: `\`data.format: ${String(format)}\` is instruction tuning, which needs \`task: causal-lm\`, but \`task\` is \`${validTask}\`.`,
      });
    } else if (typeof dataset === 'string' && dataset !== 'jsonl') {
      out.push({
        severity: 'error', code: 'format-dataset-mismatch', path: ['data', 'format'], range: at(['data', 'format']),
        message: `\`data.format: ${String(format)}\` reads records from \`jsonl\` (JSONL or a JSON array), but \`data.dataset\` is \`${dataset}\`.`,
        fixes: [{ title: 'Change to `jsonl`', range: at(['data', 'dataset']), newText: 'jsonl' }],
      });
    }
  }
  if (view.has(['evaluation']) && validTask && validTask !== 'causal-lm') {
    out.push({
      severity: 'error', code: 'evaluation-needs-causal-lm', path: ['evaluation'], range: at(['evaluation'], 'key'),
      message: `\`evaluation.tasks\` scores zero-shot multiple choice by a language model's log-likelihoods, which needs \`task: causal-lm\`, but \`task\` is \`${validTask}\`.`,
    });
  }

  const metric = view.raw(['spruft', 'importance', 'metric']);
  if (metric === 'qm-taylor' && validTask && !(LABELLED_TASKS as readonly string[]).includes(validTask) && view.methods().includes('spruft')) {
    out.push({
      severity: 'error',
      code: 'metric-needs-labels',
      message: `\`qm-taylor\` scores neurons per class (paper eq. 6-7) and needs a labelled classification task, but \`task\` is \`${validTask}\`. Use \`taylor\`, \`zo-taylor\` or \`l2\`.`,
      range: at(['spruft', 'importance', 'metric']),
      path: ['spruft', 'importance', 'metric'],
      fixes: ['zo-taylor', 'taylor', 'l2'].map((m) => ({ title: `Change to \`${m}\``, range: at(['spruft', 'importance', 'metric']), newText: m })),
    });
  }

  const labelCount = typeof dataset === 'string' ? DATASET_LABEL_COUNTS[dataset as keyof typeof DATASET_LABEL_COUNTS] : undefined;
  const classes = view.raw(['data', 'classes']);
  if (labelCount !== undefined && Array.isArray(classes)) {
    classes.forEach((c, i) => {
      if (typeof c === 'number' && c >= labelCount) {
        out.push({
          severity: 'error',
          code: 'out-of-range',
          message: `\`data.classes\`: label ${c} does not exist in \`${String(dataset)}\`, whose labels are 0 to ${labelCount - 1}.`,
          range: at(['data', 'classes', i]),
          path: ['data', 'classes', i],
        });
      }
    });
  }
  const labelNames = view.raw(['data', 'labelNames']);
  const labels = Array.isArray(classes) ? classes.length : labelCount;
  if (Array.isArray(labelNames) && labels !== undefined && labelNames.length !== labels && validTask !== 'causal-lm') {
    out.push({
      severity: 'error',
      code: 'label-names-count',
      message: `\`data.labelNames\` has ${labelNames.length} names but there are ${labels} labels (${Array.isArray(classes) ? '`data.classes`' : `\`${String(dataset)}\``}); give one name per label, in label order.`,
      range: at(['data', 'labelNames']),
      path: ['data', 'labelNames'],
    });
  }

  const method = view.string(['method']);
  const compare = view.raw(['compare']);
  if (typeof method === 'string' && Array.isArray(compare)) {
    const index = compare.indexOf(method);
    if (index >= 0) {
      out.push({
        severity: 'information',
        code: 'redundant-compare',
        message: `\`compare\` names \`${method}\`, which is already \`method\`; it is trained once.`,
        range: at(['compare', index]),
        path: ['compare', index],
      });
    }
  }

  const lr = view.raw(['training', 'lr']);
  if (typeof lr === 'number' && lr > 0.1) {
    out.push({
      severity: 'warning',
      code: 'unusual-value',
      message: `\`training.lr\` is ${lr}, far above fine-tuning rates (paper 5.3: 1e-4 for image models, 2e-5 for SPruFT on Llama); training will likely diverge.`,
      range: at(['training', 'lr']),
      path: ['training', 'lr'],
    });
  }

  // Data-parallel ranks split every batch (engine/parallel): each needs at least one example of it.
  const workers = view.number(['training', 'workers']);
  const batchSize = view.number(['training', 'batchSize']);
  if (workers !== undefined && batchSize !== undefined && workers > batchSize) {
    const path: ConfigPath = view.has(['training', 'workers']) ? ['training', 'workers'] : ['training', 'batchSize'];
    out.push({
      severity: 'error',
      code: 'workers-exceed-batch',
      message: `\`training.workers\` (${workers}) exceeds \`training.batchSize\` (${batchSize}): each worker computes a share of every batch. Use at most ${batchSize} workers, or a larger batch.`,
      range: at(path),
      path,
    });
  }

  // Values the schema allows but no run could finish (or that would exhaust memory first).
  const epochs = view.raw(['training', 'epochs']);
  if (typeof epochs === 'number' && epochs > MAX_SENSIBLE_EPOCHS) {
    out.push({
      severity: epochs > MAX_EPOCHS ? 'error' : 'warning',
      code: 'unusual-value',
      message: `\`training.epochs\` is ${epochs}: ${epochs > MAX_EPOCHS ? `more than the ${MAX_EPOCHS.toLocaleString('en')} passes a run accepts` : 'far more passes than fine-tuning takes (paper 5.3 and C.1: 5 epochs)'}; set \`training.maxSteps\` to bound a run by steps.`,
      range: at(['training', 'epochs']),
      path: ['training', 'epochs'],
    });
  }

  // The schema's pattern lets `.` and `..` through; either would put the run folder outside output.dir.
  const outputName = view.raw(['output', 'name']);
  if (outputName === '.' || outputName === '..') {
    out.push({
      severity: 'error',
      code: 'invalid-value',
      message: `\`output.name\` is \`${outputName}\`: it names a folder inside \`output.dir\`, so it cannot be \`.\` or \`..\`. Use a name such as \`my-run\`.`,
      range: at(['output', 'name']),
      path: ['output', 'name'],
    });
  }

  for (const rule of IGNORED_RULES) {
    if (!view.has(rule.path)) continue;
    const reason = rule.reason(view);
    if (!reason) continue;
    out.push({
      severity: 'warning',
      code: 'ignored-option',
      message: `\`${formatPath(rule.path)}\` has no effect: ${reason}.`,
      range: at(rule.path, 'key'),
      path: rule.path,
      fixes: removeFix(parsed, rule.path),
    });
  }
}

/** The key paths the cross-key rules read (a test checks each exists in the schema). */
export const CROSS_CHECK_PATHS: ConfigPath[] = IGNORED_RULES.map((r) => r.path);

function byPosition(a: ConfigDiagnostic, b: ConfigDiagnostic): number {
  return a.range.start.line - b.range.start.line || a.range.start.character - b.range.start.character;
}

/**
 * Check a parsed run config against the schema and the rules between keys. Never
 * throws; returns the findings in document order (at most MAX_DIAGNOSTICS + 1).
 */
export function validateRunConfig(parsed: ParsedRunConfig): ValidationResult {
  const diagnostics = [...parsed.diagnostics];
  const document = parsed.document;
  if (!document) return { diagnostics, value: undefined };
  const ctx: WalkContext = { parsed, document, out: diagnostics, keyIndex: allSchemaKeys() };
  const contents = document.contents as ParsedNode | null;
  let value: unknown;
  if (!contents || (isScalar(contents) && contents.value === null)) {
    value = walkMap(ctx, emptyMap(document), runConfigSchema, [], [0, 0]);
  } else {
    value = walk(ctx, contents, runConfigSchema, [], [0, 0]);
  }
  crossChecks(parsed, new ConfigView(value), diagnostics);
  diagnostics.sort(byPosition);
  const capped = capDiagnostics(diagnostics, parsed.lines);
  const hasError = capped.some((d) => d.severity === 'error');
  return { diagnostics: capped, value, ...(hasError ? {} : { config: value as RunConfigFile }) };
}

function emptyMap(document: Document.Parsed): YAMLMap.Parsed {
  return document.createNode({}) as unknown as YAMLMap.Parsed;
}

export function capDiagnostics(diagnostics: ConfigDiagnostic[], lines: LineIndex): ConfigDiagnostic[] {
  if (diagnostics.length <= MAX_DIAGNOSTICS) return diagnostics;
  const last = diagnostics[MAX_DIAGNOSTICS]!;
  return [
    ...diagnostics.slice(0, MAX_DIAGNOSTICS),
    {
      severity: 'error',
      code: 'too-many-problems',
      message: `${diagnostics.length - MAX_DIAGNOSTICS} more problems are not shown; fix the ones above first.`,
      range: last.range ?? { start: lines.positionAt(0), end: lines.positionAt(0) },
      path: [],
    },
  ];
}

/** Parse and check in one step. */
export function checkRunConfigText(text: string, syntax: ConfigSyntax = 'yaml'): ValidationResult & { parsed: ParsedRunConfig } {
  const parsed = parseRunConfig(text, syntax);
  return { parsed, ...validateRunConfig(parsed) };
}
