/**
 * `vera` and `dora` through the engine: attached to a small Llama, trained state saved in
 * PEFT's layout (peft `tuners/vera/{config,model,layer}.py`, `tuners/lora/{model,dora,variants}.py`,
 * `utils/save_and_load.py`), read back and merged.
 *   1. keys are the model's state-dict keys with the adapter name stripped:
 *      `base_model.model.<module>.vera_lambda_b` [d_out] / `.vera_lambda_d` [r], and the
 *      shared projections once, `base_model.vera_A` [r, d_in max] / `base_model.vera_B`
 *      [d_out max, r] (VeraModel._get_adapter_state_dict, save_projection);
 *   2. DoRA: LoRA's keys plus `base_model.model.<module>.lora_magnitude_vector` [d_out]
 *      (LoraModel._get_adapter_state_dict strips the DoraLinearLayer's `.weight`);
 *   3. adapter_config.json holds VeraConfig's fields / LoraConfig's with `use_dora: true`;
 *   4. merging: VeRA adds (lambda_b * B[:d_out]) @ (lambda_d * A[:, :d_in]); DoRA writes
 *      m / ||W + s B A||_c * (W + s B A), norm over dim 1 (checked by
 *      scripts/python/apply_spruft_adapter.py in torch, float64, where Debian's python3-torch is installed).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADAPTER_CONFIG_FILE, ADAPTER_RECORD_FILE, ADAPTER_WEIGHTS_FILE } from '../../../../protocol/adapter';
import { resolveRunConfig, type RunConfigFile } from '../../../../protocol/config';
import type { MethodName } from '../../../../protocol/results';
import { readSafetensors } from '../../io/safetensors';
import { initLlama, initVit } from '../../models/init';
import { inferenceContext } from '../../models/layer';
import { LlamaModel, type LlamaConfig } from '../../models/llama';
import { VitModel } from '../../models/vit';
import { assertClose, useBackend } from '../../tensor/ops/testing';
import { tf } from '../../tensor/tf';
import { applyAdapter, exportModel, mergeTraining, writeAdapter } from '../adapterIO';
import { attachMethod, detachMethod } from './index';

const PYTHON = '/usr/bin/python3';
const SCRIPT = resolve(__dirname, '../../../../scripts/python/apply_spruft_adapter.py');
const torchMissing = ((): string | false => {
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  return r.status === 0 ? false : `Debian's python3-torch is not installed (${PYTHON} -c "import torch" failed): apt-get install python3-torch`;
})();

/** Grouped heads: k and v are narrower than q, so VeRA's layers read different slices. */
const LLAMA: LlamaConfig = {
  model_type: 'llama', vocab_size: 64, hidden_size: 16, intermediate_size: 40, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 16, tie_word_embeddings: false,
};
const R = 4;

/** VeraConfig's fields (vera/config.py) and PeftConfig's own. */
const VERA_CONFIG_FIELDS = ['peft_type', 'task_type', 'base_model_name_or_path', 'inference_mode', 'revision', 'r', 'target_modules',
  'projection_prng_key', 'save_projection', 'vera_dropout', 'd_initial', 'fan_in_fan_out', 'bias', 'modules_to_save', 'init_weights',
  'layers_to_transform', 'layers_pattern'];
const LORA_CONFIG_FIELDS = ['peft_type', 'task_type', 'r', 'lora_alpha', 'lora_dropout', 'target_modules', 'rank_pattern', 'bias',
  'fan_in_fan_out', 'modules_to_save', 'base_model_name_or_path', 'inference_mode', 'init_lora_weights', 'use_dora'];

function runConfig(extra: Partial<RunConfigFile> = {}) {
  return resolveRunConfig({
    model: { path: 'x' }, task: 'causal-lm', data: { dataset: 'text' }, targets: { layerTypes: ['linear'] },
    lora: { rank: R, alpha: 12, dropout: 0 }, vera: { rank: R, projectionSeed: 7 }, ...extra,
  }, { baseDir: '/', resolvePath: (_b, p) => p });
}

