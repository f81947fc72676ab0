/**
 * What a Hugging Face architecture expects to find in its checkpoint, derived from
 * config.json alone: every tensor by its name as transformers saves it, with its shape in
 * the file, and the adaptable layers in forward order. One declaration per architecture
 * serves three readers: the loader (checkWeights: a missing, extra or mis-shaped tensor
 * is an error naming it with the expected and found shapes, never a silent mis-load), the
 * header-only inspector (`spruft inspect`, the language server) and `spruft check`.
 * No TensorFlow.js here: the language server imports it.
 */
import type { LayerKind } from '../../../protocol/results';
import { SpruftError } from '../errors';
import { isAttentionLayer } from '../config/targets';

/**
 * How a weight is laid out in its file, when that differs from the engine's layout
 * (engine: linear [d_out, d_in], conv2d [kh, kw, c_in, c_out]).
 */
export type FileLayout =
  | 'same'
  /** PyTorch conv [out, in, kh, kw] -> engine [kh, kw, in, out]. */
  | 'oihw'
  /** PyTorch depthwise conv [c, 1, kh, kw] -> engine [kh, kw, c, 1]. */
  | 'c1hw'
  /** [in, out] -> engine [out, in]: Keras Dense kernels and GPT-2's Conv1D. */
  | 'io';

/** An adaptable layer as the checkpoint declares it. */
export interface HfLayerSpec {
  /** Module name: the weight is `<name>.weight`, the bias `<name>.bias`. */
  name: string;
  kind: LayerKind;
  /** Engine shape of the weight: linear [d_out, d_in], norms [d], conv2d [kh, kw, c_in, c_out]. */
  shape: number[];
  layout: FileLayout;
  bias: boolean;
  head?: boolean;
  /** May be absent from the checkpoint (a new head or pooler), then initialised fresh. */
  optional?: boolean;
  /** Shares its weight with another tensor (a tied LM head): nothing of its own in the file. */
  tiedTo?: string;
}

export interface HfArchitectureSpec {
  /** config.json's model_type. */
  modelType: string;
  /** Adaptable layers, in forward order. */
  layers: HfLayerSpec[];
  /** Other tensors the model reads (embeddings, class token...): file name -> file shape. */
  extras: Map<string, number[]>;
  /** Extras that may be absent. */
  optionalExtras?: Set<string>;
  /** Tensors checkpoints carry that the model does not read (buffers, pretraining heads). */
  ignored?: RegExp[];
  /**
   * The task model's prefix for the base model ('transformer.', 'bert.'): checkpoints of
   * the bare model (GPT2Model, BertModel, as the hub's gpt2 and bert-base-uncased are)
   * name tensors without it, and transformers adds it when loading; so does checkWeights.
   */
  basePrefix?: string;
}

/** The file shape of an engine-layout shape. */
export function fileShape(shape: number[], layout: FileLayout): number[] {
  switch (layout) {
    case 'same': return shape;
    case 'io': return [shape[1], shape[0]];
    case 'oihw': return [shape[3], shape[2], shape[0], shape[1]];
    case 'c1hw': return [shape[2], shape[3], shape[0], shape[1]];
  }
}

/** Every tensor of the spec: name -> { file shape, optional }. */
export function expectedTensors(spec: HfArchitectureSpec): Map<string, { shape: number[]; optional: boolean }> {
  const out = new Map<string, { shape: number[]; optional: boolean }>();
  for (const l of spec.layers) {
    if (l.tiedTo) {
      // A tied head may still be saved (transformers drops it; other writers keep it).
      out.set(`${l.name}.weight`, { shape: fileShape(l.shape, l.layout), optional: true });
      continue;
    }
    out.set(`${l.name}.weight`, { shape: fileShape(l.shape, l.layout), optional: l.optional ?? false });
    if (l.bias) out.set(`${l.name}.bias`, { shape: [l.kind === 'linear' ? l.shape[0] : l.kind === 'conv2d' ? l.shape[3] : l.shape[0]], optional: l.optional ?? false });
  }
  for (const [name, shape] of spec.extras) out.set(name, { shape, optional: spec.optionalExtras?.has(name) ?? false });
  return out;
}

