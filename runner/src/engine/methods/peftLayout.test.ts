/**
 * VeRA and DoRA adapters in PEFT's layout (peft `tuners/vera/{config,model,layer}.py`,
 * `tuners/lora/{model,dora,variants}.py`, `utils/save_and_load.py`):
 *   1. keys are the model's state-dict keys with the adapter name stripped:
 *      `base_model.model.<module>.vera_lambda_b` / `.vera_lambda_d`, and the shared
 *      projections once, `base_model.vera_A` [r, d_in max] / `base_model.vera_B`
 *      [d_out max, r] (VeraModel._get_adapter_state_dict, save_projection);
 *   2. DoRA: LoRA's keys plus `base_model.model.<module>.lora_magnitude_vector` [d_out]
 *      (LoraModel._get_adapter_state_dict strips the DoraLinearLayer's `.weight`);
 *   3. merging: VeRA adds (lambda_b * B[:d_out]) @ (lambda_d * A[:, :d_in])
 *      (Linear.get_delta_weight); DoRA writes m / ||W + s B A||_c * (W + s B A)
 *      (DoraLinearVariant.merge_safe, norm over dim 1).
 * Rule 3 is checked in float64 by torch (Debian's python3-torch) on the files written here,
 * against the engine's own merges; skipped with the reason where torch is missing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readSafetensors, serializeSafetensors } from '../../io/safetensors';
import { doraMergedWeight } from '../../tensor/ops/dora';
import { assertClose, randomArray, useBackend } from '../../tensor/ops/testing';
import { veraDeltaWeight, veraProjectionArrays } from '../../tensor/ops/vera';
import { Rng } from '../../tensor/rng';
import { tf } from '../../tensor/tf';
import { doraPeftTensors, peftDoraConfig, readDoraPeftTensors, type DoraLayerState } from './dora/peft';
import { peftVeraConfig, readVeraPeftTensors, veraPeftTensors, type VeraLayerState } from './vera/peft';

const PYTHON = '/usr/bin/python3';
const torchMissing = ((): string | false => {
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  return r.status === 0 ? false : `Debian's python3-torch is not installed (${PYTHON} -c "import torch" failed): apt-get install python3-torch`;
})();

/** VeraConfig's fields (vera/config.py) and PeftConfig's own. */
const VERA_CONFIG_FIELDS = new Set([
  'peft_type', 'task_type', 'base_model_name_or_path', 'inference_mode', 'revision', 'auto_mapping',
  'r', 'target_modules', 'projection_prng_key', 'save_projection', 'vera_dropout', 'd_initial', 'fan_in_fan_out', 'bias',
  'modules_to_save', 'init_weights', 'layers_to_transform', 'layers_pattern',
]);

/** Two linear layers of different shapes, as q_proj and down_proj would be. */
const LAYERS = [
  { name: 'model.layers.0.self_attn.q_proj', dIn: 6, dOut: 6 },
  { name: 'model.layers.0.mlp.down_proj', dIn: 10, dOut: 6 },
  { name: 'model.layers.0.mlp.up_proj', dIn: 6, dOut: 10 },
];
const R = 3;

