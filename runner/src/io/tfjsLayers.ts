/**
 * TensorFlow.js LAYERS models: `model.json` (`modelTopology`: the Keras model config;
 * `weightsManifest`: groups of weights, each group's bytes the concatenation of its shard
 * files in `paths` order) + binary shards. Quantized weights (uint8/uint16: q * scale + min;
 * float16) are dequantized to float32 exactly as tfjs' `io.decodeWeights` does.
 *
 * Also reads models that npm packages ship wrapped in JavaScript, such as nsfwjs' MobileNetV2
 * (`dist/models/mobilenet_v2/model.min.js` + `group1-shard1of1.min.js`: browserify bundles
 * exporting the model JSON as an object literal and each shard as a base64 string). The
 * text is parsed, never executed (see `parseJsLiteral`).
 *
 * Graph models (`format: "graph-model"`, frozen, batch norm folded) are not trainable here.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, normalize, resolve, sep } from 'node:path';
import { SpruftError } from '../errors';
import { writeFolderAtomic } from './atomicWrite';
import { float16BitsToFloat32 } from './float16';
import { findPackageRoot } from './npmPackage';
import { parseJsLiteral, parseJsonText, positionAt, readJsonFile } from './jsonText';
import { isRegularFile, READ_LIMITS, readRegularFile, readTextFile } from './regularFile';

// ---------------------------------------------------------------- types of model.json

export type LayersWeightDtype = 'float32' | 'int32' | 'bool' | 'string' | 'complex64';

export interface LayersQuantization {
  dtype: 'uint8' | 'uint16' | 'float16';
  /** Required for uint8/uint16. */
  scale?: number;
  min?: number;
}

export interface LayersWeightSpec {
  name: string;
  shape: number[];
  dtype: LayersWeightDtype;
  group?: 'model' | 'optimizer';
  quantization?: LayersQuantization;
}

export interface LayersWeightsGroup {
  paths: string[];
  weights: LayersWeightSpec[];
}

export interface KerasLayer {
  class_name: string;
  /** The layer's name (`name`, else `config.name`). */
  name: string;
  config: Record<string, unknown>;
  /** Functional models: the layers feeding this one. Empty for Sequential. */
  inbound_nodes: unknown[];
}

export interface KerasModelConfig {
  class_name: 'Functional' | 'Model' | 'Sequential';
  config: { name?: string; layers: KerasLayer[]; input_layers?: unknown; output_layers?: unknown; [key: string]: unknown };
}

export interface LayersTopology {
  /** The Keras model: class and layers (normalized: `model_config` unwrapped, Sequential as {layers}). */
  modelConfig: KerasModelConfig;
  kerasVersion?: string;
  backend?: string;
  trainingConfig?: Record<string, unknown>;
}

export interface LayersModelJson {
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  /** As found in the file; written back unchanged on export. */
  modelTopology: Record<string, unknown>;
  weightsManifest: LayersWeightsGroup[];
  userDefinedMetadata?: Record<string, unknown>;
}

/** Where a model comes from: a `model.json`, or a JavaScript-wrapped model in a package. */
export interface ModelSource {
  /** What the user wrote: a path, or `npm:<package>/<model>`. */
  spec: string;
  kind: 'model-json' | 'js-bundle';
  modelFile: string;
  dir: string;
  /** For `npm:` sources. */
  package?: { name: string; version: string; root: string };
}

export interface LayersWeight {
  shape: number[];
  /** Dequantized values (int32 and bool weights are converted to float32 too). */
  data: Float32Array;
  spec: LayersWeightSpec;
}

export interface LayersModel {
  source: ModelSource;
  modelJson: LayersModelJson;
  topology: LayersTopology;
  /** In manifest order. */
  weights: Map<string, LayersWeight>;
}

// ---------------------------------------------------------------- locating a model

const MODEL_FILES = ['model.json', 'model.min.js', 'model.js'];