const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

/**
 * Check a checkpoint's tensor names and shapes against the spec. `found` maps the names
 * in the file to their shapes. Returns the file name of each expected tensor (the prefix
 * added by transformers for bare base models is accounted for) and the expected tensors
 * that are absent but optional. Throws MODEL_INVALID listing every missing, extra and
 * mis-shaped tensor with the expected and found shapes.
 */
export function checkWeights(
  spec: HfArchitectureSpec,
  found: Map<string, readonly number[]>,
  where: string,
): { fileNames: Map<string, string>; absent: Set<string> } {
  const expected = expectedTensors(spec);
  const fileNames = new Map<string, string>();
  const used = new Set<string>();
  const prefix = spec.basePrefix;
  // A bare base model: no expected base tensor is under the prefix, but without it they are there.
  const bare = prefix !== undefined && ![...found.keys()].some((n) => n.startsWith(prefix));
  for (const name of expected.keys()) {
    const inFile = bare && name.startsWith(prefix!) ? name.slice(prefix!.length) : name;
    if (found.has(inFile)) {
      fileNames.set(name, inFile);
      used.add(inFile);
    }
  }
  const problems: string[] = [];
  const absent = new Set<string>();
  for (const [name, e] of expected) {
    const inFile = fileNames.get(name);
    if (inFile === undefined) {
      if (e.optional) absent.add(name);
      else problems.push(`tensor '${name}' is missing (expected shape ${fmt(e.shape)})`);
      continue;
    }
    const shape = found.get(inFile)!;
    if (shape.length !== e.shape.length || shape.some((d, i) => d !== e.shape[i])) {
      problems.push(`tensor '${inFile}' has shape ${fmt(shape)}, expected ${fmt(e.shape)}`);
    }
  }
  for (const name of found.keys()) {
    if (used.has(name) || spec.ignored?.some((re) => re.test(name))) continue;
    problems.push(`tensor '${name}' (shape ${fmt(found.get(name)!)}) is not part of a ${spec.modelType} model with this config.json`);
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, 8);
    const more = problems.length > shown.length ? `\n  ... and ${problems.length - shown.length} more` : '';
    throw new SpruftError(
      'MODEL_INVALID',
      `the weights do not match config.json (model_type "${spec.modelType}"):\n  ${shown.join('\n  ')}${more}\n` +
        'check that config.json belongs to these weights (hidden sizes, layer and head counts, vocabulary)',
      where,
    );
  }
  return { fileNames, absent };
}

/** The engine's layer list from a spec (header-only inspection). */
export function specLayers(spec: HfArchitectureSpec): Array<{
  name: string; kind: LayerKind; shape: number[]; params: number; dOut: number; dIn: number; attention: boolean; head: boolean;
}> {
  return spec.layers.map((l) => {
    const n = l.shape.reduce((a, b) => a * b, 1);
    const dOut = l.kind === 'conv2d' ? l.shape[3] : l.shape[0];
    return { name: l.name, kind: l.kind, shape: l.shape, params: n + (l.bias ? dOut : 0), dOut, dIn: n / dOut, attention: isAttentionLayer(l.name), head: l.head ?? false };
  });
}

/** A positive integer from config.json, or MODEL_INVALID naming the key. */
export function configInt(config: Record<string, unknown>, key: string, where: string, fallback?: number): number {
  const v = config[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new SpruftError('MODEL_INVALID', `config.json: "${key}" must be a positive integer${v === undefined ? '' : `, got ${JSON.stringify(v)}`}`, where);
  }
  return v;
}

export function configNumber(config: Record<string, unknown>, key: string, fallback: number, where: string): number {
  const v = config[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new SpruftError('MODEL_INVALID', `config.json: "${key}" must be a number, got ${JSON.stringify(v)}`, where);
  return v;
}

/** Labels of a classification config: num_labels, else id2label's size, else 2 (transformers' default). */
export function configLabels(config: Record<string, unknown>): number {
  if (typeof config.num_labels === 'number') return config.num_labels;
  const id2label = config.id2label;
  if (typeof id2label === 'object' && id2label !== null) return Object.keys(id2label).length;
  return 2;
}
