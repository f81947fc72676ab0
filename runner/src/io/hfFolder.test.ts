import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpruftError, type ErrorCode } from '../errors';
import { readHfConfig, readHfFolder, readHfHeader, writeHfFolder } from './hfFolder';
import { readSafetensorsHeader } from './safetensors';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'spruft-hf-'));

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

const config = {
  model_type: 'llama',
  hidden_size: 8,
  num_hidden_layers: 1,
  architectures: ['LlamaForCausalLM'],
  rope_scaling: { type: 'linear', factor: 2 },
};

function smallWeights(): Map<string, { shape: number[]; data: Float32Array }> {
  const w = new Map<string, { shape: number[]; data: Float32Array }>();
  w.set('model.embed_tokens.weight', { shape: [16, 8], data: Float32Array.from({ length: 128 }, (_, i) => i / 8) });
  w.set('model.layers.0.mlp.up_proj.weight', { shape: [12, 8], data: Float32Array.from({ length: 96 }, (_, i) => -i) });
  w.set('model.norm.weight', { shape: [8], data: new Float32Array(8).fill(1) });
  return w;
}

test('write then read a model folder: config, float32 weights, integer buffers, metadata', () => {
  const dir = join(tmp(), 'tiny-llama');
  const weights = smallWeights();
  const buffers = new Map([['model.position_ids', { dtype: 'I64' as const, shape: [1, 4], data: new Int32Array([0, 1, 2, 3]) }]]);
  const files = writeHfFolder(dir, { config, tensors: weights, buffers, metadata: { spruft: 'merged' } });
  assert.deepEqual(files, ['model.safetensors', 'config.json']);
  assert.deepEqual(readdirSync(dir).sort(), ['config.json', 'model.safetensors']);
  const text = readFileSync(join(dir, 'config.json'), 'utf8');
  assert.ok(text.startsWith('{\n  "architectures": [\n    "LlamaForCausalLM"\n  ],\n  "hidden_size": 8,'), 'sorted keys, indent 2');
  assert.ok(text.endsWith('}\n'));
  const model = readHfFolder(dir);
  assert.deepEqual(model.config, config);
  assert.deepEqual(model.metadata, { format: 'pt', spruft: 'merged' });
  assert.deepEqual([...model.tensors.keys()].sort(), [...weights.keys()].sort());
  for (const [name, t] of weights) {
    const got = model.tensors.get(name);
    assert.ok(got, name);
    assert.deepEqual(got.shape, t.shape);
    assert.deepEqual(got.data, t.data);
    assert.equal(got.storedAs, 'F32');
  }
  assert.deepEqual([...(model.buffers.get('model.position_ids')?.data ?? [])], [0, 1, 2, 3]);
  const only = readHfFolder(dir, { names: ['model.norm.weight'] });
  assert.deepEqual([...only.tensors.keys()], ['model.norm.weight']);
});

test('weights stored as BF16 or F16 come back as float32 with that rounding', () => {
  const dir = join(tmp(), 'half');
  const tensors = new Map([['w', { shape: [3], data: new Float32Array([1, 1 / 3, -1000.7]) }]]);
  writeHfFolder(dir, { config, tensors, dtype: 'BF16' });
  assert.equal(readSafetensorsHeader(join(dir, 'model.safetensors')).tensors.get('w')?.dtype, 'BF16');
  const w = readHfFolder(dir).tensors.get('w');
  assert.equal(w?.storedAs, 'BF16');
  assert.deepEqual([...(w?.data ?? [])], [1, 0.333984375, -1000]);
  writeHfFolder(dir, { config, tensors, dtype: 'F16' });
  assert.deepEqual([...(readHfFolder(dir).tensors.get('w')?.data ?? [])], [1, 0.333251953125, -1000.5]);
});

