/**
 * `SpruftAdamPart` (tensor/ops/adam.ts) on wasm and cpu: one part of Adam's update in one
 * pass, into one new buffer. Scalars are rounded to float32 as tfjs rounds a number
 * operand, and every operation's result as a float32 kernel rounds it (a double product,
 * quotient, sum or square root of float32 values, rounded once, is the correctly rounded
 * float32 result), so the floats are those of the composition of tfjs ops.
 */
import { tf } from '../tensor/tf';
import type { AdamPartAttrs } from '../tensor/ops/adam';
import { backendMemory, sizeOf, type BackendMemory, type TensorInfo } from './backendMemory';

export class AdamPartError extends Error {
  readonly code = 'KERNEL_ADAM';
}

export function adamPart(mem: BackendMemory, inputs: Record<string, TensorInfo>, attrs: AdamPartAttrs): TensorInfo {
  const a = inputs.a;
  const others = attrs.part === 'param' ? [inputs.m, inputs.v] : [inputs.g];
  for (const t of [a, ...others]) {
    if (t == null || t.dtype !== 'float32' || sizeOf(t.shape) !== sizeOf(a.shape)) {
      throw new AdamPartError(`Adam (${attrs.part}): every input must be float32 of ${sizeOf(a.shape)} entries, like the first`);
    }
  }
  const n = sizeOf(a.shape);
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
