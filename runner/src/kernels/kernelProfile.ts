/**
 * Where a step's time goes, kernel by kernel (issue 11: "the bench prints the top
 * kernels by time"). Every kernel registered for a backend is wrapped for the length of
 * one call of `fn` with a timer that charges each kernel its own time (a kernel that
 * calls others through the registry, as the project's kernels do, is charged without
 * theirs), then the registry is put back as it was. The time outside every kernel (the
 * engine, the tape, JavaScript) is `outsideMs`.
 */
import { tf } from '../tensor/tf';

export interface KernelTime {
  kernel: string;
  /** Time in the kernel itself (ms), without the kernels it called through the registry. */
  ms: number;
  calls: number;
}

export interface KernelProfile {
  totalMs: number;
  /** Wall time of `fn` outside every kernel. */
  outsideMs: number;
  /** Every kernel that ran, most time first. */
  kernels: KernelTime[];
}

export async function profileKernels(backendName: string, fn: () => unknown): Promise<KernelProfile> {
  const originals = tf.getKernelsForBackend(backendName);
  const totals = new Map<string, KernelTime>();
  // Time of the kernels running now: a child's time is taken off its parent's.
  const childMs: number[] = [];
  const wrap = (k: tf.KernelConfig): tf.KernelConfig => ({
    ...k,
    kernelFunc: (args) => {
      childMs.push(0);
      const t0 = performance.now();
      try {
        return k.kernelFunc(args);
      } finally {
        const ms = performance.now() - t0;
        const inner = childMs.pop() ?? 0;
        if (childMs.length > 0) childMs[childMs.length - 1] += ms;
        const t = totals.get(k.kernelName) ?? { kernel: k.kernelName, ms: 0, calls: 0 };
        t.ms += ms - inner;
        t.calls += 1;
        totals.set(k.kernelName, t);
      }
    },
  });
  const swap = (from: tf.KernelConfig, to: tf.KernelConfig): void => {
    tf.unregisterKernel(from.kernelName, backendName);
    tf.registerKernel(to);
  };
  const wrapped = originals.map(wrap);
  let totalMs = 0;
  try {
    originals.forEach((k, i) => swap(k, wrapped[i]));
    const t0 = performance.now();
    await fn();
    totalMs = performance.now() - t0;
  } finally {
    originals.forEach((k, i) => swap(wrapped[i], k));
  }
  const kernels = [...totals.values()].sort((p, q) => q.ms - p.ms);
  return { totalMs, outsideMs: totalMs - kernels.reduce((s, k) => s + k.ms, 0), kernels };
}
