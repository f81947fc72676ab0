import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { initLlama, initVit } from '../../models/init';
import { inferenceContext } from '../../models/layer';
import { LlamaModel, type LlamaConfig } from '../../models/llama';
import { loadModel } from '../../models/load';
import type { Model } from '../../models/model';
import { VitModel, type VitConfig } from '../../models/vit';
import { applyAdapter, mergeTraining, readAdapterConfig, writeAdapter } from '../adapterIO';
import type { ImageExamples } from '../batches';
import { disposeBatch, makeBatch } from '../batches';
import type { ImportanceScores } from '../importance/metric';
import { CONV_NET, convNetFrom, mlpFrom, runConfig, type ConvNetWeights, type MlpWeights } from '../importance/testing';
import { attachMethod, detachMethod } from '../methods';
import { assertClose, useBackend } from '../../tensor/ops/testing';
import { Rng } from '../../tensor/rng';
import { scoreRows } from '../score';
import { targetLayers } from '../targets';
import { tf } from '../../tensor/tf';
import { trainLoop } from '../train';
import { checkGroups, targetGroups } from './groups';
import { chooseWithDependencies } from './select';
import { resolveRunConfig, type RunConfigFile } from '../../../../protocol/config';
import { initFromSpec } from '../../models/init';
import { buildHfModel } from '../../models/load';
import { languageModelSpec } from '../../models/specs';

function tinyConvNet(seed: number): ReturnType<typeof convNetFrom> {
  const rng = new Rng(seed);
  const { inputChannels: ci, stem, expand, labels } = CONV_NET;
  const bn = (c: number) => ({ gamma: rng.fillUniform(new Float32Array(c), 0.5, 1.5), beta: new Float32Array(c), mean: new Float32Array(c), variance: new Float32Array(c).fill(1) });
  const w: ConvNetWeights = {
    stem: rng.fillNormal(new Float32Array(9 * ci * stem), 0.4), expand: rng.fillNormal(new Float32Array(stem * expand), 0.5),
    depthwise: rng.fillNormal(new Float32Array(9 * expand), 0.4), project: rng.fillNormal(new Float32Array(expand * stem), 0.5),
    dense: rng.fillNormal(new Float32Array(stem * labels), 0.8), denseBias: new Float32Array(labels),
    bn: { stem_bn: bn(stem), expand_bn: bn(expand), dw_bn: bn(expand), project_bn: bn(stem) },
  };
  return convNetFrom(w);
}

function tinyMlp(seed: number): ReturnType<typeof mlpFrom> {
  const rng = new Rng(seed);
  const sizes = [16, 12, 10, 3];
  const w: MlpWeights = { sizes, w: sizes.slice(0, -1).map((d, i) => rng.fillNormal(new Float32Array(d * sizes[i + 1]), 0.4)), b: sizes.slice(1).map((d) => new Float32Array(d)) };
  return mlpFrom(w, 4);
}

/** Label = argmax of a fixed projection of the pixels (learnable). */
function teacher(n: number, seed: number): ImageExamples {
  const rng = new Rng(seed);
  const proj = rng.fillNormal(new Float32Array(3 * 16));
  const inputs = rng.fillNormal(new Float32Array(n * 16));
  const labels = Int32Array.from({ length: n }, (_, i) => {
    const s = [0, 1, 2].map((k) => proj.subarray(k * 16, k * 16 + 16).reduce((a, p, j) => a + p * inputs[i * 16 + j], 0));
    return s.indexOf(Math.max(...s));
  });
  return { kind: 'images', n, shape: [4, 4, 1], inputs, labels };
}

function logitsOf(model: Model, data: ImageExamples): Float32Array {
  const batch = makeBatch(data, Int32Array.from({ length: data.n }, (_, i) => i));
  const y = tf.tidy(() => model.forward(batch.x, inferenceContext()));
  const out = y.dataSync() as Float32Array;
  tf.dispose([y]);
  disposeBatch(batch);
  return Float32Array.from(out);
}