function modelFileIn(dir: string): string | undefined {
  for (const f of MODEL_FILES) {
    const p = join(dir, f);
    if (isRegularFile(p)) return p;
  }
  return undefined;
}

function sourceFor(spec: string, modelFile: string, pkg?: ModelSource['package']): ModelSource {
  const kind = modelFile.endsWith('.js') ? 'js-bundle' : 'model-json';
  return { spec, kind, modelFile, dir: dirname(modelFile), ...(pkg ? { package: pkg } : {}) };
}

/**
 * Resolve a model reference:
 *  - `npm:<package>/<model>` (e.g. `npm:nsfwjs/mobilenet_v2`): an installed package, the model
 *    folder `<model>`, `dist/models/<model>` or `models/<model>` inside it;
 *  - a folder holding `model.json` (or `model.min.js`);
 *  - a `model.json` / `.js` file.
 */
export function resolveModelSource(spec: string, options: { from?: string } = {}): ModelSource {
  if (spec.startsWith('npm:')) {
    const rest = spec.slice(4);
    const parts = rest.split('/');
    const nameParts = rest.startsWith('@') ? 2 : 1;
    const name = parts.slice(0, nameParts).join('/');
    const inner = parts.slice(nameParts).join('/');
    if (!name || !inner || (nameParts === 2 && !parts[1])) {
      throw new SpruftError('CONFIG_INVALID', `'${spec}' must name a package and a model in it, e.g. npm:nsfwjs/mobilenet_v2`);
    }
    const root = findPackageRoot(name, options.from);
    if (!root) {
      throw new SpruftError('FILE_NOT_FOUND', `npm package ${name} is not installed; run \`npm install ${name}\` in the project (or give a model.json path)`, spec);
    }
    const pkgJson = readJsonFile(join(root, 'package.json'), 'MODEL_INVALID', 'package.json') as { version?: unknown };
    const pkg = { name, version: typeof pkgJson.version === 'string' ? pkgJson.version : 'unknown', root };
    const candidates = [inner, join('dist', 'models', inner), join('models', inner)].map((c) => join(root, c));
    for (const c of candidates) {
      if (!existsSync(c)) continue;
      const file = statSync(c).isDirectory() ? modelFileIn(c) : c;
      if (file) return sourceFor(spec, file, pkg);
    }
    throw new SpruftError('FILE_NOT_FOUND', `package ${name}@${pkg.version} has no model '${inner}' (looked in ${candidates.map((c) => c.slice(root.length + 1)).join(', ')})`, root);
  }
  const path = resolve(spec);
  if (!existsSync(path)) throw new SpruftError('FILE_NOT_FOUND', 'model not found; give a folder with model.json, a model.json file, or npm:<package>/<model>', spec);
  if (statSync(path).isDirectory()) {
    const file = modelFileIn(path);
    if (!file) throw new SpruftError('FILE_NOT_FOUND', 'no model.json in this folder (a TensorFlow.js layers model is model.json + weight shards)', path);
    return sourceFor(spec, file);
  }
  return sourceFor(spec, path);
}

// ---------------------------------------------------------------- JavaScript-wrapped files

/**
 * The value a JavaScript file exports, read as text: a browserify module
 * (`function(e,a,n){a.exports=<literal>}`), `module.exports = <literal>` or
 * `export default <literal>`. Only literals are accepted; nothing is run.
 */
