/**
 * `vera` (Kopiczko et al.; the paper's tables 1 and 3) as PEFT's VeraModel initialises,
 * saves and reads it: one pair of frozen projections drawn at the largest shape of the
 * linear targets (Kaiming-uniform, A then B, from `projectionSeed`), each layer reading
 * its top-left slice; lambda_d = d_initial, lambda_b = 0. Linear layers only: a conv
 * target is refused, naming it. The adapter in PEFT's names with PEFT's VeraConfig as
 * adapter_config.json (protocol/adapter.ts).
 */
import { adapterTensorName, type AdapterConfig, type PeftVeraConfig } from '../../../../../protocol/adapter';
import { SpruftError } from '../../../errors';
import type { AdaptableLayer } from '../../../models/layer';
import { dims } from '../../../tensor/ops/grad';
import { veraProjectionArrays, type VeraProjections } from '../../../tensor/ops/vera';
import { Rng } from '../../../tensor/rng';
import { tf, type Tensor } from '../../../tensor/tf';
import { frozenVariable, uniqueName, variableOf, zerosVariable } from '../common';
import type { AdapterLayerReader, MethodModule } from '../method';
import { unadaptableTarget } from '../info';
import { veraInfo } from './config';
import { SharedProjections, VeraTraining } from './layer';

function drawProjections(rank: number, dInMax: number, dOutMax: number, seed: number): VeraProjections {
  const { a, b } = veraProjectionArrays(new Rng(seed), rank, dInMax, dOutMax);
  return { a: tf.tensor(a, [rank, dInMax]), b: tf.tensor(b, [dOutMax, rank]) };
}

/** The projections of an adapter being read, shared by its layers: from the file, else drawn again from the seed. */
const readBack = new WeakMap<AdapterConfig, SharedProjections>();

function projectionsOf(r: AdapterLayerReader): SharedProjections {
  const known = readBack.get(r.config);
  if (known) return known;
  const c = r.config as AdapterConfig & Partial<PeftVeraConfig>;
  const rank = c.r ?? c.rank;
  if (rank === undefined || !Number.isInteger(rank) || rank < 1) {
    throw new SpruftError('ADAPTER_INVALID', `the VeRA adapter's "r" is ${JSON.stringify(rank)}; a positive integer is expected`);
  }
  // Linear weights are [d_out, d_in] in the record's engine layout.
  const needIn = Math.max(...r.config.layers.map((l) => l.weightShape[1] ?? 0));
  const needOut = Math.max(...r.config.layers.map((l) => l.weightShape[0] ?? 0));
  const nameA = adapterTensorName.veraA();
  const nameB = adapterTensorName.veraB();
  let full: VeraProjections;
  if (r.has(nameA) && r.has(nameB)) {
    full = { a: r.tensor(nameA), b: r.tensor(nameB) };
    const [ra, dInMax] = dims(full.a);
    const [dOutMax, rb] = dims(full.b);
    if (full.a.rank !== 2 || full.b.rank !== 2 || ra !== rank || rb !== rank || dInMax < needIn || dOutMax < needOut) {
      const shapes = `${nameA} [${dims(full.a)}] and ${nameB} [${dims(full.b)}]`;
      tf.dispose([full.a, full.b]);
      throw new SpruftError('ADAPTER_INVALID', `${shapes}: with r = ${rank} and layers up to ${needOut} x ${needIn}, at least [${rank}, ${needIn}] and [${needOut}, ${rank}] are needed`);
    }
  } else if (r.has(nameA) || r.has(nameB)) {
    throw new SpruftError('ADAPTER_INVALID', `only one of ${nameA} and ${nameB} is in the adapter file; both or neither are expected`);
  } else {
    // save_projection: false. This runner wrote it (its record is read): the same seed draws the same pair.
    full = drawProjections(rank, needIn, needOut, c.projection_prng_key ?? 0);
  }
  const shared = new SharedProjections(full, c.projection_prng_key ?? 0, r.has(nameA));
  readBack.set(r.config, shared);
  return shared;
}

/** A trained vector from the file, checked against the shape the layer needs. */
function vector(r: AdapterLayerReader, name: string, length: number): Tensor {
  const t = r.tensor(name);
  if (t.rank !== 1 || t.shape[0] !== length) {
    const shape = dims(t);
    t.dispose();
    throw new SpruftError('ADAPTER_INVALID', `tensor "${name}" has shape [${shape}], expected [${length}] for this model`);
  }
  return t;
}

export const vera: MethodModule = {
  ...veraInfo,

  attach(_model, o) {
    const c = o.config.vera;
    const refused = unadaptableTarget('vera', o.targets);
    if (refused) throw new SpruftError('CONFIG_INVALID', refused.message);
    const linears: AdaptableLayer[] = o.targets.filter((l) => l.kind === 'linear');
    if (linears.length === 0) return { adapted: [] };
    const dInMax = Math.max(...linears.map((l) => l.dIn));
    const dOutMax = Math.max(...linears.map((l) => l.dOut));
    const shared = new SharedProjections(drawProjections(c.rank, dInMax, dOutMax, c.projectionSeed), c.projectionSeed, c.saveProjection);
    for (const l of linears) {
      l.training = new VeraTraining(
        l, shared,
        variableOf(() => tf.fill([c.rank], c.dInitial), uniqueName(`${l.name}.vera_lambda_d`)),
        zerosVariable([l.dOut], uniqueName(`${l.name}.vera_lambda_b`)),
        c.dropout,
      );
    }
    return { adapted: linears };
  },

  adapter: {
    writeLayer(layer, w) {
      const t = layer.training;
      if (t.kind !== 'vera') throw new Error(`internal: vera layer ${layer.name} has no VeRA training`);
      w.put(adapterTensorName.veraLambdaD(layer.name), t.lambdaD);
      w.put(adapterTensorName.veraLambdaB(layer.name), t.lambdaB);
      if (t.shared.save) {
        w.putShared(adapterTensorName.veraA(), t.shared.full.a);
        w.putShared(adapterTensorName.veraB(), t.shared.full.b);
      }
    },
    readLayer(layer, r) {
      if (layer.kind !== 'linear') throw new SpruftError('ADAPTER_INVALID', `the VeRA adapter adapts "${layer.name}", a ${layer.kind} layer; VeRA adapts linear layers only`);
      const shared = projectionsOf(r);
      const lambdaD = vector(r, adapterTensorName.veraLambdaD(layer.name), shared.rank);
      const lambdaB = vector(r, adapterTensorName.veraLambdaB(layer.name), layer.dOut);
      return new VeraTraining(layer, shared, frozenVariable(lambdaD), frozenVariable(lambdaB), 0);
    },
    configFields: (config) => ({ metric: undefined, rank: config.vera.rank, ratio: undefined }),
    // The head as PEFT's `modules_to_save` restores it.
    wholeTensorName: (weightName) => adapterTensorName.peftSaved(weightName),
    /** PEFT's VeraConfig (only its keys: older PEFT refuses unknown ones); this format's record goes beside it. */
    foreignConfig(model, _adapted, c, layers, modulesToSave): PeftVeraConfig {
      return {
        peft_type: 'VERA', task_type: null, r: c.vera.rank, target_modules: layers.map((l) => l.name),
        projection_prng_key: c.vera.projectionSeed, save_projection: c.vera.saveProjection, vera_dropout: c.vera.dropout,
        d_initial: c.vera.dInitial, fan_in_fan_out: false, bias: 'none', modules_to_save: modulesToSave,
        base_model_name_or_path: model.sourcePath, inference_mode: true, init_weights: true,
      };
    },
  },
};

export { VeraTraining };
