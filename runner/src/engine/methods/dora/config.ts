/**
 * `dora` without tensors (Liu et al.; the paper's tables 1, 3 and 11): its flags, variant
 * label and memory formula (cost.ts). DoRA is PEFT's `LoraConfig(use_dora=True)`: it
 * reads the `lora:` section (rank, alpha, dropout), as PEFT reads LoraConfig.
 */
import { METHOD_TRAITS } from '../../../../../protocol/methods';
import type { MethodInfo } from '../method';
import { doraKept } from './cost';

export const doraInfo: MethodInfo = {
  name: 'dora',
  scoresRows: false,
  ...METHOD_TRAITS.dora,
  trainsExtras: false,
  variant: (config) => `dora r=${config.lora.rank}`,
  memory: {
    scope: 'targets',
    // LoRA's A and B plus the magnitude [d_out], on linear and conv2d targets (rank capped at d_out).
    targetParams(layer, config, exact) {
      const dOut = layer.dOut ?? 0;
      const dIn = layer.dIn ?? dOut;
      if (!exact) return config.lora.rank * (dIn + dOut) + dOut;
      if (layer.kind !== 'linear' && layer.kind !== 'conv2d') return undefined;
      return Math.min(config.lora.rank, dOut) * (dIn + dOut) + dOut;
    },
    // LoRA's (the input of A, A x) plus the direction output u [d_out] for the magnitude's gradient.
    // And ||V||_c [d_out] per layer, the constant of backward (PEFT: detached).
    keptPerLayer: (dOut) => dOut,
    kept: (w, config, dOut, profile) => doraKept({ dIn: w, dOut }, { rank: config.lora.rank, dropout: config.lora.dropout }, profile),
  },
};
