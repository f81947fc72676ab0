/**
 * Adapters on disk (protocol/adapter.ts): write the trained state of a method, read it
 * back onto a base model (checked against the base model's fingerprint), merge it into
 * the frozen weights (each method's `merged`: SPruFT W[idx] += W_f, LoRA W += (alpha/r) B A,
 * VeRA W += Lambda_b B Lambda_d A, DoRA m V / ||V||_c), and export the
 * merged model in its input format.
 */
import type { FolderFile } from '../io/atomicWrite';
import { existsSync } from 'node:fs';
import { readJsonFile } from '../io/jsonText';
import { join } from 'node:path';
import {
  ADAPTER_CONFIG_FILE, ADAPTER_FORMAT, ADAPTER_RECORD_FILE, ADAPTER_VERSION, ADAPTER_VERSIONS_READ, ADAPTER_WEIGHTS_FILE,
  type AdapterConfig, type AdapterLayer,
} from '../../../protocol/adapter';
import { METHODS, type ResolvedRunConfig } from '../../../protocol/config';
import { SpruftError } from '../errors';
import { writeFolderAtomic } from '../io/atomicWrite';
import { writeHfFolder } from '../io/hfFolder';
import { readSafetensors, serializeSafetensors, type SafetensorsTensor } from '../io/safetensors';
import { writeLayersModel } from '../io/tfjsLayers';
import type { AdaptableLayer } from '../models/layer';
import { toFileLayout, toEngineLayout, type Model, type WeightEntry } from '../models/model';
import { findMethod, methodModule, type AttachedMethod } from './methods';
import { dims } from '../tensor/ops/grad';
import { Rng } from '../tensor/rng';
import { tf, type Tensor } from '../tensor/tf';

/** The model-file entry of a layer's tensor (its name and layout in the base's files). */
function entryOf(model: Model, t: Tensor | undefined): WeightEntry | undefined {
  return t ? model.weightEntries().find((e) => e.get() === t) : undefined;
}

/**
 * Version 1 stored conv W_f "rows first" ([r, kh, kw, c_in]) whatever the base's layout;
 * read back only. Version 2 stores every adapter tensor in the base tensor's own layout.
 */
function rowsFromFile(layer: AdaptableLayer, t: Tensor): Tensor {
  if (layer.kind === 'conv2d') return tf.transpose(t, [1, 2, 3, 0]);
  if (layer.kind === 'depthwise-conv2d') return tf.transpose(t, [1, 2, 0, 3]);
  return t;
}

function f32(t: Tensor): SafetensorsTensor {
  return { dtype: 'F32', shape: dims(t), data: t.dataSync() as Float32Array };
}

function headEntries(model: Model): Array<{ fileName: string; tensor: Tensor; layout: ReturnType<Model['weightEntries']>[number]['layout'] }> {
  const head = model.head;
  if (!head || head.training.kind !== 'full') return [];
  const t = head.training;
  const entries = model.weightEntries();
  const out = [];
  for (const e of entries) {
    if (e.get() === head.weight) out.push({ fileName: e.fileName, tensor: t.w as Tensor, layout: e.layout });
    if (head.bias && e.get() === head.bias && t.b) out.push({ fileName: e.fileName, tensor: t.b as Tensor, layout: e.layout });
  }
  return out;
}

export interface AdapterWriteOptions {
  metric?: string;
  config: ResolvedRunConfig;
  fingerprint: string;
}

