/**
 * What the runner reports: the JSON documents of `spruft ... --json`, the payloads of
 * the JSON-RPC notifications and the files of a run folder. Defined once here and
 * imported by the runner, the extension and the dashboard. Stable keys are those
 * DESIGN.md lists; more keys are welcome, none are renamed.
 *
 * Units: bytes for memory, milliseconds for time, fractions (0..1) for accuracy.
 */

import type { BACKEND_NAMES, BACKENDS, ImportanceMetric } from './config';

export type BackendName = (typeof BACKEND_NAMES)[number];
export type BackendChoice = (typeof BACKENDS)[number];

/** Which backend ran and why; recorded in every result. */
export interface BackendInfo {
  name: BackendName;
  requested: BackendChoice;
  /** npm package that provided the `tensorflow` backend, when it ran. */
  package?: string;
  /** Human-readable: what was tried and why this one was taken. */
  reason: string;
  simd?: boolean;
  threads?: number;
  /** Kernels the project registered on this backend (missing or slow ones). */
  projectKernels: string[];
  /**
   * The native BLAS under the wasm backend's matrix products (native/, optional): whether
   * it runs, and what was loaded or why not. Absent on other backends.
   */
  native?: NativeBlasInfo;
}

export interface NativeBlasInfo {
  loaded: boolean;
  /** What was loaded (library, threads), or why nothing was. */
  why: string;
  /** OpenBLAS's build line, when loaded. */
  library?: string;
  /** Threads each native product uses. */
  threads?: number;
  /** The kernels that run natively (e.g. BatchMatMul, _FusedMatMul). */
  kernels: string[];
}

/** A fine-tuning method: one of protocol/methods.ts `METHODS` (the one list of names). */
export type MethodName = import('./methods').Method;

/**
 * Memory by component (paper C.3). `total` is the paper's "mem" = mem_TTL - mem_M:
 * peak training memory minus peak inference memory of the frozen model on the same
 * batch. The components split `total`; `other` is what the measured peak holds beyond
 * the named parts (can be negative when inference transients exceed training's).
 */
export interface MemoryBreakdown {
  total: number;
  params: number;
  grads: number;
  optimizer: number;
  cache: number;
  dropout: number;
  other: number;
}

/** The measured figures behind a MemoryBreakdown. */
export interface MemoryMeasurement {
  breakdown: MemoryBreakdown;
  /** Peak bytes of one training step, everything included (mem_TTL). */
  peakTrain: number;
  /** Peak bytes of inference with the frozen model on the same batch (mem_M). */
  peakInference: number;
  /** Frozen model weights held by the backend. */
  modelBytes: number;
  /** Where the figures come from (e.g. "tfjs engine allocator peak"). */
  source: string;
  /** Highest WebAssembly heap size seen, when the wasm backend ran. */
  wasmHeapBytes?: number;
}

/**
 * The training peak (mem_TTL) as stacked parts, bottom to top: the frozen weights, the
 * named parts of "mem", and the rest of the peak (`other`: transients, never negative).
 * What the dashboard draws: every part is bytes held at the training peak, unlike
 * `breakdown.other`, which balances "mem" after mem_M (inference's own activations
 * included) has been subtracted.
 */
export function peakStack(m: MemoryMeasurement): Record<'weights' | Exclude<keyof MemoryBreakdown, 'total'>, number> {
  const { params, grads, optimizer, cache, dropout } = m.breakdown;
  const named = m.modelBytes + params + grads + optimizer + cache + dropout;
  return { weights: m.modelBytes, params, grads, optimizer, cache, dropout, other: Math.max(0, m.peakTrain - named) };
}

/** Estimate before launch, labelled as such (never mixed with measurements). */
export interface MemoryEstimate {
  estimated: true;
  modelBytes: number;
  breakdown: MemoryBreakdown;
}

export interface QuantileSummary {
  min: number;
  q1: number;
  median: number;
  q3: number;
  max: number;
}

export interface ClassificationMetrics {
  loss: number;
  accuracy: number;
  /** label name -> accuracy on that label's examples. */
  perLabel: Record<string, number>;
  perLabelStats: QuantileSummary;
  /** confusion[true][predicted] counts, rows and columns in `labels` order. */
  confusion: number[][];
  labels: string[];
  examples: number;
  /** Matthews correlation (GLUE's CoLA metric; any number of labels). */
  mcc?: number;
  /** F1 of label 1 with two labels (GLUE's MRPC/QQP metric), the macro F1 with more (`f1Average`). */
  f1?: number;
  f1Average?: 'binary' | 'macro';
}

/**
 * Zero-shot accuracy on one multiple-choice task, as the LM evaluation harness reports it
 * (paper table 3): `acc` takes the choice of highest log-likelihood, `accNorm` (the
 * harness's acc_norm) the highest log-likelihood per character of the choice.
 */
