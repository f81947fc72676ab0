/**
 * `full`: every weight trains (each layer's, and the model's extra weights: embeddings,
 * positions), the baseline of paper 5.2. The adapter holds the whole tuned tensors under
 * `<layer>.weight` / `<layer>.bias` (engine layout) and the extras under their file names.
 */
import type { Model, WeightEntry } from '../../../models/model';
import { frozenVariable, uniqueName, variableOf } from '../common';
import type { MethodModule, Trainable } from '../method';
import { fullInfo } from './config';
import { tf } from '../../../tensor/tf';
import { FullTraining } from './layer';

/** `full`'s trained copies of a model's extra weights, and the frozen originals. */
const extraTraining = new WeakMap<Model, Array<{ entry: WeightEntry; original: tf.Tensor; variable: tf.Variable }>>();

function attachExtras(model: Model): Trainable[] {
  const state = model.extraWeights().map((entry) => {
    const original = entry.get();
    const variable = variableOf(() => tf.clone(original), uniqueName(entry.fileName));
    entry.set(variable);
    return { entry, original, variable };
  });
  extraTraining.set(model, state);
  return state.map((s) => ({ name: s.entry.fileName, variable: s.variable }));
}

/**
 * Make `full`'s training of the extra weights permanent (their trained values become
 * the frozen ones); used when a model is pretrained or merged.
 */
export function commitExtras(model: Model): void {
  for (const s of extraTraining.get(model) ?? []) {
    s.entry.set(tf.clone(s.variable));
    s.original.dispose();
    s.variable.dispose();
  }
  extraTraining.delete(model);
}

export const full: MethodModule = {
  ...fullInfo,

  attach(model) {
    const adapted = [];
    for (const layer of model.layers) {
      if (layer.head) continue;
      layer.training = FullTraining.of(layer);
      adapted.push(layer);
    }
    return { adapted, extras: attachExtras(model) };
  },

  /** The extra weights back to their frozen originals. */
  detach(model) {
    for (const s of extraTraining.get(model) ?? []) {
      s.entry.set(s.original);
      s.variable.dispose();
    }
    extraTraining.delete(model);
  },

  adapter: {
    writeLayer(layer, w) {
      const t = layer.training;
      if (t.kind !== 'full') throw new Error(`internal: full layer ${layer.name} has no full training`);
      w.put(`${layer.name}.weight`, t.w);
      if (t.b) w.put(`${layer.name}.bias`, t.b);
    },
    readLayer(layer, r) {
      return new FullTraining(frozenVariable(r.tensor(`${layer.name}.weight`)), r.has(`${layer.name}.bias`) ? frozenVariable(r.tensor(`${layer.name}.bias`)) : undefined);
    },
    configFields: () => ({ metric: undefined, rank: undefined, ratio: undefined }),
  },
};

export { FullTraining };
