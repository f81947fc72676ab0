/**
 * Tables of examples, as the ecosystem ships them: CSV and TSV (csv-parse), JSONL, and
 * Parquet (hyparquet; the format Hugging Face datasets are downloaded in). Rows are read
 * as a stream (a file is never read whole; Parquet one row group at a time), mapped to
 * examples through `data.columns` (text, text pair, label, image path or bytes), and
 * labels resolved against the label names.
 *
 * Bad data never trains silently: a missing column, an empty cell, a label outside the
 * label list, a row that does not parse gives a `DataIssue` naming the file and row; the
 * read fails on the first one, or (`onError: 'skip'`) drops the row and counts it.
 */
import { createReadStream, existsSync } from 'node:fs';
import { statRegularFile } from '../io/regularFile';
import { dirname, extname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { parse as parseCsv } from 'csv-parse';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from 'hyparquet';
import { SpruftError } from '../errors';
import { getField } from './fields';

export type TableFormat = 'csv' | 'tsv' | 'jsonl' | 'parquet';
export type OnDataError = 'error' | 'skip';

/** One row: its 1-based row number as a person finds it (CSV/TSV/JSONL: the line), and its cells. */
export interface TableRow {
  row: number;
  values: Record<string, unknown>;
}

/** A problem with one row, file or image: where (`file:row` or a path) and what. */
export interface DataIssue {
  where: string;
  message: string;
}

/** Issues met under `onError: 'skip'`; under `'error'` the first one throws. */
export class DataIssues {
  readonly items: DataIssue[] = [];
  constructor(readonly onError: OnDataError) {}

  add(where: string, message: string): void {
    if (this.onError === 'error') {
      throw new SpruftError('DATA_INVALID', `${message} (set data.onError: skip to leave such rows out and count them)`, where);
    }
    this.items.push({ where, message });
  }

  /** "skipped 3 (first: a.csv:7: label ...)", or '' when nothing was skipped. */
  summary(what: string): string {
    if (this.items.length === 0) return '';
    const first = this.items[0];
    return `skipped ${this.items.length} ${what}${this.items.length === 1 ? '' : 's'} with bad data (first: ${first.where}: ${first.message})`;
  }
}

const FORMAT_BY_EXTENSION: Record<string, TableFormat> = {
  '.csv': 'csv', '.tsv': 'tsv', '.tab': 'tsv', '.jsonl': 'jsonl', '.ndjson': 'jsonl', '.json': 'jsonl', '.parquet': 'parquet', '.pq': 'parquet',
};

/** The table format of a file, from the declared dataset or else its extension. */
export function tableFormatOf(path: string, declared?: string): TableFormat {
  if (declared === 'csv' || declared === 'tsv' || declared === 'jsonl' || declared === 'parquet') return declared;
  const format = FORMAT_BY_EXTENSION[extname(path).toLowerCase()];
  if (!format) throw new SpruftError('DATA_INVALID', `cannot tell the table format from the extension "${extname(path)}"; use .csv, .tsv, .jsonl or .parquet`, path);
  return format;
}

function requireFile(path: string): void {
  if (!existsSync(path)) throw new SpruftError('FILE_NOT_FOUND', 'data file not found; check data.path', path);
  // A FIFO or a device would stream without end: regular files only (io/regularFile).
  statRegularFile(path, 'data file (CSV, TSV, JSONL or Parquet)', 'DATA_INVALID');
}

async function* csvRows(path: string, delimiter: ',' | '\t', issues: DataIssues): AsyncGenerator<TableRow> {
  // TSV as GLUE and HF export it: no quoting (a quote is part of the text).
  const parser = createReadStream(path).pipe(parseCsv({
    delimiter, bom: true, columns: true, info: true, skip_empty_lines: true, relax_column_count: true,
    quote: delimiter === '\t' ? false : '"', trim: false,
  }));
  let columns: string[] | undefined;
  try {
    for await (const record of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number; invalid_field_length: number } }>) {
      const line = record.info.lines;
      columns ??= Object.keys(record.record);
      const cells = Object.keys(record.record).length;
      if (cells !== columns.length || record.info.invalid_field_length > 0) {
        issues.add(`${path}:${line}`, `row has a different number of cells than the header (${columns.length}: ${columns.join(', ')})`);
        continue;
      }
      yield { row: line, values: record.record };
    }
  } catch (err) {
    if (err instanceof SpruftError) throw err;
    const e = err as Error & { lines?: number };
    throw new SpruftError('DATA_INVALID', `not valid ${delimiter === ',' ? 'CSV' : 'TSV'}: ${e.message}`, e.lines ? `${path}:${e.lines}` : path);
  }
}

