/**
 * Backend selection (DESIGN.md "The engine"): `tensorflow` (tfjs-node-gpu, else
 * tfjs-node: optional packages a user installs on a CUDA machine), `wasm` (ships its
 * binaries: the embedded default that works offline), `cpu`. `auto` takes the best that
 * loads. The returned record says which one runs and why, and goes into every result.
 * Under wasm, the matrix products run on the optional native BLAS (native/) where its
 * addon was built at install; the record's `native` says whether it runs, and why not.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { tf } from './tf';
import type { BackendChoice, BackendInfo, BackendName, NativeBlasInfo } from '../../../protocol/results';
import { nativeKernelsInPlace, registerProjectKernels } from '../kernels/register';
import { nativeBlasStatus } from '../kernels/nativeBlas';

const requireHere = createRequire(__filename);

/** Where the wasm binaries are: beside the bundle (dist/wasm/) or in node_modules. */
export function wasmBinaryDir(): string {
  const candidates = [join(__dirname, 'wasm'), join(__dirname, '..', 'dist', 'wasm')];
  for (const dir of candidates) {
    if (existsSync(join(dir, 'tfjs-backend-wasm-simd.wasm'))) return dir + '/';
  }
  const pkg = requireHere.resolve('@tensorflow/tfjs-backend-wasm/package.json');
  return join(dirname(pkg), 'dist') + '/';
}

interface Attempt {
  backend: BackendName;
  package?: string;
  ok: boolean;
  why: string;
}

async function tryTensorflow(attempts: Attempt[]): Promise<boolean> {
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      // A plain require: these are optional peers a user installs; they register the
      // `tensorflow` backend into the same global engine as a side effect.
      requireHere(pkg);
      if (await tf.setBackend('tensorflow')) {
        attempts.push({ backend: 'tensorflow', package: pkg, ok: true, why: `${pkg} loaded` });
        return true;
      }
      attempts.push({ backend: 'tensorflow', package: pkg, ok: false, why: `${pkg} loaded but the backend did not start` });
    } catch (err) {
      const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
      const why = /Cannot find module/.test(message)
        ? `${pkg} is not installed`
        : `${pkg} failed to load: ${message}`;
      attempts.push({ backend: 'tensorflow', package: pkg, ok: false, why });
    }
  }
  return false;
}

async function tryWasm(attempts: Attempt[]): Promise<boolean> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    // The threaded build cannot start its pthread workers in Node (DATA.md); use SIMD.
    wasm.setWasmPaths(wasmBinaryDir(), false);
    if (await tf.setBackend('wasm')) {
      attempts.push({ backend: 'wasm', ok: true, why: 'wasm binaries loaded (SIMD, one thread)' });
      return true;
    }
    attempts.push({ backend: 'wasm', ok: false, why: 'the wasm backend did not start' });
  } catch (err) {
    attempts.push({ backend: 'wasm', ok: false, why: `wasm failed: ${err instanceof Error ? err.message : String(err)}` });
  }
  return false;
}

async function tryCpu(attempts: Attempt[]): Promise<boolean> {
  const ok = await tf.setBackend('cpu');
  attempts.push({ backend: 'cpu', ok, why: ok ? 'pure-JavaScript cpu backend' : 'cpu backend did not start' });
  return ok;
}

export class BackendError extends Error {
  readonly code = 'BACKEND_UNAVAILABLE';
}

/**
 * Start the requested backend. An explicit choice that cannot start is an error that
 * says why and what to install; `auto` falls through tensorflow -> wasm -> cpu.
 */
export async function initBackend(choice: BackendChoice): Promise<BackendInfo> {
  const attempts: Attempt[] = [];
  const order: Array<(a: Attempt[]) => Promise<boolean>> =
    choice === 'tensorflow' ? [tryTensorflow]
    : choice === 'wasm' ? [tryWasm]
    : choice === 'cpu' ? [tryCpu]
    : [tryTensorflow, tryWasm, tryCpu];
  for (const attempt of order) {
    if (await attempt(attempts)) break;
  }
  const chosen = attempts.find((a) => a.ok);
  if (!chosen) {
    const detail = attempts.map((a) => `${a.backend}: ${a.why}`).join('; ');
    const hint = choice === 'tensorflow'
      ? ' Install it with `npm install @tensorflow/tfjs-node-gpu` (needs CUDA 11.2 and cuDNN 8.1) or `npm install @tensorflow/tfjs-node`, or use backend: auto.'
      : '';
    throw new BackendError(`backend "${choice}" could not start (${detail}).${hint}`);
  }
  await tf.ready();
  const kernels = registerProjectKernels(chosen.backend);
  // The native BLAS runs under wasm's matrix products when its addon loads; the record
  // says which products run natively, or why none do.
  let native: NativeBlasInfo | undefined;
  if (chosen.backend === 'wasm') {
    const status = nativeBlasStatus();
    native = { loaded: status.loaded, why: status.why, library: status.library, threads: status.threads, kernels: nativeKernelsInPlace() };
  }
  const reason = (choice === 'auto'
    ? `auto: ${attempts.map((a) => `${a.backend}${a.package ? ` (${a.package})` : ''} ${a.ok ? 'ok' : `skipped: ${a.why}`}`).join('; ')}`
    : `requested: ${chosen.why}`) + (native ? `; ${native.loaded ? `${native.why} (${native.kernels.join(', ')})` : `no native BLAS: ${native.why}`}` : '');
  return {
    name: chosen.backend,
    requested: choice,
    package: chosen.package,
    reason,
    simd: chosen.backend === 'wasm' ? tf.env().getBool('WASM_HAS_SIMD_SUPPORT') : undefined,
    threads: native?.loaded ? native.threads : 1,
    projectKernels: kernels,
    native,
  };
}
