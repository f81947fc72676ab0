/**
 * `head`: only the classifier trains (a linear probe). The registry trains the head
 * under every method (paper 5.2 counts "backbone plus classification layers"), so this
 * method attaches nothing more; its adapter holds the head alone.
 */
import { SpruftError } from '../../../errors';
import type { MethodModule } from '../method';
import { headInfo } from './config';

export const head: MethodModule = {
  ...headInfo,

  attach: () => ({ adapted: [] }),
  adapter: {
    writeLayer: (layer) => {
      throw new Error(`internal: the head method adapts no layer (${layer.name})`);
    },
    readLayer: (layer) => {
      throw new SpruftError('ADAPTER_INVALID', `a head adapter adapts no layer, but this one lists "${layer.name}"`);
    },
    configFields: () => ({ metric: undefined, rank: undefined, ratio: undefined }),
  },
};
