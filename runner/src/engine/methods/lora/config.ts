/**
 * `lora` without tensors (Hu et al.; paper eq. 3-4): its flags, variant label and
 * memory formula. The config section (`lora:` rank, alpha, dropout) is protocol/config.ts
 * `LoraSchema`, resolved there.
 */
import { METHOD_TRAITS } from '../../../../../protocol/methods';
import type { MethodInfo } from '../method';

export const loraInfo: MethodInfo = {
  name: 'lora',
  scoresRows: false,
  ...METHOD_TRAITS.lora,
  trainsExtras: false,
  variant: (config) => `lora r=${config.lora.rank}`,
  memory: {
    scope: 'targets',
    targetParams(layer, config, exact) {
      const dOut = layer.dOut ?? 0;
      const dIn = layer.dIn ?? dOut;
      if (!exact) return config.lora.rank * (dIn + dOut);
      // Linear and conv2d layers only, the rank capped at d_out (as attach does).
      if (layer.kind !== 'linear' && layer.kind !== 'conv2d') return undefined;
      return Math.min(config.lora.rank, dOut) * (dIn + dOut);
    },
    // LoRA keeps A x for dL/dB (paper C.5) and its input for dL/dA: with dropout its own
    // dropped copy and the mask, without it the shared input.
    kept: (w, config) => (config.lora.dropout > 0
      ? { floats: config.lora.rank + w, masks: w, sharesInput: false }
      : { floats: config.lora.rank, masks: 0, sharesInput: true }),
  },
};
