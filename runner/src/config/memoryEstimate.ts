/**
 * Training memory estimated from layer shapes before launch, labelled as an estimate
 * (`MemoryEstimate.estimated`) and never mixed with the measured figures (DESIGN.md).
 * It follows the paper's split (C.3): mem_TTL = mem_M + mem_FT + mem_Aux, with "mem" =
 * mem_TTL - mem_M broken into trainable parameters, gradients, optimizer state, the
 * activation cache and dropout masks. float32 throughout, as the engine trains.
 *
 * Transformers (the shape comes from config.json: `InspectResult.transformer`) are
 * estimated op by op, as the engine's tape keeps tensors (tensor/autodiff.ts, the ops'
 * `save` lists): per block and token, a norm keeps its normalised input and 1/rms,
 * attention its rotated q, k, v (heads repeated) and the probabilities (heads x tokens),
 * the MLP the activation's input and both factors of the gated product; an adapted
 * linear layer keeps its input (SPruFT, full: one buffer however many layers read it) or
 * its dropped input, A x and the dropout mask (LoRA, paper C.5 and table 1); the LM head's
 * loss, fused with the head and chunked over the tokens (engine/loss.ts), keeps the head's
 * input and one log-sum-exp per token (unfused, `lmLoss: 'logits'`: the softmax, vocabulary
 * per token). With `training.checkpointing: blocks` a
 * block keeps only its input; one block's cache is rebuilt at a time in backward (counted
 * as "other"). Adam's update makes one buffer of a parameter's size at a time
 * (tensor/ops/adam.ts): the largest trainable tensor's, also "other". validateEstimate
 * tests hold this against measured steps.
 *
 * Other models: each adapted layer keeps its input x for the gradient of W_f (eq. 5), and
 * backpropagation from the loss to the earliest trainable layer keeps the layer outputs
 * on the way (counted as every layer's output). Positions per example are the sequence
 * length for text; for images the model's positions are not in the header, so (size/4)^2
 * stands in (a CNN's middle stages), and 1 for an MLP.
 */
import type { Method, ResolvedRunConfig } from '../../../protocol/config';
import type { InspectResult, MemoryBreakdown, MemoryEstimate, TransformerShape } from '../../../protocol/results';
import { isAttentionLayer, type InspectedLayer } from './targets';
import { methodInfo } from '../engine/methods/info';
import type { KeptPerToken } from '../engine/methods/method';

const FLOAT_BYTES = 4;

export interface TrainingMemoryEstimate extends MemoryEstimate {
  method: Method;
  trainableParams: number;
  /** Peak beyond the weights of a forward pass without gradients (part of mem_M). */
  inferenceBytes: number;
  /** modelBytes + inferenceBytes + breakdown.total: what the machine must hold. */
  peakBytes: number;
}

/** Positions (tokens, pixels after the stem) each example occupies in a layer's input. */
export function positionsPerExample(model: Pick<InspectResult, 'layers' | 'architecture'>, config: ResolvedRunConfig): number {
  if (config.task !== 'image-classification') return config.data.text.maxLength;
  const spatial = model.layers.some((l) => l.kind === 'conv2d' || l.kind === 'depthwise-conv2d' || isAttentionLayer(l.name));
  return spatial || !/mlp/i.test(model.architecture) ? Math.max(1, Math.round((config.data.image.size / 4) ** 2)) : 1;
}

function inputWidth(layer: InspectedLayer): number {
  return layer.dIn ?? layer.dOut ?? 0;
}

/**
 * Estimate one method's training memory on this model. `targets` are the layers it
 * adapts (see selectTargetLayers); `full` and `head` ignore them.
 */
