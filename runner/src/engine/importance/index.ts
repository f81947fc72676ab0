/** The importance metrics by config name (paper 4.2, appendix A). */
import type { ImportanceMetric as MetricName } from '../../../../protocol/config';
import { SpruftError } from '../../errors';
import { l2Importance } from './l2';
import type { ImportanceMetric } from './metric';
import { qmTaylorImportance } from './qmTaylor';
import { randomImportance } from './random';
import { taylorImportance } from './taylor';
import { zoTaylorImportance } from './zoTaylor';

const metrics: Partial<Record<MetricName, ImportanceMetric>> = {
  random: randomImportance,
  l2: l2Importance,
  taylor: taylorImportance,
  'qm-taylor': qmTaylorImportance,
  'zo-taylor': zoTaylorImportance,
};

export function importanceMetric(name: MetricName): ImportanceMetric {
  const metric = metrics[name];
  if (!metric) throw new SpruftError('UNSUPPORTED', `importance metric "${name}" is not available in this runner`);
  return metric;
}
