/**
 * Writes that a killed process cannot leave half done: data goes to a temporary file in
 * the destination folder, is flushed to disk (fsync), and only then renamed over the
 * destination (a rename within one file system is atomic on POSIX and NTFS). Readers see
 * either the old file or the new one, never a torn mix.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { SpruftError } from '../errors';

/** Bytes or text (UTF-8) written in order. */
export type Chunk = Uint8Array | string;

let tempCounter = 0;

function tempName(dir: string, name: string, kind: string): string {
  // pid + counter: unique within the machine without any randomness (two processes
  // writing the same destination at the same time each keep their own temp file).
  tempCounter += 1;
  return join(dir, `.${name}.${kind}-${process.pid}-${Date.now().toString(36)}-${tempCounter}`);
}

/** Whether a folder entry is a temporary file or folder left by a write that was killed. */
export function isAtomicTemp(name: string): boolean {
  return /^\..+\.(tmp|tmpdir)-\d+-[0-9a-z]+-\d+$/.test(name);
}

/**
 * Remove the temporaries a killed writer left in `dir` (not recursive). Call only while
 * no other process writes there (a run folder under its lock). Returns the names removed.
 */
export function removeStaleTemps(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const stale = names.filter(isAtomicTemp);
  for (const name of stale) rmSync(join(dir, name), { recursive: true, force: true });
  return stale;
}

function writeAll(fd: number, chunk: Chunk): void {
  const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
  let done = 0;
  while (done < bytes.byteLength) {
    done += writeSync(fd, bytes, done, bytes.byteLength - done);
  }
}

/** fsync a folder so that a rename inside it survives a power cut (not possible on Windows). */
function fsyncFolder(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Windows cannot open folders; the rename is still atomic there.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function writeDurable(path: string, chunks: Iterable<Chunk>): void {
  const fd = openSync(path, 'wx', 0o644);
  try {
    for (const chunk of chunks) writeAll(fd, chunk);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Write `chunks` to `path` atomically; the parent folder is created if needed. The chunks
 * are consumed lazily, so a large file is never held in memory as one buffer.
 */
export function writeFileAtomic(path: string, chunks: Iterable<Chunk>): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const temp = tempName(dir, basename(path), 'tmp');
  try {
    writeDurable(temp, chunks);
    renameSync(temp, path);
  } catch (err) {
    try {
      unlinkSync(temp);
    } catch {
      // The temp file may not exist (open failed) — nothing to clean.
    }
    throw err;
  }
  fsyncFolder(dir);
}

export interface FolderFile {
  /** A plain file name inside the folder. */
  name: string;
  chunks: () => Iterable<Chunk>;
}

/**
 * Write a set of files as one folder. A folder that does not exist yet appears at once,
 * complete (built under a temporary name, then renamed). Into an existing folder (which may
 * hold files of its own, such as a README or a tokenizer), every file is first written and
 * flushed under a temporary name, then the files are renamed into place in the given order
 * — so put the entry file (config.json, model.json) last — and `staleFiles` (left over
 * from an earlier, differently sharded export) are removed at the end.
 */
export function writeFolderAtomic(dir: string, files: FolderFile[], staleFiles: string[] = []): void {
  for (const name of [...files.map((f) => f.name), ...staleFiles]) {
    if (name !== basename(name) || name === '' || name === '.' || name === '..') {
      throw new SpruftError('INTERNAL', `'${name}' is not a plain file name`, dir);
    }
  }
  const parent = dirname(dir);
  mkdirSync(parent, { recursive: true });
  const fresh = !existsSync(dir);
  if (!fresh && !statSync(dir).isDirectory()) {
    throw new SpruftError('CONFIG_INVALID', 'exists and is not a folder; choose a folder path for the output', dir);
  }
  const temp = tempName(parent, basename(dir), 'tmpdir');
  mkdirSync(temp);
  try {
    for (const f of files) writeDurable(join(temp, f.name), f.chunks());
    fsyncFolder(temp);
    if (fresh) {
      renameSync(temp, dir);
      fsyncFolder(parent);
      return;
    }
    for (const f of files) renameSync(join(temp, f.name), join(dir, f.name));
    const written = new Set(files.map((f) => f.name));
    for (const name of staleFiles) {
      if (!written.has(name)) rmSync(join(dir, name), { force: true });
    }
    fsyncFolder(dir);
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}
