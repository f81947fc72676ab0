/**
 * `spruft bench memory|speed`: the methods side by side on one model in one process:
 * memory by component (measured, paper C.3), step time, the backend's own large-GEMM
 * rate measured in the same run, and model FLOP utilisation. The model is a
 * Llama-shaped decoder with random weights (memory and time do not depend on the
 * values) or the MobileNetV2 that npm `nsfwjs` ships; synthetic batches of its shape.
 * `workers` > 1 splits each batch across worker threads (engine/parallel/): the step
 * time is the whole step's, memory is rank 0's (its share of the batch), and MFU is
 * taken against the GEMM rate of all ranks measuring at once (on a machine whose cores
 * slow each other down, less than the single rate times the ranks). MFU's GEMM rate is
 * measured beside the steps it divides: one product before and after each timed step.
 * Each method then takes one more step, profiled kernel by kernel (the top kernels by
 * time). `peer: 'torch'` runs the same decoder, batch and methods in PyTorch on the same
 * cores (run/peer.ts), its steps alternating with ours, for `ratios.stepOverPeer`.
 */
import { totalmem } from 'node:os';
import { METHODS, resolveRunConfig, type Checkpointing, type ResolvedRunConfig, type RunConfigFile } from '../../../protocol/config';
import type { BackendChoice, BenchMethodResult, BenchResult, InspectResult, MethodName } from '../../../protocol/results';
import { estimateTrainingMemory } from '../config/memoryEstimate';
import { formatBytes } from '../../../protocol/format';
import { selectTargetLayers } from '../config/targets';
import { inspectConfig } from '../models/inspect';
import { SpruftError } from '../errors';
import { makeBatch, type Batch, type Examples } from '../engine/batches';
import { DataParallelStep, methodSpecOf } from '../engine/parallel/dataParallel';
import { WorkerPool } from '../engine/parallel/pool';
import { rankZeroShare } from '../engine/parallel/shares';
import { gemmRate } from '../engine/gemm';
import { trainingStepFlops, tracePositions, type AttentionShape } from '../engine/flops';
import { attachMethod, detachMethod, METHOD_INFO } from '../engine/methods';
import { Rng } from '../tensor/rng';
import { scoreRows } from '../engine/score';
import { inferencePeakBytes, StepRunner } from '../engine/step';
import { tf } from '../tensor/tf';
import { inferenceContext, type ForwardContext } from '../models/layer';
import { initLlama } from '../models/init';
import { LlamaModel, type LlamaConfig } from '../models/llama';
import { loadModel } from '../models/load';
import type { Model } from '../models/model';
import { ensureBackend } from './session';
import { TORCH_PEER_METHODS, TorchPeer } from './peer';
import { profileKernels } from '../kernels/kernelProfile';
import { defaultBlasThreads } from '../kernels/nativeBlas';

export const DECODER_SHAPE: LlamaConfig = {
  model_type: 'llama', vocab_size: 2048, hidden_size: 512, intermediate_size: 1376, num_hidden_layers: 4,
  num_attention_heads: 8, num_key_value_heads: 8, max_position_embeddings: 256, rms_norm_eps: 1e-6, rope_theta: 10000,
  tie_word_embeddings: false,
};

/**
 * A 125M-parameter Llama-shaped decoder, GPT-2-small sized (12 blocks, hidden 768, 12
 * heads), with Llama's vocabulary (32,000, embeddings tied to the LM head as GPT-2's
 * are) and a SwiGLU MLP of 2,560 (GPT-2's MLP is 3,072 wide with two matrices; three of
 * 2,560 hold about as many weights): 123.7M parameters, random weights.
 */
export const DECODER_125M_SHAPE: LlamaConfig = {
  model_type: 'llama', vocab_size: 32000, hidden_size: 768, intermediate_size: 2560, num_hidden_layers: 12,
  num_attention_heads: 12, num_key_value_heads: 12, max_position_embeddings: 1024, rms_norm_eps: 1e-6, rope_theta: 10000,
  tie_word_embeddings: true,
};

/** Bench models: the decoders by shape (random weights), `vision` the nsfwjs MobileNetV2. */
export const BENCH_MODELS = ['decoder', 'decoder-125m', 'vision'] as const;