export function extractExportedLiteral(text: string, path: string): unknown {
  const patterns = [
    /function\s*\(\s*[\w$]+\s*,\s*([\w$]+)\s*,\s*[\w$]+\s*\)\s*\{\s*\1\.exports\s*=\s*/,
    /\bmodule\.exports\s*=\s*/,
    /\bexport\s+default\s+/,
  ];
  for (const re of patterns) {
    const m = re.exec(text);
    if (!m) continue;
    const { value, end } = parseJsLiteral(text, m.index + m[0].length, path, 'MODEL_INVALID');
    let after = end;
    while (after < text.length && /\s/.test(text[after])) after++;
    if (after < text.length && !'};,'.includes(text[after])) {
      const pos = positionAt(text, after);
      throw new SpruftError('MODEL_INVALID', `the exported value is followed by '${text[after]}', so it is an expression, not a plain literal; this reader does not run code`, `${path}:${pos.line}:${pos.column}`);
    }
    return value;
  }
  throw new SpruftError('MODEL_INVALID', 'no exported model data found (expected a browserify module, module.exports = ..., or export default ...)', path);
}

function decodeBase64Strict(s: string, path: string): Uint8Array {
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) {
    throw new SpruftError('MODEL_INVALID', 'the embedded weight data is not valid base64; the file is corrupt — reinstall the package', path);
  }
  const buf = Buffer.from(s, 'base64');
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

// ---------------------------------------------------------------- validation

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const WEIGHT_DTYPES = new Set(['float32', 'int32', 'bool', 'string', 'complex64']);
const MODEL_CLASSES = new Set(['Functional', 'Model', 'Sequential']);

function parseWeightSpec(v: unknown, where: string, at: string): LayersWeightSpec {
  if (!isRecord(v)) throw new SpruftError('MODEL_INVALID', `${at}: a weight entry must be an object {name, shape, dtype}`, where);
  const { name, shape, dtype, group, quantization } = v;
  if (typeof name !== 'string' || name === '') throw new SpruftError('MODEL_INVALID', `${at}: weight name missing`, where);
  const w = `${at} ('${name}')`;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw new SpruftError('MODEL_INVALID', `${w}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`, where);
  }
  if (typeof dtype !== 'string' || !WEIGHT_DTYPES.has(dtype)) {
    throw new SpruftError('MODEL_INVALID', `${w}: dtype ${JSON.stringify(dtype)} is not one of float32, int32, bool, string, complex64`, where);
  }
  const spec: LayersWeightSpec = { name, shape: shape as number[], dtype: dtype as LayersWeightDtype };
  if (group !== undefined) {
    if (group !== 'model' && group !== 'optimizer') throw new SpruftError('MODEL_INVALID', `${w}: group must be "model" or "optimizer"`, where);
    spec.group = group;
  }
  if (quantization !== undefined) {
    if (!isRecord(quantization)) throw new SpruftError('MODEL_INVALID', `${w}: quantization must be an object {dtype, scale, min}`, where);
    const q = quantization;
    if (q.dtype !== 'uint8' && q.dtype !== 'uint16' && q.dtype !== 'float16') {
      throw new SpruftError('MODEL_INVALID', `${w}: quantization dtype ${JSON.stringify(q.dtype)} is not uint8, uint16 or float16`, where);
    }
    if (q.dtype !== 'float16' && (typeof q.scale !== 'number' || !Number.isFinite(q.scale) || typeof q.min !== 'number' || !Number.isFinite(q.min))) {
      throw new SpruftError('MODEL_INVALID', `${w}: ${q.dtype} quantization needs finite numbers scale and min`, where);
    }
    if (q.dtype === 'float16' && dtype !== 'float32') {
      throw new SpruftError('UNSUPPORTED', `${w}: float16 quantization of ${dtype} weights is not supported (tfjs does not support it either)`, where);
    }
    spec.quantization = { dtype: q.dtype, ...(typeof q.scale === 'number' ? { scale: q.scale } : {}), ...(typeof q.min === 'number' ? { min: q.min } : {}) };
  }
  return spec;
}

function parseLayer(v: unknown, where: string, index: number): KerasLayer {
  if (!isRecord(v) || typeof v.class_name !== 'string' || !isRecord(v.config)) {
    throw new SpruftError('MODEL_INVALID', `modelTopology layer #${index}: needs class_name (string) and config (object)`, where);
  }
  const name = typeof v.name === 'string' ? v.name : typeof v.config.name === 'string' ? v.config.name : undefined;
  if (!name) throw new SpruftError('MODEL_INVALID', `modelTopology layer #${index} (${v.class_name}): has no name`, where);
  const inbound = v.inbound_nodes ?? [];
  if (!Array.isArray(inbound)) throw new SpruftError('MODEL_INVALID', `layer '${name}': inbound_nodes must be an array`, where);
  return { class_name: v.class_name, name, config: v.config, inbound_nodes: inbound };
}

