/**
 * VeRA adapters in PEFT's layout (protocol/adapter.ts): what `VeraModel` saves with
 * `get_peft_model_state_dict` (adapter name stripped) and reads back.
 *   base_model.model.<layer>.vera_lambda_b [d_out], base_model.model.<layer>.vera_lambda_d [r],
 *   base_model.vera_A [r, d_in max], base_model.vera_B [d_out max, r]  (save_projection)
 * PEFT rebuilds missing projections from `projection_prng_key` with torch's generator,
 * which this engine does not reproduce: adapters written here always carry them, and one
 * without them is read only when this runner wrote it (its own generator, rng.ts).
 */
import { adapterTensorName, type PeftVeraConfig } from '../../../../../protocol/adapter';
import { SpruftError } from '../../../errors';
import type { SafetensorsTensor } from '../../../io/safetensors';
import { veraProjectionArrays } from '../../../tensor/ops/vera';
import { Rng } from '../../../tensor/rng';

/** The trained vectors of one layer. */
export interface VeraLayerState {
  name: string;
  lambdaD: Float32Array;
  lambdaB: Float32Array;
}

/** The shared projections: A [rank, dInMax], B [dOutMax, rank], row-major. */
export interface VeraSharedState {
  rank: number;
  dInMax: number;
  dOutMax: number;
  a: Float32Array;
  b: Float32Array;
}

export function veraPeftTensors(layers: readonly VeraLayerState[], shared: VeraSharedState | undefined): Map<string, SafetensorsTensor> {
  const out = new Map<string, SafetensorsTensor>();
  for (const l of layers) {
    out.set(adapterTensorName.veraLambdaB(l.name), { dtype: 'F32', shape: [l.lambdaB.length], data: l.lambdaB });
    out.set(adapterTensorName.veraLambdaD(l.name), { dtype: 'F32', shape: [l.lambdaD.length], data: l.lambdaD });
  }
  if (shared) {
    out.set(adapterTensorName.veraA(), { dtype: 'F32', shape: [shared.rank, shared.dInMax], data: shared.a });
    out.set(adapterTensorName.veraB(), { dtype: 'F32', shape: [shared.dOutMax, shared.rank], data: shared.b });
  }
  return out;
}

export interface PeftVeraOptions {
  rank: number;
  projectionSeed: number;
  saveProjection: boolean;
  dropout: number;
  dInitial: number;
  targets: string[];
  modulesToSave: string[] | null;
  basePath: string;
}

/** PEFT's VeraConfig (only its keys: older PEFT refuses unknown ones). */
export function peftVeraConfig(o: PeftVeraOptions): PeftVeraConfig {
  return {
    peft_type: 'VERA', task_type: null, r: o.rank, target_modules: o.targets, projection_prng_key: o.projectionSeed,
    save_projection: o.saveProjection, vera_dropout: o.dropout, d_initial: o.dInitial, fan_in_fan_out: false, bias: 'none',
    modules_to_save: o.modulesToSave, base_model_name_or_path: o.basePath, inference_mode: true, init_weights: true,
  };
}

/** A layer the adapter is read onto: W0 is [dOut, dIn]. */
export interface VeraTarget {
  name: string;
  dIn: number;
  dOut: number;
}

function floats(tensors: ReadonlyMap<string, SafetensorsTensor>, name: string, shape: number[], where: string): Float32Array {
  const t = tensors.get(name);
  if (!t) throw new SpruftError('ADAPTER_INVALID', `tensor "${name}" is missing`, where);
  if (t.dtype !== 'F32' && t.dtype !== 'F16' && t.dtype !== 'BF16') throw new SpruftError('ADAPTER_INVALID', `tensor "${name}" is ${t.dtype}; a float tensor is expected`, where);
  if (t.shape.join('x') !== shape.join('x')) {
    throw new SpruftError('ADAPTER_INVALID', `tensor "${name}" has shape [${t.shape}], expected [${shape}] for this model`, where);
  }
  return t.data as Float32Array;
}

/**
 * Read a VeRA adapter's tensors for `targets`. `ownWriter`: the adapter was written by
 * this runner (its record is there), so missing projections may be drawn again from the
 * seed; otherwise they must be in the file.
 */
export function readVeraPeftTensors(
  tensors: ReadonlyMap<string, SafetensorsTensor>, config: Pick<PeftVeraConfig, 'r' | 'projection_prng_key'>, targets: readonly VeraTarget[], ownWriter: boolean, where: string,
): { shared: VeraSharedState; layers: VeraLayerState[] } {
  const rank = config.r;
  if (!Number.isInteger(rank) || rank < 1) throw new SpruftError('ADAPTER_INVALID', `"r" is ${JSON.stringify(rank)}; a positive integer is expected`, where);
  const layers = targets.map((l) => ({
    name: l.name,
    lambdaD: floats(tensors, adapterTensorName.veraLambdaD(l.name), [rank], where),
    lambdaB: floats(tensors, adapterTensorName.veraLambdaB(l.name), [l.dOut], where),
  }));
  const needIn = Math.max(0, ...targets.map((l) => l.dIn));
  const needOut = Math.max(0, ...targets.map((l) => l.dOut));
  const a = tensors.get(adapterTensorName.veraA());
  const b = tensors.get(adapterTensorName.veraB());
  let shared: VeraSharedState;
  if (a && b) {
    const [ra, dInMax] = a.shape;
    const [dOutMax, rb] = b.shape;
    if (a.shape.length !== 2 || b.shape.length !== 2 || ra !== rank || rb !== rank || dInMax < needIn || dOutMax < needOut) {
      throw new SpruftError('ADAPTER_INVALID',
        `the shared projections are vera_A [${a.shape}] and vera_B [${b.shape}]; r = ${rank} and layers up to ${needOut} x ${needIn} need at least [${rank}, ${needIn}] and [${needOut}, ${rank}]`, where);
    }
    shared = { rank, dInMax, dOutMax, a: floats(tensors, adapterTensorName.veraA(), a.shape, where), b: floats(tensors, adapterTensorName.veraB(), b.shape, where) };
  } else if (a || b) {
    throw new SpruftError('ADAPTER_INVALID', `only one of ${adapterTensorName.veraA()} and ${adapterTensorName.veraB()} is in the file; both or neither are expected`, where);
  } else if (ownWriter) {
    const drawn = veraProjectionArrays(new Rng(config.projection_prng_key), rank, needIn, needOut);
    shared = { rank, dInMax: needIn, dOutMax: needOut, ...drawn };
  } else {
    throw new SpruftError('ADAPTER_INVALID',
      'this VeRA adapter has no vera_A / vera_B (saved with save_projection: false): PEFT rebuilds them with torch\'s random generator, which this runner cannot reproduce. Save it again with save_projection: true', where);
  }
  return { shared, layers };
}
