/**
 * The safetensors format (Hugging Face): an 8-byte little-endian header length N, N bytes
 * of JSON `{ "__metadata__"?: {string: string}, name: {dtype, shape, data_offsets: [begin,
 * end]} }` padded with spaces, then the raw little-endian tensor bytes, offsets relative to
 * the end of the header, covering the data exactly (no holes, no overlaps).
 *
 * What this module gives the engine: typed arrays it can hand to `tf.tensor` directly.
 *   F32, F16, BF16  -> Float32Array (half precision is widened exactly)
 *   I32, I64        -> Int32Array. TensorFlow.js has no int64; I64 values (token ids,
 *                      position ids) are narrowed after a range check, and a value outside
 *                      int32 is an UNSUPPORTED error naming the tensor and element.
 *   U8, BOOL        -> Uint8Array (BOOL as 0/1)
 * Other valid safetensors dtypes (F64, I8, I16, U16, U32, U64, F8_*) are UNSUPPORTED; a dtype
 * the format does not know is SAFETENSORS_INVALID.
 *
 * Writing is byte-identical to the reference implementation (safetensors' Rust `serialize`,
 * which Python's `save_file` calls): tensors ordered by dtype alignment (largest first), then
 * by name; `__metadata__` first; compact JSON; header padded with spaces to a multiple of 8.
 * Metadata keys are sorted (the reference's order is a hash map's, i.e. arbitrary).
 */
import { closeSync, existsSync, fstatSync, readdirSync, readSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { SpruftError } from '../errors';
import { writeFileAtomic, writeFolderAtomic, type Chunk, type FolderFile } from './atomicWrite';
import {
  bfloat16BitsToFloat32,
  float16BitsToFloat32,
  float32ToBfloat16,
  float32ToFloat16,
} from './float16';
import { readJsonFile } from './jsonText';
import { openRegularFile } from './regularFile';

export type SafetensorsFloatDtype = 'F32' | 'F16' | 'BF16';
export type SafetensorsIntDtype = 'I32' | 'I64';
export type SafetensorsByteDtype = 'U8' | 'BOOL';
export type SafetensorsDtype = SafetensorsFloatDtype | SafetensorsIntDtype | SafetensorsByteDtype;

/** One tensor: `dtype` is how it is (or will be) stored; `data` is row-major. */
export type SafetensorsTensor =
  | { dtype: SafetensorsFloatDtype; shape: number[]; data: Float32Array }
  | { dtype: SafetensorsIntDtype; shape: number[]; data: Int32Array }
  | { dtype: SafetensorsByteDtype; shape: number[]; data: Uint8Array };

export interface SafetensorsFile {
  /** In file order (by data offset). */
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

export interface SafetensorsTensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Relative to the start of the data section, as in the file. */
  dataOffsets: [number, number];
  /** The file it lives in (differs per tensor in a sharded checkpoint). */
  file: string;
}

export interface SafetensorsHeader {
  path: string;
  /** N, the JSON header's byte length (padding included). */
  headerLength: number;
  /** Absolute byte offset of the data section: 8 + N. */
  dataStart: number;
  fileSize: number;
  /** In file order (by data offset). */
  tensors: Map<string, SafetensorsTensorInfo>;
  metadata: Record<string, string>;
}

const DTYPE_BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8, U8: 1, BOOL: 1 };

/** Valid in the format, not readable here. */
const OTHER_FORMAT_DTYPES = new Set([
  'F64', 'I8', 'I16', 'U16', 'U32', 'U64', 'F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F6_E2M3', 'F6_E3M2', 'F4', 'C64',
]);

/**
 * The reference orders tensors by its Dtype enum, descending (largest alignment first),
 * then by name. Enum order: BOOL, (F4, F6_*), U8, I8, F8_*, I16, U16, F16, BF16, I32, U32,
 * F32, F64, I64, U64.
 */