/** Validate a parsed model.json (or the object a wrapped model exports). */
export function parseLayersModelJson(value: unknown, where: string): { modelJson: LayersModelJson; topology: LayersTopology } {
  if (!isRecord(value)) throw new SpruftError('MODEL_INVALID', 'model.json must hold a JSON object', where);
  if (value.format === 'graph-model') {
    throw new SpruftError('UNSUPPORTED', 'this is a TensorFlow.js graph model (frozen: no layers to fine-tune); convert the original Keras model with tensorflowjs_converter --output_format=tfjs_layers_model', where);
  }
  if (value.format !== undefined && value.format !== 'layers-model') {
    throw new SpruftError('UNSUPPORTED', `format ${JSON.stringify(value.format)} is not "layers-model"`, where);
  }
  const topo = value.modelTopology;
  if (!isRecord(topo)) {
    throw new SpruftError('MODEL_INVALID', 'model.json has no modelTopology object (a weights-only manifest is not a model); use a layers model.json', where);
  }
  const mc = isRecord(topo.model_config) ? topo.model_config : topo;
  if (typeof mc.class_name !== 'string' || !MODEL_CLASSES.has(mc.class_name)) {
    throw new SpruftError('UNSUPPORTED', `model class ${JSON.stringify(mc.class_name)} is not supported (Functional, Model or Sequential)`, where);
  }
  // Old Sequential configs are a bare list of layers.
  const cfg: Record<string, unknown> = Array.isArray(mc.config) ? { layers: mc.config } : isRecord(mc.config) ? mc.config : {};
  if (!Array.isArray(cfg.layers)) throw new SpruftError('MODEL_INVALID', 'modelTopology has no list of layers (model_config.config.layers)', where);
  const layers = cfg.layers.map((l, i) => parseLayer(l, where, i));
  const seen = new Set<string>();
  for (const l of layers) {
    if (seen.has(l.name)) throw new SpruftError('MODEL_INVALID', `two layers are named '${l.name}'`, where);
    seen.add(l.name);
  }
  const modelConfig: KerasModelConfig = {
    class_name: mc.class_name as KerasModelConfig['class_name'],
    config: { ...cfg, layers },
  };
  const training = topo.training_config ?? value.trainingConfig;
  const topology: LayersTopology = {
    modelConfig,
    ...(typeof topo.keras_version === 'string' ? { kerasVersion: topo.keras_version } : {}),
    ...(typeof topo.backend === 'string' ? { backend: topo.backend } : {}),
    ...(isRecord(training) ? { trainingConfig: training } : {}),
  };

  const manifest = value.weightsManifest;
  if (!Array.isArray(manifest)) throw new SpruftError('MODEL_INVALID', 'weightsManifest must be an array of {paths, weights}', where);
  const names = new Set<string>();
  const groups: LayersWeightsGroup[] = manifest.map((g, gi) => {
    if (!isRecord(g) || !Array.isArray(g.paths) || !g.paths.every((p) => typeof p === 'string' && p !== '') || !Array.isArray(g.weights)) {
      throw new SpruftError('MODEL_INVALID', `weightsManifest[${gi}] needs paths (file names) and weights (array)`, where);
    }
    const weights = g.weights.map((w, wi) => parseWeightSpec(w, where, `weightsManifest[${gi}].weights[${wi}]`));
    for (const w of weights) {
      if (names.has(w.name)) throw new SpruftError('MODEL_INVALID', `weight '${w.name}' appears twice in weightsManifest`, where);
      names.add(w.name);
    }
    return { paths: g.paths as string[], weights };
  });
  const modelJson: LayersModelJson = {
    ...(typeof value.format === 'string' ? { format: value.format } : {}),
    ...(typeof value.generatedBy === 'string' ? { generatedBy: value.generatedBy } : {}),
    ...(typeof value.convertedBy === 'string' || value.convertedBy === null ? { convertedBy: value.convertedBy } : {}),
    modelTopology: topo,
    weightsManifest: groups,
    ...(isRecord(value.userDefinedMetadata) ? { userDefinedMetadata: value.userDefinedMetadata } : {}),
  };
  return { modelJson, topology };
}