async function* jsonlRows(path: string, issues: DataIssues): AsyncGenerator<TableRow> {
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  let line = 0;
  for await (let text of lines) {
    line += 1;
    if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      issues.add(`${path}:${line}`, `not valid JSON (${(err as Error).message}); each line must be one JSON object`);
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      issues.add(`${path}:${line}`, 'not a JSON object');
      continue;
    }
    yield { row: line, values: value as Record<string, unknown> };
  }
}

async function openParquet(path: string): Promise<{ file: Awaited<ReturnType<typeof asyncBufferFromFile>>; metadata: Awaited<ReturnType<typeof parquetMetadataAsync>> }> {
  const file = await asyncBufferFromFile(path);
  try {
    return { file, metadata: await parquetMetadataAsync(file) };
  } catch (err) {
    throw new SpruftError('DATA_INVALID', `not a readable Parquet file (${(err as Error).message})`, path);
  }
}

async function* parquetRows(path: string, columns?: string[]): AsyncGenerator<TableRow> {
  const { file, metadata } = await openParquet(path);
  let start = 0;
  // One row group at a time: a file larger than memory streams.
  for (const group of metadata.row_groups) {
    const end = start + Number(group.num_rows);
    let rows: Array<Record<string, unknown>>;
    try {
      // utf8: false keeps un-annotated byte arrays (HF image bytes) binary; STRING columns stay strings.
      rows = await parquetReadObjects({ file, metadata, columns, rowStart: start, rowEnd: end, utf8: false });
    } catch (err) {
      throw new SpruftError('DATA_INVALID', `rows ${start + 1}-${end} cannot be read (${(err as Error).message})`, path);
    }
    for (let i = 0; i < rows.length; i++) yield { row: start + i + 1, values: rows[i] };
    start = end;
  }
}

/** The column names of a table (CSV header, Parquet schema, the first JSONL record's keys). */
export async function tableColumns(path: string, format: TableFormat): Promise<string[]> {
  requireFile(path);
  if (format === 'parquet') {
    const { metadata } = await openParquet(path);
    return parquetSchema(metadata).children.map((c) => c.element.name);
  }
  const first = await readTableRows(path, format, new DataIssues('skip')).next();
  return first.done ? [] : Object.keys(first.value.values);
}

/** Every row of a table, streamed. `columns` limits what Parquet decodes. */
export function readTableRows(path: string, format: TableFormat, issues: DataIssues, columns?: string[]): AsyncGenerator<TableRow> {
  requireFile(path);
  switch (format) {
    case 'csv':
      return csvRows(path, ',', issues);
    case 'tsv':
      return csvRows(path, '\t', issues);
    case 'jsonl':
      return jsonlRows(path, issues);
    case 'parquet':
      return parquetRows(path, columns);
  }
}

// ---------------------------------------------------------------- labelled examples

/** Which column holds what (`data.columns`). Dotted paths reach into objects. */
export interface ColumnMapping {
  text?: string;
  textPair?: string;
  label?: string;
  /** An image: a path (relative to the table's folder) or bytes (HF's `{bytes, path}` struct, or raw bytes). */
  image?: string;
}

/** An image as a table names it: a file, or bytes held in the table. */
export type ImageRef = { path: string } | { bytes: Uint8Array; where: string };

export interface LabelledTable {
  /** Rows read (kept + skipped). */
  rows: number;
  texts?: string[];
  textPairs?: string[];
  images?: ImageRef[];
  /** 0..labelNames.length-1 (regression: all 0, one name, the label column's). */
  labels: Int32Array;
  labelNames: string[];
  /** Regression (`labelKind: 'value'`): each example's number (GLUE STS-B's similarity score). */
  values?: Float32Array;
  /** Where each kept example came from (`file:row`), for messages. */
  where: string[];
  issues: DataIssues;
}

export interface LabelledTableOptions {
  format?: TableFormat;
  columns: ColumnMapping & { label: string };
  /** What must be mapped: the task's inputs. */
  needs: Array<'text' | 'textPair' | 'image'>;
  labelNames?: string[];
  /** `class` (default): labels are names or indices; `value`: numbers to regress on (head.problemType: regression). */
  labelKind?: 'class' | 'value';
  onError?: OnDataError;
  /** Folder that relative image paths start from. Default: the table's folder. */
  baseDir?: string;
}

