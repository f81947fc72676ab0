/**
 * Training memory estimated from layer shapes before launch, labelled as an estimate
 * (`MemoryEstimate.estimated`) and never mixed with the measured figures (DESIGN.md).
 * It follows the paper's split (C.3): mem_TTL = mem_M + mem_FT + mem_Aux, with "mem" =
 * mem_TTL - mem_M broken into trainable parameters, gradients, optimizer state, the
 * activation cache and dropout masks. float32 throughout, as the engine trains.
 *
 * The activation cache is the rough part: each adapted layer keeps its input x for the
 * gradient of W_f (eq. 5), and backpropagation from the loss to the earliest trainable
 * layer keeps the layer outputs on the way (counted as every layer's output). Positions per example are
 * the sequence length for text; for images the model's positions are not in the header,
 * so (size/4)^2 stands in (a ViT with patch 4, a CNN's middle stages), and 1 for an MLP.
 */
import type { Method, ResolvedRunConfig } from '../../../protocol/config';
import type { InspectResult, MemoryBreakdown, MemoryEstimate } from '../../../protocol/results';
import { isAttentionLayer, type InspectedLayer } from './targets';

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

function rowsFor(layer: InspectedLayer, config: ResolvedRunConfig): number {
  const dOut = layer.dOut ?? 0;
  const wanted = config.spruft.rank ?? Math.max(1, Math.round((config.spruft.ratio ?? 0) * dOut));
  return Math.min(dOut, wanted);
}

/**
 * Estimate one method's training memory on this model. `targets` are the layers it
 * adapts (see selectTargetLayers); `full` and `head` ignore them.
 */
export function estimateTrainingMemory(
  model: Pick<InspectResult, 'layers' | 'params' | 'architecture'>,
  config: ResolvedRunConfig,
  method: Method,
  targets: readonly InspectedLayer[],
): TrainingMemoryEstimate {
  const tokens = config.training.batchSize * positionsPerExample(model, config);
  const weighted = model.layers.filter((l) => (l.dOut ?? 0) > 0 && l.kind !== 'embedding');
  // Header order is not model order, so the head is found by its name.
  const head = weighted.find((l) => l.head) ?? weighted.find((l) => /(^|\.)(classifier|lm_head|head|fc|predictions)$/.test(l.name)) ?? weighted[weighted.length - 1];
  let trainable = 0;
  let cacheWidth = 0;
  let dropoutWidth = 0;

  if (method === 'spruft' || method === 'lora') {
    for (const layer of targets) {
      const dIn = inputWidth(layer);
      if (method === 'spruft') {
        const rows = rowsFor(layer, config);
        const isNorm = layer.kind === 'layernorm' || layer.kind === 'rmsnorm' || layer.kind === 'batchnorm';
        // Appendix B: with dependency groups the dependent input columns add about as many again.
        trainable += (isNorm ? 2 * rows : rows * dIn + (config.spruft.trainBias ? rows : 0)) * (config.spruft.dependency ? 2 : 1);
        cacheWidth += dIn;
      } else {
        const r = config.lora.rank;
        trainable += r * (dIn + (layer.dOut ?? 0));
        // LoRA caches A x for dL/dB (paper C.5) and the input for dL/dA, plus the dropout mask.
        cacheWidth += dIn + r;
        if (config.lora.dropout > 0) dropoutWidth += dIn;
      }
    }
  } else if (method === 'full') {
    trainable = model.params;
    cacheWidth = weighted.reduce((s, l) => s + inputWidth(l), 0);
  } else if (head) {
    trainable = head.params;
    cacheWidth = inputWidth(head);
  }
  // Backpropagating to the earliest trainable layer keeps the outputs of the layers on the
  // way; with adapters spread over the blocks that is (nearly) every layer.
  if (trainable > 0 && method !== 'head') cacheWidth += weighted.reduce((s, l) => s + (l.dOut ?? 0), 0);
  const maxWidth = weighted.reduce((m, l) => Math.max(m, l.dOut ?? 0, inputWidth(l)), 0);
  const breakdown: MemoryBreakdown = {
    params: trainable * FLOAT_BYTES,
    grads: trainable * FLOAT_BYTES,
    // Adam and AdamW keep two moments per trainable parameter.
    optimizer: 2 * trainable * FLOAT_BYTES,
    cache: tokens * cacheWidth * FLOAT_BYTES,
    dropout: tokens * dropoutWidth * FLOAT_BYTES,
    other: 0,
    total: 0,
  };
  breakdown.total = breakdown.params + breakdown.grads + breakdown.optimizer + breakdown.cache + breakdown.dropout + breakdown.other;
  const modelBytes = model.params * FLOAT_BYTES;
  const inferenceBytes = 2 * tokens * maxWidth * FLOAT_BYTES;
  return {
    estimated: true,
    method,
    modelBytes,
    breakdown,
    trainableParams: trainable,
    inferenceBytes,
    peakBytes: modelBytes + inferenceBytes + breakdown.total,
  };
}
