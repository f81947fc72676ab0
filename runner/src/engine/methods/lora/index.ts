/**
 * `lora` (Hu et al.; paper eq. 3-4), as PEFT initialises, saves and reads it: A ~
 * kaiming-uniform(a = sqrt(5)) = U(+-1/sqrt(fan_in)), B = 0, on the linear and conv2d
 * target layers (rank capped at d_out); the adapter in PEFT's names and layouts with
 * PEFT's LoraConfig as adapter_config.json (protocol/adapter.ts).
 */
import { adapterTensorName, type AdapterLayer, type PeftLoraConfig } from '../../../../../protocol/adapter';
import type { ResolvedRunConfig } from '../../../../../protocol/config';
import type { Model } from '../../../models/model';
import type { AdaptableLayer } from '../../../models/layer';
import { dims } from '../../../tensor/ops/grad';
import { Rng } from '../../../tensor/rng';
import { tf, type Tensor } from '../../../tensor/tf';
import { frozenVariable, uniqueName, variableOf, zerosVariable } from '../common';
import type { AdapterLayerReader, AdapterLayerWriter, MethodModule } from '../method';
import { loraInfo } from './config';
import { LoraTraining } from './layer';

/** New LoRA factors for `layer` (also DoRA's): A uniform in +-1/sqrt(fan_in) from `rng`, B zero. */
export function loraFactors(layer: AdaptableLayer, rank: number, rng: Rng): { a: tf.Variable; b: tf.Variable } {
  const s = dims(layer.weight);
  const fanIn = layer.kind === 'linear' ? s[1] : s[0] * s[1] * s[2];
  const bound = 1 / Math.sqrt(fanIn);
  const aShape = layer.kind === 'linear' ? [rank, s[1]] : [s[0], s[1], s[2], rank];
  const bShape = layer.kind === 'linear' ? [s[0], rank] : [rank, s[3]];
  const a = rng.fillUniform(new Float32Array(aShape.reduce((p, q) => p * q, 1)), -bound, bound);
  return {
    a: variableOf(() => tf.tensor(a, aShape), uniqueName(`${layer.name}.lora_A`)),
    b: zerosVariable(bShape, uniqueName(`${layer.name}.lora_B`)),
  };
}

/** A new LoRA adapter on `layer`. */
function attachLora(layer: AdaptableLayer, rank: number, alpha: number, dropout: number, rng: Rng): LoraTraining {
  const { a, b } = loraFactors(layer, rank, rng);
  return new LoraTraining(a, b, alpha / rank, dropout);
}

/** LoRA tensors in PEFT's layouts: conv A [r, c_in, kh, kw], conv B [c_out, r, 1, 1]. */
export function loraToFile(layer: AdaptableLayer, a: Tensor, b: Tensor): [Tensor, Tensor] {
  if (layer.kind !== 'conv2d') return [a, b];
  const [r, cout] = dims(b);
  return [tf.transpose(a, [3, 2, 0, 1]), tf.reshape(tf.transpose(b), [cout, r, 1, 1])];
}

/** A layer's A and B under PEFT's names and layouts (LoRA's, and DoRA's beside its magnitude). */
export function putLoraFactors(layer: AdaptableLayer, a: Tensor, b: Tensor, w: AdapterLayerWriter): void {
  const [fa, fb] = loraToFile(layer, a, b);
  w.put(adapterTensorName.loraA(layer.name), fa);
  w.put(adapterTensorName.loraB(layer.name), fb);
}

/**
 * A layer's A and B read from an adapter, in the engine's layout, and alpha / its own rank
 * (capped at d_out where it was written: PEFT's rank_pattern), not the configured r.
 */
export function readLoraFactors(layer: AdaptableLayer, r: AdapterLayerReader): { a: Tensor; b: Tensor; scale: number } {
  const [a, b] = tf.tidy(() => {
    const fa = r.tensor(adapterTensorName.loraA(layer.name));
    const fb = r.tensor(adapterTensorName.loraB(layer.name));
    if (layer.kind !== 'conv2d') return [fa, fb];
    const [cout, rank] = dims(fb);
    return [tf.transpose(fa, [2, 3, 1, 0]), tf.transpose(tf.reshape(fb, [cout, rank]))];
  });
  const rank = dims(a)[layer.kind === 'linear' ? 0 : 3];
  return { a, b, scale: (r.config.lora_alpha ?? 16) / rank };
}

/**
 * The targets LoRA and DoRA adapt, with each one's rank (the configured r, capped at
 * d_out): linear and conv2d layers; others among the targets stay frozen.
 */
export function* loraTargets(targets: readonly AdaptableLayer[], rank: number): Generator<[AdaptableLayer, number]> {
  for (const layer of targets) if (layer.kind === 'linear' || layer.kind === 'conv2d') yield [layer, Math.min(rank, layer.dOut)];
}

/**
 * PEFT's LoraConfig for a LoRA (or DoRA) adapter: `r` the configured rank, `rank_pattern`
 * the layers where it was capped at d_out, the head in `modules_to_save`.
 */
export function peftLoraConfig(model: Model, adapted: AdaptableLayer[], c: ResolvedRunConfig, layers: AdapterLayer[], modulesToSave: string[] | null): PeftLoraConfig {
  const rankPattern: Record<string, number> = {};
  for (const l of adapted) {
    const t = l.training;
    if (t.kind === 'lora' || t.kind === 'dora') {
      const r = t.rank(l);
      if (r !== c.lora.rank) rankPattern[l.name] = r;
    }
  }
  return {
    peft_type: 'LORA', task_type: null, r: c.lora.rank, lora_alpha: c.lora.alpha, lora_dropout: c.lora.dropout,
    target_modules: layers.map((l) => l.name), rank_pattern: rankPattern, bias: 'none', fan_in_fan_out: false,
    modules_to_save: modulesToSave,
    base_model_name_or_path: model.sourcePath, inference_mode: true, init_lora_weights: true,
  };
}

export const lora: MethodModule = {
  ...loraInfo,

  attach(_model, o) {
    const { rank, alpha, dropout } = o.config.lora;
    const rng = Rng.derive(o.seed, 'lora-init');
    const adapted = [];
    for (const [layer, r] of loraTargets(o.targets, rank)) {
      layer.training = attachLora(layer, r, alpha, dropout, rng);
      adapted.push(layer);
    }
    return { adapted };
  },

  adapter: {
    writeLayer(layer, w) {
      const t = layer.training;
      if (t.kind !== 'lora') throw new Error(`internal: lora layer ${layer.name} has no LoRA training`);
      putLoraFactors(layer, t.a, t.b, w);
    },
    readLayer(layer, r) {
      const { a, b, scale } = readLoraFactors(layer, r);
      return new LoraTraining(frozenVariable(a), frozenVariable(b), scale, 0);
    },
    configFields: (config) => ({ metric: undefined, rank: config.lora.rank, ratio: undefined }),
    // The head as PEFT's `modules_to_save` restores it.
    wholeTensorName: (weightName) => adapterTensorName.peftSaved(weightName),
    /**
     * PEFT's LoraConfig for this adapter (what `PeftModel.from_pretrained` reads): `r` the
     * configured rank, `rank_pattern` the layers where it was capped at d_out, the head in
     * `modules_to_save`. Older PEFT refuses unknown keys: this format's record goes beside it.
     */
    foreignConfig: (model, adapted, c, layers, modulesToSave) => peftLoraConfig(model, adapted, c, layers, modulesToSave),
  },
};

export { LoraTraining };
