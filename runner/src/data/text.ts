/**
 * Text data: labelled JSONL files, plain-text corpora, and the byte-level tokenizer the
 * project's transformers use (no vocabulary file to ship or get wrong: ids 0..255 are the
 * UTF-8 bytes, then PAD, BOS, EOS).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { READ_LIMITS, readRegularFile, readTextFile } from '../io/regularFile';
import { extname, join } from 'node:path';
import type { Rng } from '../tensor/rng';
import { SpruftError } from '../errors';
import { locateJsonError } from '../io/jsonText';
import { getField } from './fields';
import type { DecodeOptions, TextTokenizer, TokenizerDescription } from './tokenizers/types';
import { balancedIndices, selectLabelIndices, stratifiedSplitIndices } from './sampling';

export interface TextDataset {
  n: number;
  texts: string[];
  /** 0..labelNames.length-1; -1 for every sample of an unlabelled dataset. */
  labels: Int32Array;
  labelNames: string[];
  /** The second text of each example of a pair task (GLUE's MRPC, QQP, MNLI...). */
  textPairs?: string[];
  /** Regression targets (GLUE's STS-B scores); `labels` are then all 0, one "class". */
  values?: Float32Array;
}

// ---------------------------------------------------------------- JSONL

export interface JsonlOptions {
  /** Field holding the text (a dotted path reaches into objects: "input.text"). Default "text". */
  textField?: string;
  /** Field holding the label, or null for unlabelled data. Default "label". */
  labelField?: string | null;
  /**
   * The label names, in label order. String labels must be among them; integer labels index
   * them. Without it: integer labels are named "0".."max", string labels are sorted.
   */
  labelNames?: string[];
}

/** Read `{text, label}` records, one JSON object per line; blank lines are skipped. */
export function readJsonl(path: string, options: JsonlOptions = {}): TextDataset {
  if (!existsSync(path)) throw new SpruftError('FILE_NOT_FOUND', 'JSONL file not found; check data.path', path);
  const textField = options.textField ?? 'text';
  const labelField = options.labelField === undefined ? 'label' : options.labelField;
  let content = readTextFile(path, 'JSONL file', 'DATA_INVALID', READ_LIMITS.wholeFileBytes);
  if (content.charCodeAt(0) === 0xfeff) content = content.slice(1);
  const lines = content.split('\n');
  const texts: string[] = [];
  const rawLabels: Array<string | number> = [];
  let labelKind: 'string' | 'integer' | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].endsWith('\r') ? lines[i].slice(0, -1) : lines[i];
    if (line.trim() === '') continue;
    const at = `${path}:${i + 1}`;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      const found = locateJsonError(line);
      throw new SpruftError('DATA_INVALID', `line ${i + 1} is not valid JSON${found ? `: ${found.reason}` : ''}; each line must be one JSON object`, found ? `${at}:${found.offset + 1}` : at);
    }
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      throw new SpruftError('DATA_INVALID', `line ${i + 1} is not a JSON object`, at);
    }
    const obj = record as Record<string, unknown>;
    const fields = Object.keys(obj).join(', ') || 'none';
    const text = getField(obj, textField);
    if (text === undefined) throw new SpruftError('DATA_INVALID', `line ${i + 1} has no "${textField}" field (its fields: ${fields}); set data.textField to the field that holds the text`, at);
    if (typeof text !== 'string') throw new SpruftError('DATA_INVALID', `line ${i + 1}: "${textField}" must be a string, got ${JSON.stringify(text).slice(0, 40)}`, at);
    texts.push(text);
    if (labelField === null) continue;
    const label = getField(obj, labelField);
    if (label === undefined) throw new SpruftError('DATA_INVALID', `line ${i + 1} has no "${labelField}" field (its fields: ${fields}); set data.labelField, or null for unlabelled text`, at);
    const kind = typeof label === 'string' ? 'string' : typeof label === 'number' && Number.isInteger(label) && label >= 0 ? 'integer' : undefined;
    if (!kind) throw new SpruftError('DATA_INVALID', `line ${i + 1}: label ${JSON.stringify(label)} must be a string or a non-negative integer`, at);
    if (labelKind && kind !== labelKind) throw new SpruftError('DATA_INVALID', `line ${i + 1}: label ${JSON.stringify(label)} is a ${kind} but earlier labels are ${labelKind}s; use one kind`, at);
    labelKind = kind;
    rawLabels.push(label as string | number);
  }
  const n = texts.length;
  if (labelField === null) return { n, texts, labels: new Int32Array(n).fill(-1), labelNames: [] };

  let labelNames = options.labelNames;
  if (!labelNames) {
    labelNames =
      labelKind === 'integer'
        ? Array.from({ length: Math.max(-1, ...(rawLabels as number[])) + 1 }, (_, k) => String(k))
        : [...new Set(rawLabels as string[])].sort();
  }
  const index = new Map(labelNames.map((name, k) => [name, k]));
  const labels = new Int32Array(n);
  // Line numbers for errors: the k-th record is on the k-th non-blank line.
  const lineOf = (k: number): number => {
    let seen = -1;
    for (let i = 0; i < lines.length; i++) if (lines[i].trim() !== '' && ++seen === k) return i + 1;
    return 0;
  };
  rawLabels.forEach((raw, k) => {
    const id = typeof raw === 'number' ? raw : index.get(raw);
    if (id === undefined || id >= labelNames.length) {
      throw new SpruftError('DATA_INVALID', `label ${JSON.stringify(raw)} is not one of the label names (${labelNames.join(', ')})`, `${path}:${lineOf(k)}`);
    }
    labels[k] = id;
  });
  return { n, texts, labels, labelNames };
}

// ---------------------------------------------------------------- plain-text corpora

