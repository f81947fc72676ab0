/**
 * One optimizer step split across data-parallel ranks (config `training.workers`).
 * Rank 0, this thread, cuts every micro-batch into contiguous shares (shares.ts), sends
 * each worker its examples, loss weights, dropout seeds and the current trainable
 * values, computes its own share meanwhile, then adds the workers' gradients to its own
 * in rank order and applies Adam/AdamW. The result is the gradient of the full batch's
 * mean loss up to float rounding, and the same bits for the same seed, backend and
 * worker count (no sum depends on which thread finishes first).
 *
 * Only rank 0 updates: the optimizer state exists once, checkpoints and resume read
 * and write rank 0 alone, and the workers, which take rank 0's values at each step,
 * cannot drift. Sending values down costs what sending averaged gradients would.
 *
 * Dropout: every (micro-batch, rank) pass draws its masks from its own stream, seeded
 * from the run's dropout stream (which checkpoints store); so masks, and with them a
 * LoRA-with-dropout run, depend on the worker count (the same distribution, other draws).
 */
import type { ResolvedRunConfig } from '../../../../protocol/config';
import type { MemoryMeasurement } from '../../../../protocol/results';
import { formatBytes } from '../../../../protocol/format';
import type { ForwardContext } from '../../models/layer';
import type { Model } from '../../models/model';
import { makeBatch, type Examples } from '../batches';
import { breakdown, peakBytes } from '../../tensor/memory';
import { methodInfo, type AttachedMethod } from '../methods';
import { Rng } from '../../tensor/rng';
import { accumulateGradients, type StepProbe, type StepRunner } from '../step';
import { tf, type Tensor } from '../../tensor/tf';
import type { MethodSpec, WorkerStepMemory } from './messages';
import type { WorkerPool } from './pool';
import { lossWeight, shareBounds, takeShare } from './shares';

/** What a worker needs to attach the method that rank 0 attached. */
export function methodSpecOf(model: Model, attached: AttachedMethod, config: ResolvedRunConfig): MethodSpec {
  const selection = !methodInfo(attached.method).scoresRows ? undefined : attached.adaptedLayers.flatMap((l) => (l.training.kind === 'rows' ? [{
    name: l.name, kind: l.kind, rows: l.training.rows, scores: l.training.scores ?? [], dOut: l.dOut, dIn: l.dIn,
    ...(l.training.columns ? { columns: l.training.columns.columns } : {}),
  }] : []));
  return {
    method: attached.method, config, selection,
    // attachMethod trains the head whole exactly when asked to (under every method).
    trainHead: model.head?.training.kind === 'full',
    seed: config.training.seed,
    trainables: attached.trainables.map((t) => ({ name: t.name, shape: t.variable.shape.slice() })),
  };
}

interface PlannedPass {
  indices: Int32Array;
  weight: number;
  dropoutSeed: number;
}

export class DataParallelStep {
  /**
   * `runner` holds rank 0's optimizer (checkpoints read it); the pool's workers must
   * have the method attached (`pool.attach(methodSpecOf(...))`).
   */
  constructor(
    private readonly pool: WorkerPool,
    private readonly runner: StepRunner,
    private readonly model: Model,
    private readonly attached: AttachedMethod,
    private readonly examples: Examples,
    /** `training.checkpointing: blocks` on rank 0 (the workers read it from the method spec). */
    private readonly checkpointBlocks = false,
  ) {}

  /**
   * One step over `micro` micro-batches (`indicesAt(k)`: example indices) with learning
   * rate `lr`; returns the mean of their losses, as StepRunner.run.
   */
  async run(indicesAt: (k: number) => Int32Array, micro: number, lr: number, dropoutRng: Rng): Promise<number> {
    const { loss, grads } = await this.gradients(indicesAt, micro, dropoutRng);
    this.runner.apply(grads, lr);
    return loss;
  }

