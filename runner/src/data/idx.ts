/**
 * The IDX format of MNIST and Fashion-MNIST: two zero bytes, a type byte (0x08 uint8,
 * 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions,
 * then each dimension as a big-endian uint32, then the values, big-endian, row-major.
 * Files may be gzip-compressed (recognized by their magic bytes, not their name).
 */
import { existsSync } from 'node:fs';
import { readRegularFile } from '../io/regularFile';
import { gunzipSync } from 'node:zlib';
import { SpruftError } from '../errors';

export type IdxDtype = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  dtype: IdxDtype;
  dims: number[];
  data: IdxData;
}

const TYPES: Record<number, { dtype: IdxDtype; bytes: number }> = {
  0x08: { dtype: 'uint8', bytes: 1 },
  0x09: { dtype: 'int8', bytes: 1 },
  0x0b: { dtype: 'int16', bytes: 2 },
  0x0c: { dtype: 'int32', bytes: 4 },
  0x0d: { dtype: 'float32', bytes: 4 },
  0x0e: { dtype: 'float64', bytes: 8 },
};

function invalid(where: string, message: string): SpruftError {
  return new SpruftError('DATA_INVALID', message, where);
}

/** Parse IDX bytes (already decompressed). `where` names the file in errors. */
export function parseIdx(bytes: Uint8Array, where: string): IdxArray {
  if (bytes.length < 4) throw invalid(where, `only ${bytes.length} bytes: an IDX file starts with a 4-byte magic number; the file is truncated`);
  if (bytes[0] !== 0 || bytes[1] !== 0 || !TYPES[bytes[2]]) {
    const hex = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw invalid(`${where}:byte 0`, `bad magic number ${hex}: not an IDX file (expected 00 00 <type 08/09/0b/0c/0d/0e> <dims>)`);
  }
  const { dtype, bytes: size } = TYPES[bytes[2]];
  const rank = bytes[3];
  if (rank === 0) throw invalid(`${where}:byte 3`, 'the IDX header says 0 dimensions');
  const headerEnd = 4 + 4 * rank;
  if (bytes.length < headerEnd) throw invalid(where, `the file ends inside its header (${rank} dimensions need ${headerEnd} bytes, the file has ${bytes.length}); it is truncated`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let d = 0; d < rank; d++) dims.push(view.getUint32(4 + 4 * d, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const need = count * size;
  const have = bytes.length - headerEnd;
  if (have < need) {
    const itemBytes = dims[0] > 0 ? need / dims[0] : 0;
    const complete = itemBytes > 0 ? Math.floor(have / itemBytes) : 0;
    throw invalid(`${where}:byte ${bytes.length}`, `dimensions [${dims.join(', ')}] of ${dtype} need ${need} data bytes but the file has ${have} (${complete} of ${dims[0]} complete items); the file is truncated — download or install it again`);
  }
  if (have > need) throw invalid(`${where}:byte ${headerEnd + need}`, `${have - need} bytes after the data that dimensions [${dims.join(', ')}] describe; this is not a valid IDX file`);
  let data: IdxData;
  switch (dtype) {
    case 'uint8':
      // A copy (new Uint8Array of a view): `bytes` may be a Buffer over a shared pool.
      data = new Uint8Array(bytes.subarray(headerEnd));
      break;
    case 'int8':
      data = new Int8Array(bytes.buffer, bytes.byteOffset + headerEnd, count).slice();
      break;
    case 'int16':
      data = Int16Array.from({ length: count }, (_, i) => view.getInt16(headerEnd + i * 2, false));
      break;
    case 'int32':
      data = Int32Array.from({ length: count }, (_, i) => view.getInt32(headerEnd + i * 4, false));
      break;
    case 'float32':
      data = Float32Array.from({ length: count }, (_, i) => view.getFloat32(headerEnd + i * 4, false));
      break;
    case 'float64':
      data = Float64Array.from({ length: count }, (_, i) => view.getFloat64(headerEnd + i * 8, false));
      break;
  }
  return { dtype, dims, data };
}

/** Read an IDX file, gzip-compressed or not. */
export function readIdx(path: string): IdxArray {
  if (!existsSync(path)) throw new SpruftError('FILE_NOT_FOUND', 'IDX file not found', path);
  let bytes: Uint8Array = readRegularFile(path, 'IDX file', 'DATA_INVALID');
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (err) {
      throw invalid(path, `the gzip data is corrupt or truncated (${err instanceof Error ? err.message : String(err)}); download or install the file again`);
    }
  }
  return parseIdx(bytes, path);
}
