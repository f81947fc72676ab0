import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, adapterTensorName } from '../../../protocol/adapter';
import { resolveRunConfig } from '../../../protocol/config';
import type { MethodName } from '../../../protocol/results';
import { SpruftError } from '../errors';
import { initMlp, initVit } from '../models/init';
import { inferenceContext } from '../models/layer';
import { loadModel } from '../models/load';
import { MlpModel } from '../models/mlp';
import type { Model } from '../models/model';
import { VitModel } from '../models/vit';
import { applyAdapter, exportModel, mergeTraining, readAdapterConfig, writeAdapter } from './adapterIO';
import { attachMethod, detachMethod } from './methods';
import { assertClose, useBackend } from '../tensor/ops/testing';
import { Rng } from '../tensor/rng';
import { tf, type Tensor } from '../tensor/tf';

const families: Array<{ name: string; make: () => Model; input: number[] }> = [
  {
    name: 'MLP', input: [3, 4, 4, 1],
    make: () => {
      const c = { model_type: 'spruft-mlp' as const, image_size: 4, num_channels: 1, hidden_sizes: [6, 5], num_labels: 3 };
      return new MlpModel('mlp', '', c, initMlp(c, 2));
    },
  },
  {
    name: 'ViT (conv patch embedding, LayerNorm rows)', input: [2, 8, 8, 1],
    make: () => {
      const c = { model_type: 'vit' as const, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 12, image_size: 8, patch_size: 4, num_channels: 1, num_labels: 4 };
      return new VitModel('vit', '', c, initVit(c, 4));
    },
  },
];

function outputs(model: Model, x: Tensor): Float32Array {
  return tf.tidy(() => model.forward(x, inferenceContext()).dataSync() as Float32Array);
}

/** Attach a method and move its trainables off their initial values (as training would). */
function trained(model: Model, method: MethodName): ReturnType<typeof attachMethod> {
  const config = resolveRunConfig({
    model: { path: 'x' }, task: 'image-classification', data: { dataset: 'mnist' },
    targets: { layerTypes: ['linear', 'conv2d', 'norm'] }, lora: { rank: 2, dropout: 0 }, spruft: { rank: 2 },
  }, { baseDir: '/', resolvePath: (_b, p) => p });
  const rng = new Rng(7);
  const selection = model.layers.filter((l) => !l.head).map((l) => {
    const rows = [...new Set([rng.int(l.dOut), l.dOut - 1])].sort((a, b) => a - b);
    return { name: l.name, kind: l.kind, rows, scores: rows.map(() => 1), dOut: l.dOut, dIn: l.dIn };
  });
  const attached = attachMethod(model, { method, config, selection, trainHead: true, seed: 1 });
  tf.tidy(() => attached.trainables.forEach((t, i) => t.variable.assign(tf.add(t.variable, tf.mul(tf.randomNormal(t.variable.shape, 0, 1, 'float32', 20 + i), 0.1)))));
  return attached;
}