/** Write `adapter_config.json` + `adapter_model.safetensors` (one atomic folder write). */
export function writeAdapter(dir: string, model: Model, attached: AttachedMethod, o: AdapterWriteOptions): AdapterConfig {
  const m = methodModule(attached.method);
  const wholeName = (fileName: string): string => m.adapter.wholeTensorName?.(fileName) ?? fileName;
  const tensors = new Map<string, SafetensorsTensor>();
  const layers: AdapterLayer[] = [];
  tf.tidy(() => {
    for (const l of attached.adaptedLayers) {
      const base = entryOf(model, l.weight);
      const layout = base?.layout ?? 'same';
      const entry: AdapterLayer = { name: l.name, kind: l.kind, weightShape: dims(l.weight), tensors: {} };
      if (base) {
        entry.weightName = base.fileName;
        entry.fileShape = dims(toFileLayout(l.weight, layout));
        const bias = entryOf(model, l.bias);
        if (bias) entry.biasName = bias.fileName;
      }
      m.adapter.writeLayer(l, {
        layout,
        entry,
        put: (name, t) => {
          tensors.set(name, f32(t));
          entry.tensors[name] = dims(t);
        },
        putShared: (name, t) => {
          if (!tensors.has(name)) tensors.set(name, f32(t));
        },
      });
      layers.push(entry);
    }
    // The head under the method's name for whole tensors (LoRA: PEFT's `modules_to_save`).
    for (const h of headEntries(model)) tensors.set(wholeName(h.fileName), f32(toFileLayout(h.tensor, h.layout)));
    // `full` also trains the embeddings (their trained values live in the entries now).
    if (m.trainsExtras) for (const e of model.extraWeights()) tensors.set(e.fileName, f32(toFileLayout(e.get(), e.layout)));
  });
  const c = o.config;
  const method = attached.method;
  const fields = m.adapter.configFields(c, o.metric);
  const config: AdapterConfig = {
    format: ADAPTER_FORMAT,
    version: ADAPTER_VERSION,
    method,
    baseModel: {
      path: model.sourcePath, architecture: model.architecture, fingerprint: o.fingerprint,
      numLabels: model.numLabels, labelNames: model.labelNames, cutAt: c.model.cutAt,
      ...(model.problemType ? { problemType: model.problemType } : {}),
    },
    metric: fields.metric,
    rank: fields.rank,
    ratio: fields.ratio,
    freezeAttention: c.targets.freezeAttention,
    layers,
    fullTensors: [...headEntries(model).map((h) => wholeName(h.fileName)), ...(m.trainsExtras ? model.extraWeights().map((e) => e.fileName) : [])],
    training: { ...c.training },
    createdAt: new Date().toISOString(),
  };
  const json = (v: unknown): string[] => [JSON.stringify(v, null, 2) + '\n'];
  const modulesToSave = model.head && headEntries(model).length > 0 ? [model.head.name] : null;
  const foreign = m.adapter.foreignConfig?.(model, attached.adaptedLayers, c, layers, modulesToSave);
  if (foreign) Object.assign(config, foreign);
  writeFolderAtomic(dir, [
    { name: ADAPTER_WEIGHTS_FILE, chunks: () => [serializeSafetensors(tensors, { format: 'pt' })] },
    // LoRA: adapter_config.json is PEFT's alone (older PEFT refuses unknown keys); this format's record beside it.
    { name: ADAPTER_CONFIG_FILE, chunks: () => json(foreign ?? config) },
    ...(foreign ? [{ name: ADAPTER_RECORD_FILE, chunks: () => json(config) }] : []),
  ]);
  return config;
}

export function readAdapterConfig(dir: string): AdapterConfig {
  const record = join(dir, ADAPTER_RECORD_FILE);
  const path = existsSync(record) ? record : join(dir, ADAPTER_CONFIG_FILE);
  if (!existsSync(path)) throw new SpruftError('FILE_NOT_FOUND', `no ${ADAPTER_CONFIG_FILE}: this folder holds no adapter`, dir);
  const config = readJsonFile(path, 'ADAPTER_INVALID', ADAPTER_CONFIG_FILE) as AdapterConfig;
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new SpruftError('ADAPTER_INVALID', 'must hold a JSON object', path);
  if (config.format !== ADAPTER_FORMAT) throw new SpruftError('ADAPTER_INVALID', `"format" is ${JSON.stringify(config.format)}, expected "${ADAPTER_FORMAT}"`, path);
  if (!ADAPTER_VERSIONS_READ.includes(config.version)) {
    throw new SpruftError('ADAPTER_INVALID', `adapter version ${String(config.version)} is not supported; this runner reads versions ${ADAPTER_VERSIONS_READ.join(' and ')}`, path);
  }
  if (typeof config.baseModel?.fingerprint !== 'string' || !Array.isArray(config.layers) || !Array.isArray(config.fullTensors)) {
    throw new SpruftError('ADAPTER_INVALID', 'needs "baseModel.fingerprint", "layers" and "fullTensors"; the file is corrupt or was edited', path);
  }
  return config;
}

