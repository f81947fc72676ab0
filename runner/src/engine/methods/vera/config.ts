/**
 * `vera` without tensors (Kopiczko et al.; the paper's tables 1 and 3): its flags, variant
 * label and memory formula (cost.ts). The config section (`vera:` rank, dInitial,
 * projectionSeed, saveProjection, dropout; PEFT's VeraConfig names as aliases) is
 * protocol/config.ts `VeraSchema`.
 */
import { METHOD_TRAITS } from '../../../../../protocol/methods';
import type { MethodInfo } from '../method';
import { veraKept, veraProjectionFloats } from './cost';

export const veraInfo: MethodInfo = {
  name: 'vera',
  scoresRows: false,
  ...METHOD_TRAITS.vera,
  // PEFT's VeRA adapts linear layers only (and raises for others).
  onlyKinds: ['linear'],
  trainsExtras: false,
  variant: (config) => `vera r=${config.vera.rank}`,
  memory: {
    scope: 'targets',
    // lambda_d [r] and lambda_b [d_out] on each linear target (PEFT's VeRA adapts linears only).
    targetParams(layer, config, exact) {
      if (exact && layer.kind !== 'linear') return undefined;
      return config.vera.rank + (layer.dOut ?? 0);
    },
    // Only h = drop(x) A^T (z is recomputed in backward, A gets no gradient), and the mask.
    kept: (w, config, dOut, profile) => veraKept({ dIn: w, dOut }, { rank: config.vera.rank, dropout: config.vera.dropout }, profile),
    // The shared A and B (and the engine's copies of smaller slices), frozen beside the model.
    frozenFloats(targets, config) {
      const linears = targets.filter((l) => l.kind === 'linear' && l.dOut && l.dIn).map((l) => ({ dIn: l.dIn!, dOut: l.dOut! }));
      return veraProjectionFloats(linears, config.vera.rank);
    },
  },
};
