/**
 * `spruft` without tensors (paper 4.1): its flags, variant label and memory formula.
 * The config section (`spruft:`: rank or ratio, importance metric, trainBias,
 * dependency) is protocol/config.ts `SpruftSchema`, resolved there.
 */
import { METHOD_TRAITS } from '../../../../../protocol/methods';
import type { ResolvedRunConfig } from '../../../../../protocol/config';
import type { MethodInfo } from '../method';

/** Rows per layer as the estimate assumes them: r, or the ratio of d_out (at least 1), at most d_out. */
function rowsFor(dOut: number, config: ResolvedRunConfig): number {
  const wanted = config.spruft.rank ?? Math.max(1, Math.round((config.spruft.ratio ?? 0) * dOut));
  return Math.min(dOut, wanted);
}

export const spruftInfo: MethodInfo = {
  name: 'spruft',
  scoresRows: true,
  ...METHOD_TRAITS.spruft,
  trainsExtras: false,
  /** "spruft r=16" or "spruft 5.0%", " dep" with dependency groups. */
  variant(config) {
    const s = config.spruft;
    const label = s.rank !== undefined ? `spruft r=${s.rank}` : `spruft ${(s.ratio! * 100).toFixed(1)}%`;
    return s.dependency ? `${label} dep` : label;
  },
  memory: {
    scope: 'targets',
    targetParams(layer, config, exact) {
      const dOut = layer.dOut ?? 0;
      const dIn = layer.dIn ?? dOut;
      const rows = rowsFor(dOut, config);
      const isNorm = layer.kind === 'layernorm' || layer.kind === 'rmsnorm' || layer.kind === 'batchnorm';
      // The transformer estimate knows whether the layer has a bias; the coarse one assumes it.
      const withBias = exact ? layer.params > dOut * dIn : true;
      // Appendix B: with dependency groups the dependent input columns add about as many again.
      return (isNorm ? rows * (withBias ? 2 : 1) : rows * dIn + (config.spruft.trainBias && withBias ? rows : 0)) * (config.spruft.dependency ? 2 : 1);
    },
    // dW_f = dy[:, idx]^T x keeps the layer's input, shared with every layer reading it.
    kept: () => ({ floats: 0, masks: 0, sharesInput: true }),
  },
};
