/**
 * `SpruftAdamPart` (tensor/ops/adam.ts): one part of Adam's update in one pass, into one
 * new buffer. On cpu in JavaScript; on wasm in the native addon (native/src/blas.c), where
 * it loads: in JavaScript it took twice the time of the wasm ops' eleven passes (134 of a
 * 440 ms full fine-tuning step of the bench decoder, against ~70), so without the addon
 * wasm keeps those ops (in tidies of their own: tensor/ops/adam.ts). Scalars are rounded
 * to float32 as tfjs rounds a number operand, and every operation's result as a float32
 * kernel rounds it (a double product, quotient, sum or square root of float32 values,
 * rounded once, is the correctly rounded float32 result; the C code computes in float
 * without contraction), so the floats are those of the composition of tfjs ops.
 */
import { tf } from '../tensor/tf';
import type { AdamPartAttrs } from '../tensor/ops/adam';
import { backendMemory, sizeOf, type BackendMemory, type TensorInfo } from './backendMemory';
import { nativeBlas } from './nativeBlas';

export class AdamPartError extends Error {
  readonly code = 'KERNEL_ADAM';
}

function checked(inputs: Record<string, TensorInfo>, attrs: AdamPartAttrs): number {
  const a = inputs.a;
  const others = attrs.part === 'param' ? [inputs.m, inputs.v] : [inputs.g];
  for (const t of [a, ...others]) {
    if (t == null || t.dtype !== 'float32' || sizeOf(t.shape) !== sizeOf(a.shape)) {
      throw new AdamPartError(`Adam (${attrs.part}): every input must be float32 of ${sizeOf(a.shape)} entries, like the first`);
    }
  }
  return sizeOf(a.shape);
}

export function adamPart(mem: BackendMemory, inputs: Record<string, TensorInfo>, attrs: AdamPartAttrs): TensorInfo {
  const a = inputs.a;
  const n = checked(inputs, attrs);
  const out = mem.alloc(a.shape, 'float32');
  const o = mem.f32(out);
  const x = mem.f32(a);
  const f = Math.fround;
  if (attrs.part === 'm' || attrs.part === 'v') {
    const g = mem.f32(inputs.g);
    const beta = f(attrs.part === 'm' ? attrs.beta1 : attrs.beta2);
    const rest = f(1 - (attrs.part === 'm' ? attrs.beta1 : attrs.beta2));
    if (attrs.part === 'm') for (let i = 0; i < n; i++) o[i] = f(x[i] * beta) + f(g[i] * rest);
    else for (let i = 0; i < n; i++) o[i] = f(x[i] * beta) + f(f(g[i] * g[i]) * rest);
    return out;
  }
  const m = mem.f32(inputs.m);
  const v = mem.f32(inputs.v);
  const c1 = f(attrs.c1);
  const c2 = f(attrs.c2);
  const eps = f(attrs.epsilon);
  const lr = f(attrs.lr);
  const decay = f(attrs.lr * attrs.decoupledDecay);
  for (let i = 0; i < n; i++) {
    const update = f(f(m[i] / c1) / f(f(Math.sqrt(f(v[i] / c2))) + eps));
    const next = f(x[i] - f(update * lr));
    o[i] = attrs.decoupledDecay > 0 ? next - f(x[i] * decay) : next;
  }
  return out;
}

export const adamPartKernel: tf.KernelFunc = ({ inputs, backend, attrs }) =>
  adamPart(backendMemory(backend as tf.KernelBackend), inputs as Record<string, TensorInfo>, attrs as unknown as AdamPartAttrs);

/** The same on the native addon, in the wasm heap itself (registered only where the addon has adamPart). */
export const nativeAdamPartKernel: tf.KernelFunc = ({ inputs: raw, backend, attrs: rawAttrs }) => {
  const inputs = raw as Record<string, TensorInfo>;
  const attrs = rawAttrs as unknown as AdamPartAttrs;
  const n = checked(inputs, attrs);
  const mem = backendMemory(backend as tf.KernelBackend);
  const out = mem.alloc(inputs.a.shape, 'float32');
  // Places after the allocation (the heap may have moved).
  const [po, pa] = [mem.place(out), mem.place(inputs.a)];
  const blas = nativeBlas()!;
  if (attrs.part === 'param') {
    const [pm, pv] = [mem.place(inputs.m), mem.place(inputs.v)];
    blas.adamPart!(2, n, po.array, po.offset, pa.array, pa.offset, pm.array, pm.offset, pv.array, pv.offset, attrs.c1, attrs.c2, attrs.epsilon, attrs.lr, attrs.lr * attrs.decoupledDecay);
  } else {
    const pg = mem.place(inputs.g);
    const beta = attrs.part === 'm' ? attrs.beta1 : attrs.beta2;
    blas.adamPart!(attrs.part === 'm' ? 0 : 1, n, po.array, po.offset, pa.array, pa.offset, pg.array, pg.offset, null, 0, beta, 1 - beta, 0, 0, 0);
  }
  return out;
};
