/**
 * The training loop shared by every method: micro-batches in a seeded order, gradient
 * accumulation, Adam/AdamW, the learning-rate schedule, progress events, checkpoints,
 * cancellation within one step, and the measured memory of one step (paper C.3).
 * With `training.workers` > 1 each micro-batch is split across worker threads
 * (parallel/dataParallel.ts); rank 0, this thread, keeps the optimizer and checkpoints.
 */
import type { ResolvedRunConfig } from '../../../protocol/config';
import type { MemoryMeasurement, MethodName, ProgressEvent } from '../../../protocol/results';
import { SpruftError } from '../errors';
import { configDir } from '../io/npmPackage';
import type { ForwardContext } from '../models/layer';
import type { Model } from '../models/model';
import { BatchPlan, makeBatch, prepareExamples, type Examples } from './batches';
import { readCheckpoint, writeCheckpoint, type CheckpointState } from './checkpoint';
import type { AttachedMethod } from './methods';
import { Rng } from '../tensor/rng';
import { DataParallelStep, methodSpecOf } from './parallel/dataParallel';
import { WorkerPool } from './parallel/pool';
import { learningRate } from './schedule';
import { StepRunner } from './step';
import { tf } from '../tensor/tf';

export interface TrainLoopOptions {
  model: Model;
  attached: AttachedMethod;
  train: Examples;
  config: ResolvedRunConfig;
  runId: string;
  method: MethodName;
  /** Folder for checkpoints (`<runDir>/checkpoint`); none: no checkpoints. */
  checkpointDir?: string;
  /** Continue from the checkpoint in `checkpointDir`. */
  resume?: boolean;
  /** Measure the memory of the first step (inference peak measured before attaching). */
  inferencePeak?: number;
  onProgress?: (e: ProgressEvent) => void;
  onMemory?: (m: MemoryMeasurement) => void;
  signal?: AbortSignal;
  /** Evaluate every `evalEvery` optimizer steps (training.evalEvery), before the last one. */
  evalEvery?: number;
  onEvaluate?: (step: number, totalSteps: number) => Promise<void>;
  /** Test hook: stop (as if killed) right after this optimizer step, without cleanup. */
  crashAfterStep?: number;
  /**
   * Worker threads already started on this model (`training.workers` ranks), left open;
   * without it, `training.workers` > 1 starts them here and closes them at the end.
   */
  pool?: WorkerPool;
}

export interface TrainOutcome {
  steps: number;
  trainMs: number;
  lossCurve: Array<{ step: number; loss: number; lr: number }>;
  memory?: MemoryMeasurement;
}

export function plannedSteps(n: number, t: ResolvedRunConfig['training']): number {
  const perEpoch = Math.ceil(n / t.batchSize);
  const micro = Math.max(1, Math.round(t.epochs * perEpoch));
  const steps = Math.ceil(micro / t.gradAccumulation);
  return t.maxSteps !== undefined ? Math.min(steps, t.maxSteps) : steps;
}

/** Stand-in for a process that died at a given step (tests of resume). */
export class SimulatedCrash extends Error {}