/**
 * Why an adapter does not fit a base, naming both: the base it was trained on (path and
 * content hash, as adapter_config.json records them) and the model given now.
 */
export function baseMismatchMessage(recorded: AdapterConfig['baseModel'], path: string, fingerprint: string): string {
  const name = (p: string): string => p || '(unnamed model)';
  return `the adapter was trained on another base model: it records ${name(recorded.path)} with content hash ${recorded.fingerprint.slice(0, 12)}, `
    + `but ${name(path)} has content hash ${fingerprint.slice(0, 12)} (another model, or a merged model written over the base?). `
    + 'Restore the base model the run used, or train again on this one';
}

export interface ApplyOptions {
  /** Fail when the base model's fingerprint differs (default); false: warn through `onWarning`. */
  strict?: boolean;
  onWarning?: (message: string) => void;
}

/**
 * Put an adapter's trained state back onto a model: SPruFT rows and LoRA factors as
 * layer training (for evaluation), full tensors as the head. Replaces the head when the
 * adapter's label count differs.
 */
export function applyAdapter(dir: string, model: Model, o: ApplyOptions = {}): AdapterConfig {
  const config = readAdapterConfig(dir);
  const fp = model.fingerprint();
  if (config.baseModel.fingerprint !== fp) {
    const message = baseMismatchMessage(config.baseModel, model.sourcePath, fp);
    if (o.strict !== false) throw new SpruftError('ADAPTER_INVALID', message, dir);
    o.onWarning?.(message);
  }
  const file = readSafetensors(join(dir, ADAPTER_WEIGHTS_FILE));
  const tensor = (name: string): Tensor => {
    const t = file.tensors.get(name);
    if (!t) throw new SpruftError('ADAPTER_INVALID', `tensor "${name}" is missing from ${ADAPTER_WEIGHTS_FILE}`, dir);
    return tf.tensor(t.data as Float32Array, t.shape);
  };
  const m = findMethod(config.method);
  if (!m) throw new SpruftError('ADAPTER_INVALID', `"method" is ${JSON.stringify(config.method)}, which this runner does not know (it knows ${METHODS.join(', ')})`, dir);
  const byName = new Map(model.layers.map((l) => [l.name, l]));
  for (const spec of config.layers) {
    const layer = byName.get(spec.name);
    if (!layer) throw new SpruftError('ADAPTER_INVALID', `the adapter adapts layer "${spec.name}", which this model does not have`, dir);
    if (dims(layer.weight).join('x') !== spec.weightShape.join('x')) {
      throw new SpruftError('ADAPTER_INVALID', `layer "${spec.name}" has shape [${dims(layer.weight)}] here but [${spec.weightShape}] in the adapter`, dir);
    }
    layer.resetTraining();
    const layout = entryOf(model, layer.weight)?.layout ?? 'same';
    const fromFile = (t: Tensor): Tensor => (config.version === 1 ? rowsFromFile(layer, t) : toEngineLayout(t, layout));
    layer.training = m.adapter.readLayer(layer, { spec, config, tensor, has: (name) => file.tensors.has(name), fromFile });
  }
  let head = model.head;
  if (head && config.fullTensors.length > 0) {
    // A head for another label count: resized through the model (which updates its
    // config / topology), then given the adapter's weights.
    if (config.baseModel.numLabels !== undefined && config.baseModel.numLabels !== head.dOut) {
      model.replaceHead(config.baseModel.numLabels, new Rng(0));
      head = model.head!;
    }
    const current = head;
    const stored = (fileName: string): string => (config.version > 1 ? m.adapter.wholeTensorName?.(fileName) ?? fileName : fileName);
    for (const e of model.weightEntries().filter((w) => w.get() === current.weight || w.get() === current.bias)) {
      if (!config.fullTensors.includes(stored(e.fileName))) continue;
      const value = tf.tidy(() => toEngineLayout(tensor(stored(e.fileName)), e.layout));
      if (e.get() === current.weight) {
        current.weight.dispose();
        current.weight = value;
      } else {
        current.bias?.dispose();
        current.bias = value;
      }
    }
    model.labelNames = config.baseModel.labelNames;
    model.problemType = config.baseModel.problemType;
  }
  for (const e of model.extraWeights()) {
    if (!config.fullTensors.includes(e.fileName)) continue;
    const value = tf.tidy(() => toEngineLayout(tensor(e.fileName), e.layout));
    e.get().dispose();
    e.set(value);
  }
  return config;
}

