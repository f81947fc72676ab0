import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SpruftError, type ErrorCode } from '../errors';
import { writeFileAtomic } from './atomicWrite';
import {
  readSafetensors,
  readSafetensorsCheckpoint,
  readSafetensorsCheckpointHeader,
  readSafetensorsHeader,
  serializeSafetensors,
  writeSafetensors,
  writeShardedSafetensors,
  type SafetensorsTensor,
} from './safetensors';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'spruft-st-'));

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

/** A file from a header (object or raw text) and data bytes, header length as given or true. */
function rawFile(dir: string, header: object | string, data: Uint8Array, lengthField?: bigint): string {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthField ?? BigInt(json.length));
  const path = join(dir, `f${readdirSync(dir).length}.safetensors`);
  writeFileSync(path, Buffer.concat([len, json, data]));
  return path;
}

const f32 = (...v: number[]): Uint8Array => new Uint8Array(new Float32Array(v).buffer);

/** What the reference writes: length (u64 LE), header text, then the data bytes. */
function expectedFile(length: number, header: string, data: Uint8Array): number[] {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(length));
  return [...len, ...Buffer.from(header, 'latin1'), ...data];
}

test('writes exactly the bytes of the reference implementation (its serialization test vectors)', () => {
  const data = new Float32Array([0, 1, 2, 3, 4, 5]);
  // 64-byte header: already aligned, no padding.
  assert.deepEqual(
    [...serializeSafetensors({ 'attn.0': { dtype: 'F32', shape: [1, 2, 3], data } })],
    expectedFile(64, '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}', f32(0, 1, 2, 3, 4, 5)),
  );
  // 65 bytes: padded with 7 spaces to 72 so that the data is 8-byte aligned.
  assert.deepEqual(
    [...serializeSafetensors({ attn0: { dtype: 'F32', shape: [1, 1, 2, 3], data } })],
    expectedFile(72, '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       ', f32(0, 1, 2, 3, 4, 5)),
  );
  assert.deepEqual([...serializeSafetensors({})], expectedFile(8, '{}      ', new Uint8Array(0)));
  assert.deepEqual(
    [...serializeSafetensors({}, { framework: 'pt' })],
    expectedFile(40, '{"__metadata__":{"framework":"pt"}}     ', new Uint8Array(0)),
  );
});

test('header: __metadata__ first, tensors by dtype alignment then name, padded to 8 with spaces', () => {
  const bytes = serializeSafetensors(
    {
      b: { dtype: 'F32', shape: [1], data: new Float32Array([1]) },
      flag: { dtype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]) },
      a: { dtype: 'F32', shape: [1], data: new Float32Array([2]) },
      ids: { dtype: 'I64', shape: [1], data: new Int32Array([-3]) },
      '10': { dtype: 'F16', shape: [1], data: new Float32Array([0.5]) },
      '9': { dtype: 'F16', shape: [1], data: new Float32Array([0.25]) },
    },
    { z: '1', format: 'pt' },
  );
  const n = Number(Buffer.from(bytes).readBigUInt64LE(0));
  assert.equal(n % 8, 0);
  const header = Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8');
  assert.equal(
    header.trimEnd(),
    '{"__metadata__":{"format":"pt","z":"1"},' +
      '"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},' +
      '"a":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},' +
      '"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]},' +
      '"10":{"dtype":"F16","shape":[1],"data_offsets":[16,18]},' +
      '"9":{"dtype":"F16","shape":[1],"data_offsets":[18,20]},' +
      '"flag":{"dtype":"BOOL","shape":[2],"data_offsets":[20,22]}}',
  );
  assert.match(header, /^[^ ]* {0,7}$/, 'only trailing spaces as padding');
  assert.equal(bytes.length, 8 + n + 22);
  // Data: I64 -3 little-endian two's complement, then F32 2 (a) before 1 (b).
  assert.deepEqual([...bytes.subarray(8 + n, 8 + n + 8)], [0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  assert.deepEqual([...bytes.subarray(8 + n + 8, 8 + n + 16)], [...f32(2, 1)]);
});

