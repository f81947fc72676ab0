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

/**
 * One dimension config.json implies: its size and where it comes from (a key,
 * `hidden_size`, or an expression of keys, `num_attention_heads x head_dim`), so that a
 * disagreement with the weights names the key to look at.
 */
export interface Dim {
  size: number;
  from: string;
}

/** A dimension fixed by the architecture. */
export const fixedDim = (size: number): Dim => ({ size, from: String(size) });
/** The sizes and provenance of a shape given as dims. */
export const dims = (...ds: Dim[]): { shape: number[]; from: string[] } => ({ shape: ds.map((d) => d.size), from: ds.map((d) => d.from) });

/** An adaptable layer as the checkpoint declares it. */
export interface HfLayerSpec {
  /** Module name: the weight is `<name>.weight`, the bias `<name>.bias`. */
  name: string;
  kind: LayerKind;
  /** Engine shape of the weight: linear [d_out, d_in], norms [d], conv2d [kh, kw, c_in, c_out]. */
  shape: number[];
  /** Where each dimension of `shape` comes from in config.json (Dim.from), same order. */
  from: string[];
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
  extras: Map<string, Dim[]>;
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
  /**
   * Tensor families counted by a config key (`model.layers.<i>.` by num_hidden_layers):
   * a layer the weights have and the config does not, or the reverse, is named as a
   * disagreement on that key.
   */
  counted?: Array<{ pattern: RegExp; key: string; count: number }>;
}

/** The file shape of an engine-layout shape. */
export function fileShape<T>(shape: T[], layout: FileLayout): T[] {
  switch (layout) {
    case 'same': return shape;
    case 'io': return [shape[1], shape[0]];
    case 'oihw': return [shape[3], shape[2], shape[0], shape[1]];
    case 'c1hw': return [shape[2], shape[3], shape[0], shape[1]];
  }
}

/** A tensor the spec expects: its file shape, where each dimension comes from, and whether it may be absent. */
export interface ExpectedTensor {
  shape: number[];
  from: string[];
  optional: boolean;
  /** How the file stores it (for the transposed-tensor hint). */
  layout: FileLayout;
}

/** Every tensor of the spec: name -> expected tensor, the layers in forward order, then the extras. */
export function expectedTensors(spec: HfArchitectureSpec): Map<string, ExpectedTensor> {
  const out = new Map<string, ExpectedTensor>();
  for (const l of spec.layers) {
    const weight = { shape: fileShape(l.shape, l.layout), from: fileShape(l.from, l.layout), layout: l.layout };
    if (l.tiedTo) {
      // A tied head may still be saved (transformers drops it; other writers keep it).
      out.set(`${l.name}.weight`, { ...weight, optional: true });
      continue;
    }
    out.set(`${l.name}.weight`, { ...weight, optional: l.optional ?? false });
    const out0 = l.kind === 'conv2d' ? 3 : 0;
    if (l.bias) out.set(`${l.name}.bias`, { shape: [l.shape[out0]], from: [l.from[out0]], optional: l.optional ?? false, layout: 'same' });
  }
  for (const [name, ds] of spec.extras) {
    out.set(name, { ...dims(...ds), optional: spec.optionalExtras?.has(name) ?? false, layout: 'same' });
  }
  return out;
}

const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;
/** `[vocab_size = 32, hidden_size = 16]`: the expected shape with each size's config key. */
const fmtFrom = (e: { shape: number[]; from: string[] }): string =>
  `[${e.shape.map((n, i) => (String(n) === e.from[i] ? e.from[i] : `${e.from[i]} = ${n}`)).join(', ')}]`;

/** What one expected tensor found with another shape says: the keys that disagree, both shapes, or that it is transposed. */
function shapeProblem(name: string, e: ExpectedTensor, shape: readonly number[]): string {
  if (shape.length === 2 && e.shape.length === 2 && shape[0] === e.shape[1] && shape[1] === e.shape[0]) {
    const how = e.layout === 'io' ? 'in x out, as GPT-2\'s Conv1D stores it' : 'out x in, as PyTorch stores linear weights';
    return `tensor "${name}" is transposed: the weights hold ${fmt(shape)}, config.json gives ${fmtFrom(e)} (${how}); export the weights in Hugging Face's layout`;
  }
  const wrong = shape.length === e.shape.length ? e.from.filter((_, i) => e.shape[i] !== shape[i]) : e.from;
  const keys = [...new Set(wrong)];
  return `${keys.map((k) => `"${k}"`).join(', ')} disagree${keys.length === 1 ? 's' : ''} with the weights: tensor "${name}" has shape ${fmt(shape)}, config.json gives ${fmtFrom(e)}`;
}