describe('VeRA and DoRA in PEFT\'s layout', () => {
  let dir: string;
  before(async () => {
    await useBackend('cpu');
    dir = mkdtempSync(join(tmpdir(), 'peft-layout-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function veraState(rng: Rng) {
    const proj = veraProjectionArrays(new Rng(42), R, 10, 10);
    const shared = { rank: R, dInMax: 10, dOutMax: 10, ...proj };
    const layers: VeraLayerState[] = LAYERS.map((l) => ({ name: l.name, lambdaD: randomArray(rng, R), lambdaB: randomArray(rng, l.dOut) }));
    return { shared, layers };
  }

  it('VeRA: the keys and shapes PEFT saves, VeraConfig\'s fields only, and a round trip', () => {
    const { shared, layers } = veraState(new Rng(1));
    const tensors = veraPeftTensors(layers, shared);
    const expected = new Map<string, number[]>([['base_model.vera_A', [R, 10]], ['base_model.vera_B', [10, R]]]);
    for (const l of LAYERS) {
      expected.set(`base_model.model.${l.name}.vera_lambda_b`, [l.dOut]);
      expected.set(`base_model.model.${l.name}.vera_lambda_d`, [R]);
    }
    assert.deepEqual(new Map([...tensors].map(([k, v]) => [k, v.shape])), expected);
    const config = peftVeraConfig({ rank: R, projectionSeed: 42, saveProjection: true, dropout: 0, dInitial: 0.1, targets: LAYERS.map((l) => l.name), modulesToSave: null, basePath: 'base' });
    for (const k of Object.keys(config)) assert.ok(VERA_CONFIG_FIELDS.has(k), `${k} is a VeraConfig field`);
    assert.equal(config.peft_type, 'VERA');
    const path = join(dir, 'vera.safetensors');
    writeFileSync(path, serializeSafetensors(tensors, { format: 'pt' }));
    const back = readVeraPeftTensors(readSafetensors(path).tensors, config, LAYERS, false, path);
    assert.deepEqual(back.shared, shared);
    assert.deepEqual(back.layers, layers);
  });

  it('VeRA without projections: drawn again from the seed when this runner wrote it, refused otherwise', () => {
    const { shared, layers } = veraState(new Rng(2));
    const tensors = veraPeftTensors(layers, undefined);
    assert.ok(![...tensors.keys()].some((k) => k.includes('vera_A') || k.includes('vera_B')));
    const back = readVeraPeftTensors(tensors, { r: R, projection_prng_key: 42 }, LAYERS, true, 'x');
    assert.deepEqual(back.shared, shared, 'the same seed draws the same pair at the largest shape');
    assert.throws(() => readVeraPeftTensors(tensors, { r: R, projection_prng_key: 42 }, LAYERS, false, 'adapter'), /save_projection: true/);
  });

  it('VeRA: a missing or misshapen tensor is named', () => {
    const { shared, layers } = veraState(new Rng(3));
    const tensors = veraPeftTensors(layers, shared);
    const missing = new Map(tensors);
    missing.delete(`base_model.model.${LAYERS[1].name}.vera_lambda_b`);
    assert.throws(() => readVeraPeftTensors(missing, { r: R, projection_prng_key: 42 }, LAYERS, true, 'adapter_model.safetensors'),
      /adapter_model\.safetensors: tensor "base_model\.model\.model\.layers\.0\.mlp\.down_proj\.vera_lambda_b" is missing/);
    assert.throws(() => readVeraPeftTensors(tensors, { r: R + 1, projection_prng_key: 42 }, LAYERS, true, 'f'), /vera_lambda_d" has shape \[3\], expected \[4\]/);
    const wide = [...LAYERS, { name: 'wide', dIn: 12, dOut: 6 }];
    const withWide = veraPeftTensors([...layers, { name: 'wide', lambdaD: new Float32Array(R), lambdaB: new Float32Array(6) }], shared);
    assert.throws(() => readVeraPeftTensors(withWide, { r: R, projection_prng_key: 42 }, wide, true, 'f'), /need at least \[3, 12\]/);
  });

  function doraState(rng: Rng): DoraLayerState[] {
    return LAYERS.map((l) => ({ ...l, rank: R, a: randomArray(rng, R * l.dIn, 0.3), b: randomArray(rng, l.dOut * R, 0.3), m: Float32Array.from(randomArray(rng, l.dOut), (v) => 1 + Math.abs(v)) }));
  }

  it('DoRA: LoRA\'s keys plus lora_magnitude_vector, use_dora in LoraConfig, and a round trip', () => {
    const layers = doraState(new Rng(4));
    const tensors = doraPeftTensors(layers);
    const expected = new Map<string, number[]>();
    for (const l of LAYERS) {
      expected.set(`base_model.model.${l.name}.lora_A.weight`, [R, l.dIn]);
      expected.set(`base_model.model.${l.name}.lora_B.weight`, [l.dOut, R]);
      expected.set(`base_model.model.${l.name}.lora_magnitude_vector`, [l.dOut]);
    }
    assert.deepEqual(new Map([...tensors].map(([k, v]) => [k, v.shape])), expected);
    const path = join(dir, 'dora.safetensors');
    writeFileSync(path, serializeSafetensors(tensors, { format: 'pt' }));
    assert.deepEqual(readDoraPeftTensors(readSafetensors(path).tensors, LAYERS, path), layers);
    const missing = new Map(tensors);
    missing.delete(`base_model.model.${LAYERS[0].name}.lora_magnitude_vector`);
    assert.throws(() => readDoraPeftTensors(missing, LAYERS, 'f'), /lora_magnitude_vector" is missing/);
    assert.throws(() => readDoraPeftTensors(tensors, [{ ...LAYERS[0], dOut: 7 }], 'f'), /expected \[r, 6\], \[7, r\] and \[7\]/);
    const lora = { peft_type: 'LORA', task_type: null, r: R, lora_alpha: 16, lora_dropout: 0, target_modules: [], rank_pattern: {}, bias: 'none', fan_in_fan_out: false, modules_to_save: null, base_model_name_or_path: 'b', inference_mode: true, init_lora_weights: true } as const;
    assert.equal(peftDoraConfig({ ...lora, target_modules: [], rank_pattern: {} }).use_dora, true);
  });

  it('merging by PEFT\'s rules in torch (float64) gives the engine\'s merges', { skip: torchMissing }, () => {
    const rng = new Rng(5);
    const vera = veraState(rng);
    const dora = doraState(rng);
    const base = new Map(LAYERS.map((l) => [l.name, randomArray(rng, l.dOut * l.dIn)]));
    const scale = 16 / R;
    const files = { vera: join(dir, 'vera-merge.safetensors'), dora: join(dir, 'dora-merge.safetensors'), base: join(dir, 'base.safetensors'), out: join(dir, 'merged.safetensors') };
    writeFileSync(files.vera, serializeSafetensors(veraPeftTensors(vera.layers, vera.shared), { format: 'pt' }));
    writeFileSync(files.dora, serializeSafetensors(doraPeftTensors(dora), { format: 'pt' }));
    writeFileSync(files.base, serializeSafetensors(new Map(LAYERS.map((l) => [`${l.name}.weight`, { dtype: 'F32' as const, shape: [l.dOut, l.dIn], data: base.get(l.name)! }])), { format: 'pt' }));
    const script = `
import sys, torch
sys.path.insert(0, ${JSON.stringify(join(__dirname, '../../../../scripts/python'))})
from apply_spruft_adapter import read_safetensors, write_safetensors
vera, dora, base = (read_safetensors(p) for p in sys.argv[1:4])
out = {}
for key, w in base.items():
    name = key[: -len('.weight')]
    w = w.double()
    out_f, in_f = w.shape
    lb = vera[f'base_model.model.{name}.vera_lambda_b'].double().unsqueeze(-1)
    ld = vera[f'base_model.model.{name}.vera_lambda_d'].double().unsqueeze(-1)
    A, B = vera['base_model.vera_A'].double(), vera['base_model.vera_B'].double()
    out[f'vera.{name}'] = (w + (lb * B[:out_f, :]) @ (ld * A[:, :in_f])).float()
    a = dora[f'base_model.model.{name}.lora_A.weight'].double()
    b = dora[f'base_model.model.{name}.lora_B.weight'].double()
    m = dora[f'base_model.model.{name}.lora_magnitude_vector'].double()
    v = w + ${scale} * (b @ a)
    out[f'dora.{name}'] = ((m / torch.linalg.norm(v, dim=1)).view(-1, 1) * v).float()
write_safetensors(sys.argv[4], out)
`;
    const r = spawnSync(PYTHON, ['-c', script, files.vera, files.dora, files.base, files.out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const torchMerged = readSafetensors(files.out).tensors;
    for (const [i, l] of LAYERS.entries()) {
      const w = tf.tensor(base.get(l.name)!, [l.dOut, l.dIn]);
      const v = vera.layers[i];
      const veraMerged = tf.tidy(() => tf.add(w, veraDeltaWeight({
        a: tf.slice(tf.tensor(vera.shared.a, [R, 10]), [0, 0], [R, l.dIn]), b: tf.slice(tf.tensor(vera.shared.b, [10, R]), [0, 0], [l.dOut, R]),
        lambdaD: tf.variable(tf.tensor(v.lambdaD), false), lambdaB: tf.variable(tf.tensor(v.lambdaB), false),
      })));
      const d = dora[i];
      const p = { a: tf.variable(tf.tensor(d.a, [R, l.dIn]), false), b: tf.variable(tf.tensor(d.b, [l.dOut, R]), false), m: tf.variable(tf.tensor(d.m), false), scale };
      const doraMerged = doraMergedWeight(w, p);
      assertClose(veraMerged.dataSync(), torchMerged.get(`vera.${l.name}`)!.data, 1e-5, `VeRA merge of ${l.name}`);
      assertClose(doraMerged.dataSync(), torchMerged.get(`dora.${l.name}`)!.data, 1e-5, `DoRA merge of ${l.name}`);
      tf.dispose([w, veraMerged, doraMerged, p.a, p.b, p.m]);
    }
  });
});
