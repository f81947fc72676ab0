/**
 * Reading files a user (or a document in an untrusted workspace) names, safely: every
 * model, data, config and run-folder file is stat'ed before it is read, anything that is
 * not a regular file (a FIFO, `/dev/zero`, a socket, a terminal) is refused with a message
 * naming it, and reads are bounded by the size the file had when it was opened (never "to
 * the end of the stream") and by a cap per kind of file. A FIFO is opened non-blocking, so
 * that opening one cannot hang the runner or the language server waiting for a writer.
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import type { ErrorCode } from '../errors';
import { SpruftError } from '../errors';
import { formatBytes } from '../../../protocol/format';

const MiB = 1024 * 1024;

/** Caps on what is read whole into memory. */
export const READ_LIMITS = {
  /** JSON and JavaScript documents: config.json, model.json, adapter and run-folder files. */
  documentBytes: 64 * MiB,
  /** A run config (the language server caps its text lower still). */
  configBytes: 16 * MiB,
  /** Anything else read whole (weight shards, data files): Node's largest Buffer is 4 GiB. */
  wholeFileBytes: 2048 * MiB,
} as const;

/** What a non-regular file is, in words. */
export function fileKindOf(stats: Stats): string {
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSocket()) return 'a socket';
  if (stats.isDirectory()) return 'a folder';
  return stats.isFile() ? 'a regular file' : 'not a regular file';
}

function checkStats(stats: Stats, path: string, what: string, code: ErrorCode, maxBytes: number): void {
  if (stats.isDirectory()) throw new SpruftError(code, `${what} expected, but this is a folder`, path);
  if (!stats.isFile()) {
    throw new SpruftError(code, `${what} expected, but this is ${fileKindOf(stats)}, not a regular file; SPruFT reads only regular files`, path);
  }
  if (stats.size > maxBytes) {
    throw new SpruftError(code, `${what} is ${formatBytes(stats.size)}, more than the ${formatBytes(maxBytes)} this reader accepts; is this the right file?`, path);
  }
}

/**
 * stat `path` and check it is a regular file of at most `maxBytes`. A missing file is
 * FILE_NOT_FOUND; a folder, a device or a FIFO, or a file too large, is `code`.
 */
export function statRegularFile(path: string, what: string, code: ErrorCode, maxBytes: number = READ_LIMITS.wholeFileBytes): Stats {
  let stats: Stats;
  try {
    stats = statSync(path);
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code;
    if (errno === 'ENOENT' || errno === 'ENOTDIR') throw new SpruftError('FILE_NOT_FOUND', `${what} not found`, path);
    throw new SpruftError(code, `${what} cannot be read (${errno ?? (err as Error).message})`, path);
  }
  checkStats(stats, path, what, code, maxBytes);
  return stats;
}

/** Whether `path` is a regular file (false for anything missing, a folder, a device...). */
export function isRegularFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * Open a regular file for reading and return its descriptor and size. The checks are
 * made on the opened descriptor too (the path may have been swapped after the stat);
 * the open itself is non-blocking, so a FIFO put there cannot stall it.
 */
export function openRegularFile(path: string, what: string, code: ErrorCode, maxBytes: number = Number.MAX_SAFE_INTEGER): { fd: number; size: number } {
  statRegularFile(path, what, code, maxBytes);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code;
    if (errno === 'ENOENT') throw new SpruftError('FILE_NOT_FOUND', `${what} not found`, path);
    throw new SpruftError(code, `${what} cannot be opened (${errno ?? (err as Error).message})`, path);
  }
  try {
    const stats = fstatSync(fd);
    checkStats(stats, path, what, code, maxBytes);
    return { fd, size: stats.size };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** The whole of a regular file: exactly the bytes it had when opened, at most `maxBytes`. */
export function readRegularFile(path: string, what: string, code: ErrorCode, maxBytes: number = READ_LIMITS.wholeFileBytes): Buffer {
  const { fd, size } = openRegularFile(path, what, code, maxBytes);
  try {
    const bytes = Buffer.allocUnsafe(size);
    let done = 0;
    while (done < size) {
      const n = readSync(fd, bytes, done, size - done, done);
      if (n === 0) break;
      done += n;
    }
    return done === size ? bytes : bytes.subarray(0, done);
  } finally {
    closeSync(fd);
  }
}

/**
 * The offset of the first byte that breaks UTF-8 (-1 when all is valid): overlong forms,
 * surrogates and code points past U+10FFFF are invalid, as for a fatal TextDecoder.
 */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i += 1;
      continue;
    }
    let need: number;
    let min: number;
    if (b >= 0xc2 && b <= 0xdf) [need, min] = [1, 0x80];
    else if (b >= 0xe0 && b <= 0xef) [need, min] = [2, 0x800];
    else if (b >= 0xf0 && b <= 0xf4) [need, min] = [3, 0x10000];
    else return i;
    let cp = b & (need === 1 ? 0x1f : need === 2 ? 0x0f : 0x07);
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

/**
 * Decode UTF-8 strictly. A byte-order mark is kept (as `readFileSync(path, 'utf8')`
 * keeps it), so callers that count columns see what they did before. Bytes that are not
 * UTF-8 are an error naming the file and the byte offset.
 */
export function decodeUtf8(bytes: Uint8Array, path: string, what: string, code: ErrorCode): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    const byte = at >= 0 ? ` (byte 0x${bytes[at]!.toString(16).padStart(2, '0')} at offset ${at})` : '';
    throw new SpruftError(code, `${what} is not UTF-8 text${byte}; it is binary or in another encoding: save it as UTF-8`, at >= 0 ? `${path}:byte ${at}` : path);
  }
}

/** A regular file read whole and decoded as UTF-8 (strictly: see decodeUtf8). */
export function readTextFile(path: string, what: string, code: ErrorCode, maxBytes: number = READ_LIMITS.documentBytes): string {
  return decodeUtf8(readRegularFile(path, what, code, maxBytes), path, what, code);
}