const DTYPE_RANK: Record<SafetensorsDtype, number> = { BOOL: 0, U8: 1, F16: 7, BF16: 8, I32: 9, F32: 11, I64: 13 };

/** The reference's limit; a larger "header" means a corrupt or foreign file. */
const MAX_HEADER_BYTES = 100_000_000;

function invalid(where: string, message: string): SpruftError {
  return new SpruftError('SAFETENSORS_INVALID', message, where);
}

export function isSafetensorsDtype(s: string): s is SafetensorsDtype {
  return Object.prototype.hasOwnProperty.call(DTYPE_BYTES, s);
}

function elementCount(shape: number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function compareNames(a: string, b: string): number {
  // Byte order of the UTF-8 names, as Rust's String ordering.
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

// ---------------------------------------------------------------- reading the header

function readExactly(fd: number, length: number, position: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done === length ? buf : buf.subarray(0, done);
}

function openForReading(path: string, what: string): number {
  // Regular files only: /dev/zero or a FIFO named as a checkpoint would read without end.
  return openRegularFile(path, what, 'SAFETENSORS_INVALID').fd;
}

/** Parse and validate a header given its JSON bytes and the file's size. */
function parseHeader(path: string, json: Buffer, fileSize: number): SafetensorsHeader {
  const headerLength = json.length;
  const dataStart = 8 + headerLength;
  const dataSize = fileSize - dataStart;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(json);
  } catch {
    throw invalid(path, 'the header is not UTF-8 text; this is not a safetensors file (or it is corrupt)');
  }
  if (!text.startsWith('{')) {
    throw invalid(path, `the header does not start with '{' (it starts with ${JSON.stringify(text.slice(0, 16))}); this is not a safetensors file`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw invalid(path, `the ${headerLength}-byte header (bytes 8..${dataStart}) is not valid JSON (${err instanceof Error ? err.message : String(err)}); the file is corrupt — re-export or re-download it`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw invalid(path, 'the header JSON is not an object');
  }
  const entries = parsed as Record<string, unknown>;
  const metadata: Record<string, string> = {};
  const raw = entries.__metadata__;
  if (raw !== undefined) {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw invalid(path, '__metadata__ must be an object of string values');
    }
    for (const [k, v] of Object.entries(raw)) {
      if (typeof v !== 'string') throw invalid(path, `__metadata__.${k} must be a string, got ${JSON.stringify(v)}`);
      metadata[k] = v;
    }
  }

  const infos: SafetensorsTensorInfo[] = [];
  for (const [name, entry] of Object.entries(entries)) {
    if (name === '__metadata__') continue;
    const at = `tensor '${name}'`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw invalid(path, `${at}: entry must be an object with dtype, shape, data_offsets`);
    }
    const e = entry as Record<string, unknown>;
    if (typeof e.dtype !== 'string') throw invalid(path, `${at}: dtype missing or not a string`);
    if (!isSafetensorsDtype(e.dtype)) {
      if (OTHER_FORMAT_DTYPES.has(e.dtype)) {
        throw new SpruftError('UNSUPPORTED', `${at}: dtype ${e.dtype} is not supported (supported: F32, F16, BF16, I32, I64, U8, BOOL); convert the checkpoint, e.g. to F32`, path);
      }
      throw invalid(path, `${at}: unknown dtype ${JSON.stringify(e.dtype)} (expected one of F32, F16, BF16, I32, I64, U8, BOOL)`);
    }
    if (!Array.isArray(e.shape) || !e.shape.every(isIndex)) {
      throw invalid(path, `${at}: shape must be an array of non-negative integers, got ${JSON.stringify(e.shape)}`);
    }
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !isIndex(off[0]) || !isIndex(off[1])) {
      throw invalid(path, `${at}: data_offsets must be [begin, end] (non-negative integers), got ${JSON.stringify(off)}`);
    }
    const [begin, end] = off as [number, number];
    if (end < begin) throw invalid(path, `${at}: data_offsets [${begin}, ${end}] end before they begin`);
    const shape = e.shape as number[];
    const count = elementCount(shape);
    const need = count * DTYPE_BYTES[e.dtype];
    if (!Number.isSafeInteger(need) || need !== end - begin) {
      throw invalid(path, `${at}: shape [${shape.join(', ')}] of ${e.dtype} needs ${need} bytes, but data_offsets [${begin}, ${end}] span ${end - begin}`);
    }
    if (end > dataSize) {
      throw invalid(`${path}:byte ${dataStart + end}`, `${at}: data ends at byte ${dataStart + end} but the file has only ${fileSize} bytes; the file is truncated (interrupted download or copy?) — fetch it again`);
    }
    infos.push({ name, dtype: e.dtype, shape, dataOffsets: [begin, end], file: path });
  }

  infos.sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let cursor = 0;
  let previous: SafetensorsTensorInfo | undefined;
  for (const info of infos) {
    const [begin, end] = info.dataOffsets;
    if (begin < cursor) {
      throw invalid(`${path}:byte ${dataStart + begin}`, `tensor '${info.name}': data_offsets [${begin}, ${end}] overlap tensor '${previous?.name}' (which ends at ${cursor})`);
    }
    if (begin > cursor) {
      const after = previous ? `after tensor '${previous.name}' (ends at ${cursor})` : 'at the start of the data';
      throw invalid(`${path}:byte ${dataStart + cursor}`, `tensor '${info.name}': data_offsets [${begin}, ${end}] leave a gap of ${begin - cursor} unused bytes ${after}; offsets must be contiguous`);
    }
    cursor = end;
    previous = info;
  }
  if (cursor !== dataSize) {
    throw invalid(`${path}:byte ${dataStart + cursor}`, `the file has ${dataSize - cursor} bytes after the last tensor's data (the header describes ${cursor} data bytes, the file holds ${dataSize}); the file is corrupt or was appended to`);
  }
  return { path, headerLength, dataStart, fileSize, tensors: new Map(infos.map((i) => [i.name, i])), metadata };
}

