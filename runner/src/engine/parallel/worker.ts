/**
 * A data-parallel worker thread (ranks 1..W-1): its own TensorFlow.js engine and
 * backend, its own copy of rank 0's model, and its share of every micro-batch. Bundled
 * by esbuild.mjs as dist/dataParallelWorker.js; when the runner runs from its sources
 * (tsx: development, tests), pool.ts bundles it on first use.
 */
import { parentPort } from 'node:worker_threads';
import { SpruftError, errorMessage, type ErrorCode } from '../../errors';
import type { ForwardContext } from '../../models/layer';
import type { Model } from '../../models/model';
import { BackendError, initBackend } from '../backend';
import { makeBatch } from '../batches';
import { gemmRate } from '../gemm';
import { peakBytes } from '../../tensor/memory';
import { attachMethod, type AttachedMethod } from '../methods';
import { Rng } from '../../tensor/rng';
import { accumulateGradients } from '../step';
import { tf } from '../../tensor/tf';
import type { FromWorker, MethodSpec, SharePass, ToWorker, WorkerFault, WorkerStepMemory } from './messages';
import { buildModel } from './recipe';
import { allIndices } from './shares';

function codeOf(err: unknown): ErrorCode {
  if (err instanceof SpruftError || err instanceof BackendError) return err.code;
  return 'INTERNAL';
}

class WorkerRank {
  private model: Model | undefined;
  private attached: AttachedMethod | undefined;
  private steps = 0;
  private checkpointBlocks = false;
  private fault: WorkerFault | undefined;

  async init(msg: Extract<ToWorker, { type: 'init' }>): Promise<FromWorker> {
    this.fault = msg.fault?.rank === msg.rank ? msg.fault : undefined;
    await initBackend(msg.backend);
    this.model = buildModel(msg.model);
    return { type: 'ready' };
  }

  attach(spec: MethodSpec): FromWorker {
    const model = this.need(this.model, 'init');
    this.attached = attachMethod(model, { method: spec.method, config: spec.config, selection: spec.selection, trainHead: spec.trainHead, seed: spec.seed });
    this.checkpointBlocks = spec.config.training.checkpointing === 'blocks';
    const mine = this.attached.trainables.map((t) => `${t.name} [${t.variable.shape}]`);
    const theirs = spec.trainables.map((t) => `${t.name} [${t.shape}]`);
    if (mine.join(', ') !== theirs.join(', ')) {
      throw new SpruftError('INTERNAL', `this worker's trainables (${mine.join(', ')}) differ from rank 0's (${theirs.join(', ')})`);
    }
    return { type: 'attached', trainableParams: this.attached.trainableParams };
  }

  async step(params: Float32Array[], passes: SharePass[], measure: boolean): Promise<FromWorker> {
    const model = this.need(this.model, 'init');
    const attached = this.need(this.attached, 'attach');
    this.steps += 1;
    if (this.fault?.atStep === this.steps) {
      if (this.fault.how === 'exit') process.exit(3);
      throw new SpruftError('INTERNAL', `injected fault at step ${this.steps} (test hook)`);
    }
    tf.tidy(() => attached.trainables.forEach((t, i) => t.variable.assign(tf.tensor(params[i], t.variable.shape))));
    if (passes.length === 0) return { type: 'grads', loss: 0, grads: null };
    let result: ReturnType<typeof accumulateGradients> | undefined;
    const compute = (): void => {
      result = accumulateGradients(model, attached.trainables, (k) => {
        const p = passes[k];
        const ctx: ForwardContext = { training: true, dropoutRng: new Rng(p.dropoutSeed), dropoutMaskBytes: 0, checkpointBlocks: this.checkpointBlocks };
        return { batch: makeBatch(p.examples, allIndices(p.examples.n)), weight: p.weight, ctx };
      }, passes.length);
    };
    let memory: WorkerStepMemory | undefined;
    if (measure) memory = { peakBytes: await peakBytes(compute), modelBytes: model.weightBytes };
    else compute();
    const { loss, grads } = result!;
    const out = attached.trainables.map((t) => {
      const g = grads.get(t.name)!;
      // A copy of our own: the backend's array may be the tensor's storage.
      const data = Float32Array.from(g.dataSync() as Float32Array);
      g.dispose();
      return data;
    });
    return { type: 'grads', loss, grads: out, ...(memory ? { memory } : {}) };
  }

  private need<T>(value: T | undefined, request: string): T {
    if (value === undefined) throw new SpruftError('INTERNAL', `data-parallel worker: "${request}" must come first`);
    return value;
  }
}

function serve(): void {
  const port = parentPort;
  if (!port) throw new Error('dataParallelWorker runs as a worker thread of the runner');
  const rank = new WorkerRank();
  // Requests run one after another in arrival order (rank 0 sends one at a time anyway).
  let queue: Promise<void> = Promise.resolve();
  port.on('message', (msg: ToWorker) => {
    queue = queue.then(async () => {
      let reply: FromWorker;
      try {
        switch (msg.type) {
          case 'init': reply = await rank.init(msg); break;
          case 'attach': reply = rank.attach(msg.method); break;
          case 'step': reply = await rank.step(msg.params, msg.passes, msg.measure); break;
          case 'gemm': reply = { type: 'gemm', gflops: gemmRate(msg.n, msg.reps) }; break;
        }
      } catch (err) {
        reply = { type: 'error', code: codeOf(err), message: errorMessage(err) };
      }
      port.postMessage(reply, reply.type === 'grads' && reply.grads ? reply.grads.map((g) => g.buffer as ArrayBuffer) : []);
    });
  });
}

serve();