/** `--checkpointing`: run the variants without it, with it (`training.checkpointing: blocks`), or both. */
export const BENCH_CHECKPOINTING = ['none', 'blocks', 'both'] as const;

export interface BenchOptions {
  kind: 'memory' | 'speed';
  model: string;
  checkpointing?: (typeof BENCH_CHECKPOINTING)[number];
  batch?: number;
  sequence?: number;
  image?: number;
  steps?: number;
  /** Data-parallel ranks (this thread and worker threads), each with a share of the batch. */
  workers?: number;
  backend: BackendChoice;
  /** Run the PyTorch peer beside the runner (decoder only). */
  peer?: 'torch';
  /** How many kernels of the profiled step to report (0: no profiled step). */
  topKernels?: number;
  onLog?: (message: string) => void;
}

/**
 * The methods the bench runs, from the registry: every method that adapts the target
 * layers (on a decoder each also with `freezeAttention`), then those that train every
 * weight (full); `head` trains no backbone layer and is left out.
 */
export const BENCH_METHODS = {
  adapters: METHODS.filter((m) => METHOD_INFO[m].memory.scope === 'targets'),
  whole: METHODS.filter((m) => METHOD_INFO[m].memory.scope === 'all'),
};

interface Variant {
  method: MethodName;
  freezeAttention: boolean;
  checkpointing?: Checkpointing;
  file: Partial<RunConfigFile>;
}

function median(xs: number[]): number {
  const s = xs.slice().sort((p, q) => p - q);
  return s[Math.floor(s.length / 2)];
}

interface Setup {
  model: Model;
  examples: Examples;
  batchSize: number;
  attention?: AttentionShape;
  variants: Variant[];
  base: RunConfigFile;
  shape: Record<string, number | string>;
  batchInfo: BenchResult['batch'];
  /** The model's layout from its config alone (the memory estimate before each variant). */
  inspected?: InspectResult;
}

function decoderSetup(o: BenchOptions, layout: LlamaConfig, defaults: { batch: number; sequence: number }): Setup {
  const c = { ...layout };
  const b = o.batch ?? defaults.batch;
  const t = o.sequence ?? defaults.sequence;
  if (t > c.max_position_embeddings) throw new SpruftError('CONFIG_INVALID', `--seq ${t} exceeds the decoder's ${c.max_position_embeddings} positions`);
  const name = layout === DECODER_SHAPE ? 'llama-bench (random weights)' : 'llama-125m-bench (random weights)';
  // Built on first use: after the memory estimate has said which variants fit.
  let model: LlamaModel | undefined;
  const rng = new Rng(1);
  const ids = Int32Array.from({ length: b * t }, () => rng.int(c.vocab_size));
  const examples: Examples = { kind: 'tokens', n: b, length: t, ids, mask: new Uint8Array(b * t).fill(1) };
  // VeRA and DoRA at LoRA's rank and dropout, as the paper compares them (table 1: r = 64 for all three).
  const base: RunConfigFile = {
    model: { path: 'bench' }, task: 'causal-lm', data: { dataset: 'text' }, lora: { rank: 16, alpha: 16, dropout: 0.1 },
    vera: { rank: 16, dropout: 0.1 }, spruft: { rank: 32, importance: { metric: 'l2' } },
  };
  const variants: Variant[] = [];
  for (const fa of [false, true]) {
    for (const method of BENCH_METHODS.adapters) variants.push({ method, freezeAttention: fa, file: { targets: { layerTypes: ['linear'], freezeAttention: fa } } });
  }
  for (const method of BENCH_METHODS.whole) variants.push({ method, freezeAttention: false, file: {} });
  const shape = { layers: c.num_hidden_layers, hidden: c.hidden_size, intermediate: c.intermediate_size, heads: c.num_attention_heads, vocab: c.vocab_size };
  return {
    get model(): Model {
      model ??= new LlamaModel(name, '', c, initLlama(c, 0));
      return model;
    },
    examples, batchSize: b, variants, base, shape,
    attention: { blocks: c.num_hidden_layers, batch: b, length: t, width: c.hidden_size },
    batchInfo: { size: b, sequence: t },
    inspected: inspectConfig(name, { ...c }, 'bench'),
  };
}

