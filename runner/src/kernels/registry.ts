/**
 * Installing the project's kernels into tfjs's (global, process-wide) kernel registry,
 * and keeping the builtin kernels they replace, so that a project kernel can fall back
 * to the builtin for cases it does not handle, and tests and the benchmark can run the
 * builtin as the reference.
 *
 * Installing is idempotent: a kernel already installed is left alone, whether this or
 * another copy of this module installed it (the bookkeeping lives on globalThis, like
 * tfjs's own registry).
 */
import { tf } from '../tensor/tf';
import type { BackendKind, BackendMemory, TensorInfo } from './backendMemory';

type KernelConfig = tf.KernelConfig;

interface RegistryState {
  /** `${backend}_${kernel}` -> the kernel that was registered before ours (null: none). */
  originals: Map<string, KernelConfig | null>;
  /** Every config object this project registered. */
  ours: WeakSet<KernelConfig>;
}

const STATE_KEY = Symbol.for('spruft-studio.projectKernels');

function state(): RegistryState {
  const holder = globalThis as unknown as Record<symbol, RegistryState | undefined>;
  let s = holder[STATE_KEY];
  if (s == null) {
    s = { originals: new Map(), ours: new WeakSet() };
    holder[STATE_KEY] = s;
  }
  return s;
}

const keyOf = (kernelName: string, backendName: string): string => `${backendName}_${kernelName}`;

export function isProjectKernel(kernelName: string, backendName: string): boolean {
  const k = tf.getKernel(kernelName, backendName);
  return k != null && state().ours.has(k);
}

/**
 * Register `kernelFunc` as `kernelName` on `backendName`, replacing (and keeping) the
 * builtin one if there is one; another project kernel in its place (the wasm one where
 * the native one now goes) is replaced, and the builtin still kept. Returns true when
 * ours is in place afterwards.
 */
export function installKernel(kernelName: string, backendName: BackendKind, kernelFunc: tf.KernelFunc): boolean {
  const s = state();
  const current = tf.getKernel(kernelName, backendName);
  if (current != null && s.ours.has(current) && current.kernelFunc === kernelFunc) return true;
  const key = keyOf(kernelName, backendName);
  if (!s.originals.has(key)) s.originals.set(key, current ?? null);
  const original = s.originals.get(key) ?? null;
  const config: KernelConfig = {
    kernelName,
    backendName,
    kernelFunc,
    // Keep the builtin's per-backend setup (the wasm kernels bind their C functions
    // there), so a backend started again after this still initialises the builtin
    // that ours falls back to.
    setupFunc: original?.setupFunc,
    disposeFunc: original?.disposeFunc,
  };
  if (current != null) tf.unregisterKernel(kernelName, backendName);
  tf.registerKernel(config);
  s.ours.add(config);
  return true;
}

/** Put the builtin kernel back (or leave none, where there was none). */
export function uninstallKernel(kernelName: string, backendName: BackendKind): void {
  const s = state();
  const key = keyOf(kernelName, backendName);
  const current = tf.getKernel(kernelName, backendName);
  if (current == null || !s.ours.has(current)) return;
  tf.unregisterKernel(kernelName, backendName);
  const original = s.originals.get(key);
  if (original != null) tf.registerKernel(original);
  s.originals.delete(key);
}

/** The builtin kernel (the one ours replaced, or the one registered now if ours is not in place). */
export function builtinKernel(kernelName: string, backendName: string): KernelConfig | undefined {
  const s = state();
  const key = keyOf(kernelName, backendName);
  if (s.originals.has(key)) return s.originals.get(key) ?? undefined;
  const current = tf.getKernel(kernelName, backendName);
  return current != null && !s.ours.has(current) ? current : undefined;
}

export class MissingKernelError extends Error {
  readonly code = 'KERNEL_MISSING';
}

function single(out: TensorInfo | TensorInfo[]): TensorInfo {
  if (Array.isArray(out)) {
    if (out.length !== 1) throw new MissingKernelError(`expected one output, got ${out.length}`);
    return out[0];
  }
  return out;
}

/** Run the kernel registered now for `kernelName` on this memory's backend. */
export function callKernel(
  kernelName: string, mem: BackendMemory, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {},
): TensorInfo {
  const k = tf.getKernel(kernelName, mem.kind);
  if (k == null) throw new MissingKernelError(`no '${kernelName}' kernel on backend '${mem.kind}'`);
  return single(k.kernelFunc({ inputs, attrs, backend: mem.backend }));
}

/** Run the builtin kernel (the fallback of a project kernel that replaced it). */
export function callBuiltin(
  kernelName: string, mem: BackendMemory, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {},
): TensorInfo {
  const k = builtinKernel(kernelName, mem.kind);
  if (k == null) throw new MissingKernelError(`backend '${mem.kind}' has no builtin '${kernelName}' kernel to fall back to`);
  return single(k.kernelFunc({ inputs, attrs, backend: mem.backend }));
}
