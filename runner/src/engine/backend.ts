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
import { tf } from '../tensor/tf';
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

/** The optional WebGPU packages (README "Backends"): Dawn for Node and tfjs's WebGPU backend. */
export const WEBGPU_PACKAGES = ['webgpu@0.6.2', '@tensorflow/tfjs-backend-webgpu@4.22.0'] as const;

/**
 * WebGPU through Dawn (npm `webgpu`, an ES module shipping prebuilt dawn.node binaries)
 * and `@tensorflow/tfjs-backend-webgpu`, which looks for `navigator.gpu`. Both are
 * optional: a user installs them on a machine with a GPU. Without a GPU (or its Vulkan /
 * Metal / D3D12 driver) Dawn offers no adapter, and this says so.
 */
async function tryWebgpu(attempts: Attempt[]): Promise<boolean> {
  const fail = (why: string): false => {
    attempts.push({ backend: 'webgpu', package: 'webgpu', ok: false, why });
    return false;
  };
  let dawn: { create: (options: string[]) => { requestAdapter: () => Promise<unknown> }; globals: Record<string, unknown> };
  try {
    const name = 'webgpu';
    dawn = await import(name);
  } catch (err) {
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    return fail(/Cannot find (module|package)/.test(message) ? 'webgpu (Dawn for Node) is not installed' : `webgpu failed to load: ${message}`);
  }
  const gpu = dawn.create([]);
  if (!(await gpu.requestAdapter())) {
    return fail('Dawn found no GPU adapter on this machine (WebGPU needs a GPU with Vulkan, Metal or D3D12 drivers)');
  }
  Object.assign(globalThis, dawn.globals);
  const scope = globalThis as { navigator?: { gpu?: unknown } };
  if (scope.navigator) Object.defineProperty(scope.navigator, 'gpu', { value: gpu, configurable: true });
  else scope.navigator = { gpu };
  try {
    requireHere('@tensorflow/tfjs-backend-webgpu');
  } catch (err) {
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    return fail(/Cannot find module/.test(message) ? '@tensorflow/tfjs-backend-webgpu is not installed' : `@tensorflow/tfjs-backend-webgpu failed to load: ${message}`);
  }
  if (!(await tf.setBackend('webgpu'))) return fail('a GPU adapter was found but the webgpu backend did not start');
  attempts.push({ backend: 'webgpu', package: '@tensorflow/tfjs-backend-webgpu', ok: true, why: 'WebGPU through Dawn' });
  return true;
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
    : choice === 'webgpu' ? [tryWebgpu]
    : choice === 'wasm' ? [tryWasm]
    : choice === 'cpu' ? [tryCpu]
    : [tryTensorflow, tryWebgpu, tryWasm, tryCpu];
  for (const attempt of order) {
    if (await attempt(attempts)) break;
  }
  const chosen = attempts.find((a) => a.ok);
  if (!chosen) {
    const detail = attempts.map((a) => `${a.backend}: ${a.why}`).join('; ');
    const hint = choice === 'tensorflow'
      ? ' Install it with `npm install @tensorflow/tfjs-node-gpu` (needs CUDA 11.2 and cuDNN 8.1) or `npm install @tensorflow/tfjs-node`, or use backend: auto.'
      : choice === 'webgpu'
        ? ` On a machine with a GPU, install it with \`npm install ${WEBGPU_PACKAGES.join(' ')}\`; or use backend: auto, which falls back to wasm.`
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
