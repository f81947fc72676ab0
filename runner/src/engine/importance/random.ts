/** `random`: uniform scores from the importance seed (the paper's baseline, table 6). */
import { Rng } from '../rng';
import type { ImportanceMetric } from './metric';

export const randomImportance: ImportanceMetric = async (ctx) => {
  const scores = new Map<string, Float32Array>();
  for (const layer of ctx.layers) {
    const rng = Rng.derive(ctx.options.seed, `random/${layer.name}`);
    scores.set(layer.name, rng.fillUniform(new Float32Array(layer.dOut), 0, 1));
  }
  return scores;
};