function visionSetup(o: BenchOptions): Setup {
  const b = o.batch ?? 32;
  const size = o.image ?? 64;
  const model = loadModel('npm:nsfwjs/mobilenet_v2', { cutAt: 'out_relu', numLabels: 10, seed: 0 });
  const rng = new Rng(2);
  const inputs = rng.fillUniform(new Float32Array(b * size * size * 3), -1, 1);
  const labels = Int32Array.from({ length: b }, () => rng.int(10));
  const examples: Examples = { kind: 'images', n: b, shape: [size, size, 3], inputs, labels };
  const base: RunConfigFile = {
    model: { path: 'npm:nsfwjs/mobilenet_v2', cutAt: 'out_relu' }, task: 'image-classification', data: { dataset: 'mnist' },
    targets: { layerTypes: ['linear', 'conv2d'] }, lora: { rank: 8, alpha: 16, dropout: 0.1 }, spruft: { rank: 16, importance: { metric: 'l2' } },
  };
  // VeRA adapts linear layers only and refuses these conv targets (as PEFT's VeRA has no conv layer).
  const variants: Variant[] = [...BENCH_METHODS.adapters.filter((m) => m !== 'vera'), ...BENCH_METHODS.whole].map((method) => ({ method, freezeAttention: false, file: {} }));
  return { model, examples, batchSize: b, variants, base, shape: { backbone: 'MobileNetV2 (nsfwjs) cut at out_relu', image: size }, batchInfo: { size: b, image: size } };
}

function resolve(base: RunConfigFile, v: Variant, batchSize: number, sequence?: number): ResolvedRunConfig {
  const data = sequence !== undefined ? { ...base.data, text: { maxLength: sequence } } : base.data;
  return resolveRunConfig({ ...base, ...v.file, data, method: v.method, training: { batchSize, seed: 0, checkpointing: v.checkpointing ?? 'none' } }, {
    baseDir: '/', resolvePath: (_b, p) => p,
  });
}

/** Pick the SPruFT and LoRA variants whose trainable counts are closest (same FA flag and checkpointing). */
function closestPair(methods: BenchMethodResult[], checkpointing: Checkpointing): { spruft: BenchMethodResult; lora: BenchMethodResult } | undefined {
  let best: { spruft: BenchMethodResult; lora: BenchMethodResult; d: number } | undefined;
  for (const s of methods.filter((m) => m.method === 'spruft' && m.checkpointing === checkpointing)) {
    for (const l of methods.filter((m) => m.method === 'lora' && m.freezeAttention === s.freezeAttention && m.checkpointing === checkpointing)) {
      const d = Math.abs(s.trainableParams - l.trainableParams) / Math.max(s.trainableParams, l.trainableParams);
      if (!best || d < best.d) best = { spruft: s, lora: l, d };
    }
  }
  return best;
}

/** The variants with and/or without checkpointing (`--checkpointing`); checkpointing applies to transformer blocks only. */
function withCheckpointing(variants: Variant[], choice: BenchOptions['checkpointing'], transformer: boolean): Variant[] {
  const modes: Checkpointing[] = !transformer || choice === undefined || choice === 'none' ? ['none'] : choice === 'blocks' ? ['blocks'] : ['none', 'blocks'];
  return modes.flatMap((checkpointing) => variants.map((v) => ({ ...v, checkpointing })));
}

/**
 * What the machine can give one variant: three quarters of the 4 GiB the wasm heap can
 * address, else the machine's memory. Not all of it, because the variants run one after
 * another in one heap that never shrinks and whose freed blocks fragment: after eight PEFT
 * variants of decoder-125m (peaks of 0.5-0.9 GiB) `full` and `full ckpt` (estimated 2.63
 * and 2.45 GiB, measured 2.49) run. (At half, both were skipped; when Adam's update still
 * made eleven buffers of a parameter's size, `full` peaked 1.1 GiB above its estimate and
 * once ran the heap out.)
 */
function memoryLimit(backend: string): { bytes: number; what: string } {
  const wasm = { bytes: 3 * 1024 ** 3, what: 'three quarters of the 4 GiB the wasm backend can address (its heap is shared by the variants and fragments)' };
  const machine = { bytes: totalmem(), what: `this machine's ${formatBytes(totalmem())}` };
  return backend === 'wasm' && wasm.bytes < machine.bytes ? wasm : machine;
}