/** Fold every layer's training state into its frozen weights (then the model is plain). */
export function mergeTraining(model: Model): number {
  let merged = 0;
  for (const l of model.layers) {
    const t = l.training;
    if (t.kind === 'frozen') continue;
    const next = tf.tidy(() => t.merged(l));
    const oldW = l.weight;
    const oldB = l.bias;
    // Through the model's entries, so that any alias of the weight (a tied LM head) follows.
    for (const e of model.weightEntries()) {
      if (e.get() === oldW) e.set(next.w);
      else if (oldB && e.get() === oldB && next.b && next.b !== oldB) e.set(next.b);
    }
    l.weight = next.w;
    if (next.b && next.b !== oldB) l.bias = next.b;
    oldW.dispose();
    if (next.b && next.b !== oldB) oldB?.dispose();
    l.resetTraining();
    merged += 1;
  }
  return merged;
}

/** Export the model (merged or not) in its input format. */
/**
 * Write the model in its own format. A Hugging Face model larger than `maxShardBytes`
 * (default 5 GB, transformers' default) is sharded as save_pretrained shards it;
 * `extraFiles` (the tokenizer's) go into the same atomic write, so the folder appears
 * complete or not at all.
 */
export function exportModel(model: Model, outDir: string, o: { maxShardBytes?: number; extraFiles?: FolderFile[] } = {}): 'hf' | 'tfjs-layers' {
  const weights = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const e of model.weightEntries()) {
    const t = tf.tidy(() => toFileLayout(e.get(), e.layout));
    weights.set(e.fileName, { shape: dims(t), data: t.dataSync() as Float32Array });
    // A 'same' layout hands back the model's own tensor: the model keeps it.
    if (t !== e.get()) t.dispose();
  }
  if (model.format === 'hf') {
    // Each weight in the dtype its source stored it in; new ones (a replaced head) in the
    // source's most common dtype, which config.json's torch_dtype names.
    const dtypes = model.storedDtypes;
    const counts = new Map<string, number>();
    for (const d of dtypes?.values() ?? []) counts.set(d, (counts.get(d) ?? 0) + 1);
    const main = ([...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'F32') as 'F32' | 'F16' | 'BF16';
    const torchDtype = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[main];
    writeHfFolder(outDir, { config: { ...model.exportConfig(), torch_dtype: torchDtype }, tensors: weights, dtype: main, dtypes, maxShardBytes: o.maxShardBytes, extraFiles: o.extraFiles });
  }
  else writeLayersModel(outDir, { modelTopology: model.exportConfig(), weights });
  return model.format;
}
