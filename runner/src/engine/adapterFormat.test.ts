/**
 * The adapter files as the Python ecosystem reads them (docs/adapter-format.md).
 *
 * PEFT's naming rules for a saved LoRA adapter (peft `get_peft_model_state_dict`, then
 * `save_pretrained`), which `PeftModel.from_pretrained` reverses:
 *   1. Every key starts with `base_model.model.` (PeftModel -> LoraModel -> the model),
 *      followed by the module's own path in the torch model (`vit.encoder.layer.0...`).
 *   2. A LoRA module M saves exactly `M.lora_A.weight` and `M.lora_B.weight`; the adapter
 *      name (`default`) is stripped from saved keys; no bias with `bias: "none"`.
 *   3. nn.Linear(in, out): lora_A = Linear(in, r) -> weight [r, in]; lora_B = Linear(r, out)
 *      -> weight [out, r].
 *   4. nn.Conv2d(in, out, k): lora_A = Conv2d(in, r, k) -> weight [r, in, kh, kw];
 *      lora_B = Conv2d(r, out, 1x1) -> weight [out, r, 1, 1].
 *   5. Merging adds (lora_alpha / r) * B A, for convs (B.flatten(1) @ A.flatten(1))
 *      reshaped to W's [out, in, kh, kw]; r per module is `rank_pattern[M]` if set, else `r`.
 *   6. `modules_to_save` (the new classifier) saves `base_model.model.<module>.weight`
 *      (and `.bias`): `modules_to_save.default` is stripped too.
 *   7. adapter_config.json holds LoraConfig's fields; `target_modules` lists the modules.
 * And SPruFT's own rule: W_f is stored in the base tensor's layout, rows along `rowAxis`,
 * so W[rows] += W_f (index_add along rowAxis) merges it.
 *
 * Checked here against an independent float64 merge written from those rules, on a ViT
 * (Conv2d patch embedding in PyTorch's [out, in, kh, kw], linear layers, LayerNorm rows),
 * and, where Debian's python3-torch is installed, against scripts/python/apply_spruft_adapter.py.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, type AdapterConfig } from '../../../protocol/adapter';
import { resolveRunConfig } from '../../../protocol/config';
import type { MethodName } from '../../../protocol/results';
import { readSafetensors, serializeSafetensors, type SafetensorsTensor } from '../io/safetensors';
import { initMlp, initVit } from '../models/init';
import { inferenceContext } from '../models/layer';
import { MlpModel } from '../models/mlp';
import type { Model } from '../models/model';
import { VitModel } from '../models/vit';
import { applyAdapter, exportModel, mergeTraining, readAdapterConfig, writeAdapter } from './adapterIO';
import { attachMethod, detachMethod } from './methods';
import { assertClose, useBackend } from '../tensor/ops/testing';
import { Rng } from '../tensor/rng';
import { tf } from '../tensor/tf';

const PYTHON = '/usr/bin/python3';
const SCRIPT = resolve(__dirname, '../../../scripts/python/apply_spruft_adapter.py');
const torchMissing = ((): string | false => {
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  return r.status === 0 ? false : `Debian's python3-torch is not installed (${PYTHON} -c "import torch" failed): apt-get install python3-torch`;
})();

const VIT = { model_type: 'vit' as const, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 12, image_size: 8, patch_size: 4, num_channels: 3, num_labels: 4 };
const MLP = { model_type: 'spruft-mlp' as const, image_size: 4, num_channels: 1, hidden_sizes: [6, 5], num_labels: 3 };

type Arrays = Map<string, { shape: number[]; data: Float32Array }>;

function runConfig(rank: number) {
  return resolveRunConfig({
    model: { path: 'x' }, task: 'image-classification', data: { dataset: 'mnist' },
    targets: { layerTypes: ['linear', 'conv2d', 'norm'] }, lora: { rank, alpha: 12, dropout: 0 }, spruft: { rank: 2 },
  }, { baseDir: '/', resolvePath: (_b, p) => p });
}

/** Attach a method with rows chosen by a seeded draw, and move the trainables off zero. */
function train(model: Model, method: MethodName, rank = 3): ReturnType<typeof attachMethod> {
  const rng = new Rng(11);
  const selection = model.layers.filter((l) => !l.head).map((l) => {
    const rows = [...new Set([rng.int(l.dOut), l.dOut - 1])].sort((a, b) => a - b);
    return { name: l.name, kind: l.kind, rows, scores: rows.map(() => 1), dOut: l.dOut, dIn: l.dIn };
  });
  const attached = attachMethod(model, { method, config: runConfig(rank), selection, trainHead: true, seed: 1 });
  tf.tidy(() => attached.trainables.forEach((t, i) => t.variable.assign(tf.add(t.variable, tf.mul(tf.randomNormal(t.variable.shape, 0, 1, 'float32', 40 + i), 0.1)))));
  return attached;
}