/**
 * Check a checkpoint's tensor names and shapes against the spec. `found` maps the names
 * in the file to their shapes. Returns the file name of each expected tensor (the prefix
 * added by transformers for bare base models is accounted for) and the expected tensors
 * that are absent but optional. Throws MODEL_INVALID listing every missing, extra and
 * mis-shaped tensor with the expected and found shapes and the config.json key each
 * expected size comes from (a layer count that disagrees is one line naming its key).
 */
export function checkWeights(
  spec: HfArchitectureSpec,
  found: ReadonlyMap<string, readonly number[]>,
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
  // Layer indices of each counted family that the file holds.
  const layerOf = (name: string): { key: string; count: number; index: number } | undefined => {
    for (const c of spec.counted ?? []) {
      const m = c.pattern.exec(name);
      if (m) return { key: c.key, count: c.count, index: Number(m[1]) };
    }
    return undefined;
  };
  const held = new Set<string>();
  for (const name of found.keys()) {
    const l = layerOf(bare && !name.startsWith(prefix!) ? prefix! + name : name);
    if (l) held.add(`${l.key}:${l.index}`);
  }
  const problems: string[] = [];
  const reported = new Set<string>();
  const absent = new Set<string>();
  // The extras (embeddings: vocabulary and width) first, then the layers in forward order.
  const order = [...spec.extras.keys(), ...[...expected.keys()].filter((n) => !spec.extras.has(n))];
  for (const name of order) {
    const e = expected.get(name)!;
    const inFile = fileNames.get(name);
    if (inFile === undefined) {
      if (e.optional) {
        absent.add(name);
        continue;
      }
      const l = layerOf(name);
      if (l && !held.has(`${l.key}:${l.index}`)) {
        // The whole layer is absent: one line for it, naming the count's key.
        if (!reported.has(`${l.key}:${l.index}`)) {
          reported.add(`${l.key}:${l.index}`);
          problems.push(`"${l.key}" gives ${l.count} layers, but the weights hold no tensor of layer ${l.index} (tensor "${name}", shape ${fmtFrom(e)}, is missing)`);
        }
        continue;
      }
      problems.push(`tensor "${name}" is missing (config.json gives shape ${fmtFrom(e)})`);
      continue;
    }
    const shape = found.get(inFile)!;
    if (shape.length !== e.shape.length || shape.some((d, i) => d !== e.shape[i])) problems.push(shapeProblem(inFile, e, shape));
  }
  for (const name of found.keys()) {
    if (used.has(name) || spec.ignored?.some((re) => re.test(name))) continue;
    const l = layerOf(bare && !name.startsWith(prefix!) ? prefix! + name : name);
    if (l && l.index >= l.count) {
      if (!reported.has(`${l.key}:${l.index}`)) {
        reported.add(`${l.key}:${l.index}`);
        problems.push(`"${l.key}" gives ${l.count} layers, but the weights hold tensor "${name}" of layer ${l.index}: the config and the weights disagree on the layer count`);
      }
      continue;
    }
    problems.push(`tensor "${name}" (shape ${fmt(found.get(name)!)}) is not part of a ${spec.modelType} model with this config.json`);
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
  name: string; kind: LayerKind; shape: number[]; params: number; dOut: number; dIn: number; attention: boolean; head: boolean; tiedTo?: string;
}> {
  return spec.layers.map((l) => {
    const n = l.shape.reduce((a, b) => a * b, 1);
    const dOut = l.kind === 'conv2d' ? l.shape[3] : l.shape[0];
    return {
      name: l.name, kind: l.kind, shape: l.shape, params: n + (l.bias ? dOut : 0), dOut, dIn: n / dOut, attention: isAttentionLayer(l.name), head: l.head ?? false,
      ...(l.tiedTo ? { tiedTo: l.tiedTo } : {}),
    };
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
