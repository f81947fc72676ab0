/**
 * The optional native BLAS addon (native/: a Node-API module over OpenBLAS, built at
 * install by native/build.mjs). Loaded once per thread; where it is not there (no
 * compiler or OpenBLAS at install, another platform, `SPRUFT_NATIVE=0`) the wasm
 * backend's own kernels run, and `nativeBlasStatus().why` says why (the backend record
 * carries it into every result).
 *
 * The addon's products read and write the memory they are handed in place: on the wasm
 * backend a view of the whole wasm heap with each tensor's element offset, so nothing is
 * copied in or out (scripts/bench-native-gemm.ts measures this against copying).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { isMainThread } from 'node:worker_threads';

/** The addon's exports (native/src/blas.c documents each). */
export interface NativeBlasAddon {
  sgemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number,
    A: Float32Array, offA: number, lda: number, strideA: number,
    B: Float32Array, offB: number, ldb: number, strideB: number,
    C: Float32Array, offC: number, ldc: number, strideC: number, batch: number,
  ): void;
  epilogue(
    C: Float32Array, offC: number, rows: number, cols: number,
    bias: Float32Array | null, offBias: number, biasLen: number, activation: number, alpha: number,
  ): void;
  /**
   * One part of Adam's update (native/src/blas.c): 0 m', 1 v', 2 the parameter. Absent in
   * an addon built before it (kernels/register.ts then leaves the wasm ops to do it).
   */
  adamPart?(
    part: 0 | 1 | 2, n: number, out: Float32Array, offOut: number, a: Float32Array, offA: number,
    b: Float32Array, offB: number, c: Float32Array | null, offC: number, s0: number, s1: number, s2: number, s3: number, s4: number,
  ): void;
  setThreads(n: number): void;
  info(): { config: string; corename: string; threads: number; cores: number };
}

export interface NativeBlasStatus {
  loaded: boolean;
  /** What was loaded, or why nothing was. */
  why: string;
  path?: string;
  /** OpenBLAS's build line (version, kernels, threading), when loaded. */
  library?: string;
  /** Threads each product uses. */
  threads?: number;
}

const ADDON_FILE = join('native', 'build', 'Release', 'spruft_blas.node');

/**
 * Where the addon is: `SPRUFT_NATIVE_ADDON`, else native/build/Release/ in the first
 * folder above this file that has one (the checkout, whether this runs from the
 * sources, from dist/, or from the worker bundle under node_modules/.cache/).
 */
function addonPath(): string | undefined {
  const forced = process.env.SPRUFT_NATIVE_ADDON;
  if (forced) return forced;
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, ADDON_FILE);
    if (existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

/** Threads per product: `SPRUFT_BLAS_THREADS`, else every core. */
export function defaultBlasThreads(): number {
  const env = Number(process.env.SPRUFT_BLAS_THREADS);
  return Number.isInteger(env) && env > 0 ? env : availableParallelism();
}

let loaded: { addon?: NativeBlasAddon; status: NativeBlasStatus } | undefined;

function load(): { addon?: NativeBlasAddon; status: NativeBlasStatus } {
  if (process.env.SPRUFT_NATIVE === '0') return { status: { loaded: false, why: 'native BLAS off (SPRUFT_NATIVE=0)' } };
  const path = addonPath();
  if (path == null) {
    return { status: { loaded: false, why: 'native BLAS addon not built (npm install builds it where a C compiler and libopenblas-dev are present: node native/build.mjs)' } };
  }
  try {
    // OpenBLAS's idle threads spin ~2^28 cycles after each product before they sleep,
    // taking a core from the single-threaded wasm kernels between products; 2^10 is
    // enough for back-to-back products. Read once, when the library loads.
    process.env.OPENBLAS_THREAD_TIMEOUT ??= '10';
    const addon = createRequire(__filename)(path) as NativeBlasAddon;
    // OpenBLAS's thread count is one per process: the main thread sets it (a pool of
    // data-parallel ranks divides the cores among them, engine/parallel/pool.ts).
    if (isMainThread) addon.setThreads(defaultBlasThreads());
    const info = addon.info();
    return {
      addon,
      status: { loaded: true, why: `native BLAS: ${info.config.split(' ').slice(0, 2).join(' ')} (${info.corename}), ${info.threads} threads per product`, path, library: info.config, threads: info.threads },
    };
  } catch (err) {
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    return { status: { loaded: false, why: `native BLAS addon at ${path} failed to load: ${message}`, path } };
  }
}

/** The addon, or undefined where it cannot load (then the wasm kernels run). */
export function nativeBlas(): NativeBlasAddon | undefined {
  loaded ??= load();
  return loaded.addon;
}

export function nativeBlasStatus(): NativeBlasStatus {
  loaded ??= load();
  return { ...loaded.status, threads: loaded.addon?.info().threads };
}

/** Threads per product from now on (data-parallel ranks share the cores). */
export function setBlasThreads(n: number): void {
  nativeBlas()?.setThreads(Math.max(1, Math.floor(n)));
}
