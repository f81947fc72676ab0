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
import { valueAndGrads } from './autodiff';
import { breakdown, peakBytes } from './memory';
import type { AttachedMethod } from './methods';
import { Adam, type OptimizerConfig } from './optimizer';
import { tf, type Tensor } from './tf';
import { taskLoss } from './loss';

export class StepRunner {
  readonly optimizer: Adam;
  /** Bytes the optimizer state took from the allocator (measured at creation). */
  readonly optimizerBytes: number;
  private readonly names: string[];
  private readonly vars: tf.Variable[];

  constructor(private readonly model: Model, private readonly attached: AttachedMethod, optimizer: OptimizerConfig) {
    const before = tf.memory().numBytes;
    this.optimizer = new Adam(optimizer, attached.trainables);
    this.optimizerBytes = tf.memory().numBytes - before;
    this.names = attached.trainables.map((t) => t.name);
    this.vars = attached.trainables.map((t) => t.variable);
  }

  /**
   * Run one step over `micro` micro-batches produced by `batchAt(k)` (each disposed after
   * use) with learning rate `lr`. Returns the mean loss; `probe` records memory figures.
   */
  run(batchAt: (k: number) => Batch, micro: number, lr: number, ctx: ForwardContext, probe?: StepProbe): number {
    let loss = 0;
    const accumulated = new Map<string, Tensor>();
    for (let k = 0; k < micro; k++) {
      const batch = batchAt(k);
      if (probe) probe.beforeForward = tf.memory().numBytes;
      const { value, grads } = valueAndGrads(
        () => taskLoss(this.model.forward(batch.x, ctx), batch),
        this.vars,
        probe ? (bytes) => { probe.backwardStart = bytes; } : undefined,
      );
      loss += value / micro;
      for (const [i, g] of grads.entries()) {
        const key = this.names[i];
        if (probe) probe.gradsBytes += (g.size * 4) / micro;
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
    if (micro > 1) {
      for (const [k, g] of accumulated) {
        accumulated.set(k, tf.div(g, micro));
        g.dispose();
      }
    }
    this.optimizer.apply(accumulated, lr);
    tf.dispose([...accumulated.values()]);
    return loss;
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

export interface StepProbe {
  beforeForward: number;
  backwardStart: number;
  gradsBytes: number;
}

/** mem_M (paper C.3): peak bytes of inference with the frozen model on `batch`. */
export async function inferencePeakBytes(model: Model, batch: Batch, ctx: ForwardContext): Promise<number> {
  return peakBytes(() => {
    tf.tidy(() => model.forward(batch.x, ctx));
  });
}
