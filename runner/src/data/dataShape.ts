/**
 * The shape of a run's data before the run: examples, classes and their balance, and the
 * problems a run would refuse (or skip). What `spruft check` prints and the language
 * server shows on `data.path`. Reads names and rows only (no image is decoded), and
 * leaves tables over `MAX_SCAN_BYTES` to the run itself.
 */
import { statSync } from 'node:fs';
import { IMAGE_FILE_DATASETS, TABLE_DATASETS, type ResolvedRunConfig } from '../../../protocol/config';
import { SpruftError } from '../errors';
import { listImageFolder } from './imageFolder';
import { DataIssues, classBalance, readLabelledTable, tableFormatOf, type DataIssue } from './tabular';

/** Tables larger than this are not scanned while editing (a run reads them whole). */
export const MAX_SCAN_BYTES = 64 * 1024 * 1024;

export interface DataShape {
  examples: number;
  classes: Array<{ label: string; count: number }>;
  /** A regression (head.problemType: regression): the labels' range and mean instead of classes. */
  values?: { min: number; max: number; mean: number };
  /** What a run would refuse under `onError: error`, or skip under `skip`. */
  issues: DataIssue[];
}

/** Datasets whose shape is read here: the user's own files. */
export function hasDataShape(config: ResolvedRunConfig): boolean {
  const d = config.data.dataset;
  if (config.task === 'image-classification') return IMAGE_FILE_DATASETS.includes(d);
  // JSONL text keeps its own first-record check (semantic.ts).
  return config.task === 'text-classification' && TABLE_DATASETS.includes(d) && d !== 'jsonl';
}

/** The data's shape, or undefined when the file is too large to scan while editing. Throws SpruftError for unreadable data. */
export async function readDataShape(config: ResolvedRunConfig, path: string): Promise<DataShape | undefined> {
  const d = config.data;
  const issues = new DataIssues('skip');
  if (statSync(path).isDirectory()) {
    if (d.dataset !== 'image-folder') throw new SpruftError('DATA_INVALID', `dataset ${d.dataset} reads a file, but this is a folder`, path);
    const set = listImageFolder(path, { labelNames: d.labelNames, issues });
    return { examples: set.refs.length, classes: classBalance(set.labels, set.labelNames), issues: issues.items };
  }
  if (statSync(path).size > MAX_SCAN_BYTES) return undefined;
  const image = config.task === 'image-classification';
  const table = await readLabelledTable(path, {
    format: tableFormatOf(path, d.dataset === 'image-folder' ? undefined : d.dataset),
    columns: d.columns,
    needs: image ? ['image'] : d.columns.textPair ? ['text', 'textPair'] : ['text'],
    labelNames: d.labelNames, onError: 'skip', labelKind: config.head.problemType === 'regression' ? 'value' : 'class',
  });
  if (table.values) {
    const v = Array.from(table.values);
    const values = v.length ? { min: Math.min(...v), max: Math.max(...v), mean: v.reduce((a, b) => a + b, 0) / v.length } : undefined;
    return { examples: v.length, classes: [], ...(values ? { values } : {}), issues: table.issues.items };
  }
  const classes = classBalance(table.labels, table.labelNames);
  const empty = classes.filter((c) => c.count === 0).map((c) => c.label);
  const all = [...table.issues.items];
  if (empty.length > 0) all.push({ where: path, message: `label${empty.length === 1 ? '' : 's'} ${empty.map((e) => JSON.stringify(e)).join(', ')} ha${empty.length === 1 ? 's' : 've'} no example` });
  return { examples: table.labels.length, classes, issues: all };
}

/** "1,200 examples in 3 classes: cat 400 (33%), dog 500 (42%), fox 300 (25%); largest/smallest 1.7" */
export function describeDataShape(shape: DataShape, what: string): string {
  const n = shape.examples;
  if (shape.values) {
    const { min, max, mean } = shape.values;
    // float32 labels: 7 significant digits give back the numbers the file wrote.
    const shown = (x: number): string => String(Number(x.toPrecision(7)));
    return `${n.toLocaleString('en-US')} ${what}${n === 1 ? '' : 's'} with numeric labels from ${shown(min)} to ${shown(max)} (mean ${mean.toFixed(3)})`;
  }
  const counts = shape.classes.map((c) => c.count).filter((c) => c > 0);
  const shown = shape.classes.slice(0, 12).map((c) => `${c.label} ${c.count.toLocaleString('en-US')} (${n ? Math.round((100 * c.count) / n) : 0}%)`).join(', ');
  const more = shape.classes.length > 12 ? `, and ${shape.classes.length - 12} more` : '';
  const ratio = counts.length > 1 ? `; largest/smallest class ${(Math.max(...counts) / Math.min(...counts)).toFixed(1)}` : '';
  return `${n.toLocaleString('en-US')} ${what}${n === 1 ? '' : 's'} in ${shape.classes.length} classes: ${shown}${more}${ratio}`;
}