test('readHfHeader gives config, names, shapes and parameter count without reading weights', () => {
  const dir = tmp();
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  // A header describing 1 GiB of F32 data, the data section sparse: reading it would be slow.
  const elements = 2 ** 28;
  const header = Buffer.from(JSON.stringify({ big: { dtype: 'F32', shape: [2 ** 14, 2 ** 14], data_offsets: [0, elements * 4] }, ids: { dtype: 'I32', shape: [2], data_offsets: [elements * 4, elements * 4 + 8] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  writeFileSync(join(dir, 'model.safetensors'), Buffer.concat([len, header]));
  truncateSync(join(dir, 'model.safetensors'), 8 + header.length + elements * 4 + 8);
  const t0 = performance.now();
  const h = readHfHeader(dir);
  assert.ok(performance.now() - t0 < 200);
  assert.equal(h.config.model_type, 'llama');
  assert.deepEqual(h.tensors.map((t) => [t.name, t.dtype, t.shape]), [['big', 'F32', [16384, 16384]], ['ids', 'I32', [2]]]);
  assert.equal(h.parameterCount, elements);
});

test('sharded export, re-export, and files of others left alone', () => {
  const dir = join(tmp(), 'sharded');
  writeHfFolder(dir, { config, tensors: smallWeights(), maxShardBytes: 600 });
  assert.deepEqual(readdirSync(dir).sort(), [
    'config.json',
    'model-00001-of-00002.safetensors',
    'model-00002-of-00002.safetensors',
    'model.safetensors.index.json',
  ]);
  const h = readHfHeader(dir);
  assert.equal(h.files.length, 2);
  assert.equal(h.parameterCount, 128 + 96 + 8);
  assert.deepEqual(readHfFolder(dir).tensors.get('model.norm.weight')?.data, new Float32Array(8).fill(1));
  writeFileSync(join(dir, 'tokenizer.json'), '{}');
  writeHfFolder(dir, { config: { ...config, hidden_size: 9 }, tensors: smallWeights() });
  assert.deepEqual(readdirSync(dir).sort(), ['config.json', 'model.safetensors', 'tokenizer.json']);
  assert.equal(readHfConfig(dir).hidden_size, 9);
});

test('a new folder appears complete or not at all', () => {
  const parent = tmp();
  class Exploding extends Float32Array {
    override get buffer(): ArrayBuffer {
      throw new Error('device lost');
    }
  }
  const tensors = new Map([
    ['a', { shape: [2], data: new Float32Array([1, 2]) }],
    ['b', { shape: [2], data: new Exploding(2) as Float32Array }],
  ]);
  assert.throws(() => writeHfFolder(join(parent, 'out'), { config, tensors }), /device lost/);
  assert.deepEqual(readdirSync(parent), [], 'neither the folder nor a temp folder is left');
});

test('errors: missing folder, config.json missing or invalid (file:line:col), no weights', () => {
  const root = tmp();
  spruftError(() => readHfFolder(join(root, 'nope')), 'FILE_NOT_FOUND');
  writeFileSync(join(root, 'file'), 'x');
  assert.match(spruftError(() => readHfFolder(join(root, 'file')), 'MODEL_INVALID').message, /give the folder, not a file/);

  const dir = join(root, 'm');
  mkdirSync(dir);
  let err = spruftError(() => readHfFolder(dir), 'FILE_NOT_FOUND');
  assert.equal(err.where, join(dir, 'config.json'));
  assert.match(err.message, /needs config\.json/);

  writeFileSync(join(dir, 'config.json'), '{\n  "hidden_size": 8,\n  "vocab_size": 32\n  "model_type": "gpt2"\n}\n');
  err = spruftError(() => readHfConfig(dir), 'MODEL_INVALID');
  assert.equal(err.where, `${join(dir, 'config.json')}:4:3`);
  assert.match(err.message, /config\.json is not valid JSON: expected ',' or '}' after the value of "vocab_size"/);

  writeFileSync(join(dir, 'config.json'), '[1, 2]');
  assert.match(spruftError(() => readHfConfig(dir), 'MODEL_INVALID').message, /must hold a JSON object/);

  writeFileSync(join(dir, 'config.json'), '{"model_type": "gpt2"}');
  err = spruftError(() => readHfFolder(dir), 'FILE_NOT_FOUND');
  assert.match(err.message, /no model\.safetensors or model\.safetensors\.index\.json/);
  assert.equal(existsSync(join(dir, 'model.safetensors')), false);
});
