/**
 * Methods on one model (the same frozen weights for all): `spruft` (row adapters on the
 * selected rows, paper 4.1), `lora` (PEFT's LoRA), `full` (every weight), `head` (the
 * classifier only). The classifier of a classification task trains whole under every
 * method (paper 5.2 counts "backbone plus classification layers").
 */
import type { ResolvedRunConfig } from '../../../protocol/config';
import type { LayerSelection, MethodName } from '../../../protocol/results';
import { SpruftError } from '../errors';
import type { AdaptableLayer } from '../models/layer';
import type { Model, WeightEntry } from '../models/model';
import { dims } from '../tensor/ops/grad';
import { Rng } from '../tensor/rng';
import { targetLayers } from './targets';
import { tf } from '../tensor/tf';

export interface AttachedMethod {
  method: MethodName;
  /** e.g. "spruft r=16", "lora r=8 FA". */
  variant: string;
  trainables: Array<{ name: string; variable: tf.Variable }>;
  trainableParams: number;
  /** Frozen parameters of the model (the denominator of the paper's percentages). */
  totalParams: number;
  percent: number;
  adaptedLayers: AdaptableLayer[];
}

/** A variable from an initial value; the initial tensor itself is not kept. */
function variableOf(init: () => tf.Tensor, name: string): tf.Variable {
  return tf.tidy(() => tf.variable(init(), true, name));
}

function zerosVariable(shape: number[], name: string): tf.Variable {
  return variableOf(() => tf.zeros(shape), name);
}

let variableCounter = 0;
function uniqueName(base: string): string {
  variableCounter += 1;
  return `${base}#${variableCounter}`;
}

function attachFull(layer: AdaptableLayer): void {
  layer.training = {
    kind: 'full',
    w: variableOf(() => tf.clone(layer.weight), uniqueName(`${layer.name}.weight`)),
    b: layer.bias ? variableOf(() => tf.clone(layer.bias!), uniqueName(`${layer.name}.bias`)) : undefined,
  };
}

function attachRows(layer: AdaptableLayer, rows: number[], trainBias: boolean, scores?: number[], columns?: number[]): void {
  const withBias = trainBias && layer.bias !== undefined;
  layer.training = {
    kind: 'rows',
    rows,
    rowsTensor: tf.tensor1d(rows, 'int32'),
    wf: zerosVariable(layer.rowAdapterShape(rows.length), uniqueName(`${layer.name}.spruft_W_f`)),
    bf: withBias ? zerosVariable([rows.length], uniqueName(`${layer.name}.spruft_b_f`)) : undefined,
    scores,
    // Appendix B: the dependent input columns, W_f,dep zero at start like W_f.
    columns: columns && columns.length > 0 ? {
      columns,
      colsTensor: tf.tensor1d(columns, 'int32'),
      wdep: zerosVariable(layer.columnAdapterShape(columns.length), uniqueName(`${layer.name}.spruft_W_dep`)),
    } : undefined,
  };
}

/** LoRA as PEFT initialises it: A ~ kaiming-uniform(a = sqrt(5)) = U(+-1/sqrt(fan_in)), B = 0. */
function attachLora(layer: AdaptableLayer, rank: number, alpha: number, dropout: number, rng: Rng): void {
  const s = dims(layer.weight);
  const fanIn = layer.kind === 'linear' ? s[1] : s[0] * s[1] * s[2];
  const bound = 1 / Math.sqrt(fanIn);
  const aShape = layer.kind === 'linear' ? [rank, s[1]] : [s[0], s[1], s[2], rank];
  const bShape = layer.kind === 'linear' ? [s[0], rank] : [rank, s[3]];
  const a = rng.fillUniform(new Float32Array(aShape.reduce((p, q) => p * q, 1)), -bound, bound);
  layer.training = {
    kind: 'lora',
    a: variableOf(() => tf.tensor(a, aShape), uniqueName(`${layer.name}.lora_A`)),
    b: zerosVariable(bShape, uniqueName(`${layer.name}.lora_B`)),
    scale: alpha / rank,
    dropout,
  };
}

/** `full`'s trained copies of a model's extra weights, and the frozen originals. */
const extraTraining = new WeakMap<Model, Array<{ entry: WeightEntry; original: tf.Tensor; variable: tf.Variable }>>();

function attachExtras(model: Model): Array<{ name: string; variable: tf.Variable }> {
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

export function detachMethod(model: Model): void {
  for (const l of model.layers) l.resetTraining();
  for (const s of extraTraining.get(model) ?? []) {
    s.entry.set(s.original);
    s.variable.dispose();
  }
  extraTraining.delete(model);
}

export interface AttachOptions {
  method: MethodName;
  config: ResolvedRunConfig;
  /** spruft: the chosen rows per layer (from scoring or a stored selection). */
  selection?: LayerSelection[];
  /** Whether the task has a classifier head that trains. */
  trainHead: boolean;
  seed: number;
}

export function attachMethod(model: Model, o: AttachOptions): AttachedMethod {
  detachMethod(model);
  const { config } = o;
  const targets = targetLayers(model.layers, config.targets);
  const adapted: AdaptableLayer[] = [];
  let extras: Array<{ name: string; variable: tf.Variable }> = [];
  let variant: string = o.method;
  switch (o.method) {
    case 'full':
      for (const l of model.layers) if (!l.head) { attachFull(l); adapted.push(l); }
      extras = attachExtras(model);
      break;
    case 'head':
      break;
    case 'spruft': {
      if (!o.selection) throw new SpruftError('INTERNAL', 'spruft needs a row selection (score first)');
      const byName = new Map(o.selection.map((s) => [s.name, s]));
      for (const l of targets) {
        const sel = byName.get(l.name);
        if (!sel) continue;
        attachRows(l, sel.rows, config.spruft.trainBias, sel.scores, sel.columns);
        adapted.push(l);
      }
      variant = config.spruft.rank !== undefined ? `spruft r=${config.spruft.rank}` : `spruft ${(config.spruft.ratio! * 100).toFixed(1)}%`;
      if (config.spruft.dependency) variant += ' dep';
      break;
    }
    case 'lora': {
      const rng = Rng.derive(o.seed, 'lora-init');
      for (const l of targets) {
        if (l.kind !== 'linear' && l.kind !== 'conv2d') continue;
        attachLora(l, Math.min(config.lora.rank, l.dOut), config.lora.alpha, config.lora.dropout, rng);
        adapted.push(l);
      }
      variant = `lora r=${config.lora.rank}`;
      break;
    }
  }
  if (config.targets.freezeAttention && (o.method === 'spruft' || o.method === 'lora')) variant += ' FA';
  const head = model.head;
  if (head && o.trainHead) attachFull(head);
  const trainables = [...extras, ...model.layers.flatMap((l) => l.trainables())];
  const trainableParams = trainables.reduce((s, t) => s + t.variable.size, 0);
  const totalParams = model.totalParams;
  if (trainables.length === 0) {
    throw new SpruftError('CONFIG_INVALID', `method "${o.method}" leaves nothing to train: no target layer matched and the head does not train`);
  }
  return {
    method: o.method, variant, trainables, trainableParams, totalParams,
    percent: (100 * trainableParams) / totalParams, adaptedLayers: adapted,
  };
}
