/**
 * The schema walked directly, keyword by keyword, rather than through a generic JSON
 * Schema validator, because each finding has to say what to do in this language: the
 * nearest valid key, the section a stray key belongs to, quotes to remove. Returns the
 * plain value as far as it could be read (keys the schema knows only).
 */
import { isMap, isPair, isScalar, isSeq, type Document, type ParsedNode, type Scalar, type YAMLMap } from 'yaml';
import type { ConfigDiagnostic, ConfigFix, ConfigRange } from '../diagnostics';
import { deref, keyName, linesOfEntry, nodeRange, rangeOfPath, removeFix } from './locate';
import type { ParsedRunConfig } from './parse';
import { allSchemaKeys, allowedValues, formatPath, runConfigSchema, summaryOf, type ConfigPath, type SchemaNode } from './schema';
import { codeList, nearestNames, normalizedName, showValue } from './suggest';

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
  const range = linesOfEntry(ctx.parsed, keyNode, valueNode);
  return range ? [{ title: `Remove this \`${name}\``, range, newText: '' }] : [];
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

/** Walk a parsed document against the run-config schema; findings go to `out`. */
export function walkDocument(parsed: ParsedRunConfig, document: Document.Parsed, out: ConfigDiagnostic[]): unknown {
  const ctx: WalkContext = { parsed, document, out, keyIndex: allSchemaKeys() };
  const contents = document.contents as ParsedNode | null;
  if (!contents || (isScalar(contents) && contents.value === null)) return walkMap(ctx, emptyMap(document), runConfigSchema, [], [0, 0]);
  return walk(ctx, contents, runConfigSchema, [], [0, 0]);
}

function emptyMap(document: Document.Parsed): YAMLMap.Parsed {
  return document.createNode({}) as unknown as YAMLMap.Parsed;
}
