import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../tensor/tf';
import { findPackageRoot } from './npmPackage';
import { SpruftError, type ErrorCode } from '../errors';
import {
  countLayerClasses,
  extractExportedLiteral,
  readLayersModel,
  readLayersModelJson,
  resolveModelSource,
  writeLayersModel,
  type LayersWeightSpec,
} from './tfjsLayers';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'spruft-layers-'));

function spruftError(fn: () => unknown, code: ErrorCode): SpruftError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SpruftError, `expected a SpruftError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail('expected an error');
}

// ------------------------------------------------------------ a small synthetic model

const layers = [
  { name: 'input', class_name: 'InputLayer', config: { batch_input_shape: [null, 5, 5, 1], name: 'input' }, inbound_nodes: [] },
  { name: 'conv', class_name: 'Conv2D', config: { name: 'conv', filters: 2, kernel_size: [3, 3], use_bias: true }, inbound_nodes: [[['input', 0, 0, {}]]] },
  { name: 'dw', class_name: 'DepthwiseConv2D', config: { name: 'dw', kernel_size: 3, depth_multiplier: 1, use_bias: false }, inbound_nodes: [[['conv', 0, 0, {}]]] },
  { name: 'bn', class_name: 'BatchNormalization', config: { name: 'bn' }, inbound_nodes: [[['dw', 0, 0, {}]]] },
  { name: 'flat', class_name: 'GlobalAveragePooling2D', config: { name: 'flat' }, inbound_nodes: [[['bn', 0, 0, {}]]] },
  { name: 'dense', class_name: 'Dense', config: { name: 'dense', units: 3 }, inbound_nodes: [[['flat', 0, 0, {}]]] },
];
const topology = {
  keras_version: '2.2.4',
  backend: 'tensorflow',
  model_config: { class_name: 'Model', config: { name: 'tiny', layers, input_layers: [['input', 0, 0]], output_layers: [['dense', 0, 0]] } },
};

interface Built {
  dir: string;
  groups: Array<{ bytes: Uint8Array; specs: LayersWeightSpec[] }>;
  modelJson: Record<string, unknown>;
}

function bytesOf(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Writes model.json + shards: group 1 split across two shards at an odd byte; every quantization kind. */
function buildModel(dir: string): Built {
  mkdirSync(dir, { recursive: true });
  const g1: Array<[LayersWeightSpec, Uint8Array]> = [
    [{ name: 'conv/kernel', shape: [3, 3, 1, 2], dtype: 'float32' }, bytesOf(Float32Array.from({ length: 18 }, (_, i) => (i - 9) / 7))],
    [{ name: 'conv/bias', shape: [2], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.01, min: -1.27 } }, new Uint8Array([0, 255])],
    [{ name: 'dw/depthwise_kernel', shape: [3, 3, 2, 1], dtype: 'float32', quantization: { dtype: 'uint16', min: -0.5, scale: 1 / 65535 } }, bytesOf(Uint16Array.from({ length: 18 }, (_, i) => i * 3000))],
    [{ name: 'bn/gamma', shape: [2], dtype: 'float32', quantization: { dtype: 'float16' } }, bytesOf(new Uint16Array([0x3c00, 0xc000]))],
    [{ name: 'bn/beta', shape: [2], dtype: 'float32' }, bytesOf(new Float32Array([0.1, -0.1]))],
    [{ name: 'bn/moving_mean', shape: [2], dtype: 'float32' }, bytesOf(new Float32Array([0.5, 0.25]))],
    [{ name: 'bn/moving_variance', shape: [2], dtype: 'float32' }, bytesOf(new Float32Array([2, 3]))],
  ];
  const g2: Array<[LayersWeightSpec, Uint8Array]> = [
    [{ name: 'dense/kernel', shape: [2, 3], dtype: 'float32' }, bytesOf(new Float32Array([1, 2, 3, 4, 5, 6]))],
    [{ name: 'dense/bias', shape: [3], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.5, min: -1 } }, new Uint8Array([0, 1, 2])],
    [{ name: 'iterations', shape: [], dtype: 'int32', group: 'optimizer' }, bytesOf(new Int32Array([-7]))],
  ];
  const b1 = concat(g1.map(([, b]) => b));
  const b2 = concat(g2.map(([, b]) => b));
  const cut = 37;
  writeFileSync(join(dir, 'group1-shard1of2.bin'), b1.subarray(0, cut));
  writeFileSync(join(dir, 'group1-shard2of2.bin'), b1.subarray(cut));
  writeFileSync(join(dir, 'group2-shard1of1'), b2);
  const modelJson = {
    format: 'layers-model',
    generatedBy: 'keras v2.2.4',
    convertedBy: 'TensorFlow.js Converter v1.0',
    modelTopology: topology,
    weightsManifest: [
      { paths: ['group1-shard1of2.bin', 'group1-shard2of2.bin'], weights: g1.map(([s]) => s) },
      { paths: ['group2-shard1of1'], weights: g2.map(([s]) => s) },
    ],
  };
  writeFileSync(join(dir, 'model.json'), JSON.stringify(modelJson, null, 2));
  return { dir, groups: [{ bytes: b1, specs: g1.map(([s]) => s) }, { bytes: b2, specs: g2.map(([s]) => s) }], modelJson };
}

/** tfjs' own decoder on the same bytes: the independent reference for dequantization. */
async function referenceWeights(built: Built): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const g of built.groups) {
    const decoded = tf.io.decodeWeights(g.bytes.slice().buffer, g.specs as tf.io.WeightsManifestEntry[]);
    for (const [name, t] of Object.entries(decoded)) {
      out.set(name, Array.from(await t.data()));
      t.dispose();
    }
  }
  return out;
}

test('reads a layers model: shards concatenated in order, every quantization dequantized like tfjs', async () => {
  const built = buildModel(join(tmp(), 'tiny'));
  const before = tf.memory().numTensors;
  const model = readLayersModel(built.dir);
  assert.equal(model.source.kind, 'model-json');
  assert.equal(model.modelJson.format, 'layers-model');
  assert.equal(model.topology.modelConfig.class_name, 'Model');
  assert.equal(model.topology.kerasVersion, '2.2.4');
  assert.deepEqual(countLayerClasses(model.topology), { InputLayer: 1, Conv2D: 1, DepthwiseConv2D: 1, BatchNormalization: 1, GlobalAveragePooling2D: 1, Dense: 1 });
  assert.deepEqual(model.topology.modelConfig.config.layers[1].inbound_nodes, [[['input', 0, 0, {}]]]);
  assert.deepEqual([...model.weights.keys()], built.groups.flatMap((g) => g.specs.map((s) => s.name)));
  const ref = await referenceWeights(built);
  for (const [name, w] of model.weights) {
    assert.ok(w.data instanceof Float32Array);
    assert.deepEqual(Array.from(w.data), ref.get(name), name);
  }
  // Hand-computed values for each kind.
  assert.deepEqual(Array.from(model.weights.get('conv/bias')?.data ?? []), [Math.fround(-1.27), Math.fround(255 * 0.01 - 1.27)]);
  assert.deepEqual(Array.from(model.weights.get('bn/gamma')?.data ?? []), [1, -2]);
  assert.equal(model.weights.get('dw/depthwise_kernel')?.data[1], Math.fround(3000 / 65535 - 0.5));
  assert.deepEqual(Array.from(model.weights.get('dense/bias')?.data ?? []), [-1, -0.5, 0]);
  assert.deepEqual(Array.from(model.weights.get('iterations')?.data ?? []), [-7]);
  assert.equal(model.weights.get('iterations')?.spec.group, 'optimizer');
  assert.equal(tf.memory().numTensors, before, 'no tensors leaked by the reference decoding');
});

test('readLayersModelJson reads the topology without opening any shard', () => {
  const built = buildModel(join(tmp(), 'tiny'));
  writeFileSync(join(built.dir, 'group1-shard1of2.bin'), ''); // a broken shard does not matter here
  const { modelJson, topology } = readLayersModelJson(join(built.dir, 'model.json'));
  assert.equal(topology.modelConfig.config.layers.length, 6);
  assert.equal(modelJson.weightsManifest[1].weights[0].name, 'dense/kernel');
});

test('old Sequential configs (a bare list of layers) and tfjs-saved topologies (no model_config) are normalized', () => {
  const dir = tmp();
  const seqLayers = [
    { class_name: 'Dense', config: { name: 'd1', units: 2, batch_input_shape: [null, 3] } },
    { class_name: 'Dense', config: { name: 'd2', units: 1 } },
  ];
  writeFileSync(
    join(dir, 'model.json'),
    JSON.stringify({
      modelTopology: { class_name: 'Sequential', config: seqLayers, keras_version: 'tfjs-layers 4.22.0' },
      weightsManifest: [{ paths: ['w.bin'], weights: [{ name: 'd1/kernel', shape: [3, 2], dtype: 'float32' }] }],
    }),
  );
  writeFileSync(join(dir, 'w.bin'), bytesOf(new Float32Array(6).fill(0.5)));
  const model = readLayersModel(dir);
  assert.equal(model.topology.modelConfig.class_name, 'Sequential');
  assert.deepEqual(model.topology.modelConfig.config.layers.map((l) => [l.name, l.inbound_nodes]), [['d1', []], ['d2', []]]);
  assert.deepEqual(Array.from(model.weights.get('d1/kernel')?.data ?? []), [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
});

test('errors name model.json, the shard or the weight, and say what to do', () => {
  const root = tmp();
  const fresh = (name: string): Built => buildModel(join(root, name));
  const edit = (b: Built, change: (j: Record<string, unknown>) => void): void => {
    const j = JSON.parse(JSON.stringify(b.modelJson)) as Record<string, unknown>;
    change(j);
    writeFileSync(join(b.dir, 'model.json'), JSON.stringify(j));
  };
  type Manifest = Array<{ paths: string[]; weights: Array<Record<string, unknown>> }>;

  let b = fresh('missing-shard');
  rmSync(join(b.dir, 'group1-shard2of2.bin'));
  let err = spruftError(() => readLayersModel(b.dir), 'FILE_NOT_FOUND');
  assert.match(err.message, /weight shard 'group1-shard2of2\.bin' listed in model\.json is missing/);
  assert.equal(err.where, join(b.dir, 'group1-shard2of2.bin'));

  b = fresh('short-shard');
  writeFileSync(join(b.dir, 'group1-shard2of2.bin'), b.groups[0].bytes.subarray(37, b.groups[0].bytes.length - 10));
  err = spruftError(() => readLayersModel(b.dir), 'MODEL_INVALID');
  assert.match(err.message, /weight 'bn\/moving_mean' \(shape \[2\], 8 bytes at byte 122\) runs past the end of weightsManifest\[0\]'s shards, which hold \d+ bytes \(group1-shard1of2\.bin \+ group1-shard2of2\.bin\)/);
  assert.equal(err.where, join(b.dir, 'model.json'));

  b = fresh('long-shard');
  writeFileSync(join(b.dir, 'group2-shard1of1'), concat([b.groups[1].bytes, new Uint8Array(4)]));
  assert.match(spruftError(() => readLayersModel(b.dir), 'MODEL_INVALID').message, /weightsManifest\[1\] describes 31 bytes but its shards \(group2-shard1of1\) hold 35/);

  b = fresh('shape-vs-layer');
  edit(b, (j) => {
    const m = j.weightsManifest as Manifest;
    m[1].weights[0].shape = [3, 2];
  });
  assert.match(spruftError(() => readLayersModel(b.dir), 'MODEL_INVALID').message, /weight 'dense\/kernel' has shape \[3, 2\] but layer 'dense' \(Dense\) needs rank 2 with last dimension 3 \(units\)/);

  b = fresh('kernel-size');
  edit(b, (j) => {
    const m = j.weightsManifest as Manifest;
    m[0].weights[0].shape = [1, 18, 1, 2];
  });
  assert.match(spruftError(() => readLayersModel(b.dir), 'MODEL_INVALID').message, /weight 'conv\/kernel' has shape \[1, 18, 1, 2\] but layer 'conv' \(Conv2D\) needs a 3x3 kernel/);

  b = fresh('bn');
  edit(b, (j) => {
    const m = j.weightsManifest as Manifest;
    m[0].weights[5].shape = [1];
    m[0].weights[5].dtype = 'float32';
  });
  assert.match(spruftError(() => readLayersModel(b.dir), 'MODEL_INVALID').message, /weight 'bn\/moving_mean' has shape \[1\] but layer 'bn' \(BatchNormalization\)/);

  b = fresh('bad-json');
  writeFileSync(join(b.dir, 'model.json'), '{\n  "modelTopology": {},\n  "weightsManifest": [,]\n}');
  err = spruftError(() => readLayersModel(b.dir), 'MODEL_INVALID');
  assert.equal(err.where, `${join(b.dir, 'model.json')}:3:23`);

  b = fresh('graph');
  edit(b, (j) => {
    j.format = 'graph-model';
  });
  assert.match(spruftError(() => readLayersModel(b.dir), 'UNSUPPORTED').message, /graph model \(frozen/);

  b = fresh('no-topology');
  edit(b, (j) => {
    delete j.modelTopology;
  });
  assert.match(spruftError(() => readLayersModel(b.dir), 'MODEL_INVALID').message, /no modelTopology/);

  b = fresh('class');
  edit(b, (j) => {
    (j.modelTopology as { model_config: { class_name: string } }).model_config.class_name = 'Subclassed';
  });
  assert.match(spruftError(() => readLayersModel(b.dir), 'UNSUPPORTED').message, /model class "Subclassed"/);

  b = fresh('dup');
  edit(b, (j) => {
    const m = j.weightsManifest as Manifest;
    m[1].weights[1].name = 'conv/kernel';
  });
  assert.match(spruftError(() => readLayersModel(b.dir), 'MODEL_INVALID').message, /weight 'conv\/kernel' appears twice/);

  b = fresh('escape');
  edit(b, (j) => {
    const m = j.weightsManifest as Manifest;
    m[1].paths = ['../../etc/passwd'];
  });
  assert.match(spruftError(() => readLayersModel(b.dir), 'MODEL_INVALID').message, /points outside the model folder/);

  b = fresh('quant');
  edit(b, (j) => {
    const m = j.weightsManifest as Manifest;
    m[0].weights[1].quantization = { dtype: 'uint8', scale: 0.1 };
  });
  assert.match(spruftError(() => readLayersModel(b.dir), 'MODEL_INVALID').message, /weightsManifest\[0\]\.weights\[1\] \('conv\/bias'\): uint8 quantization needs finite numbers scale and min/);

  b = fresh('string');
  edit(b, (j) => {
    const m = j.weightsManifest as Manifest;
    m[1].weights[2].dtype = 'string';
  });
  assert.match(spruftError(() => readLayersModel(b.dir), 'UNSUPPORTED').message, /weight 'iterations': dtype string is not supported/);

  spruftError(() => readLayersModel(join(root, 'nowhere')), 'FILE_NOT_FOUND');
  mkdirSync(join(root, 'empty'));
  assert.match(spruftError(() => readLayersModel(join(root, 'empty')), 'FILE_NOT_FOUND').message, /no model\.json in this folder/);
});

// ------------------------------------------------------------ JavaScript-wrapped models

function browserify(globalName: string, literal: string): string {
  return (
    `!function(e){if("object"==typeof exports&&"undefined"!=typeof module)module.exports=e();else{("undefined"!=typeof window?window:this).${globalName}=e()}}` +
    `(function(){return function e(a,n,i){function l(_,o){return n[_].exports}return l}({1:[function(e,a,n){a.exports=${literal}},{}]},{},[1])(1)});`
  );
}

/** A JSON value printed the way minifiers do: unquoted keys, !0/!1, no leading zero. */
function minified(v: unknown): string {
  if (v === true) return '!0';
  if (v === false) return '!1';
  if (typeof v === 'number') return String(v).replace(/^(-?)0\./, '$1.');
  if (Array.isArray(v)) return `[${v.map(minified).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.entries(v).map(([k, x]) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)}:${minified(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

test('JavaScript-wrapped models (nsfwjs style) load like the binary ones, without running them', () => {
  const built = buildModel(join(tmp(), 'bin'));
  const dir = join(tmp(), 'wrapped');
  mkdirSync(dir);
  const j = JSON.parse(JSON.stringify(built.modelJson)) as { modelTopology: unknown; weightsManifest: Array<{ paths: string[] }> };
  j.weightsManifest[0].paths = ['group1-shard1of1'];
  j.weightsManifest[1].paths = ['group2-shard1of1'];
  (j.modelTopology as { model_config: { config: { layers: Array<{ config: Record<string, unknown> }> } } }).model_config.config.layers[1].config.trainable = false;
  writeFileSync(join(dir, 'model.min.js'), browserify('model', minified({ modelTopology: j.modelTopology, weightsManifest: j.weightsManifest })));
  writeFileSync(join(dir, 'group1-shard1of1.min.js'), browserify('group1_shard1of1', JSON.stringify(Buffer.from(built.groups[0].bytes).toString('base64'))));
  writeFileSync(join(dir, 'group2-shard1of1.min.js'), browserify('group2_shard1of1', JSON.stringify(Buffer.from(built.groups[1].bytes).toString('base64'))));
  const wrapped = readLayersModel(dir);
  const plain = readLayersModel(built.dir);
  assert.equal(wrapped.source.kind, 'js-bundle');
  assert.equal(wrapped.topology.modelConfig.config.layers[1].config.trainable, false);
  assert.deepEqual([...wrapped.weights.keys()], [...plain.weights.keys()]);
  for (const [name, w] of plain.weights) assert.deepEqual(wrapped.weights.get(name)?.data, w.data, name);

  // Code instead of data: refused, and never run.
  const marker = join(dir, 'pwned');
  writeFileSync(join(dir, 'group1-shard1of1.min.js'), browserify('x', `require("fs").writeFileSync(${JSON.stringify(marker)},"1")`));
  const err = spruftError(() => readLayersModel(dir), 'MODEL_INVALID');
  assert.match(err.message, /'require' is code, not a literal value/);
  assert.match(err.where ?? '', /group1-shard1of1\.min\.js:1:\d+$/);
  assert.equal(existsSync(marker), false);
  writeFileSync(join(dir, 'group1-shard1of1.min.js'), browserify('x', '"AAAA"+"BBBB"'));
  assert.match(spruftError(() => readLayersModel(dir), 'MODEL_INVALID').message, /followed by '\+'/);
  writeFileSync(join(dir, 'group1-shard1of1.min.js'), browserify('x', '"AA*A"'));
  assert.match(spruftError(() => readLayersModel(dir), 'MODEL_INVALID').message, /not valid base64/);
});

// ------------------------------------------------------------ writing

test('writeLayersModel: model.json + one float32 shard that tfjs decodes to the same weights', async () => {
  const built = buildModel(join(tmp(), 'in'));
  const model = readLayersModel(built.dir);
  const out = join(tmp(), 'out');
  const weights = new Map([...model.weights].map(([n, w]) => [n, { shape: w.shape, data: w.data }]));
  assert.deepEqual(writeLayersModel(out, { modelTopology: model.modelJson.modelTopology, weights, userDefinedMetadata: { spruft: { method: 'spruft' } } }), ['group1-shard1of1.bin', 'model.json']);
  const json = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')) as { format: string; modelTopology: unknown; weightsManifest: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>; userDefinedMetadata: unknown };
  assert.equal(json.format, 'layers-model');
  assert.deepEqual(json.modelTopology, topology);
  assert.deepEqual(json.userDefinedMetadata, { spruft: { method: 'spruft' } });
  const shard = readFileSync(join(out, 'group1-shard1of1.bin'));
  const decoded = tf.io.decodeWeights(new Uint8Array(shard).buffer, json.weightsManifest[0].weights);
  for (const [name, w] of model.weights) {
    assert.deepEqual(Array.from(await decoded[name].data()), Array.from(w.data), name);
    decoded[name].dispose();
  }
  const back = readLayersModel(out);
  for (const [name, w] of model.weights) assert.deepEqual(back.weights.get(name)?.data, w.data);

  // Writing again over a folder with an older, differently sharded export removes its shards.
  writeFileSync(join(out, 'group1-shard1of2.bin'), 'old');
  writeFileSync(join(out, 'notes.txt'), 'mine');
  writeLayersModel(out, { modelTopology: model.modelJson.modelTopology, weights });
  assert.deepEqual(readdirSync(out).sort(), ['group1-shard1of1.bin', 'model.json', 'notes.txt']);

  assert.match(
    spruftError(() => writeLayersModel(join(tmp(), 'bad'), { modelTopology: model.modelJson.modelTopology, weights: new Map([['w', { shape: [2, 2], data: new Float32Array(3) }]]) }), 'MODEL_INVALID').message,
    /weight 'w': shape \[2, 2\] has 4 elements but the data has 3/,
  );
});

// ------------------------------------------------------------ model sources

test('resolveModelSource: npm: references, folders, files; helpful errors', () => {
  assert.match(spruftError(() => resolveModelSource('npm:nsfwjs'), 'CONFIG_INVALID').message, /e\.g\. npm:nsfwjs\/mobilenet_v2/);
  assert.match(spruftError(() => resolveModelSource('npm:surely-not-installed-pkg/m'), 'FILE_NOT_FOUND').message, /npm package surely-not-installed-pkg is not installed; run `npm install surely-not-installed-pkg`/);
  // A package whose exports map hides package.json (as nsfwjs' does) is still found.
  const root = tmp();
  const pkg = join(root, 'node_modules', '@acme', 'models');
  mkdirSync(join(pkg, 'dist', 'models', 'tiny'), { recursive: true });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: '@acme/models', version: '1.2.3', exports: { '.': './index.js' } }));
  writeFileSync(join(pkg, 'dist', 'models', 'tiny', 'model.min.js'), 'module.exports={}');
  const from = join(root, 'app', 'x.js');
  assert.equal(findPackageRoot('@acme/models', from), pkg);
  const src = resolveModelSource('npm:@acme/models/tiny', { from });
  assert.equal(src.kind, 'js-bundle');
  assert.equal(src.modelFile, join(pkg, 'dist', 'models', 'tiny', 'model.min.js'));
  assert.deepEqual(src.package, { name: '@acme/models', version: '1.2.3', root: pkg });
  assert.match(spruftError(() => resolveModelSource('npm:@acme/models/huge', { from }), 'FILE_NOT_FOUND').message, /package @acme\/models@1\.2\.3 has no model 'huge'/);
});