export interface MultipleChoiceScore {
  acc: number;
  accNorm: number;
  /** Questions scored. */
  n: number;
  /** Standard errors as the harness gives them: sqrt(p (1 - p) / (n - 1)). */
  accStderr: number;
  accNormStderr: number;
  /** The file layout it was read in (arc, boolq, piqa, hellaswag, winogrande, openbookqa, siqa, rte, generic). */
  layout: string;
  path: string;
  /** Chosen choice per question (by `acc`), in file order. */
  predictions?: number[];
}

export interface LanguageModelMetrics {
  loss: number;
  perplexity: number;
  tokens: number;
  /** Zero-shot multiple choice by task name (`spruft eval --tasks`, or `evaluation.tasks` in the config). */
  multipleChoice?: Record<string, MultipleChoiceScore>;
}

/** A regression head's evaluation (`head.problemType: regression`), as GLUE reports STS-B. */
export interface RegressionMetrics {
  /** Mean squared error (the training loss). */
  loss: number;
  mse: number;
  /** Pearson and Spearman correlation of predictions and targets (NaN when either is constant). */
  pearson: number;
  spearman: number;
  examples: number;
}

export type Metrics = ClassificationMetrics | (RegressionMetrics & { accuracy?: number }) | (LanguageModelMetrics & { accuracy?: number });

export interface TrainableCount {
  trainableParams: number;
  totalParams: number;
  /** trainable / (frozen backbone + trainable), in percent, as the paper's tables. */
  percent: number;
}

/** `spruft train --json` and `spruft eval --json` (stable keys per DESIGN.md). */
export interface RunResult extends TrainableCount {
  backend: BackendInfo;
  method: MethodName;
  metrics: Metrics;
  /** The paper's "mem" and its components (bytes), as `bench` reports them. */
  mem?: MemoryBreakdown;
  /** The measurement behind `mem`: peaks, model bytes, where the figures come from. */
  memory?: MemoryMeasurement;
  runDir: string;
  /** Training time in ms and steps actually done. */
  trainMs?: number;
  steps?: number;
  /** Side-by-side methods trained in the same process (`compare:` in the config). */
  compared?: RunResult[];
  /**
   * A causal LM's metrics before tuning (the frozen model), when multiple-choice tasks
   * are scored: side by side with `metrics`, the same tasks after tuning.
   */
  before?: LanguageModelMetrics;
}

/** One layer's importance scores and selected rows (`spruft score --json`). */
export interface LayerSelection {
  name: string;
  kind: LayerKind;
  rows: number[];
  scores: number[];
  dOut: number;
  dIn: number;
  /** Input columns tuned together with `rows` when dependency groups are on. */
  columns?: number[];
}

export type LayerKind = 'linear' | 'conv2d' | 'depthwise-conv2d' | 'layernorm' | 'rmsnorm' | 'batchnorm';

export interface ScoreResult {
  backend: BackendInfo;
  metric: ImportanceMetric;
  /**
   * Per layer the selection, and `rowScores`: every row's importance (index = row);
   * `snr` (zo-taylor): the median over rows of |mean| / standard error of the n k
   * estimates, below 1 when the ranking is mostly noise (paper 4.2.2).
   */
  layers: Array<LayerSelection & { rowScores: number[]; snr?: number }>;
  /** What the metric warns about (zo-taylor SNR below 1, qm-taylor classes absent from the calibration data). */
  warnings?: string[];
  trainableParams: number;
  peakBytes: number;
  inferencePeakBytes: number;
  ms: number;
}

export interface BenchMethodResult {
  method: MethodName;
  /** e.g. "spruft r=16", "lora r=8 FA". */
  variant: string;
  freezeAttention: boolean;
  /** `training.checkpointing` of this variant ("blocks": the variant's name ends in "ckpt"). */
  checkpointing: 'none' | 'blocks';
  trainableParams: number;
  mem: MemoryBreakdown;
  memModel: number;
  peakTrain: number;
  peakInference: number;
  stepMs: number;
  /** Model FLOP utilisation: model FLOPs per step / `stepGemmGflop`. */
  mfu: number;
  /** Median large-GEMM rate (GFLOP/s, all ranks at once) around this method's timed steps (timed before and after each). */
  gemmGflops: number;
  /** Median over the timed steps of step time x the GEMM rate around it: a step in GEMM work (GFLOP), free of the machine's drift. */
  stepGemmGflop: number;
  flopsPerStep: number;
  /** CPU time of the process (every thread) over wall time during the timed steps: cores in use. */
  cores: number;
  /** With `--peer torch`: the peer's median step (ms) for the same method, its steps alternating with ours. */
  peerStepMs?: number;
  /** With `--peer torch`: the median over the timed steps of our step over the peer's step right after it. */
  stepOverPeer?: number;
  /** One more step, profiled kernel by kernel (rank 0's thread): the kernels that took most time. */
  kernels?: BenchKernelProfile;
}

