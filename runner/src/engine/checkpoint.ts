/**
 * Resumable checkpoints: the trainable tensors, the optimizer state (moments and step),
 * the schedule position, the data position (micro-batch index; the order itself follows
 * from the seed) and the dropout RNG state. Each checkpoint is a fresh folder
 * `checkpoint/step-<n>/` that appears whole (built under a temporary name, then
 * renamed); `checkpoint/latest.json` then points at it (one atomic file write). A kill
 * at any moment leaves the previous checkpoint or the new one, never a mix.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SpruftError } from '../errors';
import { removeStaleTemps, writeFileAtomic, writeFolderAtomic } from '../io/atomicWrite';
import { readJsonFile } from '../io/jsonText';
import { readSafetensors, serializeSafetensors, type SafetensorsTensor } from '../io/safetensors';
import type { Adam } from './optimizer';
import type { RngState } from '../tensor/rng';
import type { tf } from '../tensor/tf';

export const CHECKPOINT_VERSION = 1;

export interface CheckpointState {
  version: typeof CHECKPOINT_VERSION;
  /** Optimizer steps done. */
  step: number;
  /** Micro-batches consumed (step * gradAccumulation). */
  microBatch: number;
  totalSteps: number;
  dropoutRng: RngState;
  method: string;
  variant: string;
  /** spruft: rows per layer, so a resumed run adapts the same rows. */
  selection?: Array<{ name: string; rows: number[]; scores: number[]; columns?: number[] }>;
  elapsedMs: number;
  lossCurve: Array<{ step: number; loss: number; lr: number }>;
  savedAt: string;
}

export interface LoadedCheckpoint {
  state: CheckpointState;
  trainables: Map<string, Float32Array>;
  optimizer: { step: number; moments: Map<string, [Float32Array, Float32Array]> };
}

function floatTensor(data: Float32Array, shape: number[]): SafetensorsTensor {
  return { dtype: 'F32', shape, data };
}

export function writeCheckpoint(
  root: string,
  state: CheckpointState,
  trainables: Array<{ name: string; variable: tf.Variable }>,
  optimizer: Adam,
): void {
  const dirName = `step-${state.step}`;
  const weights = new Map<string, SafetensorsTensor>();
  for (const t of trainables) weights.set(t.name, floatTensor(t.variable.dataSync() as Float32Array, t.variable.shape));
  const opt = optimizer.state();
  const moments = new Map<string, SafetensorsTensor>();
  for (const t of trainables) {
    const [m, v] = opt.moments.get(t.name)!;
    moments.set(`${t.name}.m`, floatTensor(m, t.variable.shape));
    moments.set(`${t.name}.v`, floatTensor(v, t.variable.shape));
  }
  const stateJson = JSON.stringify(state, null, 1);
  writeFolderAtomic(join(root, dirName), [
    { name: 'trainables.safetensors', chunks: () => [serializeSafetensors(weights)] },
    { name: 'optimizer.safetensors', chunks: () => [serializeSafetensors(moments, { step: String(opt.step) })] },
    { name: 'state.json', chunks: () => [stateJson] },
  ]);
  writeFileAtomic(join(root, 'latest.json'), [JSON.stringify({ dir: dirName, step: state.step })]);
  for (const name of readdirSync(root)) {
    if (name.startsWith('step-') && name !== dirName) rmSync(join(root, name), { recursive: true, force: true });
  }
}

export function hasCheckpoint(root: string): boolean {
  return existsSync(join(root, 'latest.json'));
}

/** The folder latest.json names: only a `step-<n>` folder inside `root` (never a path out of it). */
function latestDir(root: string): string {
  const pointerPath = join(root, 'latest.json');
  const pointer = readJsonFile(pointerPath, 'RUN_FOLDER_INVALID', 'checkpoint/latest.json') as { dir?: unknown } | null;
  const name = pointer?.dir;
  if (typeof name !== 'string' || !STEP_DIR.test(name)) {
    throw new SpruftError('RUN_FOLDER_INVALID', `"dir" must name a step-<n> folder inside checkpoint/, not ${JSON.stringify(name)}; the file is corrupt or was edited (delete checkpoint/ to start the method over)`, pointerPath);
  }
  const dir = join(root, name);
  if (!existsSync(dir)) throw new SpruftError('RUN_FOLDER_INVALID', `names ${name}, which is missing; the checkpoint is incomplete (delete checkpoint/ to start the method over)`, pointerPath);
  return dir;
}

const STEP_DIR = /^step-\d+$/;

/**
 * Before a resume (under the run's lock): remove the temporaries of a checkpoint write that
 * was killed, and step folders that latest.json no longer names. Returns what was removed.
 */
export function removeStaleCheckpointFiles(root: string): string[] {
  if (!existsSync(root)) return [];
  const removed = removeStaleTemps(root);
  if (!hasCheckpoint(root)) return removed;
  const keep = latestDir(root);
  for (const name of readdirSync(root)) {
    if (STEP_DIR.test(name) && join(root, name) !== keep) {
      rmSync(join(root, name), { recursive: true, force: true });
      removed.push(name);
    }
  }
  return removed;
}

export function readCheckpoint(root: string): LoadedCheckpoint {
  const pointerPath = join(root, 'latest.json');
  if (!existsSync(pointerPath)) {
    throw new SpruftError('FILE_NOT_FOUND', 'no checkpoint to resume from (checkpoint/latest.json is missing); the run stopped before its first checkpoint', root);
  }
  const dir = latestDir(root);
  const state = readJsonFile(join(dir, 'state.json'), 'RUN_FOLDER_INVALID', 'checkpoint state.json') as CheckpointState;
  if (typeof state !== 'object' || state === null || !Number.isInteger(state.step) || !Number.isInteger(state.microBatch)) {
    throw new SpruftError('RUN_FOLDER_INVALID', 'needs integer "step" and "microBatch"; the checkpoint is corrupt (delete checkpoint/ to start the method over)', join(dir, 'state.json'));
  }
  if (state.version !== CHECKPOINT_VERSION) {
    throw new SpruftError('ADAPTER_INVALID', `checkpoint version ${state.version} is not supported (this runner reads version ${CHECKPOINT_VERSION})`, dir);
  }
  const trainables = new Map<string, Float32Array>();
  for (const [name, t] of readSafetensors(join(dir, 'trainables.safetensors')).tensors) trainables.set(name, t.data as Float32Array);
  const opt = readSafetensors(join(dir, 'optimizer.safetensors'));
  const moments = new Map<string, [Float32Array, Float32Array]>();
  for (const name of trainables.keys()) {
    const m = opt.tensors.get(`${name}.m`);
    const v = opt.tensors.get(`${name}.v`);
    if (!m || !v) throw new SpruftError('ADAPTER_INVALID', `optimizer state for "${name}" is missing`, dir);
    moments.set(name, [m.data as Float32Array, v.data as Float32Array]);
  }
  return { state, trainables, optimizer: { step: Number(opt.metadata.step ?? state.step), moments } };
}
