/**
 * DoRA adapters in PEFT's layout (protocol/adapter.ts): LoRA's `lora_A.weight` and
 * `lora_B.weight` per layer plus `lora_magnitude_vector` [d_out] (PEFT strips the
 * `.weight` its DoraLinearLayer module adds, keeping the older name), and LoraConfig with
 * `use_dora: true`.
 */
import { adapterTensorName, type PeftLoraConfig } from '../../../../../protocol/adapter';
import { SpruftError } from '../../../errors';
import type { SafetensorsTensor } from '../../../io/safetensors';

/** One linear layer's DoRA state: A [rank, dIn], B [dOut, rank], m [dOut], row-major. */
export interface DoraLayerState {
  name: string;
  rank: number;
  dIn: number;
  dOut: number;
  a: Float32Array;
  b: Float32Array;
  m: Float32Array;
}

export function doraPeftTensors(layers: readonly DoraLayerState[]): Map<string, SafetensorsTensor> {
  const out = new Map<string, SafetensorsTensor>();
  for (const l of layers) {
    out.set(adapterTensorName.loraA(l.name), { dtype: 'F32', shape: [l.rank, l.dIn], data: l.a });
    out.set(adapterTensorName.loraB(l.name), { dtype: 'F32', shape: [l.dOut, l.rank], data: l.b });
    out.set(adapterTensorName.doraMagnitude(l.name), { dtype: 'F32', shape: [l.dOut], data: l.m });
  }
  return out;
}

/** PEFT's LoraConfig of a DoRA adapter: LoRA's, with `use_dora: true`. */
export function peftDoraConfig(lora: PeftLoraConfig): PeftLoraConfig {
  return { ...lora, use_dora: true };
}

function floats(tensors: ReadonlyMap<string, SafetensorsTensor>, name: string, where: string): SafetensorsTensor {
  const t = tensors.get(name);
  if (!t) throw new SpruftError('ADAPTER_INVALID', `tensor "${name}" is missing`, where);
  if (t.dtype !== 'F32' && t.dtype !== 'F16' && t.dtype !== 'BF16') throw new SpruftError('ADAPTER_INVALID', `tensor "${name}" is ${t.dtype}; a float tensor is expected`, where);
  return t;
}

/** Read the DoRA state of linear layers (W0 [dOut, dIn] each); the rank is read off A. */
export function readDoraPeftTensors(
  tensors: ReadonlyMap<string, SafetensorsTensor>, targets: ReadonlyArray<{ name: string; dIn: number; dOut: number }>, where: string,
): DoraLayerState[] {
  return targets.map(({ name, dIn, dOut }) => {
    const a = floats(tensors, adapterTensorName.loraA(name), where);
    const b = floats(tensors, adapterTensorName.loraB(name), where);
    const m = floats(tensors, adapterTensorName.doraMagnitude(name), where);
    const rank = a.shape[0] ?? 0;
    const fits = a.shape.join('x') === `${rank}x${dIn}` && b.shape.join('x') === `${dOut}x${rank}` && m.shape.join('x') === `${dOut}` && rank > 0;
    if (!fits) {
      throw new SpruftError('ADAPTER_INVALID',
        `layer "${name}" (${dOut} x ${dIn}): lora_A is [${a.shape}], lora_B [${b.shape}], lora_magnitude_vector [${m.shape}]; expected [r, ${dIn}], [${dOut}, r] and [${dOut}]`, where);
    }
    return { name, rank, dIn, dOut, a: a.data as Float32Array, b: b.data as Float32Array, m: m.data as Float32Array };
  });
}
