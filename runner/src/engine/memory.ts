/**
 * Memory accounting (paper C.3): mem_TTL = mem_M + mem_FT + mem_Aux. mem_M is measured
 * as the peak of inference with the frozen model on the same batch; mem_TTL as the peak
 * of one training step; "mem" = mem_TTL - mem_M. Figures come from the backend's own
 * allocator bookkeeping (tfjs counts the bytes of every live tensor and records the
 * peak while profiling). The components are measured too: trainable tensors,
 * gradients, optimizer state, what the backward pass keeps (cache) and dropout masks;
 * "other" is the rest of "mem".
 */
import type { MemoryBreakdown, MemoryMeasurement } from '../../../protocol/results';
import { tf } from './tf';

/**
 * Peak bytes while `f` runs, `f` included (tfjs engine allocator figures, recorded after
 * every kernel while profiling). The backend's kernel timer is switched off meanwhile:
 * with it on, tfjs runs each kernel inside an async timer, so a kernel that throws leaves
 * rejected promises behind (fatal under Emscripten's runtime) instead of throwing.
 */
export async function peakBytes(f: () => void | Promise<void>): Promise<number> {
  const before = tf.memory().numBytes;
  const backend = tf.backend() as unknown as { timerAvailable: () => boolean };
  const timerAvailable = backend.timerAvailable;
  backend.timerAvailable = () => false;
  let peak = -Infinity;
  try {
    const info = await tf.profile(async () => {
      await f();
      return [];
    });
    peak = info.peakBytes;
  } finally {
    backend.timerAvailable = timerAvailable;
  }
  // With no kernel run, tfjs reports -Infinity: the peak is then what was alive.
  return Math.max(peak, before, tf.memory().numBytes);
}

/** Current WebAssembly heap size when the wasm backend runs (grows, never shrinks). */
export function wasmHeapBytes(): number | undefined {
  if (tf.getBackend() !== 'wasm') return undefined;
  const backend = tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } };
  return backend.wasm?.HEAPU8?.buffer.byteLength;
}

export interface StepMeasurements {
  peakTrain: number;
  peakInference: number;
  modelBytes: number;
  /** Bytes alive before the forward pass of the measured step. */
  beforeForward: number;
  /** Bytes alive when the backward pass started. */
  backwardStart: number;
  paramsBytes: number;
  gradsBytes: number;
  optimizerBytes: number;
  dropoutBytes: number;
}

export function breakdown(m: StepMeasurements): MemoryMeasurement {
  const total = m.peakTrain - m.peakInference;
  const retained = Math.max(0, m.backwardStart - m.beforeForward);
  const cache = Math.max(0, retained - m.dropoutBytes);
  const parts: Omit<MemoryBreakdown, 'other' | 'total'> = {
    params: m.paramsBytes,
    grads: m.gradsBytes,
    optimizer: m.optimizerBytes,
    cache,
    dropout: m.dropoutBytes,
  };
  const named = parts.params + parts.grads + parts.optimizer + parts.cache + parts.dropout;
  return {
    breakdown: { total, ...parts, other: total - named },
    peakTrain: m.peakTrain,
    peakInference: m.peakInference,
    modelBytes: m.modelBytes,
    source: `tfjs engine allocator (${tf.getBackend()} backend): peak of live tensor bytes`,
    wasmHeapBytes: wasmHeapBytes(),
  };
}
