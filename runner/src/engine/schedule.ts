/**
 * Learning-rate schedules (paper 5.3): cosine annealing to a floor (images: 1e-4 to
 * 1e-9), and linear decay after a linear warmup over the first 3% of steps (Llama:
 * decay to 1% of the peak). `constant` keeps the peak after warmup.
 */
import type { ResolvedRunConfig } from '../../../protocol/config';

export type ScheduleConfig = Pick<ResolvedRunConfig['training'], 'lr' | 'minLr' | 'schedule' | 'warmup' | 'linearDecayTo'>;

/** Learning rate for optimizer step `step` (0-based) of `total` steps. */
export function learningRate(c: ScheduleConfig, step: number, total: number): number {
  const warmupSteps = Math.round(c.warmup * total);
  if (step < warmupSteps) return (c.lr * (step + 1)) / warmupSteps;
  const span = Math.max(1, total - warmupSteps);
  const t = Math.min(1, (step - warmupSteps) / span);
  switch (c.schedule) {
    case 'constant':
      return c.lr;
    case 'linear':
      return c.lr * (1 - (1 - c.linearDecayTo) * t);
    case 'cosine':
      return c.minLr + (c.lr - c.minLr) * 0.5 * (1 + Math.cos(Math.PI * t));
  }
}
