/**
 * `dora` (Liu et al.; the paper's tables 1, 3 and 11) as PEFT's `LoraConfig(use_dora=True)`
 * initialises, saves and reads it: LoRA's A and B (the same initialisation and random
 * stream as `lora`, so that one seed starts both from the same A), the magnitude m set to
 * ||W0||_c; on the linear and conv2d targets, rank capped at d_out. The adapter in PEFT's
 * names (LoRA's plus `lora_magnitude_vector`: [d_out], conv [1, c_out, 1, 1] as PEFT's conv
 * norm keeps its dims) with PEFT's LoraConfig and `use_dora: true`.
 */
import { adapterTensorName, type PeftLoraConfig } from '../../../../../protocol/adapter';
import { SpruftError } from '../../../errors';
import { doraWeightNorm } from '../../../tensor/ops/dora';
import { dims } from '../../../tensor/ops/grad';
import { Rng } from '../../../tensor/rng';
import { tf } from '../../../tensor/tf';
import { frozenVariable, uniqueName, variableOf } from '../common';
import { loraFactors, loraTargets, peftLoraConfig, putLoraFactors, readLoraFactors } from '../lora';
import type { MethodModule } from '../method';
import { doraInfo } from './config';
import { DoraTraining } from './layer';

export const dora: MethodModule = {
  ...doraInfo,

  attach(_model, o) {
    const { rank, alpha, dropout } = o.config.lora;
    const rng = Rng.derive(o.seed, 'lora-init');
    const adapted = [];
    for (const [layer, r] of loraTargets(o.targets, rank)) {
      const { a, b } = loraFactors(layer, r, rng);
      const m = variableOf(() => doraWeightNorm(layer.weight, { a, b, scale: alpha / r }), uniqueName(`${layer.name}.lora_magnitude_vector`));
      layer.training = new DoraTraining(a, b, m, alpha / r, dropout);
      adapted.push(layer);
    }
    return { adapted };
  },

  adapter: {
    writeLayer(layer, w) {
      const t = layer.training;
      if (t.kind !== 'dora') throw new Error(`internal: dora layer ${layer.name} has no DoRA training`);
      putLoraFactors(layer, t.a, t.b, w);
      w.put(adapterTensorName.doraMagnitude(layer.name), layer.kind === 'conv2d' ? tf.reshape(t.m, [1, layer.dOut, 1, 1]) : t.m);
    },
    readLayer(layer, r) {
      const name = adapterTensorName.doraMagnitude(layer.name);
      const { a, b, scale } = readLoraFactors(layer, r);
      const m = r.tensor(name);
      if (m.size !== layer.dOut) {
        const shape = dims(m);
        tf.dispose([a, b, m]);
        throw new SpruftError('ADAPTER_INVALID', `tensor "${name}" has shape [${shape}]; layer "${layer.name}" has ${layer.dOut} outputs`);
      }
      const flat = tf.reshape(m, [layer.dOut]);
      m.dispose();
      return new DoraTraining(frozenVariable(a), frozenVariable(b), frozenVariable(flat), scale, 0);
    },
    configFields: (config) => ({ metric: undefined, rank: config.lora.rank, ratio: undefined }),
    // The head as PEFT's `modules_to_save` restores it.
    wholeTensorName: (weightName) => adapterTensorName.peftSaved(weightName),
    /** PEFT's LoraConfig with `use_dora: true` (only LoraConfig's keys); this format's record goes beside it. */
    foreignConfig: (model, adapted, c, layers, modulesToSave): PeftLoraConfig => ({ ...peftLoraConfig(model, adapted, c, layers, modulesToSave), use_dora: true }),
  },
};

export { DoraTraining };