export interface CorpusOptions {
  /** How a file is cut into documents: whole files, lines, or blank-line-separated paragraphs (default). */
  unit?: 'file' | 'line' | 'paragraph';
  /** In a folder, read files with these extensions (default [".txt"]). */
  extensions?: string[];
}

/**
 * Documents from text files: a file, a folder (its files with the given extensions, sorted
 * by name, not recursive), or a list of those. Line ends become "\n"; empty documents are
 * dropped; bytes that are not UTF-8 become U+FFFD.
 */
export function readTextCorpus(paths: string | string[], options: CorpusOptions = {}): string[] {
  const unit = options.unit ?? 'paragraph';
  const exts = options.extensions ?? ['.txt'];
  const files: string[] = [];
  for (const p of Array.isArray(paths) ? paths : [paths]) {
    if (!existsSync(p)) throw new SpruftError('FILE_NOT_FOUND', 'text corpus not found; check data.path', p);
    if (statSync(p).isDirectory()) {
      const inside = readdirSync(p)
        .filter((f) => exts.includes(extname(f).toLowerCase()) && statSync(join(p, f)).isFile())
        .sort()
        .map((f) => join(p, f));
      if (inside.length === 0) throw new SpruftError('DATA_INVALID', `no ${exts.join('/')} files in this folder`, p);
      files.push(...inside);
    } else {
      files.push(p);
    }
  }
  const docs: string[] = [];
  for (const f of files) {
    let text = readRegularFile(f, 'text file', 'DATA_INVALID').toString('utf8').replace(/\r\n?/g, '\n');
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    const parts = unit === 'file' ? [text] : unit === 'line' ? text.split('\n') : text.split(/\n[ \t]*\n/);
    for (const part of parts) {
      const doc = unit === 'line' ? part : part.trim();
      if (doc.trim() !== '') docs.push(doc);
    }
  }
  return docs;
}

// ---------------------------------------------------------------- dataset helpers

export function subsetText(ds: TextDataset, indices: ArrayLike<number>, labels?: Int32Array, labelNames?: string[]): TextDataset {
  const texts = Array.from(indices, (i) => ds.texts[i]);
  return {
    n: texts.length, texts, labels: labels ?? Int32Array.from(indices, (i) => ds.labels[i]), labelNames: labelNames ?? ds.labelNames,
    ...(ds.textPairs ? { textPairs: Array.from(indices, (i) => ds.textPairs![i]) } : {}),
    ...(ds.values ? { values: Float32Array.from(indices, (i) => ds.values![i]) } : {}),
  };
}

export function selectTextClasses(ds: TextDataset, classes: Array<number | string>): TextDataset {
  const sel = selectLabelIndices(ds.labels, ds.labelNames, classes);
  return subsetText(ds, sel.indices, sel.labels, sel.labelNames);
}

export function balancedTextLimit(ds: TextDataset, limit: number, rng: Rng): TextDataset {
  return subsetText(ds, balancedIndices(ds.labels, ds.labelNames.length, limit, rng));
}

export function splitTextHoldout(ds: TextDataset, fraction: number, rng: Rng): { train: TextDataset; holdout: TextDataset } {
  const { train, holdout } = stratifiedSplitIndices(ds.labels, ds.labelNames.length, fraction, rng);
  return { train: subsetText(ds, train), holdout: subsetText(ds, holdout) };
}

// ---------------------------------------------------------------- byte-level tokenizer

export interface ByteTokenizerOptions {
  addBos?: boolean;
  addEos?: boolean;
}

/**
 * UTF-8 bytes as tokens: ids 0..255 are bytes, 256 PAD, 257 BOS, 258 EOS (vocabulary 259).
 * Padded and truncated as every tokenizer is (tokenizers/types.ts): a text too long is cut
 * at a byte (possibly inside a multi-byte character, as byte-level models expect), and EOS
 * is kept after a cut so a sequence always ends.
 */
export class ByteTokenizer implements TextTokenizer {
  static readonly PAD = 256;
  static readonly BOS = 257;
  static readonly EOS = 258;
  static readonly VOCAB_SIZE = 259;

  readonly vocabSize = ByteTokenizer.VOCAB_SIZE;
  readonly padId = ByteTokenizer.PAD;
  readonly bosId = ByteTokenizer.BOS;
  readonly eosId = ByteTokenizer.EOS;
  readonly kind = 'byte' as const;
  readonly paddingSide = 'right' as const;
  readonly truncationSide = 'right' as const;
  readonly prefixIds: readonly number[];
  readonly suffixIds: readonly number[];
  private readonly encoder = new TextEncoder();

  constructor(options: ByteTokenizerOptions = {}) {
    this.prefixIds = options.addBos ?? true ? [this.bosId] : [];
    this.suffixIds = options.addEos ?? true ? [this.eosId] : [];
  }

  /** The UTF-8 bytes of a text. */
  encodeText(text: string): number[] {
    return Array.from(this.encoder.encode(text));
  }

  describe(): TokenizerDescription {
    return { kind: 'byte', model: 'byte', vocabSize: this.vocabSize, bos: this.bosId, eos: this.eosId, pad: this.padId };
  }

  /** Text from ids; special tokens are always skipped, invalid UTF-8 (a cut character) becomes U+FFFD. */
  decode(ids: ArrayLike<number>, _options?: DecodeOptions): string {
    const bytes: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id >= 0 && id < 256) bytes.push(id);
      else if (id !== this.padId && id !== this.bosId && id !== this.eosId) {
        throw new SpruftError('INTERNAL', `token id ${id} is outside the byte tokenizer's vocabulary (0..${this.vocabSize - 1})`);
      }
    }
    return new TextDecoder('utf-8').decode(Uint8Array.from(bytes));
  }
}
