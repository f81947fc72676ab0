/**
 * Adapters on disk (protocol/adapter.ts): write the trained state of a method, read it
 * back onto a base model (checked against the base model's fingerprint), merge it into
 * the frozen weights (SPruFT: W[idx] += W_f; LoRA: W += (alpha/r) B A), and export the
 * merged model in its input format.
 */
import type { FolderFile } from '../io/atomicWrite';
import { existsSync } from 'node:fs';
import { readJsonFile } from '../io/jsonText';
import { join } from 'node:path';
import {
  ADAPTER_CONFIG_FILE, ADAPTER_FORMAT, ADAPTER_RECORD_FILE, ADAPTER_VERSION, ADAPTER_VERSIONS_READ, ADAPTER_WEIGHTS_FILE, adapterTensorName,
  type AdapterConfig, type AdapterLayer, type PeftLoraConfig,
} from '../../../protocol/adapter';
import type { ResolvedRunConfig } from '../../../protocol/config';
import { SpruftError } from '../errors';
import { writeFolderAtomic } from '../io/atomicWrite';
import { writeHfFolder } from '../io/hfFolder';
import { readSafetensors, serializeSafetensors, type SafetensorsTensor } from '../io/safetensors';
import { writeLayersModel } from '../io/tfjsLayers';
import type { AdaptableLayer } from '../models/layer';
import { toFileLayout, toEngineLayout, type FileLayout, type Model, type WeightEntry } from '../models/model';
import type { AttachedMethod } from './methods';
import { addInputChannels } from '../tensor/ops/columnConv2d';
import { addColumns } from '../tensor/ops/columnLinear';
import { addOutputChannels } from '../tensor/ops/conv2d';
import { addChannels } from '../tensor/ops/depthwiseConv2d';
import { dims } from '../tensor/ops/grad';
import { addRows } from '../tensor/ops/linear';
import { Rng } from '../tensor/rng';
import { tf, type Tensor } from '../tensor/tf';

/** The model-file entry of a layer's tensor (its name and layout in the base's files). */
function entryOf(model: Model, t: Tensor | undefined): WeightEntry | undefined {
  return t ? model.weightEntries().find((e) => e.get() === t) : undefined;
}

/** The engine axis of a layer's weight that indexes rows (output features / channels), and input features. */
function engineRowAxis(layer: AdaptableLayer): number {
  return layer.kind === 'conv2d' ? 3 : layer.kind === 'depthwise-conv2d' ? 2 : 0;
}

function engineColumnAxis(layer: AdaptableLayer): number {
  return layer.kind === 'conv2d' ? 2 : 1;
}