function weightByteLength(spec: LayersWeightSpec, where: string): number {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  if (spec.quantization) return n * (spec.quantization.dtype === 'uint8' ? 1 : 2);
  switch (spec.dtype) {
    case 'float32':
    case 'int32':
      return n * 4;
    case 'bool':
      return n;
    default:
      throw new SpruftError('UNSUPPORTED', `weight '${spec.name}': dtype ${spec.dtype} is not supported in a layers model here`, where);
  }
}

/**
 * Keras layer configs say what shapes their weights must have; a manifest that disagrees
 * (an edited model.json, shards from another model) would otherwise fail deep in the engine.
 */
export function checkLayerWeightShapes(topology: LayersTopology, specs: Map<string, LayersWeightSpec>, where: string): void {
  const pair = (v: unknown): [number, number] | undefined =>
    typeof v === 'number' ? [v, v] : Array.isArray(v) && v.length === 2 && v.every((d) => typeof d === 'number') ? [v[0] as number, v[1] as number] : undefined;
  for (const layer of topology.modelConfig.config.layers) {
    const c = layer.config;
    const get = (suffix: string): LayersWeightSpec | undefined => specs.get(`${layer.name}/${suffix}`);
    const fail = (w: LayersWeightSpec, expected: string): never => {
      throw new SpruftError('MODEL_INVALID', `weight '${w.name}' has shape [${w.shape.join(', ')}] but layer '${layer.name}' (${layer.class_name}) needs ${expected}; the weights do not belong to this model.json`, where);
    };
    const last = (w: LayersWeightSpec | undefined, n: unknown, rank: number, what: string): void => {
      if (!w || typeof n !== 'number') return;
      if (w.shape.length !== rank || w.shape[rank - 1] !== n) fail(w, `rank ${rank} with last dimension ${n} (${what})`);
    };
    const kernelHW = (w: LayersWeightSpec | undefined): void => {
      const k = pair(c.kernel_size);
      if (w && k && (w.shape[0] !== k[0] || w.shape[1] !== k[1])) fail(w, `a ${k[0]}x${k[1]} kernel (kernel_size)`);
    };
    switch (layer.class_name) {
      case 'Dense':
        last(get('kernel'), c.units, 2, 'units');
        last(get('bias'), c.units, 1, 'units');
        break;
      case 'Conv2D':
        last(get('kernel'), c.filters, 4, 'filters');
        kernelHW(get('kernel'));
        last(get('bias'), c.filters, 1, 'filters');
        break;
      case 'DepthwiseConv2D': {
        const dk = get('depthwise_kernel');
        last(dk, c.depth_multiplier ?? 1, 4, 'depth_multiplier');
        kernelHW(dk);
        if (dk) last(get('bias'), dk.shape[2] * dk.shape[3], 1, 'channels x depth_multiplier');
        break;
      }
      case 'BatchNormalization': {
        const parts = ['gamma', 'beta', 'moving_mean', 'moving_variance'].map(get).filter((w): w is LayersWeightSpec => !!w);
        const channels = parts[0]?.shape[0];
        for (const w of parts) last(w, channels, 1, 'one value per channel, the same for gamma, beta, moving_mean, moving_variance');
        break;
      }
    }
  }
}

// ---------------------------------------------------------------- reading