const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** W (row-major, `shape`) with `add` (the same shape but `axis` cut to idx.length) added at idx along axis, in float64. */
function indexAdd(w: Float64Array, shape: number[], axis: number, idx: number[], add: ArrayLike<number>): void {
  const inner = size(shape.slice(axis + 1));
  const outer = size(shape.slice(0, axis));
  let k = 0;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < idx.length; j++) {
      for (let i = 0; i < inner; i++) w[(o * shape[axis] + idx[j]) * inner + i] += add[k++];
    }
  }
}

/** The merge written from the rules above, on the base's file tensors. */
function referenceMerge(base: Arrays, adapterDir: string, method: MethodName): Map<string, Float64Array> {
  const config = readAdapterConfig(adapterDir);
  const tensors = readSafetensors(join(adapterDir, ADAPTER_WEIGHTS_FILE)).tensors;
  const merged = new Map([...base].map(([k, v]) => [k, Float64Array.from(v.data)]));
  const get = (name: string): { shape: number[]; data: Float32Array } => {
    const t = tensors.get(name);
    assert.ok(t, `adapter tensor ${name}`);
    return { shape: t.shape, data: t.data as Float32Array };
  };
  for (const l of config.layers) {
    const w = merged.get(l.weightName!)!;
    const shape = base.get(l.weightName!)!.shape;
    if (method === 'spruft') {
      indexAdd(w, shape, l.rowAxis!, l.rows!, get(`${l.name}.spruft_W_f`).data);
      if (tensors.has(`${l.name}.spruft_b_f`)) indexAdd(merged.get(l.biasName!)!, [shape[l.rowAxis!]], 0, l.rows!, get(`${l.name}.spruft_b_f`).data);
    } else {
      const a = get(`base_model.model.${l.name}.lora_A.weight`);
      const b = get(`base_model.model.${l.name}.lora_B.weight`);
      const r = config.rank_pattern?.[l.name] ?? config.r!;
      const scale = config.lora_alpha! / r;
      const out = shape[0];
      const rest = size(shape) / out;
      for (let o = 0; o < out; o++) for (let i = 0; i < rest; i++) {
        let s = 0;
        for (let k = 0; k < r; k++) s += b.data[o * r + k] * a.data[k * rest + i];
        w[o * rest + i] += scale * s;
      }
    }
  }
  for (const name of config.fullTensors) {
    const target = method === 'lora' ? name.replace(/^base_model\.model\./, '') : name;
    merged.set(target, Float64Array.from(get(name).data));
  }
  return merged;
}

function readModelFile(dir: string): Arrays {
  const t = readSafetensors(join(dir, 'model.safetensors')).tensors;
  return new Map([...t].map(([k, v]) => [k, { shape: v.shape, data: v.data as Float32Array }]));
}

function assertSameTensors(actual: Arrays, expected: Map<string, ArrayLike<number>>, tol: number, what: string): void {
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort(), `${what}: tensor names`);
  for (const [name, t] of actual) assertClose(t.data, expected.get(name)!, tol, `${what}: ${name}`);
}

