/**
 * The backend's own large-GEMM rate: the yardstick of model FLOP utilisation (bench).
 * The best of `reps` square products after one warm-up (the rate the backend reaches,
 * not its average on a busy machine). Ranks that measure at the same time (data-parallel
 * workers) run the same products together, so their sum is what the cores deliver
 * together, not each core alone. Where the native BLAS runs under wasm (kernels/
 * nativeBlas.ts), tf.matMul is its product, threaded across the cores: the yardstick is
 * then OpenBLAS's rate on every core, the rate the MFU target is set against.
 */
import { tf } from '../tensor/tf';

export function gemmRate(n = 1024, reps = 4): number {
  const a = tf.randomNormal([n, n]);
  const b = tf.randomNormal([n, n]);
  try {
    tf.tidy(() => { tf.matMul(a, b).dataSync(); });
    let best = Infinity;
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      tf.tidy(() => { tf.matMul(a, b).dataSync(); });
      best = Math.min(best, performance.now() - t0);
    }
    return (2 * n ** 3) / (best / 1000) / 1e9;
  } finally {
    tf.dispose([a, b]);
  }
}