/**
 * A label as the table writes it -> its index. With label names: a name in the list, or an
 * integer (or integer string, as CSV writes it) indexing the list. Without: see `finishLabels`.
 */
function labelKey(raw: unknown): string | number | undefined {
  if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 0) return raw;
  if (typeof raw === 'bigint' && raw >= 0n) return Number(raw);
  if (typeof raw === 'string' && raw.trim() !== '') return raw.trim();
  if (typeof raw === 'boolean') return raw ? 1 : 0;
  return undefined;
}

/** A regression label: a finite number, or a string that is one (as CSV and TSV write it). */
function labelValue(raw: unknown): number | undefined {
  const v = typeof raw === 'number' ? raw : typeof raw === 'bigint' ? Number(raw) : typeof raw === 'string' && raw.trim() !== '' ? Number(raw.trim()) : NaN;
  return Number.isFinite(v) ? v : undefined;
}

function indexOfLabel(key: string | number, names: string[]): number | undefined {
  if (typeof key === 'string') {
    const at = names.indexOf(key);
    if (at >= 0) return at;
    if (/^\d+$/.test(key)) key = Number(key);
    else return undefined;
  }
  return key < names.length ? key : undefined;
}

function imageRef(value: unknown, baseDir: string, where: string): ImageRef | string {
  if (typeof value === 'string') return value === '' ? 'empty image path' : { path: isAbsolutePath(value) ? value : join(baseDir, value) };
  if (value instanceof Uint8Array) return { bytes: value, where };
  if (typeof value === 'object' && value !== null) {
    // Hugging Face's Image feature: {bytes, path}; bytes win, the path is only a name then.
    const v = value as Record<string, unknown>;
    if (v.bytes instanceof Uint8Array && v.bytes.length > 0) return { bytes: v.bytes, where };
    if (typeof v.path === 'string' && v.path !== '') return { path: isAbsolutePath(v.path) ? v.path : join(baseDir, v.path) };
  }
  return `image cell holds neither a path nor bytes (${typeof value})`;
}

function isAbsolutePath(p: string): boolean {
  return p.startsWith('/') || /^[A-Za-z]:[\\/]/.test(p);
}

/** Read a labelled table with its column mapping; see the module comment for the rules. */
export async function readLabelledTable(path: string, o: LabelledTableOptions): Promise<LabelledTable> {
  const format = o.format ?? tableFormatOf(path);
  const issues = new DataIssues(o.onError ?? 'error');
  const baseDir = o.baseDir ?? dirname(path);
  const wanted: Array<[string, string]> = [['label', o.columns.label]];
  for (const need of o.needs) {
    const column = o.columns[need];
    if (!column) throw new SpruftError('CONFIG_INVALID', `data.columns.${need} must name the column that holds the ${need === 'textPair' ? 'second text' : need}`, path);
    wanted.push([need, column]);
  }
  // A column the table does not have at all is one error about the file, not one per row.
  const header = await tableColumns(path, format);
  for (const [role, column] of wanted) {
    const top = column.split('.')[0];
    if (header.length > 0 && !header.includes(column) && !header.includes(top)) {
      throw new SpruftError('DATA_INVALID', `no column "${column}" (data.columns.${role}); the table's columns are ${header.join(', ')}`, path);
    }
  }
  const texts: string[] = [];
  const textPairs: string[] = [];
  const images: ImageRef[] = [];
  const keys: Array<string | number> = [];
  const numbers: number[] = [];
  const where: string[] = [];
  let rows = 0;
  const parquetColumns = format === 'parquet' ? [...new Set(wanted.map(([, c]) => c.split('.')[0]))] : undefined;
  for await (const { row, values } of readTableRows(path, format, issues, parquetColumns)) {
    rows += 1;
    const at = `${path}:${row}`;
    const cell = (role: string, column: string): unknown => {
      const v = getField(values, column);
      if (v === undefined || v === null) issues.add(at, `row has no value in column "${column}" (data.columns.${role})`);
      return v;
    };
    const rawLabel = cell('label', o.columns.label);
    if (rawLabel === undefined || rawLabel === null) continue;
    if (o.labelKind === 'value') {
      const value = labelValue(rawLabel);
      if (value === undefined) {
        issues.add(at, `label ${JSON.stringify(typeof rawLabel === 'bigint' ? String(rawLabel) : rawLabel)} is not a number (head.problemType: regression reads numbers)`);
        continue;
      }
      numbers.push(value);
    }
    const key = o.labelKind === 'value' ? 0 : labelKey(rawLabel);
    if (key === undefined) {
      issues.add(at, `label ${JSON.stringify(typeof rawLabel === 'bigint' ? String(rawLabel) : rawLabel)} is neither a name nor a non-negative integer`);
      continue;
    }
    if (o.labelKind !== 'value' && o.labelNames && indexOfLabel(key, o.labelNames) === undefined) {
      issues.add(at, `label ${JSON.stringify(key)} is not one of the label names (${o.labelNames.join(', ')})`);
      continue;
    }
    let ok = true;
    let text: string | undefined;
    let pair: string | undefined;
    let image: ImageRef | undefined;
    for (const need of o.needs) {
      const column = o.columns[need]!;
      const v = cell(need, column);
      if (v === undefined || v === null) { ok = false; break; }
      if (need === 'image') {
        const ref = imageRef(v, baseDir, at);
        if (typeof ref === 'string') { issues.add(at, ref); ok = false; break; }
        image = ref;
      } else if (typeof v !== 'string') {
        issues.add(at, `column "${column}" holds a ${typeof v}, not text`);
        ok = false;
        break;
      } else if (need === 'text') text = v;
      else pair = v;
    }
    if (!ok) {
      if (o.labelKind === 'value') numbers.pop();
      continue;
    }
    if (text !== undefined) texts.push(text);
    if (pair !== undefined) textPairs.push(pair);
    if (image !== undefined) images.push(image);
    keys.push(key);
    where.push(at);
  }
  const { labels, labelNames } = o.labelKind === 'value'
    ? { labels: new Int32Array(keys.length), labelNames: [o.columns.label] }
    : finishLabels(keys, o.labelNames, where);
  return {
    rows, labels, labelNames, issues, where,
    ...(o.labelKind === 'value' ? { values: Float32Array.from(numbers) } : {}),
    ...(o.needs.includes('text') ? { texts } : {}),
    ...(o.needs.includes('textPair') ? { textPairs } : {}),
    ...(o.needs.includes('image') ? { images } : {}),
  };
}