  /**
   * `run`, measured against mem_M = `inferencePeak` (of rank 0's share): rank 0's memory
   * breakdown (paper C.3), with the workers' peaks in its `source`.
   */
  async measured(indicesAt: (k: number) => Int32Array, micro: number, lr: number, dropoutRng: Rng, inferencePeak: number): Promise<{ loss: number; memory: MemoryMeasurement }> {
    const probe: StepProbe = { beforeForward: 0, backwardStart: 0, gradsBytes: 0 };
    let step: Awaited<ReturnType<DataParallelStep['gradients']>> | undefined;
    const peakTrain = await peakBytes(async () => {
      step = await this.gradients(indicesAt, micro, dropoutRng, probe);
      this.runner.apply(step.grads, lr);
    });
    const { loss, share, workers } = step!;
    const measured = breakdown({
      peakTrain, peakInference: inferencePeak, modelBytes: this.model.weightBytes,
      beforeForward: probe.beforeForward, backwardStart: probe.backwardStart,
      paramsBytes: this.attached.trainables.reduce((s, t) => s + t.variable.size * 4, 0),
      gradsBytes: probe.gradsBytes, optimizerBytes: this.runner.optimizerBytes, dropoutBytes: share.dropoutBytes,
    });
    const peaks = workers.map((m, i) => `rank ${i + 1} ${m ? formatBytes(m.peakBytes) : 'no share'}`).join(', ');
    const source = `${measured.source}; rank 0 of ${this.pool.ranks} data-parallel workers: these figures are rank 0's, for its ${share.examples} of every ${share.of} examples `
      + `(each worker thread has its own backend, frozen model copy of ${formatBytes(this.model.weightBytes)} and share of the batch; peak live tensor bytes: ${peaks}; only rank 0 holds optimizer state)`;
    return { loss, memory: { ...measured, source } };
  }

  /**
   * The step's loss, sum_r sum_k w_rk L_rk, and its gradients (not applied; the caller
   * owns them), computed by all ranks and added in rank order. `probe` measures rank 0.
   */
  async gradients(indicesAt: (k: number) => Int32Array, micro: number, dropoutRng: Rng, probe?: StepProbe): Promise<{
    loss: number;
    grads: Map<string, Tensor>;
    /** Rank 0's part of the first micro-batch, and its dropout masks per pass. */
    share: { examples: number; of: number; dropoutBytes: number };
    workers: Array<WorkerStepMemory | undefined>;
  }> {
    const ranks = this.pool.ranks;
    const plan: PlannedPass[][] = Array.from({ length: ranks }, () => []);
    let firstBatch = 0;
    for (let k = 0; k < micro; k++) {
      const indices = indicesAt(k);
      if (k === 0) firstBatch = indices.length;
      const total = lossWeight(this.examples, indices);
      for (let r = 0; r < ranks; r++) {
        // Drawn for every (micro-batch, rank), empty shares too: the stream's position
        // after a step depends on the step alone.
        const dropoutSeed = dropoutRng.nextUint32();
        const [start, end] = shareBounds(indices.length, ranks, r);
        if (start === end) continue;
        const share = indices.subarray(start, end);
        plan[r].push({ indices: share, weight: total > 0 ? lossWeight(this.examples, share) / total / micro : 0, dropoutSeed });
      }
    }
    const trainables = this.attached.trainables;
    const params = trainables.map((t) => t.variable.dataSync() as Float32Array);
    // The workers start first; this thread's share runs while they compute theirs.
    const replies = this.pool.all(plan.slice(1).map((passes, i) => this.pool.step(i + 1, params, passes.map((p) => ({
      examples: takeShare(this.examples, p.indices), weight: p.weight, dropoutSeed: p.dropoutSeed,
    })), probe !== undefined)));
    replies.catch(() => undefined);

    const mine = plan[0];
    const contexts: ForwardContext[] = [];
    const local = accumulateGradients(this.model, trainables, (k) => {
      const ctx: ForwardContext = { training: true, dropoutRng: new Rng(mine[k].dropoutSeed), dropoutMaskBytes: 0, checkpointBlocks: this.checkpointBlocks };
      contexts.push(ctx);
      return { batch: makeBatch(this.examples, mine[k].indices), weight: mine[k].weight, ctx };
    }, mine.length, probe);
    let results;
    try {
      results = await replies;
    } catch (err) {
      tf.dispose([...local.grads.values()]);
      throw err;
    }
    const grads = new Map<string, Tensor>();
    trainables.forEach((t, i) => {
      let g = local.grads.get(t.name);
      for (const reply of results) {
        if (!reply.grads) continue;
        const theirs = tf.tensor(reply.grads[i], t.variable.shape);
        if (g) {
          const sum = tf.add(g, theirs);
          tf.dispose([g, theirs]);
          g = sum;
        } else {
          g = theirs;
        }
      }
      grads.set(t.name, g ?? tf.zerosLike(t.variable));
    });
    const [start, end] = shareBounds(firstBatch, ranks, 0);
    return {
      loss: local.loss + results.reduce((s, r) => s + r.loss, 0),
      grads,
      share: { examples: end - start, of: firstBatch, dropoutBytes: mine.length ? contexts.reduce((s, c) => s + c.dropoutMaskBytes, 0) / mine.length : 0 },
      workers: results.map((r) => r.memory),
    };
  }
}