describe('dependency groups (appendix B)', () => {
  let dir: string;
  before(async () => {
    await useBackend('wasm');
    dir = mkdtempSync(join(tmpdir(), 'spruft-dep-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('traces a MobileNetV2-like block: the residual stream and the expanded channels', () => {
    const model = tinyConvNet(1);
    const groups = model.dependencies();
    assert.deepEqual(groups.map((g) => ({ channels: g.channels, rows: g.rows, columns: g.columns })), [
      { channels: CONV_NET.stem, rows: ['stem', 'stem_bn', 'project', 'project_bn'], columns: ['expand', 'dense'] },
      { channels: CONV_NET.expand, rows: ['expand', 'expand_bn', 'dw', 'dw_bn'], columns: ['project'] },
    ]);
    checkGroups(model, groups);
    model.dispose();
  });

  it('traces the real MobileNetV2 (nsfwjs): residual adds tie project convs across blocks; every group is consistent', () => {
    const model = loadModel('npm:nsfwjs/mobilenet_v2', { cutAt: 'out_relu', numLabels: 10 });
    const groups = model.dependencies()!;
    checkGroups(model, groups);
    const rowsOf = (name: string) => groups.find((g) => g.rows.includes(name))!;
    const residual = rowsOf('block_1_project');
    assert.deepEqual(residual.rows, ['block_1_project', 'block_1_project_BN', 'block_2_project', 'block_2_project_BN']);
    assert.deepEqual(residual.columns, ['block_2_expand', 'block_3_expand']);
    const expanded = rowsOf('block_2_expand');
    assert.deepEqual(expanded.rows, ['block_2_expand', 'block_2_expand_BN', 'block_2_depthwise', 'block_2_depthwise_BN']);
    assert.deepEqual(expanded.columns, ['block_2_project']);
    // Every adaptable layer but the new head has its rows in exactly one group.
    const grouped = groups.flatMap((g) => g.rows);
    assert.equal(new Set(grouped).size, grouped.length);
    assert.deepEqual(model.layers.filter((l) => !l.head).map((l) => l.name).sort(), grouped.slice().sort());
    model.dispose();
  });

  it('ViT and Llama describe consistent groups (residual stream, attention, MLP); grouped key/value heads are left out', () => {
    const vitConfig: VitConfig = { model_type: 'vit', hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 32, image_size: 8, patch_size: 4, num_channels: 1, num_labels: 3 };
    const vit = new VitModel('vit', '/tmp/vit', vitConfig, initVit(vitConfig, 1));
    const vg = vit.dependencies();
    checkGroups(vit, vg);
    assert.deepEqual(vg.map((g) => g.name), ['residual stream', 'block 0 query-key', 'block 0 values', 'block 0 mlp', 'block 1 query-key', 'block 1 values', 'block 1 mlp']);
    assert.equal(vg[0].rows.length, 1 + 2 * 4 + 1);
    vit.dispose();
    for (const kv of [4, 2]) {
      const c: LlamaConfig = { model_type: 'llama', vocab_size: 32, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: kv, max_position_embeddings: 16, tie_word_embeddings: false };
      const llama = new LlamaModel('llama', '/tmp/llama', c, initLlama(c, 1));
      const lg = llama.dependencies();
      checkGroups(llama, lg);
      assert.equal(lg.length, kv === 4 ? 1 + 2 * 3 : 1 + 2, `kv heads ${kv}`);
      llama.dispose();
    }
  });

  it('GPT-2: the fused c_attn\'s q|k|v row blocks in the query-key and values groups; scored, chosen, trained and merged with them', async () => {
    const d = 8;
    const config0 = { model_type: 'gpt2' as const, vocab_size: 13, n_positions: 16, n_embd: d, n_layer: 2, n_head: 2, n_inner: null, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5 };
    const build = () => buildHfModel('gpt2', '', structuredClone(config0), initFromSpec(languageModelSpec(config0)!, 3, { std: 0.5, biasStd: 0.3, normStd: 0.2 }));
    const model = build();
    const groups = model.dependencies()!;
    checkGroups(model, groups);
    assert.deepEqual(groups.map((g) => g.name), ['residual stream', 'block 0 query-key', 'block 0 values', 'block 0 mlp', 'block 1 query-key', 'block 1 values', 'block 1 mlp']);
    const attn = 'transformer.h.0.attn.c_attn';
    assert.deepEqual(groups[1].rowBlocks, { [attn]: [0, d] });
    assert.deepEqual(groups[2], { name: 'block 0 values', channels: d, rows: [attn], rowBlocks: { [attn]: [2 * d] }, columns: ['transformer.h.0.attn.c_proj'] });
    // Overlapping blocks are refused.
    assert.throws(() => checkGroups(model, [...groups, { name: 'bad', channels: 4, rows: [attn], rowBlocks: { [attn]: [2 * d + 4] }, columns: [] }]), /row 20 in two dependency groups \("block 0 values", "bad"\)/);
    assert.throws(() => checkGroups(model, [{ name: 'out', channels: d, rows: [attn], rowBlocks: { [attn]: [3 * d - 2] }, columns: [] }]), /rows 22\.\.29 of transformer\.h\.0\.attn\.c_attn lie outside its 24 rows/);

    // Planted scores: query-key channel c scores q row c + k row d + c; values channel c scores v row 2d + c + c_proj column c.
    const layers = targetLayers(model.layers, { include: ['transformer.h.0.attn.*'], exclude: [], layerTypes: ['linear'], freezeAttention: false });
    const target = targetGroups(model, layers);
    const scores: ImportanceScores = { rows: new Map(), columns: new Map() };
    for (const l of layers) scores.rows.set(l.name, new Float32Array(l.dOut));
    const qkv = scores.rows.get(attn)!;
    qkv[3] = 2; // q dim 3 alone
    qkv[5] = 1.5; qkv[d + 5] = 1.5; // q and k dim 5: 3 together
    qkv[2 * d + 6] = 1; // v dim 6
    for (const g of target) for (const l of g.columns) scores.columns.set(l.name, new Float32Array(g.channels));
    scores.columns.set('transformer.h.0.attn.c_proj', Float32Array.from({ length: d }, (_, c) => (c === 1 ? 1.5 : 0))); // column 1 outweighs v dim 6
    const chosen = chooseWithDependencies(layers, scores, target, runConfig({ spruft: { ratio: 0.25, dependency: true } }).spruft);
    // ratio 0.25 halved: 1 of 8 channels per group.
    assert.deepEqual(chosen.get(attn)!.rows, [5, d + 5, 2 * d + 1]);
    assert.deepEqual(chosen.get(attn)!.scores, [3, 3, 1.5]);
    assert.deepEqual(chosen.get('transformer.h.0.attn.c_proj')!.columns, [1]);

    // scoreRows (taylor) on tokens: q/k rows in pairs, c_proj's columns are the chosen value dims.
    const rng = new Rng(4);
    const ids = Int32Array.from({ length: 8 * 6 }, () => rng.int(13));
    const data = { kind: 'tokens' as const, n: 8, length: 6, ids, mask: new Uint8Array(48).fill(1) };
    const config = resolveRunConfig({ model: { path: 'x' }, task: 'causal-lm', data: { dataset: 'text' }, targets: { layerTypes: ['linear'] }, spruft: { ratio: 0.5, dependency: true, importance: { metric: 'taylor' } }, training: { lr: 0.05, batchSize: 4, epochs: 2, seed: 1 } } as RunConfigFile, { baseDir: '/', resolvePath: (_b, p) => p });
    const scored = await scoreRows(model, config, data);
    for (const b of [0, 1]) {
      const rows = scored.layers.find((l) => l.name === `transformer.h.${b}.attn.c_attn`)!.rows;
      const q = rows.filter((r) => r < d);
      assert.deepEqual(rows.filter((r) => r >= d && r < 2 * d), q.map((r) => r + d), 'k rows pair with q rows');
      assert.equal(q.length, 2, '8 channels x 0.5 / 2');
      const v = rows.filter((r) => r >= 2 * d).map((r) => r - 2 * d);
      assert.deepEqual(scored.layers.find((l) => l.name === `transformer.h.${b}.attn.c_proj`)!.columns, v);
    }
    const attached = attachMethod(model, { method: 'spruft', config, selection: scored.layers, trainHead: false, seed: 1 });
    const outcome = await trainLoop({ model, attached, train: data, config, runId: 'dep-gpt2', method: 'spruft' });
    assert.ok(outcome.lossCurve.every((p) => Number.isFinite(p.loss)));
    const probe = makeBatch(data, Int32Array.from([0, 1, 2]));
    const trained = tf.tidy(() => model.forward(probe.x, inferenceContext()).dataSync() as Float32Array);
    mergeTraining(model);
    assertClose(tf.tidy(() => model.forward(probe.x, inferenceContext()).dataSync() as Float32Array), trained, 1e-4, 'merged GPT-2 with q|k|v row blocks');
    disposeBatch(probe);
    model.dispose();
  });

  it('scores a group as the sum of its members and chooses rows and columns together, halving the ratio', () => {
    const model = tinyConvNet(2);
    const layers = targetLayers(model.layers, { include: ['*'], exclude: [], layerTypes: ['conv2d', 'norm'], freezeAttention: false });
    const groups = targetGroups(model, layers);
    // Residual stream: 4 channels; members stem, stem_bn, project, project_bn (rows), expand (columns; dense is the head).
    const scores: ImportanceScores = { rows: new Map(), columns: new Map() };
    for (const l of layers) scores.rows.set(l.name, new Float32Array(l.dOut));
    scores.rows.get('stem')!.set([1, 0, 0, 0]);
    scores.rows.get('project_bn')!.set([0, 0, 3, 0]);
    scores.columns.set('expand', Float32Array.from([0, 2.5, 0, 0]));
    scores.columns.set('project', Float32Array.from([0, 0, 0, 0, 0, 9, 0, 0]));
    scores.rows.get('dw')!.set([0, 0, 0, 0, 0, 0, 5, 0]);
    const config = runConfig({ targets: { layerTypes: ['conv2d', 'norm'] }, spruft: { ratio: 0.5, dependency: true } });
    const chosen = chooseWithDependencies(layers, scores, groups, config.spruft);
    // ratio 0.5 halved to 0.25: 1 of 4 residual channels, 2 of 8 expanded channels.
    assert.deepEqual(chosen.get('stem')!.rows, [2]);
    assert.deepEqual(chosen.get('project')!.rows, [2]);
    assert.deepEqual(chosen.get('stem_bn')!.rows, [2]);
    assert.deepEqual(chosen.get('expand')!.columns, [2]);
    assert.deepEqual(chosen.get('expand')!.rows, [5, 6]);
    assert.deepEqual(chosen.get('dw_bn')!.rows, [5, 6]);
    assert.deepEqual(chosen.get('project')!.columns, [5, 6]);
    assert.deepEqual(chosen.get('stem')!.scores, [3]);
    assert.equal(chosen.get('stem')!.columns, undefined, 'the image channels form no group');
    model.dispose();
  });

  it('trains rows and dependent columns; the adapter (spruft_W_dep) reloads and merges to the same outputs; a stored selection is reused', async () => {
    const data = teacher(96, 3);
    const config = runConfig({
      targets: { layerTypes: ['linear'] }, spruft: { ratio: 0.5, dependency: true, importance: { metric: 'taylor' } },
      training: { lr: 0.02, batchSize: 16, epochs: 3, seed: 4 },
    });
    const before = tf.memory().numTensors;
    const model = tinyMlp(5);
    const scored = await scoreRows(model, config, data);
    const [l0, l1] = scored.layers;
    assert.equal(l0.rows.length, 3, '12 rows x 0.5 / 2');
    assert.deepEqual(l1.columns, l0.rows, 'layer 1 tunes the input columns of layer 0\'s tuned rows');
    const attached = attachMethod(model, { method: 'spruft', config, selection: scored.layers, trainHead: true, seed: 4 });
    const names = attached.trainables.map((t) => t.name);
    assert.ok(names.includes('mlp.layers.1.spruft_W_dep'), names.join(', '));
    assert.match(attached.variant, /dep/);
    // Rows (12 x 0.25 = 3 of layer 0, 10 x 0.25 = 3 (rounded) of layer 1; W_f only, eq. 5,
    // as spruft.trainBias is off by default) plus 3 columns of layer 1 (10 entries each) plus the head.
    assert.equal(attached.trainableParams, 3 * 16 + 3 * 12 + 3 * 10 + (3 * 10 + 3));
    assert.equal(scored.trainableParams, 3 * 16 + 3 * 12 + 3 * 10, 'spruft score counts rows and columns (biases and head aside)');
    const outcome = await trainLoop({ model, attached, train: data, config, runId: 'dep', method: 'spruft' });
    const first = outcome.lossCurve.slice(0, 3).reduce((s, p) => s + p.loss, 0) / 3;
    const last = outcome.lossCurve.slice(-3).reduce((s, p) => s + p.loss, 0) / 3;
    assert.ok(last < first * 0.9, `loss ${first.toFixed(3)} -> ${last.toFixed(3)}`);
    const wdep = model.layers[1].training.kind === 'rows' ? model.layers[1].training.columns!.wdep : undefined;
    assert.ok(wdep && Array.from(wdep.dataSync()).some((v) => v !== 0), 'W_f,dep trained');
    const trained = logitsOf(model, data);
    const adapterDir = join(dir, 'adapter');
    writeAdapter(adapterDir, model, attached, { metric: 'taylor', config, fingerprint: model.fingerprint() });
    const stored = readAdapterConfig(adapterDir);
    assert.deepEqual(stored.layers[1].columns, l1.columns);
    assert.deepEqual(stored.layers[1].tensors['mlp.layers.1.spruft_W_dep'], [10, 3]);
    detachMethod(model);
    model.dispose();
    assert.equal(tf.memory().numTensors, before, 'training and detaching leaked tensors');

    const reloaded = tinyMlp(5);
    applyAdapter(adapterDir, reloaded);
    assertClose(logitsOf(reloaded, data), trained, 1e-5, 'reloaded adapter');
    mergeTraining(reloaded);
    assert.ok(reloaded.layers.every((l) => l.training.kind === 'frozen'));
    assertClose(logitsOf(reloaded, data), trained, 1e-4, 'merged W + M W_f + W_f,dep M_dep');
    reloaded.dispose();

    // Score once, train many: the stored rows and columns attach as they were chosen.
    const again = tinyMlp(5);
    const selection = stored.layers.map((s) => {
      const l = again.layers.find((x) => x.name === s.name)!;
      return { name: s.name, kind: l.kind, rows: s.rows!, scores: s.scores ?? [], dOut: l.dOut, dIn: l.dIn, columns: s.columns };
    });
    const reattached = attachMethod(again, { method: 'spruft', config, selection, trainHead: true, seed: 4 });
    assert.equal(reattached.trainableParams, attached.trainableParams);
    const t1 = again.layers[1].training;
    assert.ok(t1.kind === 'rows' && t1.columns && t1.columns.columns.join() === l1.columns!.join());
    detachMethod(again);
    again.dispose();
  });

  it('conv layers train dependent input channels too (MobileNetV2-like block)', async () => {
    const model = tinyConvNet(6);
    const rng = new Rng(7);
    const n = 24;
    const { size, inputChannels: ci, labels } = CONV_NET;
    const data: ImageExamples = { kind: 'images', n, shape: [size, size, ci], inputs: rng.fillNormal(new Float32Array(n * size * size * ci)), labels: Int32Array.from({ length: n }, (_, i) => i % labels) };
    const config = runConfig({ targets: { layerTypes: ['conv2d', 'norm'] }, spruft: { ratio: 0.5, dependency: true, importance: { metric: 'l2' } }, training: { lr: 0.05, batchSize: 8, epochs: 4, seed: 1 } });
    const scored = await scoreRows(model, config, data);
    const project = scored.layers.find((l) => l.name === 'project')!;
    const dw = scored.layers.find((l) => l.name === 'dw')!;
    assert.deepEqual(project.columns, dw.rows, 'project reads the tuned depthwise channels');
    const attached = attachMethod(model, { method: 'spruft', config, selection: scored.layers, trainHead: true, seed: 1 });
    const outcome = await trainLoop({ model, attached, train: data, config, runId: 'dep-conv', method: 'spruft' });
    assert.ok(outcome.lossCurve.every((p) => Number.isFinite(p.loss)));
    const t = model.layers.find((l) => l.name === 'project')!.training;
    assert.ok(t.kind === 'rows' && t.columns && Array.from(t.columns.wdep.dataSync()).some((v) => v !== 0), 'conv W_f,dep trained');
    detachMethod(model);
    model.dispose();
  });
});