export function estimateTrainingMemory(
  model: Pick<InspectResult, 'layers' | 'params' | 'architecture' | 'transformer'>,
  config: ResolvedRunConfig,
  method: Method,
  targets: readonly InspectedLayer[],
  options: TransformerEstimateOptions = {},
): TrainingMemoryEstimate {
  if (model.transformer) return estimateTransformer(model, model.transformer, config, method, targets, options);
  const tokens = config.training.batchSize * positionsPerExample(model, config);
  const weighted = model.layers.filter((l) => (l.dOut ?? 0) > 0 && l.kind !== 'embedding');
  // Header order is not model order, so the head is found by its name.
  const head = weighted.find((l) => l.head) ?? weighted.find((l) => /(^|\.)(classifier|lm_head|head|fc|predictions)$/.test(l.name)) ?? weighted[weighted.length - 1];
  let trainable = 0;
  let cacheWidth = 0;
  let dropoutWidth = 0;
  let perLayer = 0;

  const m = methodInfo(method);
  if (m.memory.scope === 'targets') {
    for (const layer of targets) {
      const dIn = inputWidth(layer);
      trainable += m.memory.targetParams!(layer, config, false) ?? 0;
      // What the adapter keeps for its gradients; with dropout also the masks (paper C.5).
      const kept = m.memory.kept!(dIn, config, layer.dOut ?? 0, 'engine');
      cacheWidth += (kept.sharesInput ? dIn : 0) + kept.floats;
      dropoutWidth += kept.masks;
      perLayer += m.memory.keptPerLayer?.(layer.dOut ?? 0, config) ?? 0;
    }
  } else if (m.memory.scope === 'all') {
    trainable = model.params;
    cacheWidth = weighted.reduce((s, l) => s + inputWidth(l), 0);
  } else if (head) {
    trainable = head.params;
    cacheWidth = inputWidth(head);
  }
  const largest = largestTrainable(m.memory.scope, model.layers, targets, (l) => m.memory.targetParams!(l, config, false) ?? 0, m.memory.scope === 'head' ? head : undefined);
  // Backpropagating to the earliest trainable layer keeps the outputs of the layers on the
  // way; with adapters spread over the blocks that is (nearly) every layer.
  if (trainable > 0 && m.memory.scope !== 'head') cacheWidth += weighted.reduce((s, l) => s + (l.dOut ?? 0), 0);
  const maxWidth = weighted.reduce((m, l) => Math.max(m, l.dOut ?? 0, inputWidth(l)), 0);
  return trainingEstimate(method, trainable, {
    cache: (tokens * cacheWidth + perLayer) * FLOAT_BYTES,
    dropout: tokens * dropoutWidth * FLOAT_BYTES,
    // Frozen tensors the method adds beside the model (VeRA's shared projections), and
    // the buffer of Adam's update.
    other: ((m.memory.frozenFloats?.(targets, config) ?? 0) + largest) * FLOAT_BYTES,
  }, model.params * FLOAT_BYTES, 2 * tokens * maxWidth * FLOAT_BYTES);
}

/**
 * Entries of the largest tensor Adam updates (one extra buffer of that size at a time):
 * under `all` the largest weight, under `targets` the largest adapter (a layer's adapter
 * parameters together: an upper bound), and the head where it trains.
 */
function largestTrainable(
  scope: 'all' | 'targets' | 'head', layers: readonly InspectedLayer[], targets: readonly InspectedLayer[],
  targetParams: (l: InspectedLayer) => number, head: InspectedLayer | undefined,
): number {
  const of = scope === 'all' ? layers.map((l) => l.params) : scope === 'targets' ? targets.map(targetParams) : [];
  return Math.max(0, ...of, head?.params ?? 0);
}

/**
 * The estimate from what a method keeps: the trainables with their gradients and Adam's
 * (AdamW's) two moments, plus the cache, masks and other working memory; "mem" is their
 * sum (paper C.3: mem_TTL - mem_M), the peak adds the model and inference's working set.
 */
function trainingEstimate(
  method: Method, trainable: number, kept: Pick<MemoryBreakdown, 'cache' | 'dropout' | 'other'>, modelBytes: number, inferenceBytes: number,
): TrainingMemoryEstimate {
  const breakdown: MemoryBreakdown = {
    params: trainable * FLOAT_BYTES,
    grads: trainable * FLOAT_BYTES,
    optimizer: 2 * trainable * FLOAT_BYTES,
    ...kept,
    total: 0,
  };
  breakdown.total = breakdown.params + breakdown.grads + breakdown.optimizer + breakdown.cache + breakdown.dropout + breakdown.other;
  return { estimated: true, method, modelBytes, breakdown, trainableParams: trainable, inferenceBytes, peakBytes: modelBytes + inferenceBytes + breakdown.total };
}

/**
 * Whose bookkeeping the estimate follows.
 *  engine   this runner: attention keeps the rotated q, k, v and the probabilities
 *           (heads x tokens per token); the loss keeps the softmax (vocabulary per token).
 *  pytorch  Hugging Face transformers on PyTorch, as the paper ran (5.3): SDPA's
 *           memory-efficient attention keeps q, k, v, its output and a log-sum-exp per
 *           head (no tokens x tokens term), and the model returns the float32 logits
 *           while the loss keeps its log-softmax (two vocabulary-wide vectors per token).
 */
export type EstimateProfile = 'engine' | 'pytorch';

export interface TransformerEstimateOptions {
  /** Default `engine`. */
  profile?: EstimateProfile;
  /**
   * What a decoder's loss keeps: `fused` (this engine's training loss, engine/loss.ts
   * `modelLoss`: the LM head's input and a log-sum-exp per token) or `logits` (the
   * vocabulary-wide softmax, or under `pytorch` the logits and the log-softmax).
   * Default: `fused` for `engine`, `logits` for `pytorch`.
   */
  lmLoss?: 'fused' | 'logits';
}