/** Where engine axis `axis` of a rank-`rank` tensor lands in the file layout (toFileLayout is the one truth). */
function fileAxis(axis: number, rank: number, layout: FileLayout): number {
  return tf.tidy(() => dims(toFileLayout(tf.zeros(Array.from({ length: rank }, (_, i) => (i === axis ? 2 : 1))), layout)).indexOf(2));
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

/** LoRA tensors in PEFT's layouts: conv A [r, c_in, kh, kw], conv B [c_out, r, 1, 1]. */
function loraToFile(layer: AdaptableLayer, a: Tensor, b: Tensor): [Tensor, Tensor] {
  if (layer.kind !== 'conv2d') return [a, b];
  const [r, cout] = dims(b);
  return [tf.transpose(a, [3, 2, 0, 1]), tf.reshape(tf.transpose(b), [cout, r, 1, 1])];
}

function loraFromFile(layer: AdaptableLayer, a: Tensor, b: Tensor): [Tensor, Tensor] {
  if (layer.kind !== 'conv2d') return [a, b];
  const [cout, r] = dims(b);
  return [tf.transpose(a, [2, 3, 1, 0]), tf.transpose(tf.reshape(b, [cout, r]))];
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
  const tensors = new Map<string, SafetensorsTensor>();
  const layers: AdapterLayer[] = [];
  tf.tidy(() => {
    for (const l of attached.adaptedLayers) {
      const t = l.training;
      const base = entryOf(model, l.weight);
      const layout = base?.layout ?? 'same';
      const entry: AdapterLayer = { name: l.name, kind: l.kind, weightShape: dims(l.weight), tensors: {} };
      if (base) {
        entry.weightName = base.fileName;
        entry.fileShape = dims(toFileLayout(l.weight, layout));
        const bias = entryOf(model, l.bias);
        if (bias) entry.biasName = bias.fileName;
      }
      if (t.kind === 'rows') {
        // W_f has the engine layout of W with its row axis cut to r; in the file, the base's layout.
        const wf = toFileLayout(t.wf, layout);
        entry.rowAxis = fileAxis(engineRowAxis(l), dims(l.weight).length, layout);
        tensors.set(adapterTensorName.spruftRows(l.name), f32(wf));
        entry.tensors[adapterTensorName.spruftRows(l.name)] = dims(wf);
        if (t.bf) {
          tensors.set(adapterTensorName.spruftBias(l.name), f32(t.bf));
          entry.tensors[adapterTensorName.spruftBias(l.name)] = dims(t.bf);
        }
        entry.rows = t.rows;
        entry.scores = t.scores;
        if (t.columns) {
          // Appendix B's W_f,dep: the base's layout with its input axis cut to c.
          const wdep = toFileLayout(t.columns.wdep, layout);
          entry.columnAxis = fileAxis(engineColumnAxis(l), dims(l.weight).length, layout);
          tensors.set(adapterTensorName.spruftDependency(l.name), f32(wdep));
          entry.tensors[adapterTensorName.spruftDependency(l.name)] = dims(wdep);
          entry.columns = t.columns.columns;
        }
      } else if (t.kind === 'lora') {
        const [a, b] = loraToFile(l, t.a, t.b);
        tensors.set(adapterTensorName.loraA(l.name), f32(a));
        tensors.set(adapterTensorName.loraB(l.name), f32(b));
        entry.tensors[adapterTensorName.loraA(l.name)] = dims(a);
        entry.tensors[adapterTensorName.loraB(l.name)] = dims(b);
      } else if (t.kind === 'full') {
        tensors.set(`${l.name}.weight`, f32(t.w));
        entry.tensors[`${l.name}.weight`] = dims(t.w);
        if (t.b) {
          tensors.set(`${l.name}.bias`, f32(t.b));
          entry.tensors[`${l.name}.bias`] = dims(t.b);
        }
      }
      layers.push(entry);
    }
    // LoRA: the head as PEFT's `modules_to_save` restores it.
    const headName = (fileName: string): string => (attached.method === 'lora' ? adapterTensorName.peftSaved(fileName) : fileName);
    for (const h of headEntries(model)) tensors.set(headName(h.fileName), f32(toFileLayout(h.tensor, h.layout)));
    // `full` also trains the embeddings (their trained values live in the entries now).
    if (attached.method === 'full') for (const e of model.extraWeights()) tensors.set(e.fileName, f32(toFileLayout(e.get(), e.layout)));
  });
  const c = o.config;
  const method = attached.method;
  const config: AdapterConfig = {
    format: ADAPTER_FORMAT,
    version: ADAPTER_VERSION,
    method,
    baseModel: {
      path: model.sourcePath, architecture: model.architecture, fingerprint: o.fingerprint,
      numLabels: model.numLabels, labelNames: model.labelNames, cutAt: c.model.cutAt,
      ...(model.problemType ? { problemType: model.problemType } : {}),
    },
    metric: method === 'spruft' ? o.metric : undefined,
    rank: method === 'spruft' ? c.spruft.rank : method === 'lora' ? c.lora.rank : undefined,
    ratio: method === 'spruft' ? c.spruft.ratio : undefined,
    freezeAttention: c.targets.freezeAttention,
    layers,
    fullTensors: [...headEntries(model).map((h) => (method === 'lora' ? adapterTensorName.peftSaved(h.fileName) : h.fileName)), ...(method === 'full' ? model.extraWeights().map((e) => e.fileName) : [])],
    training: { ...c.training },
    createdAt: new Date().toISOString(),
  };
  const json = (v: unknown): string[] => [JSON.stringify(v, null, 2) + '\n'];
  const peft = method === 'lora' ? peftLoraConfig(model, attached, c, layers) : undefined;
  if (peft) Object.assign(config, peft);
  writeFolderAtomic(dir, [
    { name: ADAPTER_WEIGHTS_FILE, chunks: () => [serializeSafetensors(tensors, { format: 'pt' })] },
    // LoRA: adapter_config.json is PEFT's alone (older PEFT refuses unknown keys); this format's record beside it.
    { name: ADAPTER_CONFIG_FILE, chunks: () => json(peft ?? config) },
    ...(peft ? [{ name: ADAPTER_RECORD_FILE, chunks: () => json(config) }] : []),
  ]);
  return config;
}

/**
 * PEFT's LoraConfig for this adapter (what `PeftModel.from_pretrained` reads): `r` the
 * configured rank, `rank_pattern` the layers where it was capped at d_out, the head in
 * `modules_to_save`.
 */
function peftLoraConfig(model: Model, attached: AttachedMethod, c: ResolvedRunConfig, layers: AdapterLayer[]): PeftLoraConfig {
  const rankPattern: Record<string, number> = {};
  for (const l of attached.adaptedLayers) {
    if (l.training.kind === 'lora') {
      const r = dims(l.training.b)[l.kind === 'linear' ? 1 : 0];
      if (r !== c.lora.rank) rankPattern[l.name] = r;
    }
  }
  return {
    peft_type: 'LORA', task_type: null, r: c.lora.rank, lora_alpha: c.lora.alpha, lora_dropout: c.lora.dropout,
    target_modules: layers.map((l) => l.name), rank_pattern: rankPattern, bias: 'none', fan_in_fan_out: false,
    modules_to_save: model.head && headEntries(model).length > 0 ? [model.head.name] : null,
    base_model_name_or_path: model.sourcePath, inference_mode: true, init_lora_weights: true,
  };
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

/** A non-trainable variable holding `t` (which is released). */
function frozenVariable(t: Tensor): tf.Variable {
  const v = tf.variable(t, false);
  t.dispose();
  return v;
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
    if (config.method === 'spruft') {
      const rows = spec.rows ?? [];
      const wf = tf.tidy(() => fromFile(tensor(adapterTensorName.spruftRows(spec.name))));
      const biasName = adapterTensorName.spruftBias(spec.name);
      const columns = spec.columns && spec.columns.length > 0 ? spec.columns : undefined;
      const wdep = columns ? tf.tidy(() => fromFile(tensor(adapterTensorName.spruftDependency(spec.name)))) : undefined;
      layer.training = {
        kind: 'rows', rows, rowsTensor: tf.tensor1d(rows, 'int32'),
        wf: frozenVariable(wf), bf: file.tensors.has(biasName) ? frozenVariable(tensor(biasName)) : undefined, scores: spec.scores,
        columns: columns && wdep ? { columns, colsTensor: tf.tensor1d(columns, 'int32'), wdep: frozenVariable(wdep) } : undefined,
      };
    } else if (config.method === 'lora') {
      const [a, b] = tf.tidy(() => loraFromFile(layer, tensor(adapterTensorName.loraA(spec.name)), tensor(adapterTensorName.loraB(spec.name))));
      // The rank of this layer (capped at d_out, PEFT's rank_pattern), not the configured r.
      const rank = dims(a)[layer.kind === 'linear' ? 0 : 3];
      layer.training = { kind: 'lora', a: frozenVariable(a), b: frozenVariable(b), scale: (config.lora_alpha ?? 16) / rank, dropout: 0 };
    } else if (config.method === 'full') {
      layer.training = {
        kind: 'full', w: frozenVariable(tensor(`${spec.name}.weight`)),
        b: file.tensors.has(`${spec.name}.bias`) ? frozenVariable(tensor(`${spec.name}.bias`)) : undefined,
      };
    }
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
    const stored = (fileName: string): string => (config.method === 'lora' && config.version > 1 ? adapterTensorName.peftSaved(fileName) : fileName);
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
    const next = tf.tidy((): { w: Tensor; b?: Tensor } => {
      switch (t.kind) {
        case 'rows': {
          const withRows = l.kind === 'linear' || l.isNorm ? addRows(l.weight, t.rowsTensor, t.wf)
            : l.kind === 'conv2d' ? addOutputChannels(l.weight, t.rowsTensor, t.wf)
            : addChannels(l.weight, t.rowsTensor, t.wf);
          // Appendix B: W + M W_f + W_f,dep M_dep.
          const c = t.columns;
          const w = !c ? withRows : l.kind === 'conv2d' ? addInputChannels(withRows, c.colsTensor, c.wdep) : addColumns(withRows, c.colsTensor, c.wdep);
          const b = t.bf ? addRows(l.bias ?? tf.zeros([l.dOut]), t.rowsTensor, t.bf) : l.bias;
          return { w, b };
        }
        case 'lora': {
          const delta = l.kind === 'linear'
            ? tf.mul(tf.matMul(t.b, t.a), t.scale)
            : tf.reshape(tf.mul(tf.matMul(tf.reshape(t.a, [-1, dims(t.a)[3]]), t.b), t.scale), dims(l.weight));
          return { w: tf.add(l.weight, delta), b: l.bias };
        }
        case 'full':
          return { w: tf.clone(t.w), b: t.b ? tf.clone(t.b) : l.bias };
      }
    });
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
