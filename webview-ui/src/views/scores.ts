/**
 * A method's headline score as the dashboard shows it beside its memory and time:
 * accuracy for classifiers, MSE and Pearson for a regression head (GLUE's STS-B, paper
 * appendix C), nothing for language models (their loss and perplexity have their own view).
 */
import { formatLoss, formatPercent, formatScore } from '../../../protocol/format';
import type { MethodView } from '../../../protocol/runFolder';

export function accuracyOf(view: MethodView): number | undefined {
  return view.result?.metrics.accuracy ?? view.labelAccuracy?.accuracy;
}

/** "81.2%" (accuracy), "Pearson 0.563" (regression), or undefined. */
export function scoreText(view: MethodView, withMse = false): string | undefined {
  const accuracy = accuracyOf(view);
  if (accuracy !== undefined) return withMse ? `accuracy ${formatPercent(accuracy)}` : formatPercent(accuracy);
  const m = view.result?.metrics;
  if (m && 'pearson' in m) return `${withMse ? `MSE ${formatLoss(m.mse)} · ` : ''}Pearson ${formatScore(m.pearson)}`;
  return undefined;
}
