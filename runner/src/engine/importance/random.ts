/** `random`: uniform scores from the importance seed (the paper's baseline, table 6). */
import { Rng } from '../../tensor/rng';
import { columnCount } from './axes';
import type { ImportanceMetric } from './metric';

export const randomImportance: ImportanceMetric = async (ctx) => {
  const rows = new Map<string, Float32Array>();
  for (const layer of ctx.layers) {
    const rng = Rng.derive(ctx.options.seed, `random/${layer.name}`);
    rows.set(layer.name, rng.fillUniform(new Float32Array(layer.dOut), 0, 1));
  }
  const columns = new Map<string, Float32Array>();
  for (const layer of ctx.columnLayers ?? []) {
    const rng = Rng.derive(ctx.options.seed, `random-columns/${layer.name}`);
    columns.set(layer.name, rng.fillUniform(new Float32Array(columnCount(layer)), 0, 1));
  }
  return { rows, columns };
};