/** What one adapted layer keeps per token, by the input width it reads (its method's `memory.kept`). */
type Adapt = (inputWidth: number) => KeptPerToken;

/** A layer's block and role in it, from its HF name (Llama and ViT layouts). */
const ROLES: Array<[RegExp, string]> = [
  [/^model\.layers\.(\d+)\.input_layernorm$/, 'norm1'],
  [/^model\.layers\.(\d+)\.self_attn\.(q|k|v)_proj$/, 'qkv'],
  [/^model\.layers\.(\d+)\.self_attn\.o_proj$/, 'o'],
  [/^model\.layers\.(\d+)\.post_attention_layernorm$/, 'norm2'],
  [/^model\.layers\.(\d+)\.mlp\.(gate|up)_proj$/, 'up'],
  [/^model\.layers\.(\d+)\.mlp\.down_proj$/, 'down'],
  [/^vit\.encoder\.layer\.(\d+)\.layernorm_before$/, 'norm1'],
  [/^vit\.encoder\.layer\.(\d+)\.attention\.attention\.(query|key|value)$/, 'qkv'],
  [/^vit\.encoder\.layer\.(\d+)\.attention\.output\.dense$/, 'o'],
  [/^vit\.encoder\.layer\.(\d+)\.layernorm_after$/, 'norm2'],
  [/^vit\.encoder\.layer\.(\d+)\.intermediate\.dense$/, 'up'],
  [/^vit\.encoder\.layer\.(\d+)\.output\.dense$/, 'down'],
];

function roleOf(name: string): { block: number; role: string } | undefined {
  for (const [re, role] of ROLES) {
    const m = re.exec(name);
    if (m) return { block: Number(m[1]), role };
  }
  return undefined;
}

interface BlockCache {
  /** Bytes kept per token (float32 tensors). */
  bytes: number;
  /** Bytes of dropout masks kept per token (one byte per element). */
  masks: number;
  /** Whether a gradient leaves the block (towards earlier trainables or from its own). */
  gradOut: boolean;
}

/**
 * What one block keeps per token for backward, following the ops' `save` lists
 * (tensor/ops/: rmsNorm/layerNorm, linear, attention, activations, elementwise).
 */
function blockCache(s: TransformerShape, tokens: number, adapts: Map<string, Adapt[]>, gradIn: boolean, profile: EstimateProfile): BlockCache {
  const d = s.hidden;
  const I = s.intermediate;
  const f = 4;
  let bytes = 0;
  let masks = 0;
  const of = (role: string): Adapt[] => adapts.get(role) ?? [];
  const adapted = (role: string): boolean => of(role).length > 0;
  // Linear layers reading one input of width w: SPruFT/full keep that input once
  // (a shared buffer); LoRA keeps its own dropped copy, A x and the mask (paper C.5).
  const linears = (role: string, w: number): void => {
    let shared = false;
    for (const a of of(role)) {
      const kept = a(w);
      bytes += f * kept.floats;
      masks += kept.masks;
      if (kept.sharesInput) shared = true;
    }
    if (shared) bytes += f * w;
  };
  const norm = (role: string, needed: boolean): void => {
    if (needed) bytes += f * (d + 1);
    else if (adapted(role)) bytes += f * d;
  };
  norm('norm1', gradIn);
  const g1 = gradIn || adapted('norm1');
  linears('qkv', d);
  const gAttn = g1 || adapted('qkv');
  // Rotated q, k and v with their heads repeated to all heads (grouped heads included);
  // the engine adds the probabilities (heads x tokens per token), PyTorch's SDPA its
  // output and a log-sum-exp per head.
  if (gAttn) bytes += f * (3 * d + (profile === 'engine' ? s.heads * tokens : d + s.heads));
  linears('o', d);
  const gMid = gradIn || gAttn || adapted('o');
  norm('norm2', gMid);
  const g2 = gMid || adapted('norm2');
  linears('up', d);
  const gMlp = g2 || adapted('up');
  // SwiGLU: silu keeps its input, the product keeps both factors; GELU keeps its input.
  if (gMlp) bytes += f * (s.gatedMlp ? 3 * I : I);
  linears('down', I);
  return { bytes, masks, gradOut: gMid || gMlp || adapted('down') };
}

function trainsHeadUnderFull(config: ResolvedRunConfig): boolean {
  return config.task !== 'causal-lm' && config.head.train;
}