export async function trainLoop(o: TrainLoopOptions): Promise<TrainOutcome> {
  const t = o.config.training;
  const plan = new BatchPlan(o.train.n, t.batchSize, t.seed);
  const totalSteps = plannedSteps(o.train.n, t);
  const trainables = o.attached.trainables;
  const runner = new StepRunner(o.model, o.attached, {
    kind: t.optimizer, beta1: t.beta1, beta2: t.beta2, epsilon: t.epsilon, weightDecay: t.weightDecay,
  });
  const optimizer = runner.optimizer;
  let dropoutRng = Rng.derive(t.seed, `dropout/${o.method}`);
  let step = 0;
  let elapsedBefore = 0;
  let lossCurve: TrainOutcome['lossCurve'] = [];
  if (o.resume && o.checkpointDir) {
    const ck = readCheckpoint(o.checkpointDir);
    for (const tr of trainables) {
      const data = ck.trainables.get(tr.name);
      if (!data) throw new SpruftError('ADAPTER_INVALID', `checkpoint has no tensor "${tr.name}"; it belongs to another method or model`, o.checkpointDir);
      tf.tidy(() => tr.variable.assign(tf.tensor(data, tr.variable.shape)));
    }
    optimizer.load(ck.optimizer);
    step = ck.state.step;
    dropoutRng = new Rng(ck.state.dropoutRng);
    elapsedBefore = ck.state.elapsedMs;
    lossCurve = ck.state.lossCurve;
  }
  const firstStep = step;
  const started = performance.now();
  let memory: MemoryMeasurement | undefined;
  let lastEmit = 0;
  const examplesPerStep = t.batchSize * t.gradAccumulation;

  const saveCheckpoint = (): void => {
    if (!o.checkpointDir) return;
    const state: CheckpointState = {
      version: 1, step, microBatch: step * t.gradAccumulation, totalSteps,
      dropoutRng: dropoutRng.state(), method: o.method, variant: o.attached.variant,
      selection: o.attached.adaptedLayers.flatMap((l) => (l.training.kind === 'rows' ? [{
        name: l.name, rows: l.training.rows, scores: l.training.scores ?? [], ...(l.training.columns ? { columns: l.training.columns.columns } : {}),
      }] : [])),
      elapsedMs: elapsedBefore + performance.now() - started, lossCurve, savedAt: new Date().toISOString(),
    };
    writeCheckpoint(o.checkpointDir, state, trainables, optimizer);
  };

  let pool: WorkerPool | undefined;
  let parallel: DataParallelStep | undefined;
  try {
    if (t.workers > 1) {
      if (t.workers > t.batchSize) {
        throw new SpruftError('CONFIG_INVALID', `training.workers (${t.workers}) exceeds training.batchSize (${t.batchSize}): each worker needs a share of every batch`);
      }
      if (o.pool && o.pool.ranks !== t.workers) throw new SpruftError('INTERNAL', `the worker pool has ${o.pool.ranks} ranks but training.workers is ${t.workers}`);
      pool = o.pool ?? await WorkerPool.start({ ranks: t.workers, model: o.model, from: configDir(o.config) });
      await pool.attach(methodSpecOf(o.model, o.attached, o.config));
      parallel = new DataParallelStep(pool, runner, o.model, o.attached, o.train, t.checkpointing === 'blocks');
    }
    // Lazily read images: the examples of step s + 1 decode (off the main thread) while step s trains.
    const stepExamples = (s: number): number[] => Array.from({ length: t.gradAccumulation }, (_, k) => [...plan.indices(s * t.gradAccumulation + k)]).flat();
    let prepared: Promise<void> | undefined;
    while (step < totalSteps) {
      await (prepared ?? prepareExamples(o.train, stepExamples(step)));
      prepared = step + 1 < totalSteps ? prepareExamples(o.train, stepExamples(step + 1)) : undefined;
      // Awaited at the top of the next step; this only keeps a failure meanwhile from counting as unhandled.
      prepared?.catch(() => undefined);
      const lr = learningRate(t, step, totalSteps);
      const ctx: ForwardContext = { training: true, dropoutRng, dropoutMaskBytes: 0, checkpointBlocks: t.checkpointing === 'blocks' };
      const indicesAt = (k: number) => plan.indices(step * t.gradAccumulation + k);
      const batchAt = (k: number) => makeBatch(o.train, indicesAt(k));
      const measure = memory === undefined && o.inferencePeak !== undefined && step === 0;
      let stepLoss: number;
      if (measure) {
        const measured = parallel
          ? await parallel.measured(indicesAt, t.gradAccumulation, lr, dropoutRng, o.inferencePeak!)
          : await runner.measured(batchAt, t.gradAccumulation, lr, ctx, o.inferencePeak!);
        stepLoss = measured.loss;
        memory = measured.memory;
        o.onMemory?.(memory);
      } else {
        stepLoss = parallel ? await parallel.run(indicesAt, t.gradAccumulation, lr, dropoutRng) : runner.run(batchAt, t.gradAccumulation, lr, ctx);
      }
      if (!Number.isFinite(stepLoss)) {
        throw new SpruftError('INTERNAL', `the loss became ${stepLoss} at step ${step + 1}; lower training.lr (now ${t.lr})`);
      }
      step += 1;
      lossCurve.push({ step, loss: stepLoss, lr });
      if (o.crashAfterStep === step) throw new SimulatedCrash(`simulated crash after step ${step}`);
      const now = performance.now();
      const elapsed = now - started;
      if (o.onProgress && (now - lastEmit > 200 || step === totalSteps || step === 1)) {
        lastEmit = now;
        const perStep = elapsed / Math.max(1, step - firstStep);
        o.onProgress({
          runId: o.runId, method: o.method, phase: 'training', step, totalSteps,
          epoch: plan.epochOf(step * t.gradAccumulation - 1) + 1,
          totalEpochs: Math.ceil(t.epochs), loss: stepLoss, lr,
          samplesPerSec: (examplesPerStep * 1000) / perStep,
          etaMs: perStep * (totalSteps - step), elapsedMs: elapsedBefore + elapsed,
        });
      }
      if (step % t.checkpointEvery === 0 && step < totalSteps) saveCheckpoint();
      if (o.onEvaluate && o.evalEvery && step % o.evalEvery === 0 && step < totalSteps && !o.signal?.aborted) await o.onEvaluate(step, totalSteps);
      if (o.signal?.aborted) {
        saveCheckpoint();
        throw new SpruftError('RUN_CANCELLED', `run cancelled after step ${step} of ${totalSteps}; resume with spruft train --resume`);
      }
      // Let the event loop deliver cancellation and RPC traffic between steps.
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    runner.dispose();
    if (pool && !o.pool) await pool.close();
  }
  return { steps: step, trainMs: elapsedBefore + performance.now() - started, lossCurve, memory };
}
