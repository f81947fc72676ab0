/**
 * How a worker thread gets the same model as rank 0: the frozen weights themselves,
 * read from rank 0's model (so that a replaced head, random-weight benchmark models and
 * models built in tests all arrive exactly), with what is needed to build the structure
 * around them: the Hugging Face config, or, for a TensorFlow.js layers graph, the path
 * and options it was loaded with (its topology is read again from there).
 */
import { SpruftError } from '../../errors';
import { KerasGraphModel, type KerasOptions } from '../../models/keras';
import { buildHfModel, loadModel } from '../../models/load';
import { toEngineLayout, toFileLayout, type Model, type RawWeights } from '../../models/model';
import { dims } from '../../tensor/ops/grad';
import { Rng } from '../../tensor/rng';
import { tf } from '../../tensor/tf';

export type ModelRecipe =
  | { kind: 'hf'; name: string; sourcePath: string; config: Record<string, unknown>; weights: RawWeights; padTokenId?: number }
  | { kind: 'tfjs-layers'; path: string; from?: string; options: KerasOptions; numLabels?: number; weights: RawWeights };

/** Every frozen weight by file name, in file layout (as an export writes them). */
function frozenWeights(model: Model): RawWeights {
  const weights: RawWeights = new Map();
  for (const e of model.weightEntries()) {
    const w = e.get();
    // toFileLayout returns the weight itself when the layouts agree: dispose only a transpose.
    const t = tf.tidy(() => toFileLayout(w, e.layout));
    weights.set(e.fileName, { shape: dims(t), data: Float32Array.from(t.dataSync() as Float32Array) });
    if (t !== w) t.dispose();
  }
  return weights;
}

/** `from`: the folder an `npm:` model reference was looked for from first (the run config's). */
export function recipeOf(model: Model, from?: string): ModelRecipe {
  const weights = frozenWeights(model);
  if (model instanceof KerasGraphModel) {
    return { kind: 'tfjs-layers', path: model.sourcePath, from, options: model.options, numLabels: model.numLabels, weights };
  }
  if (model.format === 'hf') return { kind: 'hf', name: model.name, sourcePath: model.sourcePath, config: model.exportConfig(), weights, padTokenId: model.padTokenId };
  throw new SpruftError('UNSUPPORTED', `data-parallel training does not know how to copy a ${model.architecture} model into a worker; set training.workers: 1`);
}

/** Put rank 0's values into every weight the model lets be set (BatchNorm statistics come from the file). */
function assignWeights(model: Model, weights: RawWeights): void {
  for (const e of model.weightEntries()) {
    const w = weights.get(e.fileName);
    if (!w) throw new SpruftError('MODEL_INVALID', `data-parallel worker: rank 0's model has no weight "${e.fileName}"`, model.sourcePath);
    const old = e.get();
    const next = tf.tidy(() => toEngineLayout(tf.tensor(w.data, w.shape), e.layout));
    if (next.shape.join('x') !== old.shape.join('x')) {
      next.dispose();
      throw new SpruftError('MODEL_INVALID', `data-parallel worker: weight "${e.fileName}" is [${old.shape}] here but [${next.shape}] on rank 0`, model.sourcePath);
    }
    e.set(next);
    if (e.get() === next) old.dispose();
    else next.dispose();
  }
}

/** Build rank 0's model in this thread (its backend must be started). */
export function buildModel(r: ModelRecipe): Model {
  if (r.kind === 'hf') {
    const model = buildHfModel(r.name, r.sourcePath, r.config, r.weights);
    if (r.padTokenId !== undefined) model.padTokenId = r.padTokenId;
    return model;
  }
  const model = loadModel(r.path, { format: 'tfjs-layers', cutAt: r.options.cutAt, numLabels: r.numLabels ?? r.options.numLabels, seed: r.options.seed, from: r.from });
  // A head replaced after loading: its size is what matters, its values come next.
  if (r.numLabels !== undefined && model.numLabels !== r.numLabels) model.replaceHead(r.numLabels, new Rng(0));
  assignWeights(model, r.weights);
  return model;
}
