import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADAPTER_RECORD_FILE, ADAPTER_CONFIG_FILE } from '../../../../protocol/adapter';
import { METHODS, resolveRunConfig, type RunConfigFile } from '../../../../protocol/config';
import { SpruftError } from '../../errors';
import { MlpModel } from '../../models/mlp';
import type { RawWeights } from '../../models/model';
import { useBackend } from '../../tensor/ops/testing';
import { Rng } from '../../tensor/rng';
import { tf } from '../../tensor/tf';
import { applyAdapter, writeAdapter } from '../adapterIO';
import { attachMethod, detachMethod, METHOD_INFO, METHOD_MODULES, variantOf } from '.';

function tinyMlp(): MlpModel {
  const rng = new Rng(5);
  const raw: RawWeights = new Map();
  raw.set('mlp.layers.0.weight', { shape: [6, 4], data: rng.fillNormal(new Float32Array(24), 0.4) });
  raw.set('mlp.layers.0.bias', { shape: [6], data: new Float32Array(6) });
  raw.set('classifier.weight', { shape: [3, 6], data: rng.fillNormal(new Float32Array(18), 0.4) });
  raw.set('classifier.bias', { shape: [3], data: new Float32Array(3) });
  return new MlpModel('tiny', '/tmp/tiny', { model_type: 'spruft-mlp', image_size: 2, num_channels: 1, hidden_sizes: [6], num_labels: 3 }, raw);
}

const config = (file: Partial<RunConfigFile> = {}) => resolveRunConfig({
  model: { path: '/tmp/tiny' }, task: 'image-classification', data: { dataset: 'idx' },
  spruft: { rank: 2, importance: { metric: 'l2' } }, lora: { rank: 2 }, ...file,
}, { baseDir: '/tmp', resolvePath: (b, p) => join(b, p) });

/** Every file `file` imports, transitively (relative imports only; type-only imports are erased and skipped). */
function runtimeImports(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(/^(?:import|export) (?!type )[^;]*?from '([^']+)'/gms)) {
    const spec = m[1];
    if (!spec.startsWith('.')) {
      seen.add(spec);
      continue;
    }
    const base = resolve(dirname(file), spec);
    let target = `${base}.ts`;
    try {
      readFileSync(target);
    } catch {
      target = join(base, 'index.ts');
    }
    runtimeImports(target, seen);
  }
  return seen;
}

describe('method registry', () => {
  before(async () => {
    await useBackend('wasm');
  });

  it('has one module and one info per method of protocol/methods.ts, under its own name, the module extending the info', () => {
    assert.deepEqual(Object.keys(METHOD_MODULES), [...METHODS]);
    assert.deepEqual(Object.keys(METHOD_INFO), [...METHODS]);
    for (const name of METHODS) {
      const m = METHOD_MODULES[name];
      const info = METHOD_INFO[name];
      assert.equal(m.name, name);
      for (const key of Object.keys(info) as Array<keyof typeof info>) assert.equal(m[key], info[key], `${name}.${key}`);
      if (info.memory.scope !== 'head') assert.ok(info.memory.kept, `${name} says what its layers keep`);
      if (info.memory.scope === 'targets') assert.ok(info.memory.targetParams, `${name} counts its parameters per target`);
    }
  });

  it('labels variants, with FA only for methods that adapt targets', () => {
    const fa = config({ targets: { freezeAttention: true } });
    assert.deepEqual(METHODS.map((m) => variantOf(m, fa)), ['spruft r=2 FA', 'lora r=2 FA', 'full', 'head', 'vera r=256 FA', 'dora r=2 FA']);
    assert.equal(variantOf('spruft', config({ spruft: { ratio: 0.05, dependency: true } })), 'spruft 5.0% dep');
  });

  it('the method infos (memory formulas, labels) load without tfjs, as the language server loads them', () => {
    const seen = runtimeImports(join(import.meta.dirname, 'info.ts'));
    const heavy = [...seen].filter((f) => f.includes('@tensorflow') || f.includes('/tensor/') || f.includes('/models/'));
    assert.deepEqual(heavy, []);
  });

  it('attaches and detaches every method without leaving a tensor, each trainable named once', () => {
    const model = tinyMlp();
    try {
      const before = tf.memory().numTensors;
      for (const method of METHODS) {
        const selection = method === 'spruft' ? [{ name: 'mlp.layers.0', kind: 'linear' as const, rows: [1, 4], scores: [2, 1], dOut: 6, dIn: 4 }] : undefined;
        const attached = attachMethod(model, { method, config: config(), selection, trainHead: true, seed: 0 });
        const names = attached.trainables.map((t) => t.name);
        assert.equal(new Set(names).size, names.length, `${method}: ${names}`);
        assert.ok(names.includes('classifier.weight'), `${method} trains the head`);
        detachMethod(model);
        assert.ok(model.layers.every((l) => l.training.kind === 'frozen'));
        assert.equal(tf.memory().numTensors, before, `${method} left tensors`);
      }
    } finally {
      model.dispose();
    }
  });

  describe('an adapter naming a method this runner does not know', () => {
    let dir: string;
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('is refused with ADAPTER_INVALID, naming the method and the known ones', () => {
      dir = mkdtempSync(join(tmpdir(), 'methods-test-'));
      const model = tinyMlp();
      try {
        const c = config();
        const attached = attachMethod(model, { method: 'lora', config: c, trainHead: true, seed: 0 });
        writeAdapter(dir, model, attached, { config: c, fingerprint: model.fingerprint() });
        detachMethod(model);
        const record = join(dir, ADAPTER_RECORD_FILE);
        writeFileSync(record, readFileSync(record, 'utf8').replace('"method": "lora"', '"method": "vera-x"'));
        assert.ok(readFileSync(join(dir, ADAPTER_CONFIG_FILE), 'utf8').includes('"peft_type": "LORA"'));
        assert.throws(() => applyAdapter(dir, model), (e: unknown) => e instanceof SpruftError && e.code === 'ADAPTER_INVALID' && /"vera-x".*spruft, lora, full, head/.test(e.message));
      } finally {
        model.dispose();
      }
    });
  });
});