/** The op-by-op estimate for a transformer (see the file comment). */
function estimateTransformer(
  model: Pick<InspectResult, 'layers' | 'params' | 'architecture'>,
  s: TransformerShape,
  config: ResolvedRunConfig,
  method: Method,
  targets: readonly InspectedLayer[],
  options: TransformerEstimateOptions,
): TrainingMemoryEstimate {
  const profile = options.profile ?? 'engine';
  const perExample = s.kind === 'decoder' ? config.data.text.maxLength : (s.positions ?? 1);
  const batch = config.training.batchSize;
  const tokens = batch * perExample;
  const f = 4;
  const head = model.layers.find((l) => l.head);
  const trainsHead = config.task !== 'causal-lm' && config.head.train && head !== undefined && methodInfo(method).memory.scope !== 'all';
  const m = methodInfo(method);
  // What each adapted layer keeps, by name.
  const adaptOf = new Map<string, Adapt>();
  const kept = (dOut: number) => (w: number): KeptPerToken => m.memory.kept!(w, config, dOut, profile);
  let trainable = 0;
  // Floats adapted layers keep whatever the tokens (DoRA's norms).
  let perLayer = 0;
  if (m.memory.scope === 'all') {
    // Every weight but the head, which trains only where the task has a classifier; a
    // head tied to the embeddings trains with them (and is counted once, under them).
    trainable = model.params - (head && !head.tiedTo && !trainsHeadUnderFull(config) ? head.params : 0);
    for (const l of model.layers) if (l.dOut && !l.head) adaptOf.set(l.name, kept(l.dOut));
  } else if (m.memory.scope === 'targets') {
    for (const layer of targets) {
      const params = m.memory.targetParams!(layer, config, true);
      if (params === undefined) continue;
      trainable += params;
      adaptOf.set(layer.name, kept(layer.dOut ?? 0));
      perLayer += m.memory.keptPerLayer?.(layer.dOut ?? 0, config) ?? 0;
    }
  }
  if (trainsHead || (m.memory.scope === 'head' && head)) trainable += head!.params;
  // Blocks in order; a gradient flows into block i when anything before it trains.
  const perBlock: Array<Map<string, Adapt[]>> = Array.from({ length: s.blocks }, () => new Map());
  for (const [name, a] of adaptOf) {
    const r = roleOf(name);
    if (!r || r.block >= s.blocks) continue;
    const m = perBlock[r.block];
    m.set(r.role, [...(m.get(r.role) ?? []), a]);
  }
  const checkpointed = config.training.checkpointing === 'blocks';
  // Under `full` the embeddings (or the patch embedding) train: a gradient enters block 0.
  let gradIn = m.trainsExtras;
  let cache = 0;
  let masks = 0;
  let recompute = 0;
  for (const adapts of perBlock) {
    const b = blockCache(s, perExample, adapts, gradIn, profile);
    const any = gradIn || b.gradOut;
    if (checkpointed) {
      // Only the block's input; in backward one block's cache and masks at a time.
      if (any) cache += tokens * f * s.hidden;
      recompute = Math.max(recompute, tokens * (b.bytes + b.masks));
    } else {
      cache += tokens * b.bytes;
      masks += tokens * b.masks;
    }
    gradIn = b.gradOut;
  }
  if (gradIn) {
    // The final norm; a decoder's loss keeps the softmax over the vocabulary per token
    // (PyTorch: the logits the model returns and the loss's log-softmax), or, fused with
    // the head, the head's input and a log-sum-exp per token.
    cache += tokens * f * (s.hidden + 1);
    const lmLoss = options.lmLoss ?? (profile === 'engine' ? 'fused' : 'logits');
    if (s.kind === 'decoder') cache += tokens * f * (lmLoss === 'fused' ? s.hidden + 1 : (s.vocab ?? 0) * (profile === 'pytorch' ? 2 : 1));
  }
  // A trained classifier keeps its input (one token per example).
  if (trainsHead || m.memory.scope !== 'targets') cache += batch * f * s.hidden;
  // Inference's own working set: one block's intermediates, or the logits.
  const d = s.hidden;
  const blockWork = tokens * f * (8 * d + (s.gatedMlp ? 4 : 2) * s.intermediate + (profile === 'engine' ? 2 * s.heads * perExample : 0));
  const inferenceBytes = Math.max(blockWork, s.kind === 'decoder' ? tokens * f * (s.vocab ?? 0) : 0);
  // Without checkpointing the per-layer floats stay to backward; with it, one block's at a time (negligible).
  if (!checkpointed) cache += perLayer * f;
  // Frozen tensors the method adds beside the model (VeRA's shared projections) and the
  // buffer of Adam's update count as "other".
  const frozen = (m.memory.frozenFloats?.(targets, config) ?? 0) * f;
  const largest = largestTrainable(m.memory.scope, model.layers.filter((l) => !l.head || l.tiedTo || trainsHeadUnderFull(config)), targets,
    (l) => m.memory.targetParams!(l, config, true) ?? 0, trainsHead ? head : undefined);
  return trainingEstimate(method, trainable, { cache, dropout: masks, other: recompute + frozen + largest * f }, model.params * f, inferenceBytes);
}
