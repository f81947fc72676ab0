/** `full` without tensors: every weight trains, the embeddings too. */
import { METHOD_TRAITS } from '../../../../../protocol/methods';
import type { MethodInfo } from '../method';

export const fullInfo: MethodInfo = {
  name: 'full',
  scoresRows: false,
  ...METHOD_TRAITS.full,
  trainsExtras: true,
  variant: () => 'full',
  memory: {
    scope: 'all',
    // Each weight's gradient keeps the layer's input (one buffer however many layers read it).
    kept: () => ({ floats: 0, masks: 0, sharesInput: true }),
  },
};