describe('adapter files for the Python ecosystem', () => {
  let dir: string;
  before(async () => {
    await useBackend('cpu');
    dir = mkdtempSync(join(tmpdir(), 'spruft-adapter-format-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A ViT written as an HF folder (the base), trained with `method`, its adapter and its merged export. */
  function scenario(method: MethodName, rank = 3): { baseDir: string; adapterDir: string; mergedDir: string } {
    const model = new VitModel('vit', '', { ...VIT }, initVit({ ...VIT }, 5));
    const baseDir = join(dir, `${method}-base`);
    exportModel(model, baseDir);
    const base = new VitModel('vit', baseDir, { ...VIT }, initVit({ ...VIT }, 5));
    const fingerprint = base.fingerprint();
    const attached = train(base, method, rank);
    const adapterDir = join(dir, `${method}-adapter`);
    writeAdapter(adapterDir, base, attached, { metric: 'l2', config: runConfig(rank), fingerprint });
    detachMethod(base);
    const fresh = new VitModel('vit', baseDir, { ...VIT }, initVit({ ...VIT }, 5));
    applyAdapter(adapterDir, fresh);
    mergeTraining(fresh);
    const mergedDir = join(dir, `${method}-merged`);
    exportModel(fresh, mergedDir);
    for (const m of [model, base, fresh]) m.dispose();
    return { baseDir, adapterDir, mergedDir };
  }

  it('LoRA: keys, shapes and config as PEFT saves them; merging by PEFT\'s rule gives the runner\'s merged model', () => {
    // rank 10 exceeds the 8-wide layers: their rank is capped and listed in rank_pattern.
    const { baseDir, adapterDir, mergedDir } = scenario('lora', 10);
    const peft = JSON.parse(readFileSync(join(adapterDir, ADAPTER_CONFIG_FILE), 'utf8')) as Record<string, unknown>;
    const loraConfigFields = ['peft_type', 'task_type', 'r', 'lora_alpha', 'lora_dropout', 'target_modules', 'rank_pattern', 'bias', 'fan_in_fan_out', 'modules_to_save', 'base_model_name_or_path', 'inference_mode', 'init_lora_weights'];
    assert.deepEqual(Object.keys(peft).sort(), [...loraConfigFields].sort(), 'rule 7: only LoraConfig fields');
    assert.equal(peft.peft_type, 'LORA');
    assert.equal(peft.r, 10);
    const base = readModelFile(baseDir);
    const record = readAdapterConfig(adapterDir);
    const header = readSafetensors(join(adapterDir, ADAPTER_WEIGHTS_FILE)).tensors;
    const expected = new Map<string, number[]>();
    const modules = peft.target_modules as string[];
    assert.ok(modules.includes('vit.embeddings.patch_embeddings.projection'), 'the patch Conv2d is adapted');
    for (const m of modules) {
      const w = base.get(`${m}.weight`);
      assert.ok(w, `rule 1: ${m} is a module path of the torch model (${m}.weight is in model.safetensors)`);
      const r = (peft.rank_pattern as Record<string, number>)[m] ?? 10;
      if (w.shape.length === 2) {
        expected.set(`base_model.model.${m}.lora_A.weight`, [r, w.shape[1]]);
        expected.set(`base_model.model.${m}.lora_B.weight`, [w.shape[0], r]);
      } else {
        expected.set(`base_model.model.${m}.lora_A.weight`, [r, w.shape[1], w.shape[2], w.shape[3]]);
        expected.set(`base_model.model.${m}.lora_B.weight`, [w.shape[0], r, 1, 1]);
      }
    }
    assert.ok(Object.keys(peft.rank_pattern as object).length > 0, 'capped ranks are listed');
    assert.deepEqual(peft.modules_to_save, ['classifier']);
    expected.set('base_model.model.classifier.weight', base.get('classifier.weight')!.shape);
    expected.set('base_model.model.classifier.bias', base.get('classifier.bias')!.shape);
    assert.deepEqual(new Map([...header].map(([k, v]) => [k, v.shape])), expected, 'rules 2-4 and 6: exactly these keys with these shapes');
    assert.equal(record.method, 'lora');
    assertSameTensors(readModelFile(mergedDir), referenceMerge(base, adapterDir, 'lora'), 1e-5, 'rule 5');
  });

  it('SPruFT: W_f in the base tensor\'s own layout (Conv2d [r, in, kh, kw]); W[rows] += W_f gives the runner\'s merged model', () => {
    const { baseDir, adapterDir, mergedDir } = scenario('spruft');
    const base = readModelFile(baseDir);
    const record = readAdapterConfig(adapterDir);
    assert.equal(record.version, 2);
    const header = readSafetensors(join(adapterDir, ADAPTER_WEIGHTS_FILE)).tensors;
    const conv = record.layers.find((l) => l.kind === 'conv2d')!;
    assert.equal(conv.weightName, 'vit.embeddings.patch_embeddings.projection.weight');
    assert.deepEqual(conv.fileShape, [8, 3, 4, 4], 'PyTorch Conv2d layout [out, in, kh, kw]');
    assert.equal(conv.rowAxis, 0);
    assert.deepEqual(header.get(`${conv.name}.spruft_W_f`)!.shape, [conv.rows!.length, 3, 4, 4]);
    for (const l of record.layers) {
      const w = base.get(l.weightName!)!;
      assert.deepEqual(l.fileShape, w.shape, `${l.name}: the base's file shape`);
      const expected = w.shape.map((d, i) => (i === l.rowAxis ? l.rows!.length : d));
      assert.deepEqual(header.get(`${l.name}.spruft_W_f`)!.shape, expected, `${l.name}: W_f is W's layout with rows cut to r`);
    }
    assert.ok(record.layers.some((l) => l.kind === 'layernorm'), 'norm rows are stored too');
    assertSameTensors(readModelFile(mergedDir), referenceMerge(base, adapterDir, 'spruft'), 1e-5, 'W[rows] += W_f');
  });

  it('a version 1 adapter (conv W_f [r, kh, kw, in]) is still read and gives the same model', () => {
    const { baseDir, adapterDir, mergedDir } = scenario('spruft');
    const v1 = join(dir, 'spruft-adapter-v1');
    cpSync(adapterDir, v1, { recursive: true });
    const record = JSON.parse(readFileSync(join(v1, ADAPTER_CONFIG_FILE), 'utf8')) as AdapterConfig;
    const tensors = readSafetensors(join(v1, ADAPTER_WEIGHTS_FILE)).tensors;
    const rewritten = new Map<string, SafetensorsTensor>();
    for (const [name, t] of tensors) {
      const layer = record.layers.find((l) => name === `${l.name}.spruft_W_f`);
      if (layer?.kind !== 'conv2d') { rewritten.set(name, t); continue; }
      // [r, in, kh, kw] -> version 1's [r, kh, kw, in], by index arithmetic.
      const [r, cin, kh, kw] = t.shape;
      const out = new Float32Array(t.data.length);
      for (let o = 0; o < r; o++) for (let c = 0; c < cin; c++) for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) {
        out[((o * kh + y) * kw + x) * cin + c] = (t.data as Float32Array)[((o * cin + c) * kh + y) * kw + x];
      }
      rewritten.set(name, { dtype: 'F32', shape: [r, kh, kw, cin], data: out });
    }
    writeFileSync(join(v1, ADAPTER_WEIGHTS_FILE), serializeSafetensors(rewritten, { format: 'pt' }));
    writeFileSync(join(v1, ADAPTER_CONFIG_FILE), JSON.stringify({ ...record, version: 1 }));
    const fresh = new VitModel('vit', baseDir, { ...VIT }, initVit({ ...VIT }, 5));
    applyAdapter(v1, fresh);
    mergeTraining(fresh);
    const out = join(dir, 'spruft-merged-v1');
    exportModel(fresh, out);
    fresh.dispose();
    assertSameTensors(readModelFile(out), new Map([...readModelFile(mergedDir)].map(([k, v]) => [k, v.data])), 1e-6, 'version 1 vs version 2');
  });

  it('apply_spruft_adapter.py (torch) merges SPruFT and LoRA adapters as the runner does', { skip: torchMissing }, () => {
    for (const method of ['spruft', 'lora'] as const) {
      const { baseDir, adapterDir, mergedDir } = scenario(method);
      const out = join(dir, `${method}-python.safetensors`);
      const r = spawnSync(PYTHON, [SCRIPT, adapterDir, baseDir, '--out', out], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const python = readSafetensors(out).tensors;
      const runner = readModelFile(mergedDir);
      assertSameTensors(new Map([...python].map(([k, v]) => [k, { shape: v.shape, data: v.data as Float32Array }])), new Map([...runner].map(([k, v]) => [k, v.data])), 1e-6, `${method}: python vs runner`);
    }
  });

  it('apply_spruft_adapter.py on a torch.nn.Module gives the runner\'s adapted logits', { skip: torchMissing }, () => {
    const model = new MlpModel('mlp', '', { ...MLP }, initMlp({ ...MLP }, 3));
    const baseDir = join(dir, 'mlp-base');
    exportModel(model, baseDir);
    const fingerprint = model.fingerprint();
    const attached = train(model, 'spruft');
    const adapterDir = join(dir, 'mlp-adapter');
    writeAdapter(adapterDir, model, attached, { config: runConfig(3), fingerprint });
    const x = tf.randomUniform([5, 4, 4, 1], -1, 1, 'float32', 9);
    const logits = tf.tidy(() => Array.from(model.forward(x, inferenceContext()).dataSync()));
    const input = Array.from(x.dataSync());
    x.dispose();
    model.dispose();
    // An independent torch module with the HF names, the base weights loaded, the adapter applied in place.
    const program = `
import json, sys, torch
sys.path.insert(0, ${JSON.stringify(resolve(SCRIPT, '..'))})
from apply_spruft_adapter import apply_adapter, read_safetensors
class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.mlp = torch.nn.Module()
        self.mlp.layers = torch.nn.ModuleList([torch.nn.Linear(16, 6), torch.nn.Linear(6, 5)])
        self.classifier = torch.nn.Linear(5, 3)
    def forward(self, x):
        h = x.flatten(1)
        for l in self.mlp.layers:
            h = torch.relu(l(h))
        return self.classifier(h)
m = MLP()
m.load_state_dict(read_safetensors(${JSON.stringify(join(baseDir, 'model.safetensors'))}))
apply_adapter(m, ${JSON.stringify(adapterDir)})
x = torch.tensor(json.loads(sys.stdin.read()), dtype=torch.float32).reshape(5, 16)
print(json.dumps(m(x).detach().flatten().tolist()))
`;
    const r = spawnSync(PYTHON, ['-c', program], { input: JSON.stringify(input), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assertClose(JSON.parse(r.stdout) as number[], logits, 1e-5, 'torch logits with the adapter vs the runner\'s');
    const config = JSON.parse(readFileSync(join(adapterDir, ADAPTER_CONFIG_FILE), 'utf8')) as AdapterConfig;
    assert.equal(config.method, 'spruft');
  });
});