const TOKENS = tf.tensor2d([[1, 5, 9, 3, 7, 2], [4, 4, 8, 1, 0, 6]], undefined, 'int32');

function logits(model: LlamaModel): Float32Array {
  return tf.tidy(() => model.forward(TOKENS, inferenceContext()).dataSync() as Float32Array);
}

describe('vera and dora on a small Llama: attach, adapter in PEFT\'s layout, read back, merge', () => {
  let dir: string;
  before(async () => {
    await useBackend('cpu');
    dir = mkdtempSync(join(tmpdir(), 'spruft-vera-dora-'));
  });
  after(() => {
    TOKENS.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Base folder, a trained adapter (trainables moved off their start), a fresh model with it applied, and the merged export. */
  function scenario(method: MethodName, extra: Partial<RunConfigFile> = {}) {
    const model = new LlamaModel('llama', '', { ...LLAMA }, initLlama(LLAMA, 3));
    const baseDir = join(dir, `${method}-base`);
    exportModel(model, baseDir);
    model.dispose();
    const base = new LlamaModel('llama', baseDir, { ...LLAMA }, initLlama(LLAMA, 3));
    const config = runConfig(extra);
    // After a first forward pass (which may build caches the model keeps).
    const plain = logits(base);
    const before = tf.memory().numTensors;
    const attached = attachMethod(base, { method, config, trainHead: false, seed: 1 });
    assertClose(logits(base), plain, 1e-5, `${method} at initialisation changes nothing`);
    tf.tidy(() => attached.trainables.forEach((t, i) => t.variable.assign(tf.add(t.variable, tf.mul(tf.randomNormal(t.variable.shape, 0, 1, 'float32', 40 + i), 0.2)))));
    const trained = logits(base);
    const adapterDir = join(dir, `${method}-adapter${extra.vera?.saveProjection === false ? '-noproj' : ''}`);
    writeAdapter(adapterDir, base, attached, { config, fingerprint: base.fingerprint() });
    detachMethod(base);
    assert.equal(tf.memory().numTensors, before, `${method}: detaching releases what attaching made (shared projections included)`);
    base.dispose();
    const fresh = new LlamaModel('llama', baseDir, { ...LLAMA }, initLlama(LLAMA, 3));
    applyAdapter(adapterDir, fresh);
    const applied = logits(fresh);
    mergeTraining(fresh);
    const merged = logits(fresh);
    const mergedDir = join(dir, `${method}-merged`);
    exportModel(fresh, mergedDir);
    fresh.dispose();
    return { baseDir, adapterDir, mergedDir, attached, trained, applied, merged, plain };
  }

  it('vera: PEFT\'s keys, shapes and VeraConfig; read back and merged it gives the trained logits', () => {
    const s = scenario('vera');
    assert.notDeepEqual(s.trained, s.plain, 'training moved the logits');
    assertClose(s.applied, s.trained, 1e-5, 'applied adapter');
    assertClose(s.merged, s.trained, 1e-4, 'merged model');
    // 7 linears a block x 2 blocks; lambda_d [r], lambda_b [d_out].
    assert.equal(s.attached.adaptedLayers.length, 14);
    assert.equal(s.attached.trainableParams, s.attached.adaptedLayers.reduce((n, l) => n + R + l.dOut, 0));
    const header = readSafetensors(join(s.adapterDir, ADAPTER_WEIGHTS_FILE)).tensors;
    const expected = new Map<string, number[]>([['base_model.vera_A', [R, 40]], ['base_model.vera_B', [40, R]]]);
    for (const l of s.attached.adaptedLayers) {
      expected.set(`base_model.model.${l.name}.vera_lambda_b`, [l.dOut]);
      expected.set(`base_model.model.${l.name}.vera_lambda_d`, [R]);
    }
    assert.deepEqual(new Map([...header].map(([k, v]) => [k, v.shape])), expected, 'rule 1: exactly these keys');
    const peft = JSON.parse(readFileSync(join(s.adapterDir, ADAPTER_CONFIG_FILE), 'utf8')) as Record<string, unknown>;
    for (const k of Object.keys(peft)) assert.ok(VERA_CONFIG_FIELDS.includes(k), `rule 3: ${k} is a VeraConfig field`);
    assert.equal(peft.peft_type, 'VERA');
    assert.equal(peft.projection_prng_key, 7);
    assert.equal(peft.save_projection, true);
    assert.equal(JSON.parse(readFileSync(join(s.adapterDir, ADAPTER_RECORD_FILE), 'utf8')).method, 'vera');
  });

  it('vera with saveProjection: false stores no projections and draws them again from the seed', () => {
    const s = scenario('vera', { vera: { rank: R, projectionSeed: 7, saveProjection: false } });
    const header = readSafetensors(join(s.adapterDir, ADAPTER_WEIGHTS_FILE)).tensors;
    assert.ok(![...header.keys()].some((k) => k.startsWith('base_model.vera_')), 'no vera_A / vera_B');
    assertClose(s.applied, s.trained, 1e-5, 'applied adapter');
  });

  it('dora: LoRA\'s keys plus lora_magnitude_vector and use_dora; read back and merged it gives the trained logits', () => {
    const s = scenario('dora');
    assertClose(s.applied, s.trained, 1e-5, 'applied adapter');
    assertClose(s.merged, s.trained, 1e-4, 'merged model');
    const header = readSafetensors(join(s.adapterDir, ADAPTER_WEIGHTS_FILE)).tensors;
    const expected = new Map<string, number[]>();
    for (const l of s.attached.adaptedLayers) {
      expected.set(`base_model.model.${l.name}.lora_A.weight`, [R, l.dIn]);
      expected.set(`base_model.model.${l.name}.lora_B.weight`, [l.dOut, R]);
      expected.set(`base_model.model.${l.name}.lora_magnitude_vector`, [l.dOut]);
    }
    assert.deepEqual(new Map([...header].map(([k, v]) => [k, v.shape])), expected, 'rule 2: exactly these keys');
    const peft = JSON.parse(readFileSync(join(s.adapterDir, ADAPTER_CONFIG_FILE), 'utf8')) as Record<string, unknown>;
    for (const k of Object.keys(peft)) assert.ok(LORA_CONFIG_FIELDS.includes(k), `rule 3: ${k} is a LoraConfig field`);
    assert.equal(peft.peft_type, 'LORA');
    assert.equal(peft.use_dora, true);
  });

  it('apply_spruft_adapter.py (torch, PEFT\'s merge rules) merges vera and dora adapters as the runner does', { skip: torchMissing }, () => {
    for (const method of ['vera', 'dora'] as const) {
      const s = scenario(method);
      const out = join(dir, `${method}-torch.safetensors`);
      const r = spawnSync(PYTHON, [SCRIPT, s.adapterDir, s.baseDir, '--out', out], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const torch = readSafetensors(out).tensors;
      const ours = readSafetensors(join(s.mergedDir, 'model.safetensors')).tensors;
      assert.deepEqual([...torch.keys()].sort(), [...ours.keys()].sort());
      for (const [name, t] of ours) assertClose(t.data, torch.get(name)!.data, 1e-5, `${method}: ${name}`);
    }
  });

  it('vera refuses a conv target, naming it; dora adapts it', () => {
    const VIT = { model_type: 'vit' as const, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 12, image_size: 8, patch_size: 4, num_channels: 3, num_labels: 4 };
    const vit = new VitModel('vit', '', { ...VIT }, initVit({ ...VIT }, 5));
    const config = resolveRunConfig({ model: { path: 'x' }, task: 'image-classification', data: { dataset: 'mnist' }, lora: { rank: 2 } }, { baseDir: '/', resolvePath: (_b, p) => p });
    assert.throws(() => attachMethod(vit, { method: 'vera', config, trainHead: true, seed: 1 }),
      /vera adapts linear layers only.*"vit\.embeddings\.patch_embeddings\.projection" is a conv2d layer/);
    const d = attachMethod(vit, { method: 'dora', config, trainHead: true, seed: 1 });
    assert.ok(d.adaptedLayers.some((l) => l.kind === 'conv2d'), 'DoRA adapts the patch conv');
    detachMethod(vit);
    vit.dispose();
  });
});
