/** Document symbols: the sections and keys of a run config, as the outline shows them. */
import { isMap, isScalar, isSeq, type ParsedNode } from 'yaml';
import { SymbolKind, type DocumentSymbol } from 'vscode-languageserver';
import type { ParsedRunConfig } from '../../protocol/configValidate';

const MAX_DEPTH = 8;

function kindOf(node: ParsedNode | null): SymbolKind {
  if (!node) return SymbolKind.Null;
  if (isMap(node)) return SymbolKind.Module;
  if (isSeq(node)) return SymbolKind.Array;
  if (isScalar(node)) {
    if (typeof node.value === 'number') return SymbolKind.Number;
    if (typeof node.value === 'boolean') return SymbolKind.Boolean;
    if (node.value === null) return SymbolKind.Null;
  }
  return SymbolKind.String;
}

function symbolsOf(parsed: ParsedRunConfig, node: ParsedNode | null, depth: number): DocumentSymbol[] {
  if (!node || !isMap(node) || depth > MAX_DEPTH) return [];
  const out: DocumentSymbol[] = [];
  for (const pair of node.items) {
    const key = pair.key as ParsedNode | null;
    if (!key || !isScalar(key)) continue;
    const value = (pair.value as ParsedNode | null) ?? null;
    const end = value && value.range[1] > value.range[0] ? value.range[1] : key.range[1];
    const detail = value && isScalar(value) && value.value !== null ? String(value.value) : value && isSeq(value) ? `${value.items.length} items` : undefined;
    out.push({
      name: String(key.value),
      ...(detail !== undefined ? { detail: detail.length > 60 ? `${detail.slice(0, 57)}...` : detail } : {}),
      kind: kindOf(value),
      range: parsed.lines.range(key.range[0], end),
      selectionRange: parsed.lines.range(key.range[0], key.range[1]),
      children: symbolsOf(parsed, value, depth + 1),
    });
  }
  return out;
}

export function documentSymbols(parsed: ParsedRunConfig): DocumentSymbol[] {
  return parsed.document ? symbolsOf(parsed, parsed.document.contents as ParsedNode | null, 0) : [];
}