test('round trip of every supported dtype, including the typed arrays returned', () => {
  const dir = tmp();
  const path = join(dir, 'all.safetensors');
  const tensors: Record<string, SafetensorsTensor> = {
    w: { dtype: 'F32', shape: [2, 3], data: new Float32Array([1.5, -2, 3.25, 0, 1e-30, -7]) },
    h: { dtype: 'F16', shape: [4], data: new Float32Array([1, -0.5, 65504, 1 / 3]) },
    bf: { dtype: 'BF16', shape: [3], data: new Float32Array([1, -2.5, 3.14159]) },
    i: { dtype: 'I32', shape: [3], data: new Int32Array([-2147483648, 0, 2147483647]) },
    l: { dtype: 'I64', shape: [2, 2], data: new Int32Array([-1, 5, 2147483647, -2147483648]) },
    u: { dtype: 'U8', shape: [3], data: new Uint8Array([0, 128, 255]) },
    m: { dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
    empty: { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
    scalar: { dtype: 'F32', shape: [], data: new Float32Array([42]) },
  };
  writeSafetensors(path, tensors, { format: 'pt', note: 'ünïcode' });
  const back = readSafetensors(path);
  assert.deepEqual(back.metadata, { format: 'pt', note: 'ünïcode' });
  assert.equal(back.tensors.size, Object.keys(tensors).length);
  const get = (name: string): SafetensorsTensor => back.tensors.get(name) ?? assert.fail(name);
  assert.ok(get('w').data instanceof Float32Array);
  assert.deepEqual([...get('w').data], [...tensors.w.data]);
  assert.deepEqual(get('w').shape, [2, 3]);
  assert.deepEqual([...get('h').data], [1, -0.5, 65504, 0.333251953125], 'F16 keeps 11 bits of mantissa');
  assert.equal(get('h').dtype, 'F16');
  assert.deepEqual([...get('bf').data], [1, -2.5, 3.140625]);
  assert.ok(get('i').data instanceof Int32Array);
  assert.deepEqual([...get('i').data], [-2147483648, 0, 2147483647]);
  assert.ok(get('l').data instanceof Int32Array);
  assert.deepEqual([...get('l').data], [-1, 5, 2147483647, -2147483648]);
  assert.ok(get('u').data instanceof Uint8Array);
  assert.deepEqual([...get('u').data], [0, 128, 255]);
  assert.deepEqual([...get('m').data], [1, 0, 1]);
  assert.deepEqual(get('empty').shape, [0, 4]);
  assert.equal(get('empty').data.length, 0);
  assert.deepEqual(get('scalar').shape, []);
  assert.deepEqual([...get('scalar').data], [42]);
  // Reading only some tensors.
  const some = readSafetensors(path, { names: ['u', 'w'] });
  assert.deepEqual([...some.tensors.keys()].sort(), ['u', 'w']);
  spruftError(() => readSafetensors(path, { names: ['nope'] }), 'SAFETENSORS_INVALID');
  assert.deepEqual(readdirSync(dir), ['all.safetensors'], 'no temp file left behind');
});

test('reads files written by another writer: unsorted offsets, no padding, BOOL bytes > 1', () => {
  const dir = tmp();
  const data = new Uint8Array([...f32(7), 2, 0, ...f32(8, 9)]);
  const path = rawFile(dir, {
    z: { dtype: 'F32', shape: [2], data_offsets: [6, 14] },
    a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
    m: { dtype: 'BOOL', shape: [2], data_offsets: [4, 6] },
  }, data);
  const file = readSafetensors(path);
  assert.deepEqual([...file.tensors.keys()], ['a', 'm', 'z'], 'file order');
  assert.deepEqual([...(file.tensors.get('z')?.data ?? [])], [8, 9]);
  assert.deepEqual([...(file.tensors.get('m')?.data ?? [])], [1, 0]);
  assert.deepEqual(file.metadata, {});
});

test('readSafetensorsHeader reads only the header (1 GiB sparse file)', () => {
  const dir = tmp();
  const size = 2 ** 30;
  const path = rawFile(dir, { big: { dtype: 'U8', shape: [size], data_offsets: [0, size] } }, new Uint8Array(0));
  truncateSync(path, readFileSync(path).length + size);
  const t0 = performance.now();
  const header = readSafetensorsHeader(path);
  const ms = performance.now() - t0;
  assert.deepEqual(header.tensors.get('big')?.shape, [size]);
  assert.equal(header.fileSize, header.dataStart + size);
  assert.ok(ms < 200, `header read took ${ms} ms`);
});

test('corrupt and truncated files: SAFETENSORS_INVALID naming the file, the tensor and what to do', () => {
  const dir = tmp();
  const ok = { w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const cases: Array<{ what: string; path: string; code?: ErrorCode; message: RegExp; where?: RegExp }> = [
    { what: 'shorter than 8 bytes', path: join(dir, 'tiny.safetensors'), message: /fewer than the 8-byte header length/ },
    { what: 'header length beyond the file', path: rawFile(dir, ok, f32(1, 2), 10_000n), message: /header length field says 10000 bytes, but only \d+ bytes follow/, where: /:byte 0$/ },
    { what: 'header length huge', path: rawFile(dir, ok, f32(1, 2), 2n ** 63n), message: /truncated or not a safetensors file/ },
    { what: 'header not JSON', path: rawFile(dir, '{"w": {"dtype": "F32",', f32(1, 2)), message: /the 22-byte header \(bytes 8\.\.30\) is not valid JSON/ },
    { what: 'header not an object', path: rawFile(dir, '[1, 2]  ', f32(1, 2)), message: /does not start with '\{'/ },
    { what: 'not UTF-8', path: rawFile(dir, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('latin1'), new Uint8Array(0)), message: /not UTF-8|not valid JSON/ },
    { what: 'unknown dtype', path: rawFile(dir, { w: { dtype: 'F99', shape: [2], data_offsets: [0, 8] } }, f32(1, 2)), message: /tensor 'w': unknown dtype "F99"/ },
    { what: 'unsupported dtype', path: rawFile(dir, { w: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }, f32(1, 2)), code: 'UNSUPPORTED', message: /tensor 'w': dtype F64 is not supported/ },
    { what: 'shape/size mismatch', path: rawFile(dir, { w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, f32(1, 2)), message: /tensor 'w': shape \[3\] of F32 needs 12 bytes, but data_offsets \[0, 8\] span 8/ },
    { what: 'bad shape', path: rawFile(dir, { w: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, f32(1, 2)), message: /tensor 'w': shape must be an array of non-negative integers/ },
    { what: 'bad offsets', path: rawFile(dir, { w: { dtype: 'F32', shape: [2], data_offsets: [8] } }, f32(1, 2)), message: /tensor 'w': data_offsets must be \[begin, end\]/ },
    { what: 'reversed offsets', path: rawFile(dir, { w: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, f32(1, 2)), message: /end before they begin/ },
    { what: 'offsets out of range', path: rawFile(dir, { w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, f32(1, 2)), message: /tensor 'w': data ends at byte \d+ but the file has only \d+ bytes; the file is truncated/ },
    {
      what: 'overlap',
      path: rawFile(dir, { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, f32(1, 2, 3)),
      message: /tensor 'b': data_offsets \[4, 12\] overlap tensor 'a'/,
    },
    {
      what: 'gap',
      path: rawFile(dir, { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, f32(1, 2, 3)),
      message: /tensor 'b': data_offsets \[8, 12\] leave a gap of 4 unused bytes after tensor 'a'/,
    },
    { what: 'gap at start', path: rawFile(dir, { a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, f32(1, 2)), message: /gap of 4 unused bytes at the start/ },
    { what: 'trailing bytes', path: rawFile(dir, ok, f32(1, 2, 3)), message: /4 bytes after the last tensor/ },
    { what: 'metadata not strings', path: rawFile(dir, { __metadata__: { epoch: 3 }, ...ok }, f32(1, 2)), message: /__metadata__\.epoch must be a string/ },
    { what: 'entry not an object', path: rawFile(dir, { w: [1, 2] }, f32(1, 2)), message: /tensor 'w': entry must be an object/ },
    { what: 'I64 beyond int32', path: rawFile(dir, { ids: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, new Uint8Array(new BigInt64Array([1n, 2n ** 40n]).buffer)), code: 'UNSUPPORTED', message: /tensor 'ids' \(I64\): element 1 is 1099511627776, outside the int32 range/ },
  ];
  writeFileSync(join(dir, 'tiny.safetensors'), Buffer.from([1, 0, 0]));
  for (const c of cases) {
    const err = spruftError(() => readSafetensors(c.path), c.code ?? 'SAFETENSORS_INVALID');
    assert.match(err.message, c.message, c.what);
    assert.ok(err.where?.startsWith(c.path), `${c.what}: where = ${err.where}`);
    if (c.where) assert.match(err.where ?? '', c.where, c.what);
    assert.ok(err.message.includes(c.path), `${c.what}: the message names the file`);
  }
  // The header-only reader validates the same things (all except the data itself).
  for (const c of cases.filter((x) => x.what !== 'I64 beyond int32')) {
    spruftError(() => readSafetensorsHeader(c.path), c.code ?? 'SAFETENSORS_INVALID');
  }
  spruftError(() => readSafetensors(join(dir, 'missing.safetensors')), 'FILE_NOT_FOUND');
});

test('a file cut short anywhere is rejected, never read as partial data', () => {
  const dir = tmp();
  const path = join(dir, 'full.safetensors');
  writeSafetensors(path, {
    a: { dtype: 'F32', shape: [3, 3], data: new Float32Array(9).fill(1) },
    b: { dtype: 'F16', shape: [5], data: new Float32Array(5).fill(2) },
  });
  const full = readFileSync(path);
  for (const cut of [1, 4, 7, 8, 20, full.length - 30, full.length - 1]) {
    const p = join(dir, `cut${cut}.safetensors`);
    writeFileSync(p, full.subarray(0, cut));
    const err = spruftError(() => readSafetensors(p), 'SAFETENSORS_INVALID');
    assert.ok(err.message.includes(p), err.message);
  }
  assert.equal(readSafetensors(path).tensors.size, 2);
});

test('writer rejects data that does not fit its declared shape or dtype', () => {
  const dir = tmp();
  const bad = (t: SafetensorsTensor, message: RegExp): void => {
    const err = spruftError(() => writeSafetensors(join(dir, 'x.safetensors'), { x: t }), 'SAFETENSORS_INVALID');
    assert.match(err.message, message);
  };
  bad({ dtype: 'F32', shape: [2, 2], data: new Float32Array(3) }, /tensor 'x': shape \[2, 2\] has 4 elements but the data has 3/);
  bad({ dtype: 'F32', shape: [1], data: new Int32Array(1) } as unknown as SafetensorsTensor, /F32 data must be a Float32Array/);
  bad({ dtype: 'F32', shape: [1.5], data: new Float32Array(1) }, /shape must be non-negative integers/);
  assert.equal(existsSync(join(dir, 'x.safetensors')), false);
});

test('atomic write: a failure midway leaves the previous file intact and no temp file', () => {
  const dir = tmp();
  const path = join(dir, 'model.safetensors');
  writeSafetensors(path, { a: { dtype: 'F32', shape: [1], data: new Float32Array([1]) } });
  const before = readFileSync(path);
  function* failing(): Generator<Uint8Array> {
    yield new Uint8Array(1000);
    throw new Error('disk on fire');
  }
  assert.throws(() => writeFileAtomic(path, failing()), /disk on fire/);
  assert.deepEqual(readFileSync(path), before);
  assert.deepEqual(readdirSync(dir), ['model.safetensors']);
});

test('atomic write: a process killed (SIGKILL) in the middle of writing leaves the old file whole', async () => {
  const dir = tmp();
  const path = join(dir, 'model.safetensors');
  writeSafetensors(path, { a: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) } });
  const before = readFileSync(path);
  const atomicModule = resolve(__dirname, 'atomicWrite.ts');
  // The child writes half the file, says so, then waits to be killed.
  const script = `
    const { writeFileAtomic } = require(${JSON.stringify(atomicModule)});
    function* chunks() {
      yield new Uint8Array(1 << 20);
      process.stdout.write('half\\n');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
      yield new Uint8Array(1 << 20);
    }
    writeFileAtomic(${JSON.stringify(path)}, chunks());
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolveHalf, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('half')) resolveHalf();
    });
    child.on('exit', (code) => reject(new Error(`child exited early (${code})`)));
  });
  const exited = new Promise((r) => child.on('exit', r));
  child.kill('SIGKILL');
  await exited;
  assert.deepEqual(readFileSync(path), before, 'the destination still holds the complete old file');
  assert.equal(readSafetensors(path).tensors.size, 1);
  const temps = readdirSync(dir).filter((f) => f !== 'model.safetensors');
  assert.equal(temps.length, 1, 'the half-written data went to a hidden temp file');
  assert.match(temps[0], /^\.model\.safetensors\.tmp-/);
});

test('sharded checkpoints: write like save_pretrained, read back, header-only read', () => {
  const dir = tmp();
  const tensors = new Map<string, SafetensorsTensor>();
  for (let i = 0; i < 5; i++) {
    tensors.set(`layers.${i}.weight`, { dtype: 'F32', shape: [4, 4], data: Float32Array.from({ length: 16 }, (_, j) => i * 100 + j) });
  }
  tensors.set('embed.ids', { dtype: 'I64', shape: [3], data: new Int32Array([1, 2, 3]) });
  const files = writeShardedSafetensors(dir, tensors, { maxShardBytes: 150, metadata: { format: 'pt' } });
  assert.deepEqual(files, [
    'model-00001-of-00003.safetensors',
    'model-00002-of-00003.safetensors',
    'model-00003-of-00003.safetensors',
    'model.safetensors.index.json',
  ]);
  const indexText = readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8');
  const index = JSON.parse(indexText) as { metadata: { total_size: number }; weight_map: Record<string, string> };
  assert.equal(index.metadata.total_size, 5 * 64 + 24);
  assert.deepEqual(Object.keys(index.weight_map), [...Object.keys(index.weight_map)].sort(), 'sorted keys');
  assert.equal(index.weight_map['layers.0.weight'], 'model-00001-of-00003.safetensors');
  assert.equal(index.weight_map['layers.2.weight'], 'model-00002-of-00003.safetensors');
  assert.ok(indexText.startsWith('{\n  "metadata": {\n    "total_size": 344\n  },'), 'indent 2 like json.dumps(indent=2)');
  const back = readSafetensorsCheckpoint(dir);
  assert.equal(back.tensors.size, 6);
  assert.deepEqual(back.metadata, { format: 'pt' });
  assert.deepEqual([...(back.tensors.get('layers.3.weight')?.data ?? [])].slice(0, 3), [300, 301, 302]);
  const header = readSafetensorsCheckpointHeader(dir);
  assert.equal(header.files.length, 3);
  assert.deepEqual(header.tensors.get('embed.ids')?.shape, [3]);
  const some = readSafetensorsCheckpoint(join(dir, 'model.safetensors.index.json'), { names: ['layers.4.weight'] });
  assert.deepEqual([...some.tensors.keys()], ['layers.4.weight']);

  // Re-exporting as one file removes the old shards and index (else a reader could mix them).
  writeShardedSafetensors(dir, tensors, { maxShardBytes: 1e9 });
  assert.deepEqual(readdirSync(dir).sort(), ['model.safetensors']);
  assert.equal(readSafetensorsCheckpoint(dir).tensors.size, 6);
  writeShardedSafetensors(dir, tensors, { maxShardBytes: 200 });
  assert.ok(!readdirSync(dir).includes('model.safetensors'));
});

test('sharded checkpoints: missing shard, wrong weight_map, duplicates, escaping paths', () => {
  const dir = tmp();
  const t = (v: number): SafetensorsTensor => ({ dtype: 'F32', shape: [1], data: new Float32Array([v]) });
  writeSafetensors(join(dir, 's1.safetensors'), { a: t(1), b: t(2) });
  writeSafetensors(join(dir, 's2.safetensors'), { c: t(3), b: t(4) });
  const index = (weightMap: Record<string, string>, name = 'model.safetensors.index.json'): string => {
    writeFileSync(join(dir, name), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    return join(dir, name);
  };
  let err = spruftError(() => readSafetensorsCheckpoint(index({ a: 's1.safetensors', x: 'gone.safetensors' })), 'FILE_NOT_FOUND');
  assert.match(err.message, /shard gone\.safetensors, named in model\.safetensors\.index\.json, is missing/);
  err = spruftError(() => readSafetensorsCheckpoint(index({ a: 's1.safetensors', c: 's1.safetensors' })), 'SAFETENSORS_INVALID');
  assert.match(err.message, /tensor 'c' is listed in model\.safetensors\.index\.json for this shard but the shard does not contain it/);
  err = spruftError(() => readSafetensorsCheckpoint(index({ a: 's1.safetensors', c: 's2.safetensors' })), 'SAFETENSORS_INVALID');
  assert.match(err.message, /tensor 'b' is also in shard s1\.safetensors/);
  err = spruftError(() => readSafetensorsCheckpoint(index({ a: '../outside.safetensors' })), 'SAFETENSORS_INVALID');
  assert.match(err.message, /points outside the checkpoint folder/);
  writeFileSync(join(dir, 'bad.index.json'), '{"weight_map": {"a": "s1.safetensors",}}');
  err = spruftError(() => readSafetensorsCheckpoint(join(dir, 'bad.index.json')), 'SAFETENSORS_INVALID');
  assert.match(err.where ?? '', /bad\.index\.json:1:39$/);
  writeFileSync(join(dir, 'nomap.json'), '{"metadata": {}}');
  err = spruftError(() => readSafetensorsCheckpoint(join(dir, 'nomap.json')), 'SAFETENSORS_INVALID');
  assert.match(err.message, /weight_map is missing/);
  const empty = tmp();
  err = spruftError(() => readSafetensorsCheckpoint(empty), 'FILE_NOT_FOUND');
  assert.match(err.message, /no model\.safetensors or model\.safetensors\.index\.json in this folder/);
});

test('a write into a folder that is a file fails cleanly', () => {
  const dir = tmp();
  const file = join(dir, 'file');
  const fd = openSync(file, 'w');
  writeSync(fd, 'x');
  closeSync(fd);
  assert.throws(() => writeSafetensors(join(file, 'm.safetensors'), {}), /ENOTDIR|EEXIST/);
});
