/** `head` without tensors: the classifier alone trains (a linear probe). */
import type { MethodInfo } from '../method';

export const headInfo: MethodInfo = {
  name: 'head',
  scoresRows: false,
  usesTargets: false,
  trainsExtras: false,
  variant: () => 'head',
  memory: { scope: 'head' },
};
