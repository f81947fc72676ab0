/** `head` without tensors: the classifier alone trains (a linear probe). */
import { METHOD_TRAITS } from '../../../../../protocol/methods';
import type { MethodInfo } from '../method';

export const headInfo: MethodInfo = {
  name: 'head',
  scoresRows: false,
  ...METHOD_TRAITS.head,
  trainsExtras: false,
  variant: () => 'head',
  memory: { scope: 'head' },
};