function readModelDocument(source: ModelSource): { modelJson: LayersModelJson; topology: LayersTopology } {
  const path = source.modelFile;
  const text = readTextFile(path, source.kind === 'js-bundle' ? 'model file' : 'model.json', 'MODEL_INVALID', READ_LIMITS.documentBytes);
  const value = source.kind === 'js-bundle' ? extractExportedLiteral(text, path) : parseJsonText(text, path, 'MODEL_INVALID', 'model.json');
  return parseLayersModelJson(value, path);
}

/** model.json only: topology and weight specs, no shard is opened (for inspect and the language server). */
export function readLayersModelJson(specOrPath: string, options: { from?: string } = {}): { source: ModelSource; modelJson: LayersModelJson; topology: LayersTopology } {
  const source = resolveModelSource(specOrPath, options);
  return { source, ...readModelDocument(source) };
}

function shardBytes(source: ModelSource, path: string): Uint8Array {
  const rel = normalize(path);
  if (isAbsolute(rel) || rel === '..' || rel.startsWith(`..${sep}`)) {
    throw new SpruftError('MODEL_INVALID', `weightsManifest path ${JSON.stringify(path)} points outside the model folder`, source.modelFile);
  }
  const base = join(source.dir, rel);
  const file = [base, `${base}.min.js`, `${base}.js`].find(isRegularFile);
  if (!file) {
    throw new SpruftError('FILE_NOT_FOUND', `weight shard '${path}' listed in ${basename(source.modelFile)} is missing; copy all shard files beside it`, base);
  }
  if (!file.endsWith('.js')) {
    const buf = readRegularFile(file, 'weight shard', 'MODEL_INVALID');
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  const value = extractExportedLiteral(readTextFile(file, 'weight shard', 'MODEL_INVALID', READ_LIMITS.wholeFileBytes), file);
  if (typeof value !== 'string') throw new SpruftError('MODEL_INVALID', 'a wrapped weight shard must export a base64 string', file);
  return decodeBase64Strict(value, file);
}

function dequantize(bytes: Uint8Array, offset: number, spec: LayersWeightSpec): Float32Array {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset);
  const q = spec.quantization;
  if (q) {
    const scale = q.scale ?? 1;
    const min = q.min ?? 0;
    // The affine map in float64 then one rounding to float32, as tfjs' decodeWeights.
    // int32 weights round to integers afterwards, as tfjs does.
    const round = spec.dtype === 'int32';
    if (q.dtype === 'uint8') {
      for (let i = 0; i < n; i++) {
        const v = bytes[offset + i] * scale + min;
        out[i] = round ? Math.round(v) : v;
      }
    } else if (q.dtype === 'uint16') {
      for (let i = 0; i < n; i++) {
        const v = view.getUint16(i * 2, true) * scale + min;
        out[i] = round ? Math.round(v) : v;
      }
    } else {
      const bits = new Uint16Array(n);
      for (let i = 0; i < n; i++) bits[i] = view.getUint16(i * 2, true);
      float16BitsToFloat32(bits, out);
    }
    return out;
  }
  switch (spec.dtype) {
    case 'float32':
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
      break;
    case 'int32':
      for (let i = 0; i < n; i++) out[i] = view.getInt32(i * 4, true);
      break;
    default:
      for (let i = 0; i < n; i++) out[i] = bytes[offset + i] !== 0 ? 1 : 0;
  }
  return out;
}

