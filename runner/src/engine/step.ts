/**
 * One optimizer step of any method: forward and backward over one or more micro-batches
 * (gradient accumulation), the averaged gradients handed to Adam/AdamW. Optionally
 * measured (paper C.3): the step's peak bytes, what the forward kept for backward, the
 * gradients and the dropout masks. Used by the training loop and by `spruft bench`.
 */
import type { MemoryMeasurement } from '../../../protocol/results';
import type { ForwardContext } from '../models/layer';
import type { Model } from '../models/model';
import { disposeBatch, type Batch } from './batches';
import { valueAndGrads } from '../tensor/autodiff';
import { breakdown, liveBufferBytes, peakBytes } from '../tensor/memory';
import type { AttachedMethod } from './methods';
import { Adam, type OptimizerConfig } from './optimizer';
import { tf, type Tensor } from '../tensor/tf';
import { modelLoss } from './loss';

export class StepRunner {
  readonly optimizer: Adam;
  /** Bytes the optimizer state took from the allocator (measured at creation). */
  readonly optimizerBytes: number;

  constructor(private readonly model: Model, private readonly attached: AttachedMethod, optimizer: OptimizerConfig) {
    const before = liveBufferBytes();
    this.optimizer = new Adam(optimizer, attached.trainables);
    this.optimizerBytes = liveBufferBytes() - before;
  }

  /**
   * Run one step over `micro` micro-batches produced by `batchAt(k)` (each disposed after
   * use) with learning rate `lr`. Returns the mean loss; `probe` records memory figures.
   */
  run(batchAt: (k: number) => Batch, micro: number, lr: number, ctx: ForwardContext, probe?: StepProbe): number {
    const { loss, grads } = accumulateGradients(this.model, this.attached.trainables, (k) => ({ batch: batchAt(k), weight: 1, ctx }), micro, probe);
    if (micro > 1) {
      for (const [k, g] of grads) {
        grads.set(k, tf.div(g, micro));
        g.dispose();
      }
    }
    this.apply(grads, lr);
    return loss / micro;
  }

  /** The optimizer update with gradients by trainable name; the gradients are disposed. */
  apply(grads: Map<string, Tensor>, lr: number): void {
    this.optimizer.apply(grads, lr);
    tf.dispose([...grads.values()]);
  }

  /** `run`, measured: the memory breakdown of this step against mem_M = `inferencePeak`. */
  async measured(batchAt: (k: number) => Batch, micro: number, lr: number, ctx: ForwardContext, inferencePeak: number): Promise<{ loss: number; memory: MemoryMeasurement }> {
    const probe: StepProbe = { beforeForward: 0, backwardStart: 0, gradsBytes: 0 };
    let loss = 0;
    const masksBefore = ctx.dropoutMaskBytes;
    const peakTrain = await peakBytes(() => {
      loss = this.run(batchAt, micro, lr, ctx, probe);
    });
    const memory = breakdown({
      peakTrain, peakInference: inferencePeak, modelBytes: this.model.weightBytes,
      beforeForward: probe.beforeForward, backwardStart: probe.backwardStart,
      paramsBytes: this.attached.trainables.reduce((s, t) => s + t.variable.size * 4, 0),
      gradsBytes: probe.gradsBytes, optimizerBytes: this.optimizerBytes,
      dropoutBytes: (ctx.dropoutMaskBytes - masksBefore) / micro,
    });
    return { loss, memory };
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}

/**
 * One forward/backward pass of a step: its batch, the weight of its loss in the step's
 * loss, and its forward context (dropout stream).
 */
export interface StepPass {
  batch: Batch;
  weight: number;
  ctx: ForwardContext;
}

/**
 * Forward and backward over `count` passes from `passAt(k)` (each batch disposed after
 * use): the loss sum_k weight_k * loss_k and its gradients by trainable name, not yet
 * applied. A weight of 1 leaves a pass's gradient as it is (no multiplication).
 */
export function accumulateGradients(
  model: Model, trainables: AttachedMethod['trainables'], passAt: (k: number) => StepPass, count: number, probe?: StepProbe,
): { loss: number; grads: Map<string, Tensor> } {
  const vars = trainables.map((t) => t.variable);
  let loss = 0;
  const accumulated = new Map<string, Tensor>();
  for (let k = 0; k < count; k++) {
    const { batch, weight, ctx } = passAt(k);
    if (probe) probe.beforeForward = liveBufferBytes();
    const { value, grads } = valueAndGrads(
      () => modelLoss(model, batch, ctx),
      vars,
      probe ? (bytes) => { probe.backwardStart = bytes; } : undefined,
    );
    loss += value * weight;
    for (const [i, raw] of grads.entries()) {
      const key = trainables[i].name;
      let g = raw;
      if (weight !== 1) {
        g = tf.mul(raw, weight);
        raw.dispose();
      }
      if (probe) probe.gradsBytes += (g.size * 4) / count;
      const prev = accumulated.get(key);
      if (prev) {
        accumulated.set(key, tf.add(prev, g));
        tf.dispose([prev, g]);
      } else {
        accumulated.set(key, g);
      }
    }
    disposeBatch(batch);
  }
  return { loss, grads: accumulated };
}

export interface StepProbe {
  beforeForward: number;
  backwardStart: number;
  gradsBytes: number;
}

/** mem_M (paper C.3): peak bytes of inference with the frozen model on `batch`. */
export async function inferencePeakBytes(model: Model, batch: Batch, ctx: ForwardContext): Promise<number> {
  return peakBytes(() => {
    // Braces: a tidy keeps what its function returns; the logits must go with the rest
    // (kept, they stayed alive through every training step measured against this peak).
    tf.tidy(() => { model.forward(batch.x, ctx); });
  });
}