// ------------------------------------------------------------ the real nsfwjs MobileNetV2

const nsfwjsRoot = findPackageRoot('nsfwjs');

test('nsfwjs@4.3.0 MobileNetV2: real weights, 35 Conv2D / 17 DepthwiseConv2D / 52 BatchNorm, dequantized like tfjs', { skip: nsfwjsRoot ? false : 'npm package nsfwjs is not installed (npm install --save-exact nsfwjs@4.3.0 to run this test)' }, async () => {
  const t0 = performance.now();
  const model = readLayersModel('npm:nsfwjs/mobilenet_v2');
  const ms = performance.now() - t0;
  assert.equal(model.source.kind, 'js-bundle');
  assert.equal(model.source.package?.name, 'nsfwjs');
  const counts = countLayerClasses(model.topology);
  assert.equal(counts.Conv2D, 35);
  assert.equal(counts.DepthwiseConv2D, 17);
  assert.equal(counts.BatchNormalization, 52);
  assert.equal(counts.Dense, 3);
  assert.deepEqual(model.topology.modelConfig.config.layers[0].config.batch_input_shape, [null, 224, 224, 3]);
  assert.equal(model.weights.size, 266);
  assert.ok([...model.weights.values()].every((w) => w.spec.quantization?.dtype === 'uint8'), 'all weights uint8-quantized');
  assert.deepEqual(model.weights.get('Conv1/kernel')?.shape, [3, 3, 3, 32]);
  // Every layer's weights were checked against its config by the reader; check the
  // values: finite, batch-norm variances >= 0, kernels of a trained network (not all zero).
  let total = 0;
  for (const [name, w] of model.weights) {
    total += w.data.length;
    let maxAbs = 0;
    for (const v of w.data) {
      assert.ok(Number.isFinite(v), name);
      maxAbs = Math.max(maxAbs, Math.abs(v));
    }
    if (name.endsWith('/moving_variance')) assert.ok(w.data.every((v) => v >= 0), name);
    if (name.endsWith('/kernel') || name.endsWith('/depthwise_kernel')) assert.ok(maxAbs > 1e-3 && maxAbs < 50, `${name}: max |w| = ${maxAbs}`);
  }
  assert.ok(total > 2_200_000 && total < 3_000_000, `${total} parameters`);
  // Against tfjs' own decoder on the same shard bytes.
  const shardFile = join(model.source.dir, 'group1-shard1of1.min.js');
  const b64 = extractExportedLiteral(readFileSync(shardFile, 'utf8'), shardFile) as string;
  const decoded = tf.io.decodeWeights(new Uint8Array(Buffer.from(b64, 'base64')).buffer, model.modelJson.weightsManifest[0].weights as tf.io.WeightsManifestEntry[]);
  for (const [name, w] of model.weights) {
    const ref = (await decoded[name].data()) as Float32Array;
    decoded[name].dispose();
    assert.equal(ref.length, w.data.length, name);
    const differ = w.data.findIndex((v, i) => v !== ref[i]);
    assert.equal(differ, -1, `${name}: element ${differ} is ${w.data[differ]}, tfjs gives ${ref[differ]}`);
  }
  // Exported in the input format (float32, one shard) and read back unchanged.
  const out = join(tmp(), 'mobilenet_v2');
  writeLayersModel(out, { modelTopology: model.modelJson.modelTopology, weights: new Map([...model.weights].map(([n, w]) => [n, { shape: w.shape, data: w.data }])) });
  const back = readLayersModel(out);
  assert.deepEqual(countLayerClasses(back.topology), counts);
  for (const [name, w] of model.weights) assert.ok(Buffer.from(w.data.buffer).equals(Buffer.from(back.weights.get(name)?.data.buffer ?? new ArrayBuffer(0))), name);
  console.log(`nsfwjs MobileNetV2: ${model.weights.size} weights, ${total} parameters, read in ${ms.toFixed(0)} ms`);
});
