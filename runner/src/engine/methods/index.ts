/**
 * The methods (one module each, `engine/methods/<name>/`, described in method.ts and
 * docs/methods.md), and attaching one to a model. Everything else reads a method
 * through this registry: adapterIO, flops, memoryEstimate, bench, train and compare.
 *
 * Methods on one model (the same frozen weights for all): `spruft` (row adapters on the
 * selected rows, paper 4.1), `lora` (PEFT's LoRA), `vera` and `dora` (PEFT's VeRA and
 * DoRA, the paper's other baselines, tables 1 and 3), `full` (every weight), `head` (the
 * classifier only). The classifier of a classification task trains whole under every
 * method (paper 5.2 counts "backbone plus classification layers").
 */
import type { ResolvedRunConfig } from '../../../../protocol/config';
import type { LayerSelection, MethodName } from '../../../../protocol/results';
import { SpruftError } from '../../errors';
import type { AdaptableLayer } from '../../models/layer';
import type { Model } from '../../models/model';
import type { tf } from '../../tensor/tf';
import { targetLayers } from '../targets';
import { full } from './full';
import { FullTraining } from './full/layer';
import { head } from './head';
import { lora } from './lora';
import { methodInfo, variantOf } from './info';
import type { MethodModule, Trainable } from './method';
import { spruft } from './spruft';
import { dora } from './dora';
import { vera } from './vera';

export { commitExtras } from './full';
export { METHOD_INFO, methodInfo, variantOf } from './info';
export type { MethodInfo, MethodModule } from './method';

/** Every method, by name (the names: protocol/config.ts `METHODS`). */
export const METHOD_MODULES: { readonly [M in MethodName]: MethodModule } = { spruft, lora, full, head, vera, dora };

/** The module of `method`, if it is one. */
export function findMethod(method: string): MethodModule | undefined {
  return Object.hasOwn(METHOD_MODULES, method) ? (METHOD_MODULES as Record<string, MethodModule>)[method] : undefined;
}

/** The module of `method`; a clear error for a name that is none. */
export function methodModule(method: string): MethodModule {
  methodInfo(method);
  return METHOD_MODULES[method as MethodName];
}

export interface AttachedMethod {
  method: MethodName;
  /** e.g. "spruft r=16", "lora r=8 FA". */
  variant: string;
  trainables: Trainable[];
  trainableParams: number;
  /** Frozen parameters of the model (the denominator of the paper's percentages). */
  totalParams: number;
  percent: number;
  adaptedLayers: AdaptableLayer[];
}

/** Every layer back to frozen, and whatever else a method changed undone. */
export function detachMethod(model: Model): void {
  for (const l of model.layers) l.resetTraining();
  for (const m of Object.values(METHOD_MODULES)) m.detach?.(model);
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
  const m = methodModule(o.method);
  const targets = targetLayers(model.layers, config.targets);
  const { adapted, extras = [] } = m.attach(model, { config, targets, selection: o.selection, seed: o.seed });
  const variant = variantOf(o.method, config);
  const headLayer = model.head;
  if (headLayer && o.trainHead) headLayer.training = FullTraining.of(headLayer);
  const trainables: Array<{ name: string; variable: tf.Variable }> = [...extras, ...model.layers.flatMap((l) => l.trainables())];
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