/** Read a layers model: `model.json` path, its folder, or `npm:<package>/<model>`. */
export function readLayersModel(specOrPath: string, options: { from?: string } = {}): LayersModel {
  const source = resolveModelSource(specOrPath, options);
  const { modelJson, topology } = readModelDocument(source);
  const where = source.modelFile;
  const specs = new Map(modelJson.weightsManifest.flatMap((g) => g.weights.map((w) => [w.name, w] as const)));
  checkLayerWeightShapes(topology, specs, where);
  const weights = new Map<string, LayersWeight>();
  modelJson.weightsManifest.forEach((group, gi) => {
    const parts = group.paths.map((p) => shardBytes(source, p));
    const total = parts.reduce((a, p) => a + p.length, 0);
    const bytes = parts.length === 1 ? parts[0] : new Uint8Array(total);
    if (parts.length > 1) {
      let at = 0;
      for (const p of parts) {
        bytes.set(p, at);
        at += p.length;
      }
    }
    let offset = 0;
    for (const spec of group.weights) {
      const length = weightByteLength(spec, where);
      if (offset + length > total) {
        throw new SpruftError(
          'MODEL_INVALID',
          `weight '${spec.name}' (shape [${spec.shape.join(', ')}], ${length} bytes at byte ${offset}) runs past the end of weightsManifest[${gi}]'s shards, which hold ${total} bytes (${group.paths.join(' + ')}); a shard is truncated or belongs to another model`,
          where,
        );
      }
      weights.set(spec.name, { shape: [...spec.shape], data: dequantize(bytes, offset, spec), spec });
      offset += length;
    }
    if (offset !== total) {
      throw new SpruftError('MODEL_INVALID', `weightsManifest[${gi}] describes ${offset} bytes but its shards (${group.paths.join(' + ')}) hold ${total}; the shards belong to another model.json`, where);
    }
  });
  return { source, modelJson, topology, weights };
}

/** How many layers of each Keras class (e.g. { Conv2D: 35, ... }). */
export function countLayerClasses(topology: LayersTopology): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const l of topology.modelConfig.config.layers) counts[l.class_name] = (counts[l.class_name] ?? 0) + 1;
  return counts;
}

// ---------------------------------------------------------------- writing

export interface WriteLayersOptions {
  /** Written unchanged (e.g. the input model's, so that tfjs builds the same model). */
  modelTopology: Record<string, unknown>;
  /** Float32 weights in the order the topology's layers expect (the input manifest order). */
  weights: Map<string, { shape: number[]; data: Float32Array }>;
  userDefinedMetadata?: Record<string, unknown>;
}

const SHARD_NAME = 'group1-shard1of1.bin';

/**
 * Write `model.json` + one float32 shard, atomically (see `writeFolderAtomic`; model.json
 * last). Shards of an earlier export in the folder are removed. Loads with tfjs'
 * `loadLayersModel('file://.../model.json')`.
 */
export function writeLayersModel(dir: string, options: WriteLayersOptions): string[] {
  parseLayersModelJson({ modelTopology: options.modelTopology, weightsManifest: [] }, join(dir, 'model.json'));
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw new SpruftError('UNSUPPORTED', 'writing weight shards on a big-endian machine is not supported');
  }
  const specs: LayersWeightSpec[] = [];
  let total = 0;
  for (const [name, w] of options.weights) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    if (!(w.data instanceof Float32Array) || w.data.length !== n) {
      throw new SpruftError('MODEL_INVALID', `weight '${name}': shape [${w.shape.join(', ')}] has ${n} elements but the data has ${w.data.length}`, dir);
    }
    specs.push({ name, shape: [...w.shape], dtype: 'float32' });
    total += n * 4;
  }
  const modelJson = {
    format: 'layers-model',
    generatedBy: 'SPruFT Studio',
    convertedBy: null,
    modelTopology: options.modelTopology,
    weightsManifest: [{ paths: [SHARD_NAME], weights: specs }],
    ...(options.userDefinedMetadata ? { userDefinedMetadata: options.userDefinedMetadata } : {}),
  };
  const text = JSON.stringify(modelJson);
  const stale = existsSync(dir) && statSync(dir).isDirectory() ? readdirSync(dir).filter((f) => /^group\d+-shard\d+of\d+(\.bin)?$/.test(f)) : [];
  writeFolderAtomic(
    dir,
    [
      {
        name: SHARD_NAME,
        chunks: function* () {
          for (const w of options.weights.values()) yield new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength);
          if (total === 0) yield new Uint8Array(0);
        },
      },
      { name: 'model.json', chunks: () => [text] },
    ],
    stale,
  );
  return [SHARD_NAME, 'model.json'];
}
