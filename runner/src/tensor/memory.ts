/**
 * Memory accounting (paper C.3): mem_TTL = mem_M + mem_FT + mem_Aux. mem_M is measured
 * as the peak of inference with the frozen model on the same batch; mem_TTL as the peak
 * of one training step; "mem" = mem_TTL - mem_M. Figures come from the backend's data
 * buffers as the tfjs engine allocates and frees them (the buffer meter below, which
 * records the peak as it happens). The components are measured too: trainable tensors,
 * gradients, optimizer state, what the backward pass keeps (cache) and dropout masks;
 * "other" is the rest of "mem".
 */
import type { MemoryBreakdown, MemoryMeasurement } from '../../../protocol/results';
import { tf } from './tf';

/**
 * The buffer meter: bytes of the backend's live data buffers, each counted once, and
 * their peak. tfjs's own figure (tf.memory().numBytes, tf.profile's peakBytes) adds up
 * tensor handles instead: a reshape is a view on its input's buffer, yet counts its
 * bytes again, so a backward pass that keeps three views of one input would show it
 * three times. The meter follows the engine's own bookkeeping: a buffer is born when a
 * tensor with a new data id is tracked, and dies when disposing a tensor removes its
 * data id (the backend freed it). Installed when this module loads, before the runner
 * makes any tensor.
 */
interface EngineInternals {
  state: { tensorInfo: WeakMap<object, unknown> };
  trackTensor(a: tf.Tensor, backend: unknown): void;
  disposeTensor(a: tf.Tensor): void;
}

const buffers = new WeakMap<object, number>();
let liveBytes = 0;
let peakSoFar = 0;

/** As the engine counts a tensor's bytes (strings are counted as written, complex by parts). */
function bytesOf(t: tf.Tensor): number {
  return t.dtype === 'string' || t.dtype === 'complex64' ? 0 : t.size * tf.util.bytesPerElement(t.dtype);
}

(function installBufferMeter(): void {
  const engine = tf.engine() as unknown as EngineInternals;
  const track = engine.trackTensor.bind(engine);
  const dispose = engine.disposeTensor.bind(engine);
  engine.trackTensor = (a, backend) => {
    const fresh = !engine.state.tensorInfo.has(a.dataId);
    track(a, backend);
    const bytes = bytesOf(a);
    if (fresh && bytes > 0) {
      buffers.set(a.dataId, bytes);
      liveBytes += bytes;
      if (liveBytes > peakSoFar) peakSoFar = liveBytes;
    }
  };
  engine.disposeTensor = (a) => {
    dispose(a);
    const bytes = buffers.get(a.dataId);
    if (bytes !== undefined && !engine.state.tensorInfo.has(a.dataId)) {
      buffers.delete(a.dataId);
      liveBytes -= bytes;
    }
  };
})();

/** Bytes of the backend's live data buffers, each counted once (the buffer meter). */
export function liveBufferBytes(): number {
  return liveBytes;
}

/**
 * Peak bytes of live data buffers while `f` runs, what was alive before included (the
 * buffer meter, so every allocation counts the moment it happens). Nests: an outer
 * measurement sees the peaks of inner ones.
 */
export async function peakBytes(f: () => void | Promise<void>): Promise<number> {
  const outer = peakSoFar;
  peakSoFar = liveBytes;
  let peak = 0;
  try {
    await f();
  } finally {
    peak = peakSoFar;
    peakSoFar = Math.max(outer, peak);
  }
  return peak;
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
    source: `peak bytes of live data buffers on the ${tf.getBackend()} backend, each buffer counted once (tfjs engine bookkeeping)`,
    wasmHeapBytes: wasmHeapBytes(),
  };
}
