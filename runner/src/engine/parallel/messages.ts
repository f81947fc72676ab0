/**
 * What rank 0 (the main thread) and a data-parallel worker thread say to each other.
 * One request at a time per worker, each answered by one reply (or `error`):
 *   init   -> ready      start the backend, build rank 0's model (recipe.ts)
 *   attach -> attached   attach the method rank 0 attached (same rows, same trainables)
 *   step   -> grads      take rank 0's trainable values, run this rank's passes, return
 *                        sum_k weight_k * grad loss_k (float32, transferred)
 *   gemm   -> gemm       this rank's large-GEMM rate, measured while the others measure
 * Workers keep no optimizer state: rank 0 applies every update and sends the values
 * with the next step, so the ranks cannot drift apart.
 */
import type { ResolvedRunConfig } from '../../../../protocol/config';
import type { BackendName, LayerSelection, MethodName } from '../../../../protocol/results';
import type { ErrorCode } from '../../errors';
import type { Examples } from '../batches';
import type { ModelRecipe } from './recipe';

export interface TrainableSpec {
  name: string;
  shape: number[];
}

/** attachMethod's options as rank 0 used them, and the trainables it got (checked by the worker). */
export interface MethodSpec {
  method: MethodName;
  config: ResolvedRunConfig;
  selection?: LayerSelection[];
  trainHead: boolean;
  seed: number;
  trainables: TrainableSpec[];
}

/** One forward/backward pass of a worker: its examples, its loss weight, its dropout seed. */
export interface SharePass {
  examples: Examples;
  weight: number;
  dropoutSeed: number;
}

/** Test hook: make one worker fail at its n-th step (1-based), by throwing or by ending its thread. */
export interface WorkerFault {
  rank: number;
  atStep: number;
  how: 'throw' | 'exit';
}

/** A worker's measured step (its own allocator figures). */
export interface WorkerStepMemory {
  peakBytes: number;
  modelBytes: number;
}

export type ToWorker =
  | { type: 'init'; rank: number; backend: BackendName; model: ModelRecipe; fault?: WorkerFault }
  | { type: 'attach'; method: MethodSpec }
  | { type: 'step'; params: Float32Array[]; passes: SharePass[]; measure: boolean }
  | { type: 'gemm'; n: number; reps: number };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'attached'; trainableParams: number }
  | { type: 'grads'; loss: number; grads: Float32Array[] | null; memory?: WorkerStepMemory }
  | { type: 'gemm'; gflops: number }
  | { type: 'error'; code: ErrorCode; message: string };