/**
 * Label keys -> indices. With names: as `indexOfLabel`. Without: integer labels (numbers,
 * or integer strings throughout) are named "0".."max"; otherwise names are sorted (as
 * torchvision's ImageFolder sorts class folders). Mixed kinds are an error.
 */
export function finishLabels(keys: Array<string | number>, names: string[] | undefined, where: string[]): { labels: Int32Array; labelNames: string[] } {
  const labels = new Int32Array(keys.length).fill(-1);
  if (names) {
    keys.forEach((k, i) => { labels[i] = indexOfLabel(k, names)!; });
    return { labels, labelNames: names };
  }
  const integers = keys.every((k) => typeof k === 'number' || /^\d+$/.test(k));
  const strings = keys.every((k) => typeof k === 'string');
  if (!integers && !strings) {
    const first = keys.findIndex((k) => typeof k === 'number');
    throw new SpruftError('DATA_INVALID', 'labels mix integers and names; use one kind, or list data.labelNames', where[first]);
  }
  let labelNames: string[];
  if (integers) {
    const max = keys.reduce<number>((m, k) => Math.max(m, Number(k)), -1);
    if (max > 100_000) throw new SpruftError('DATA_INVALID', `label ${max} is too large for a class index; list data.labelNames`, where[keys.findIndex((k) => Number(k) === max)]);
    labelNames = Array.from({ length: max + 1 }, (_, i) => String(i));
    keys.forEach((k, i) => { labels[i] = Number(k); });
  } else {
    labelNames = [...new Set(keys as string[])].sort();
    const index = new Map(labelNames.map((n, i) => [n, i]));
    keys.forEach((k, i) => { labels[i] = index.get(k as string)!; });
  }
  return { labels, labelNames };
}

/** Examples per label, in label order. */
export function classBalance(labels: Int32Array, labelNames: string[]): Array<{ label: string; count: number }> {
  const counts = new Array<number>(labelNames.length).fill(0);
  for (const l of labels) if (l >= 0) counts[l] += 1;
  return labelNames.map((label, i) => ({ label, count: counts[i] }));
}

/** Labels with no example: an error (or, under skip, a counted issue) naming them. */
export function checkNoEmptyClass(labels: Int32Array, labelNames: string[], where: string, issues: DataIssues): void {
  const empty = classBalance(labels, labelNames).filter((c) => c.count === 0).map((c) => c.label);
  if (empty.length > 0) issues.add(where, `label${empty.length === 1 ? '' : 's'} ${empty.map((e) => JSON.stringify(e)).join(', ')} ha${empty.length === 1 ? 's' : 've'} no example`);
}
