/**
 * The one place the config checks get a model's layer list from: the header reader of
 * runner/src/models (config.json + safetensors header, or model.json's manifest; no
 * weights). Imported on first use, so that checks which never reach the model (syntax,
 * schema, `--no-semantic`) do not load the model code. The language server wraps this
 * in a per-file cache.
 */
import type { ModelInspector } from './semantic';

export const readModelLayers: ModelInspector = async (path, options) => {
  const { inspectModelHeader } = await import('../models/inspect');
  return inspectModelHeader(path, options);
};