function readHeaderFromFd(fd: number, path: string): SafetensorsHeader {
  const fileSize = fstatSync(fd).size;
  if (fileSize < 8) {
    throw invalid(path, `the file has ${fileSize} bytes, fewer than the 8-byte header length; it is empty or truncated`);
  }
  const lenBytes = readExactly(fd, 8, 0);
  const n = lenBytes.readBigUInt64LE(0);
  if (n > BigInt(fileSize - 8)) {
    throw invalid(`${path}:byte 0`, `the header length field says ${n} bytes, but only ${fileSize - 8} bytes follow it; the file is truncated or not a safetensors file`);
  }
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw invalid(`${path}:byte 0`, `the header length field says ${n} bytes (the format allows at most ${MAX_HEADER_BYTES}); this is not a safetensors file`);
  }
  const json = readExactly(fd, Number(n), 8);
  if (json.length !== Number(n)) throw invalid(path, 'the file shrank while being read');
  return parseHeader(path, json, fileSize);
}

/**
 * Only the header: names, dtypes, shapes, offsets, metadata. Reads 8 + N bytes whatever
 * the file's size (the language server and `spruft inspect` use it; no weights are loaded).
 */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  const fd = openForReading(path, 'safetensors file');
  try {
    return readHeaderFromFd(fd, path);
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------- decoding tensors

const hostIsLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * `bytes` must own its buffer from offset 0 (a fresh read), so the float and int32 views
 * below are aligned and the engine may keep them without aliasing anything.
 */
function decodeTensor(bytes: Uint8Array, info: SafetensorsTensorInfo): SafetensorsTensor {
  const count = elementCount(info.shape);
  const buffer = bytes.buffer as ArrayBuffer;
  const view = new DataView(buffer, bytes.byteOffset, bytes.byteLength);
  const shape = [...info.shape];
  switch (info.dtype) {
    case 'F32': {
      if (hostIsLittleEndian) return { dtype: 'F32', shape, data: new Float32Array(buffer, bytes.byteOffset, count) };
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
      return { dtype: 'F32', shape, data: out };
    }
    case 'F16':
    case 'BF16': {
      const bits = hostIsLittleEndian
        ? new Uint16Array(buffer, bytes.byteOffset, count)
        : Uint16Array.from({ length: count }, (_, i) => view.getUint16(i * 2, true));
      const data = info.dtype === 'F16' ? float16BitsToFloat32(bits) : bfloat16BitsToFloat32(bits);
      return { dtype: info.dtype, shape, data };
    }
    case 'I32': {
      if (hostIsLittleEndian) return { dtype: 'I32', shape, data: new Int32Array(buffer, bytes.byteOffset, count) };
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(i * 4, true);
      return { dtype: 'I32', shape, data: out };
    }
    case 'I64': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const lo = view.getUint32(i * 8, true);
        const hi = view.getInt32(i * 8 + 4, true);
        // In int32 range exactly when the high word is the sign extension of the low word.
        if (hi !== (lo & 0x80000000 ? -1 : 0)) {
          const value = view.getBigInt64(i * 8, true);
          throw new SpruftError(
            'UNSUPPORTED',
            `tensor '${info.name}' (I64): element ${i} is ${value}, outside the int32 range that TensorFlow.js can hold; SPruFT Studio reads I64 tensors as int32`,
            info.file,
          );
        }
        out[i] = lo | 0;
      }
      return { dtype: 'I64', shape, data: out };
    }
    case 'U8':
      return { dtype: 'U8', shape, data: bytes };
    case 'BOOL': {
      for (let i = 0; i < count; i++) bytes[i] = bytes[i] !== 0 ? 1 : 0;
      return { dtype: 'BOOL', shape, data: bytes };
    }
  }
}

