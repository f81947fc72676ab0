import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { SpruftError } from '../errors';
import { parseIdx, readIdx } from './idx';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'spruft-idx-'));

/** IDX bytes built by hand: magic, big-endian dims, big-endian values. */
function idx(type: number, dims: number[], values: number[], write: (v: DataView, at: number, x: number) => void, size: number): Buffer {
  const buf = Buffer.alloc(4 + 4 * dims.length + values.length * size);
  buf[2] = type;
  buf[3] = dims.length;
  dims.forEach((d, i) => buf.writeUInt32BE(d, 4 + 4 * i));
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  values.forEach((x, i) => write(view, 4 + 4 * dims.length + i * size, x));
  return buf;
}

function dataInvalid(fn: () => unknown): SpruftError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SpruftError);
    assert.equal(err.code, 'DATA_INVALID', err.message);
    return err;
  }
  return assert.fail('expected an error');
}

test('every IDX type, big-endian, plain and gzipped', () => {
  const dir = tmp();
  const cases: Array<[number, string, number[], (v: DataView, at: number, x: number) => void, number]> = [
    [0x08, 'uint8', [0, 7, 255, 128, 1, 2], (v, a, x) => v.setUint8(a, x), 1],
    [0x09, 'int8', [-128, -1, 0, 1, 127, 5], (v, a, x) => v.setInt8(a, x), 1],
    [0x0b, 'int16', [-32768, -2, 0, 300, 32767, 9], (v, a, x) => v.setInt16(a, x, false), 2],
    [0x0c, 'int32', [-2147483648, -3, 0, 70000, 2147483647, 1], (v, a, x) => v.setInt32(a, x, false), 4],
    [0x0d, 'float32', [-1.5, 0, 0.25, 2 ** 34, -7, 1], (v, a, x) => v.setFloat32(a, x, false), 4],
    [0x0e, 'float64', [Math.PI, -0.1, 0, 1e300, 2, 3], (v, a, x) => v.setFloat64(a, x, false), 8],
  ];
  for (const [type, dtype, values, write, size] of cases) {
    const bytes = idx(type, [2, 3], values, write, size);
    for (const [name, content] of [[`${dtype}.idx`, bytes], [`${dtype}.idx.gz`, gzipSync(bytes)]] as const) {
      writeFileSync(join(dir, name), content);
      const a = readIdx(join(dir, name));
      assert.equal(a.dtype, dtype);
      assert.deepEqual(a.dims, [2, 3]);
      assert.deepEqual(Array.from(a.data), values, `${name}`);
    }
  }
  // Gzip is recognized by content, whatever the name.
  writeFileSync(join(dir, 'no-extension'), gzipSync(idx(0x08, [1], [42], (v, a, x) => v.setUint8(a, x), 1)));
  assert.deepEqual(Array.from(readIdx(join(dir, 'no-extension')).data), [42]);
});

test('corrupt IDX data: bad magic, truncated header or data, trailing bytes, broken gzip', () => {
  const good = idx(0x08, [3, 2, 2], Array.from({ length: 12 }, (_, i) => i), (v, a, x) => v.setUint8(a, x), 1);
  let err = dataInvalid(() => parseIdx(Buffer.from([0x1f, 0x8b, 8, 0, 1, 2]), 'x.idx'));
  assert.match(err.message, /bad magic number 1f 8b 08 00: not an IDX file/);
  assert.equal(err.where, 'x.idx:byte 0');
  err = dataInvalid(() => parseIdx(Buffer.from([0, 0, 0x07, 1, 0, 0, 0, 1, 5]), 'x.idx'));
  assert.match(err.message, /bad magic number 00 00 07 01/);
  assert.match(dataInvalid(() => parseIdx(good.subarray(0, 3), 'x.idx')).message, /only 3 bytes/);
  assert.match(dataInvalid(() => parseIdx(good.subarray(0, 10), 'x.idx')).message, /ends inside its header \(3 dimensions need 16 bytes, the file has 10\)/);
  err = dataInvalid(() => parseIdx(good.subarray(0, good.length - 5), 'x.idx'));
  assert.match(err.message, /dimensions \[3, 2, 2\] of uint8 need 12 data bytes but the file has 7 \(1 of 3 complete items\); the file is truncated/);
  assert.equal(err.where, 'x.idx:byte 23');
  assert.match(dataInvalid(() => parseIdx(Buffer.concat([good, Buffer.from([1, 2])]), 'x.idx')).message, /2 bytes after the data/);
  assert.match(dataInvalid(() => parseIdx(Buffer.from([0, 0, 8, 0]), 'x.idx')).message, /0 dimensions/);
  const dir = tmp();
  const gz = gzipSync(good);
  writeFileSync(join(dir, 'cut.gz'), gz.subarray(0, gz.length - 8));
  err = dataInvalid(() => readIdx(join(dir, 'cut.gz')));
  assert.match(err.message, /gzip data is corrupt or truncated/);
  assert.equal(err.where, join(dir, 'cut.gz'));
  assert.throws(() => readIdx(join(dir, 'missing')), (e: unknown) => e instanceof SpruftError && e.code === 'FILE_NOT_FOUND');
});