export interface BenchKernelProfile {
  /** Wall time of the profiled step (ms; the timers add a little). */
  totalMs: number;
  /** Time outside every kernel: the engine, the tape, JavaScript (ms). */
  outsideMs: number;
  /** The kernels with most time of their own, most first. */
  top: Array<{ kernel: string; ms: number; calls: number }>;
}

/** `--peer torch`: the PyTorch version of the bench decoder, run beside the runner. */
export interface BenchPeer {
  peer: 'torch';
  version: string;
  threads: number;
  python: string;
  /** OpenMP's wait policy the peer ran with (PASSIVE unless set: its better figure on a shared machine). */
  ompWaitPolicy: string;
  /** The peer's 1024x1024 GEMM rate (GFLOP/s) on the same cores, measured in the same run. */
  gemmGflops: number;
}

/** `spruft bench memory|speed --json` (stable keys per DESIGN.md). */
export interface BenchResult {
  kind: 'memory' | 'speed' | 'accuracy';
  backend: BackendInfo;
  model: { name: string; params: number; shape: Record<string, number | string> };
  batch: { size: number; sequence?: number; image?: number };
  /** Large-GEMM rate of this backend measured in the same run, GFLOP/s (one thread). */
  gemmGflops: number;
  /** With `workers` > 1: every rank measuring at once, summed (else `gemmGflops`). */
  gemmGflopsAllRanks: number;
  workers: number;
  methods: BenchMethodResult[];
  ratios: {
    memSpruftOverLora: number;
    stepSpruftOverLora: number;
    stepSpruftOverFull: number;
    /** The step ratios in GEMM work (`stepGemmGflop`), free of the machine's drift between methods. */
    stepSpruftOverLoraAtEqualGemm: number;
    stepSpruftOverFullAtEqualGemm: number;
    /** mem(SPruFT)/mem(LoRA) with both checkpointed (`--checkpointing blocks|both`). */
    memSpruftOverLoraCheckpointed?: number;
    /** With `--peer torch`: per variant, `methods[].stepOverPeer` (our step over the peer's, pairwise median). */
    stepOverPeer?: Record<string, number>;
  };
  peer?: BenchPeer;
  /** The pairs the ratios compare (closest trainable-parameter counts). */
  pairs: { spruft: string; lora: string; full?: string; checkpointed?: { spruft: string; lora: string } };
  /**
   * Variants not run because their estimated peak (config/memoryEstimate.ts) exceeds
   * what the backend can address or the machine has: said before trying, not by crashing.
   */
  skipped?: Array<{ variant: string; estimatedPeakBytes: number; limitBytes: number; reason: string }>;
}

/**
 * A transformer's shape as config.json gives it: what the memory estimate needs beyond
 * the layer list (attention keeps heads x tokens^2 per block; checkpointing keeps one
 * hidden vector per token per block).
 */
export interface TransformerShape {
  kind: 'decoder' | 'encoder';
  blocks: number;
  hidden: number;
  intermediate: number;
  heads: number;
  kvHeads: number;
  /** SwiGLU (gate and up projections) rather than one MLP input projection. */
  gatedMlp: boolean;
  /** Decoders: the vocabulary (the LM head's logits and softmax per token). */
  vocab?: number;
  /** Encoders over images: tokens per example (patches + class token). */
  positions?: number;
}

/** Model structure (`spruft inspect --json`). */
export interface InspectResult {
  name: string;
  architecture: string;
  format: 'hf' | 'tfjs-layers';
  /** What the model reads, when the header says: images or token ids (a task must fit it). */
  input?: 'image' | 'tokens';
  params: number;
  /** Transformers: the shape from config.json (memory estimate). */
  transformer?: TransformerShape;
  /** True when the layer list came from config.json alone (no weights file was read). */
  fromConfigOnly?: boolean;
  layers: Array<{
    name: string;
    kind: LayerKind | 'embedding' | 'other';
    shape: number[];
    params: number;
    /** Rows (neurons / output channels) and parameters per row, for adaptable layers. */
    dOut?: number;
    dIn?: number;
    /** Part of an attention block (excluded by `freezeAttention`). */
    attention?: boolean;
    /** The classification / LM head (never a target; trains whole when it trains). */
    head?: boolean;
    /**
     * The tensor whose weight this layer shares (a tied LM head: tie_word_embeddings);
     * `params` counts that weight once, under that tensor.
     */
    tiedTo?: string;
  }>;
}

/** Progress of a run, streamed by the CLI (stderr) and the JSON-RPC server. */
export type RunPhase = 'loading' | 'scoring' | 'training' | 'evaluating' | 'saving' | 'done';

export interface ProgressEvent {
  runId: string;
  method: MethodName;
  phase: RunPhase;
  step: number;
  totalSteps: number;
  epoch: number;
  totalEpochs: number;
  loss?: number;
  lr?: number;
  samplesPerSec?: number;
  etaMs?: number;
  elapsedMs: number;
}