describe('adapters', () => {
  let dir: string;
  before(async () => {
    await useBackend('wasm');
    dir = mkdtempSync(join(tmpdir(), 'spruft-adapter-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const family of families) {
    for (const method of ['spruft', 'lora', 'full'] as MethodName[]) {
      it(`${family.name}, ${method}: round trip, merge and export all give the adapted outputs`, () => {
        const x = tf.randomUniform(family.input, -1, 1, 'float32', 3);
        const model = family.make();
        const base = outputs(model, x);
        // As a run does: the base's fingerprint before any method is attached.
        const fingerprint = model.fingerprint();
        const attached = trained(model, method);
        const adapted = outputs(model, x);
        assert.ok(adapted.some((v, i) => Math.abs(v - base[i]) > 1e-4), 'the adapter changes the outputs');
        const adapterDir = join(dir, `${family.name.split(' ')[0]}-${method}`);
        const config = resolveRunConfig({ model: { path: 'x' }, task: 'image-classification', data: { dataset: 'mnist' }, lora: { rank: 2 } }, { baseDir: '/', resolvePath: (_b, p) => p });
        writeAdapter(adapterDir, model, attached, { metric: 'l2', config, fingerprint });
        detachMethod(model);
        assertClose(outputs(model, x), base, 1e-6, 'detached: the base model again');

        // Round trip onto a fresh copy of the base model.
        const fresh = family.make();
        applyAdapter(adapterDir, fresh);
        assertClose(outputs(fresh, x), adapted, 1e-5, 'adapter read back');

        // Merge: W[idx] += W_f (or W += s B A); the merged plain model gives the same outputs.
        mergeTraining(fresh);
        assert.ok(fresh.layers.every((l) => l.training.kind === 'frozen'), 'nothing left to train after merging');
        assertClose(outputs(fresh, x), adapted, 1e-5, 'merged model');

        // Export in the input format and load it again.
        const exported = join(dir, `${family.name.split(' ')[0]}-${method}-merged`);
        exportModel(fresh, exported);
        const reloaded = loadModel(exported);
        assertClose(outputs(reloaded, x), adapted, 1e-5, 'exported merged model');
        if (method === 'lora') {
          const saved = readAdapterConfig(adapterDir);
          assert.equal(saved.peft_type, 'LORA');
          assert.ok(readFileSync(join(adapterDir, ADAPTER_WEIGHTS_FILE)).includes(Buffer.from(adapterTensorName.loraA(saved.layers[0].name))), 'PEFT tensor names');
        }
        for (const m of [model, fresh, reloaded]) m.dispose();
        x.dispose();
      });
    }
  }

  it('MobileNetV2 (Keras graph, cut, new head): merged and exported as model.json, reloaded without cutAt, gives the adapted outputs', () => {
    const x = tf.randomUniform([2, 32, 32, 3], -1, 1, 'float32', 6);
    const model = loadModel('npm:nsfwjs/mobilenet_v2', { cutAt: 'out_relu', seed: 0 });
    model.replaceHead(7, new Rng(2));
    const fingerprint = model.fingerprint();
    const attached = trained(model, 'spruft');
    const adapted = outputs(model, x);
    const config = resolveRunConfig({ model: { path: 'npm:nsfwjs/mobilenet_v2', cutAt: 'out_relu' }, task: 'image-classification', data: { dataset: 'mnist' } }, { baseDir: '/', resolvePath: (_b, p) => p });
    writeAdapter(join(dir, 'mobilenet'), model, attached, { config, fingerprint });
    model.dispose();
    // A fresh base as `spruft merge` loads it: the head still has the placeholder size.
    const fresh = loadModel('npm:nsfwjs/mobilenet_v2', { cutAt: 'out_relu', seed: 0 });
    applyAdapter(join(dir, 'mobilenet'), fresh);
    mergeTraining(fresh);
    exportModel(fresh, join(dir, 'mobilenet-merged'));
    const reloaded = loadModel(join(dir, 'mobilenet-merged'));
    assert.equal(reloaded.numLabels, 7);
    assertClose(outputs(reloaded, x), adapted, 1e-5, 'exported merged MobileNetV2');
    for (const m of [fresh, reloaded]) m.dispose();
    x.dispose();
  });

  it('two adapters on one base merge one after the other', () => {
    const x = tf.randomUniform([3, 4, 4, 1], -1, 1, 'float32', 5);
    const first = families[0].make();
    const a1 = trained(first, 'spruft');
    const config = resolveRunConfig({ model: { path: 'x' }, task: 'image-classification', data: { dataset: 'mnist' } }, { baseDir: '/', resolvePath: (_b, p) => p });
    writeAdapter(join(dir, 'two-a'), first, a1, { config, fingerprint: first.fingerprint() });
    detachMethod(first);
    const a2 = trained(first, 'lora');
    writeAdapter(join(dir, 'two-b'), first, a2, { config, fingerprint: first.fingerprint() });
    detachMethod(first);
    const merged = families[0].make();
    applyAdapter(join(dir, 'two-a'), merged);
    mergeTraining(merged);
    applyAdapter(join(dir, 'two-b'), merged, { strict: false });
    mergeTraining(merged);
    // The same as applying both deltas by hand: spruft rows, then LoRA's B A, on the base.
    const reference = families[0].make();
    applyAdapter(join(dir, 'two-a'), reference);
    mergeTraining(reference);
    applyAdapter(join(dir, 'two-b'), reference, { strict: false });
    assertClose(outputs(merged, x), outputs(reference, x), 1e-5, 'second adapter on the merged first');
    for (const m of [first, merged, reference]) m.dispose();
    x.dispose();
  });

  it('refuses an adapter of another base model, an unknown version, a missing tensor', () => {
    const model = families[0].make();
    const attached = trained(model, 'spruft');
    const config = resolveRunConfig({ model: { path: 'x' }, task: 'image-classification', data: { dataset: 'mnist' } }, { baseDir: '/', resolvePath: (_b, p) => p });
    const adapterDir = join(dir, 'checks');
    writeAdapter(adapterDir, model, attached, { config, fingerprint: model.fingerprint() });
    detachMethod(model);
    const other = new MlpModel('other', '', { model_type: 'spruft-mlp', image_size: 4, num_channels: 1, hidden_sizes: [6, 5], num_labels: 3 }, initMlp({ model_type: 'spruft-mlp', image_size: 4, num_channels: 1, hidden_sizes: [6, 5], num_labels: 3 }, 99));
    assert.throws(() => applyAdapter(adapterDir, other), (e: unknown) => e instanceof SpruftError && e.code === 'ADAPTER_INVALID' && /another base model/.test(e.message));
    const configPath = join(adapterDir, ADAPTER_CONFIG_FILE);
    const original = readFileSync(configPath, 'utf8');
    writeFileSync(configPath, original.replace('"version": 2', '"version": 99'));
    assert.throws(() => applyAdapter(adapterDir, model), /version 99 is not supported/);
    const withMissing = JSON.parse(original);
    withMissing.layers[0].name = 'mlp.layers.9';
    writeFileSync(configPath, JSON.stringify(withMissing));
    assert.throws(() => applyAdapter(adapterDir, model), /does not have/);
    for (const m of [model, other]) m.dispose();
  });
});