export interface ReadTensorsOptions {
  /** Read only these tensors (e.g. the layers an adapter touches); a missing name is an error. */
  names?: Iterable<string>;
}

function selectInfos(header: SafetensorsHeader, names: Iterable<string> | undefined): SafetensorsTensorInfo[] {
  if (!names) return [...header.tensors.values()];
  const out: SafetensorsTensorInfo[] = [];
  for (const name of names) {
    const info = header.tensors.get(name);
    if (!info) throw invalid(header.path, `tensor '${name}' is not in this file (it has ${header.tensors.size} tensors)`);
    out.push(info);
  }
  return out;
}

function readTensorsFromFd(fd: number, header: SafetensorsHeader, infos: SafetensorsTensorInfo[], into: Map<string, SafetensorsTensor>): void {
  for (const info of infos) {
    const [begin, end] = info.dataOffsets;
    const bytes = new Uint8Array(end - begin);
    let done = 0;
    while (done < bytes.length) {
      const n = readSync(fd, bytes, done, bytes.length - done, header.dataStart + begin + done);
      if (n === 0) {
        throw invalid(`${header.path}:byte ${header.dataStart + begin + done}`, `tensor '${info.name}': the file ended while reading its data; it was truncated while being read`);
      }
      done += n;
    }
    into.set(info.name, decodeTensor(bytes, info));
  }
}

