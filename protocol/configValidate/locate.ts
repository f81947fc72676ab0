/**
 * Where things are in a parsed run config: the entry at a key path, its range (key,
 * value or whole entry), the key path under an offset, and the lines an entry spans.
 */
import { isAlias, isMap, isScalar, isSeq, type Document, type ParsedNode } from 'yaml';
import type { ConfigFix, ConfigRange } from '../diagnostics';
import { firstLineRange, type ParsedRunConfig } from './parse';
import type { ConfigPath } from './schema';

export interface LocatedEntry {
  /** The key node (maps) or undefined (sequence items). */
  key?: ParsedNode;
  /** The value node; null for `key:` with nothing after it. */
  value: ParsedNode | null;
}

export function keyName(node: ParsedNode | null): string | undefined {
  if (!node || !isScalar(node)) return undefined;
  const v = node.value;
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : v === null ? '' : undefined;
}

export function deref(node: ParsedNode | null, document: Document.Parsed): ParsedNode | null {
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

export function nodeRange(node: ParsedNode): [number, number] {
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

/** Lines an entry spans, when it starts its line (block style): what "remove" deletes. */
export function entryLinesRange(parsed: ParsedRunConfig, path: ConfigPath): ConfigRange | undefined {
  const entry = findEntry(parsed, path);
  return entry?.key ? linesOfEntry(parsed, entry.key, entry.value) : undefined;
}

/** The whole lines from a key to the end of its value, when the key starts its line. */
export function linesOfEntry(parsed: ParsedRunConfig, key: ParsedNode, value: ParsedNode | null): ConfigRange | undefined {
  const start = parsed.lines.positionAt(key.range[0]);
  const before = parsed.lines.lineText(start.line).slice(0, start.character);
  if (before.trim() !== '') return undefined;
  const endOffset = Math.max(key.range[1], value?.range[1] ?? 0);
  const end = parsed.lines.positionAt(endOffset);
  // A block value's range ends at the start of the next line; a scalar ends on its line.
  const endLine = end.character === 0 && end.line > start.line ? end.line : end.line + 1;
  if (endLine >= parsed.lines.lineCount) {
    const last = parsed.lines.lineCount - 1;
    return { start: { line: start.line, character: 0 }, end: { line: last, character: parsed.lines.lineText(last).length } };
  }
  return { start: { line: start.line, character: 0 }, end: { line: endLine, character: 0 } };
}

/** A fix that removes the entry's lines (none when it shares its line with others). */
export function removeFix(parsed: ParsedRunConfig, path: ConfigPath): ConfigFix[] {
  const range = entryLinesRange(parsed, path);
  const name = path[path.length - 1];
  return range ? [{ title: `Remove \`${name}\``, range, newText: '' }] : [];
}