export async function runBench(o: BenchOptions): Promise<BenchResult> {
  if (o.peer && o.model !== 'decoder') throw new SpruftError('CONFIG_INVALID', `--peer torch runs the decoder only (got --model ${o.model})`);
  const backend = await ensureBackend(o.backend);
  const log = o.onLog ?? (() => undefined);
  const gemmGflops = gemmRate();
  log(`GEMM 1024x1024 on ${backend.name}: ${gemmGflops.toFixed(1)} GFLOP/s`);
  let gemmGflopsAllRanks = gemmGflops;
  const setup = o.model === 'decoder' ? decoderSetup(o, DECODER_SHAPE, { batch: 4, sequence: 128 })
    : o.model === 'decoder-125m' ? decoderSetup(o, DECODER_125M_SHAPE, { batch: 2, sequence: 128 })
    : o.model === 'vision' ? visionSetup(o) : undefined;
  if (!setup) throw new SpruftError('CONFIG_INVALID', `--model must be ${BENCH_MODELS.join(', ')} (got "${o.model}")`);
  // Each variant's estimated peak (config/memoryEstimate.ts) against what the backend can
  // address: what does not fit is said before anything is built or run.
  const limit = memoryLimit(backend.name);
  const skipped: NonNullable<BenchResult['skipped']> = [];
  const planned: Array<{ v: Variant; config: ResolvedRunConfig }> = [];
  for (const v of withCheckpointing(setup.variants, o.checkpointing, setup.inspected?.transformer !== undefined)) {
    const config = resolve(setup.base, v, setup.batchSize, setup.batchInfo.sequence);
    if (setup.inspected) {
      const targets = selectTargetLayers(setup.inspected, config.targets).layers;
      const estimate = estimateTrainingMemory(setup.inspected, config, v.method, targets);
      const name = `${v.method}${v.freezeAttention ? ' FA' : ''}${v.checkpointing === 'blocks' ? ' ckpt' : ''}`;
      log(`${name}: estimated peak ${formatBytes(estimate.peakBytes)} (limit: ${limit.what})`);
      if (estimate.peakBytes > limit.bytes) {
        const b = estimate.breakdown;
        const reason = `estimated peak ${formatBytes(estimate.peakBytes)} (weights ${formatBytes(estimate.modelBytes)}, trainable state ${formatBytes(b.params + b.grads + b.optimizer)}, activations ${formatBytes(b.cache + b.dropout + b.other + estimate.inferenceBytes)}) exceeds ${limit.what}: not run`;
        log(`${name}: ${reason}`);
        skipped.push({ variant: name, estimatedPeakBytes: estimate.peakBytes, limitBytes: limit.bytes, reason });
        continue;
      }
    }
    planned.push({ v, config });
  }
  if (!planned.some((p) => p.v.method === 'spruft') || !planned.some((p) => p.v.method === 'lora')) {
    throw new SpruftError('CONFIG_INVALID', `bench needs a spruft and a lora variant that fit (skipped: ${skipped.map((k) => k.variant).join(', ')}); lower --batch or --seq`);
  }
  const { model, examples } = setup;
  const workers = o.workers ?? 1;
  let peer: TorchPeer | undefined;
  if (o.peer === 'torch') {
    const lora = setup.base.lora ?? {};
    peer = TorchPeer.start({
      config: DECODER_SHAPE, batch: setup.batchSize, sequence: setup.batchInfo.sequence ?? 128, threads: defaultBlasThreads(),
      spruftRank: setup.base.spruft?.rank ?? 32, loraRank: lora.rank ?? 16, loraAlpha: lora.alpha ?? 16, loraDropout: lora.dropout ?? 0.1,
    });
  }
  const all = Int32Array.from({ length: setup.batchSize }, (_, i) => i);
  const batchAt = (): Batch => makeBatch(examples, all);
  let pool: WorkerPool | undefined;
  try {
    if (workers > 1) {
      if (workers > setup.batchSize) throw new SpruftError('CONFIG_INVALID', `--workers ${workers} exceeds the batch of ${setup.batchSize}: each worker needs a share of it`);
      pool = await WorkerPool.start({ ranks: workers, model });
      log(`${workers} data-parallel ranks: this thread and ${workers - 1} worker thread(s)`);
      const rates = await pool.gemmRates();
      gemmGflopsAllRanks = rates.reduce((a, b) => a + b, 0);
      log(`GEMM 1024x1024 on all ${workers} ranks at once: ${rates.map((r) => r.toFixed(1)).join(' + ')} = ${gemmGflopsAllRanks.toFixed(1)} GFLOP/s`);
    }
    const probeBatch = batchAt();
    // mem_M of what rank 0 computes: its share of the batch when the batch is split.
    const shareBatch = workers > 1 ? makeBatch(examples, all.subarray(0, rankZeroShare(setup.batchSize, workers))) : probeBatch;
    const memM = await inferencePeakBytes(model, shareBatch, inferenceContext());
    const shapes = tracePositions(model, probeBatch);
    for (const b of new Set([probeBatch, shareBatch])) tf.dispose([b.x, b.labels, b.targets, b.weights].filter((t): t is tf.Tensor => t !== undefined));
    const steps = o.steps ?? (o.kind === 'speed' ? 5 : 2);
    const methods: BenchMethodResult[] = [];
    const peerInfo = peer ? { ...(await peer.describe()), gemmGflops: await peer.gemmGflops() } : undefined;
    if (peerInfo) log(`peer: torch ${peerInfo.version} (${peerInfo.python}), ${peerInfo.threads} threads, GEMM 1024x1024 ${peerInfo.gemmGflops.toFixed(1)} GFLOP/s`);
    const topKernels = o.topKernels ?? (o.kind === 'speed' ? 8 : 0);
    for (const { v, config } of planned) {
      const selection = METHOD_INFO[v.method].scoresRows ? (await scoreRows(model, config, examples)).layers : undefined;
      const attached = attachMethod(model, { method: v.method, config, selection, trainHead: setup.base.task !== 'causal-lm', seed: 0 });
      const runner = new StepRunner(model, attached, { kind: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 });
      try {
        const checkpointBlocks = config.training.checkpointing === 'blocks';
        const ctx = (): ForwardContext => ({ training: true, dropoutRng: new Rng(3), dropoutMaskBytes: 0, checkpointBlocks });
        let parallel: DataParallelStep | undefined;
        if (pool) {
          await pool.attach(methodSpecOf(model, attached, config));
          parallel = new DataParallelStep(pool, runner, model, attached, examples, checkpointBlocks);
        }
        const step = async (): Promise<void> => {
          if (parallel) await parallel.run(() => all, 1, 1e-5, new Rng(3));
          else runner.run(batchAt, 1, 1e-5, ctx());
        };
        const { memory } = parallel ? await parallel.measured(() => all, 1, 1e-5, new Rng(3), memM) : await runner.measured(batchAt, 1, 1e-5, ctx(), memM);
        await step();
        // The peer runs the methods it implements (scripts/peer/); the others run without it.
        const withPeer = peer && TORCH_PEER_METHODS.includes(v.method) ? peer : undefined;
        const peerAttached = withPeer ? await withPeer.attach(v.method, v.freezeAttention) : undefined;
        if (peerAttached && peerAttached.trainableParams !== attached.trainableParams) {
          throw new SpruftError('INTERNAL', `the torch peer's ${peerAttached.variant} trains ${peerAttached.trainableParams} parameters, ours ${attached.trainableParams}: not the same method`);
        }
        const peerTimes: number[] = [];
        // Each timed step between two timed GEMMs (all ranks at once with workers): the
        // machine's speed drifts within a run, so each step is also measured in GEMM work
        // at the rate around it, and MFU and the ratios compare like with like.
        const gemmNow = async (): Promise<number> => (pool ? (await pool.gemmRates(1024, 1)).reduce((a, b) => a + b, 0) : gemmRate(1024, 1));
        const times: number[] = [];
        const rates: number[] = [await gemmNow()];
        let cpuMs = 0;
        for (let i = 0; i < steps; i++) {
          const cpu0 = process.cpuUsage();
          const t0 = performance.now();
          await step();
          times.push(performance.now() - t0);
          const cpu = process.cpuUsage(cpu0);
          cpuMs += (cpu.user + cpu.system) / 1000;
          rates.push(await gemmNow());
          // The peer's step right after ours: both under the same load.
          if (withPeer) peerTimes.push(await withPeer.step());
        }
        const profile = topKernels > 0 ? await profileKernels(backend.name, step) : undefined;
        const around = times.map((_, i) => (rates[i] + rates[i + 1]) / 2);
        // CPU time of the whole process (every thread) over wall time: the cores in use.
        const cores = cpuMs / times.reduce((a, b) => a + b, 0);
        const stepMs = median(times);
        const stepGemm = median(around);
        const stepGemmGflop = median(times.map((t, i) => (t / 1000) * around[i]));
        const flopsPerStep = trainingStepFlops(shapes, setup.attention);
        const result: BenchMethodResult = {
          method: v.method, variant: attached.variant + (checkpointBlocks ? ' ckpt' : ''), freezeAttention: v.freezeAttention,
          checkpointing: config.training.checkpointing,
          trainableParams: attached.trainableParams, mem: memory.breakdown, memModel: memory.modelBytes,
          peakTrain: memory.peakTrain, peakInference: memory.peakInference, stepMs,
          mfu: flopsPerStep / (stepGemmGflop * 1e9), gemmGflops: stepGemm, stepGemmGflop, flopsPerStep, cores,
          peerStepMs: withPeer ? median(peerTimes) : undefined,
          // Each of our steps over the peer's step right after it: the pairs share the
          // machine's load of the moment, which a ratio of medians would not.
          stepOverPeer: withPeer ? median(times.map((t, i) => t / peerTimes[i])) : undefined,
          kernels: profile ? { totalMs: profile.totalMs, outsideMs: profile.outsideMs, top: profile.kernels.slice(0, topKernels) } : undefined,
        };
        methods.push(result);
        log(`${result.variant.padEnd(16)} ${result.trainableParams.toLocaleString('en').padStart(11)} params  mem ${formatBytes(memory.breakdown.total)}  step ${stepMs.toFixed(0)} ms  MFU ${(100 * result.mfu).toFixed(1)}%  CPU ${cores.toFixed(2)} cores${result.peerStepMs !== undefined ? `  torch ${result.peerStepMs.toFixed(0)} ms` : ''}`);
      } finally {
        runner.dispose();
        detachMethod(model);
      }
    }
    const plain = closestPair(methods, 'none');
    const checkpointed = closestPair(methods, 'blocks');
    const pair = plain ?? checkpointed;
    if (!pair) throw new SpruftError('INTERNAL', 'bench needs a spruft and a lora variant with the same checkpointing');
    const full = methods.find((m) => m.method === 'full' && m.checkpointing === pair.spruft.checkpointing);
    return {
      kind: o.kind, backend,
      model: { name: model.name, params: model.totalParams, shape: setup.shape },
      batch: setup.batchInfo, gemmGflops, gemmGflopsAllRanks, workers, methods,
      ratios: {
        memSpruftOverLora: pair.spruft.mem.total / pair.lora.mem.total,
        stepSpruftOverLora: pair.spruft.stepMs / pair.lora.stepMs,
        stepSpruftOverFull: full ? pair.spruft.stepMs / full.stepMs : NaN,
        // Steps measured in GEMM work at the rate around them: the machine's drift between
        // one method's steps and the next's cancels out.
        stepSpruftOverLoraAtEqualGemm: pair.spruft.stepGemmGflop / pair.lora.stepGemmGflop,
        stepSpruftOverFullAtEqualGemm: full ? pair.spruft.stepGemmGflop / full.stepGemmGflop : NaN,
        ...(checkpointed ? { memSpruftOverLoraCheckpointed: checkpointed.spruft.mem.total / checkpointed.lora.mem.total } : {}),
        stepOverPeer: peer ? Object.fromEntries(methods.map((m) => [m.variant, m.stepOverPeer ?? NaN])) : undefined,
      },
      peer: peerInfo,
      pairs: {
        spruft: pair.spruft.variant, lora: pair.lora.variant, full: full?.variant,
        ...(checkpointed ? { checkpointed: { spruft: checkpointed.spruft.variant, lora: checkpointed.lora.variant } } : {}),
      },
      ...(skipped.length ? { skipped } : {}),
    };
  } finally {
    await pool?.close();
    await peer?.close();
    model.dispose();
  }
}