/** Read a whole `.safetensors` file (or the named tensors of it) into typed arrays. */
export function readSafetensors(path: string, options: ReadTensorsOptions = {}): SafetensorsFile {
  const fd = openForReading(path, 'safetensors file');
  try {
    const header = readHeaderFromFd(fd, path);
    const tensors = new Map<string, SafetensorsTensor>();
    readTensorsFromFd(fd, header, selectInfos(header, options.names), tensors);
    return { tensors, metadata: header.metadata };
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------- writing

export type TensorsInput = Map<string, SafetensorsTensor> | Record<string, SafetensorsTensor>;

function entriesOf(tensors: TensorsInput): Array<[string, SafetensorsTensor]> {
  return tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
}

function checkTensorForWrite(name: string, t: SafetensorsTensor, where: string): void {
  if (name === '' || name === '__metadata__') throw invalid(where, `cannot write a tensor named '${name}'`);
  if (!isSafetensorsDtype(t.dtype)) throw invalid(where, `tensor '${name}': cannot write dtype ${String(t.dtype)}`);
  if (!Array.isArray(t.shape) || !t.shape.every(isIndex)) {
    throw invalid(where, `tensor '${name}': shape must be non-negative integers, got ${JSON.stringify(t.shape)}`);
  }
  const expected =
    t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16' ? Float32Array : t.dtype === 'I32' || t.dtype === 'I64' ? Int32Array : Uint8Array;
  if (!(t.data instanceof expected)) {
    throw invalid(where, `tensor '${name}': ${t.dtype} data must be a ${expected.name}, got ${(t.data as object)?.constructor?.name}`);
  }
  const count = elementCount(t.shape);
  if (t.data.length !== count) {
    throw invalid(where, `tensor '${name}': shape [${t.shape.join(', ')}] has ${count} elements but the data has ${t.data.length}`);
  }
}

function encodeTensor(t: SafetensorsTensor): Uint8Array {
  const asBytes = (v: ArrayBufferView): Uint8Array => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (!hostIsLittleEndian) {
    throw new SpruftError('UNSUPPORTED', 'writing safetensors on a big-endian machine is not supported');
  }
  switch (t.dtype) {
    case 'F32':
    case 'I32':
    case 'U8':
      return asBytes(t.data);
    case 'F16':
      return asBytes(float32ToFloat16(t.data));
    case 'BF16':
      return asBytes(float32ToBfloat16(t.data));
    case 'I64': {
      const out = new BigInt64Array(t.data.length);
      for (let i = 0; i < t.data.length; i++) out[i] = BigInt(t.data[i]);
      return asBytes(out);
    }
    case 'BOOL': {
      const out = new Uint8Array(t.data.length);
      for (let i = 0; i < t.data.length; i++) out[i] = t.data[i] !== 0 ? 1 : 0;
      return out;
    }
  }
}

interface PreparedFile {
  header: Buffer;
  order: Array<[string, SafetensorsTensor]>;
  dataBytes: number;
}

function prepare(tensors: TensorsInput, metadata: Record<string, string> | undefined, where: string): PreparedFile {
  const order = entriesOf(tensors);
  for (const [name, t] of order) checkTensorForWrite(name, t, where);
  order.sort(([an, a], [bn, b]) => DTYPE_RANK[b.dtype] - DTYPE_RANK[a.dtype] || compareNames(an, bn));
  // Built by hand, not with JSON.stringify of an object: JavaScript enumerates
  // integer-like keys ("0", "1") first, which would break the reference order.
  const members: string[] = [];
  if (metadata && Object.keys(metadata).length > 0) {
    const parts: string[] = [];
    for (const k of Object.keys(metadata).sort(compareNames)) {
      if (typeof metadata[k] !== 'string') throw invalid(where, `metadata '${k}' must be a string`);
      parts.push(`${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`);
    }
    members.push(`"__metadata__":{${parts.join(',')}}`);
  }
  let offset = 0;
  for (const [name, t] of order) {
    const bytes = t.data.length * DTYPE_BYTES[t.dtype];
    const info = `{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${offset + bytes}]}`;
    members.push(`${JSON.stringify(name)}:${info}`);
    offset += bytes;
  }
  const json = Buffer.from(`{${members.join(',')}}`, 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  const out = Buffer.alloc(8 + padded, 0x20);
  out.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(out, 8);
  return { header: out, order, dataBytes: offset };
}

function* chunksOf(p: PreparedFile): Generator<Chunk> {
  yield p.header;
  for (const [, t] of p.order) yield encodeTensor(t);
}

/** The file's bytes in memory (small files, tests, adapters sent over JSON-RPC). */
export function serializeSafetensors(tensors: TensorsInput, metadata?: Record<string, string>): Uint8Array {
  const p = prepare(tensors, metadata, '(in memory)');
  const out = new Uint8Array(p.header.length + p.dataBytes);
  let at = 0;
  for (const c of chunksOf(p)) {
    const bytes = typeof c === 'string' ? Buffer.from(c) : c;
    out.set(bytes, at);
    at += bytes.length;
  }
  return out;
}

/**
 * Write a `.safetensors` file atomically (temp file in the same folder, fsync, rename):
 * a killed process leaves the previous file or none, never half of one.
 */
export function writeSafetensors(path: string, tensors: TensorsInput, metadata?: Record<string, string>): void {
  const p = prepare(tensors, metadata, path);
  writeFileAtomic(path, chunksOf(p));
}

// ---------------------------------------------------------------- sharded checkpoints

export const SAFETENSORS_SINGLE_NAME = 'model.safetensors';
export const SAFETENSORS_INDEX_NAME = 'model.safetensors.index.json';

export interface SafetensorsIndex {
  path: string;
  /** The index's own `metadata` (e.g. total_size), as found. */
  metadata: Record<string, unknown>;
  /** tensor name -> shard path (absolute, inside the index's folder). */
  weightMap: Map<string, string>;
  /** Shard paths in first-use order. */
  shards: string[];
}

/** Read `model.safetensors.index.json` (`{metadata?, weight_map: {tensor: shard file}}`). */
export function readSafetensorsIndex(indexPath: string): SafetensorsIndex {
  const json = readJsonFile(indexPath, 'SAFETENSORS_INVALID', 'safetensors index');
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw invalid(indexPath, 'the index must be a JSON object with a weight_map');
  }
  const obj = json as Record<string, unknown>;
  const wm = obj.weight_map;
  if (typeof wm !== 'object' || wm === null || Array.isArray(wm)) {
    throw invalid(indexPath, 'weight_map is missing or not an object of {tensor name: shard file}');
  }
  const dir = dirname(indexPath);
  const weightMap = new Map<string, string>();
  const shards: string[] = [];
  for (const [name, file] of Object.entries(wm)) {
    if (typeof file !== 'string' || file === '') throw invalid(indexPath, `weight_map['${name}'] must be a shard file name`);
    const rel = normalize(file);
    if (isAbsolute(rel) || rel === '..' || rel.startsWith(`..${sep}`)) {
      throw invalid(indexPath, `weight_map['${name}'] = ${JSON.stringify(file)} points outside the checkpoint folder`);
    }
    const shard = join(dir, rel);
    if (!shards.includes(shard)) shards.push(shard);
    weightMap.set(name, shard);
  }
  const md = obj.metadata;
  const metadata = typeof md === 'object' && md !== null && !Array.isArray(md) ? (md as Record<string, unknown>) : {};
  return { path: indexPath, metadata, weightMap, shards };
}

function shardHeaders(index: SafetensorsIndex): SafetensorsHeader[] {
  return index.shards.map((shard) => {
    if (!existsSync(shard)) {
      throw new SpruftError('FILE_NOT_FOUND', `shard ${basename(shard)}, named in ${basename(index.path)}, is missing; download the complete checkpoint`, shard);
    }
    return readSafetensorsHeader(shard);
  });
}

/**
 * Headers of a sharded checkpoint, merged: every tensor of the weight map, with the shard it
 * lives in. Each shard must hold the tensors the map gives it; a tensor in two shards is an
 * error. (Tensors a shard holds beyond the map are included, as transformers loads them.)
 */
export function readShardedSafetensorsHeader(indexPath: string): { index: SafetensorsIndex; tensors: Map<string, SafetensorsTensorInfo>; metadata: Record<string, string>; headers: SafetensorsHeader[] } {
  const index = readSafetensorsIndex(indexPath);
  const headers = shardHeaders(index);
  const tensors = new Map<string, SafetensorsTensorInfo>();
  const metadata: Record<string, string> = {};
  for (const h of headers) {
    for (const [k, v] of Object.entries(h.metadata)) if (!(k in metadata)) metadata[k] = v;
    for (const [name, info] of h.tensors) {
      const other = tensors.get(name);
      if (other) throw invalid(h.path, `tensor '${name}' is also in shard ${basename(other.file)}; a tensor must be in exactly one shard`);
      tensors.set(name, info);
    }
  }
  for (const [name, shard] of index.weightMap) {
    const info = tensors.get(name);
    if (!info || info.file !== shard) {
      throw invalid(shard, `tensor '${name}' is listed in ${basename(indexPath)} for this shard but the shard does not contain it${info ? ` (it is in ${basename(info.file)})` : ''}`);
    }
  }
  return { index, tensors, metadata, headers };
}

export function readShardedSafetensors(indexPath: string, options: ReadTensorsOptions = {}): SafetensorsFile & { index: SafetensorsIndex } {
  const { index, tensors: all, metadata, headers } = readShardedSafetensorsHeader(indexPath);
  const wanted = options.names ? new Set(options.names) : undefined;
  if (wanted) for (const name of wanted) if (!all.has(name)) throw invalid(indexPath, `tensor '${name}' is not in this checkpoint`);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const h of headers) {
    const infos = [...h.tensors.values()].filter((i) => !wanted || wanted.has(i.name));
    if (infos.length === 0) continue;
    const fd = openForReading(h.path, 'safetensors shard');
    try {
      const now = readHeaderFromFd(fd, h.path); // the file may have changed since the header pass
      readTensorsFromFd(fd, now, infos.map((i) => now.tensors.get(i.name) ?? i), tensors);
    } finally {
      closeSync(fd);
    }
  }
  return { tensors, metadata, index };
}

export interface WriteShardedOptions {
  /** Start a new shard when the next tensor would push the current one past this. */
  maxShardBytes: number;
  /** File name stem: `<stem>-00001-of-00003.safetensors`, `<stem>.safetensors.index.json`. */
  stem?: string;
  metadata?: Record<string, string>;
}

/** Checkpoint files of an earlier export with this stem (single file, index, shards). */
export function existingCheckpointFiles(dir: string, stem = 'model'): string[] {
  if (!existsSync(dir)) return [];
  const isShard = (f: string): boolean =>
    f.startsWith(`${stem}-`) && /^\d{5}-of-\d{5}\.safetensors$/.test(f.slice(stem.length + 1));
  return readdirSync(dir).filter((f) => f === `${stem}.safetensors` || f === `${stem}.safetensors.index.json` || isShard(f));
}

/**
 * The files of a checkpoint, cut into shards the way transformers' `save_pretrained` does:
 * tensors in the given order, a new shard when the next tensor would pass `maxShardBytes`,
 * an index with sorted keys and 2-space indentation, listed last. With one shard: plain
 * `<stem>.safetensors` and no index (as transformers does). Nothing is written here.
 */
export function planSafetensorsCheckpoint(tensors: TensorsInput, options: WriteShardedOptions, where: string): FolderFile[] {
  const stem = options.stem ?? 'model';
  const shards: Array<Array<[string, SafetensorsTensor]>> = [[]];
  let size = 0;
  for (const entry of entriesOf(tensors)) {
    checkTensorForWrite(entry[0], entry[1], where);
    const bytes = entry[1].data.length * DTYPE_BYTES[entry[1].dtype];
    const current = shards[shards.length - 1];
    if (current.length > 0 && size + bytes > options.maxShardBytes) {
      shards.push([entry]);
      size = bytes;
    } else {
      current.push(entry);
      size += bytes;
    }
  }
  if (shards.length === 1) {
    const p = prepare(new Map(shards[0]), options.metadata, where);
    return [{ name: `${stem}.safetensors`, chunks: () => chunksOf(p) }];
  }
  const pad = (n: number): string => String(n).padStart(5, '0');
  const names = shards.map((_, i) => `${stem}-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`);
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  const prepared = shards.map((s, i) => {
    for (const [name, t] of s) {
      weightMap[name] = names[i];
      totalSize += t.data.length * DTYPE_BYTES[t.dtype];
    }
    return prepare(new Map(s), options.metadata, where);
  });
  const sortedMap: Record<string, string> = {};
  for (const k of Object.keys(weightMap).sort()) sortedMap[k] = weightMap[k];
  const indexText = JSON.stringify({ metadata: { total_size: totalSize }, weight_map: sortedMap }, null, 2) + '\n';
  return [
    ...prepared.map((p, i) => ({ name: names[i], chunks: () => chunksOf(p) })),
    { name: `${stem}.safetensors.index.json`, chunks: () => [indexText] },
  ];
}

/**
 * Write a (possibly sharded) checkpoint into `dir`. Every file is written atomically and
 * the index last, so a reader never sees an index pointing at incomplete shards; files of
 * an earlier export with the same stem that this one does not replace are removed (a
 * stale `model.safetensors` would otherwise shadow a new index). Returns the names written.
 */
export function writeShardedSafetensors(dir: string, tensors: TensorsInput, options: WriteShardedOptions): string[] {
  const files = planSafetensorsCheckpoint(tensors, options, dir);
  writeFolderAtomic(dir, files, existingCheckpointFiles(dir, options.stem ?? 'model'));
  return files.map((f) => f.name);
}

// ---------------------------------------------------------------- one entry point

/**
 * A checkpoint given as a `.safetensors` file, an index `.json`, or a folder holding
 * `model.safetensors` (preferred, as transformers does) or `model.safetensors.index.json`.
 * Returns the file to read and whether it is an index.
 */
export function locateSafetensors(pathOrDir: string): { path: string; sharded: boolean } {
  if (!existsSync(pathOrDir)) throw new SpruftError('FILE_NOT_FOUND', 'checkpoint not found', pathOrDir);
  if (statSync(pathOrDir).isDirectory()) {
    const single = join(pathOrDir, SAFETENSORS_SINGLE_NAME);
    if (existsSync(single)) return { path: single, sharded: false };
    const index = join(pathOrDir, SAFETENSORS_INDEX_NAME);
    if (existsSync(index)) return { path: index, sharded: true };
    throw new SpruftError('FILE_NOT_FOUND', `no ${SAFETENSORS_SINGLE_NAME} or ${SAFETENSORS_INDEX_NAME} in this folder; export the model in safetensors format (save_pretrained(..., safe_serialization=True))`, pathOrDir);
  }
  return { path: pathOrDir, sharded: pathOrDir.endsWith('.json') };
}

export function readSafetensorsCheckpoint(pathOrDir: string, options: ReadTensorsOptions = {}): SafetensorsFile {
  const { path, sharded } = locateSafetensors(pathOrDir);
  if (!sharded) return readSafetensors(path, options);
  const { tensors, metadata } = readShardedSafetensors(path, options);
  return { tensors, metadata };
}

export function readSafetensorsCheckpointHeader(pathOrDir: string): { files: string[]; tensors: Map<string, SafetensorsTensorInfo>; metadata: Record<string, string> } {
  const { path, sharded } = locateSafetensors(pathOrDir);
  if (!sharded) {
    const h = readSafetensorsHeader(path);
    return { files: [path], tensors: h.tensors, metadata: h.metadata };
  }
  const { tensors, metadata, headers } = readShardedSafetensorsHeader(path);
  return { files: headers.map((h) => h.path), tensors, metadata };
}
