import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LineIndex } from '../../../protocol/configValidate';
import type { ConfigDiagnostic, ConfigRange } from '../../../protocol/diagnostics';
import type { InspectResult } from '../../../protocol/results';
import { SpruftError } from '../errors';
import { loadRunConfig } from './load';
import type { ModelInspector } from './semantic';

/** A Llama-style layer list as the header reader gives it (hidden 16, MLP 40, 2 blocks). */
function llamaLayers(): InspectResult {
  const layers: InspectResult['layers'] = [{ name: 'model.embed_tokens.weight', kind: 'embedding', shape: [64, 16], params: 1024 }];
  const linear = (name: string, dOut: number, dIn: number) => layers.push({ name, kind: 'linear', shape: [dOut, dIn], params: dOut * dIn, dOut, dIn });
  for (let i = 0; i < 2; i++) {
    const p = `model.layers.${i}`;
    layers.push({ name: `${p}.input_layernorm`, kind: 'rmsnorm', shape: [16], params: 16, dOut: 16, dIn: 1 });
    for (const q of ['q', 'k', 'v', 'o']) linear(`${p}.self_attn.${q}_proj`, 16, 16);
    linear(`${p}.mlp.gate_proj`, 40, 16);
    linear(`${p}.mlp.up_proj`, 40, 16);
    linear(`${p}.mlp.down_proj`, 16, 40);
  }
  linear('lm_head', 64, 16);
  return { name: 'tiny-llama', architecture: 'llama', format: 'hf', params: layers.reduce((s, l) => s + l.params, 0), layers };
}

let dir: string;
const calls: string[] = [];
const inspect: ModelInspector = async (path) => {
  calls.push(path);
  if (path.endsWith('broken-model')) throw new SpruftError('MODEL_INVALID', 'config.json: model_type "gpt9" is not supported', path);
  return llamaLayers();
};

function at(text: string, context: string, needle = context): ConfigRange {
  const start = text.indexOf(context);
  assert.ok(start >= 0, `"${context}" is in the text`);
  const index = text.indexOf(needle, start);
  return new LineIndex(text).range(index, index + needle.length);
}

async function check(text: string, memoryLimitBytes = 64 * 1024 ** 3): Promise<ConfigDiagnostic[]> {
  const file = join(dir, 'run.spruft.yaml');
  writeFileSync(file, text);
  return (await loadRunConfig(file, undefined, { inspect, memoryLimitBytes })).diagnostics;
}

function one(diagnostics: ConfigDiagnostic[], code: string): ConfigDiagnostic {
  const found = diagnostics.filter((d) => d.code === code);
  assert.equal(found.length, 1, `one ${code} in ${JSON.stringify(diagnostics.map((d) => [d.code, d.message]), null, 1)}`);
  return found[0]!;
}

const BASE = `model:
  path: tiny-llama
task: causal-lm
data:
  dataset: jsonl
  path: train.jsonl
`;

describe('checks against files and the model', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'spruft-semantic-'));
    mkdirSync(join(dir, 'tiny-llama'));
    mkdirSync(join(dir, 'broken-model'));
    writeFileSync(join(dir, 'train.jsonl'), '{"text": "hello", "label": 1}\n{"text": "again", "label": 0}\n');
    writeFileSync(join(dir, 'reviews.jsonl'), '{"review": "fine", "stars": 4}\n');
    mkdirSync(join(dir, 'run-1'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts a config whose paths, layers and ranks fit', async () => {
    assert.deepEqual(await check(`${BASE}spruft:\n  rank: 16\ntargets:\n  include: ["*.mlp.*", "*.self_attn.*"]\n`), []);
    assert.equal(calls.at(-1), join(dir, 'tiny-llama'), 'the model path starts at the config file');
  });

  it('names the nearest file when a path does not exist, with a fix', async () => {
    const text = BASE.replace('path: tiny-llama', 'path: tiny-lama');
    const d = one(await check(text), 'path-not-found');
    assert.deepEqual(d.range, at(text, 'tiny-lama'));
    assert.equal(d.message, `The model \`tiny-lama\` does not exist. Did you mean \`tiny-llama\`? Relative paths start at this file's folder (${dir}).`);
    assert.deepEqual(d.fixes?.map((f) => f.newText), ['tiny-llama']);
  });

  it('reports a model that does not read', async () => {
    const text = BASE.replace('path: tiny-llama', 'path: broken-model');
    const d = one(await check(text), 'model-invalid');
    assert.equal(d.message, `The model could not be read: ${join(dir, 'broken-model')}: config.json: model_type "gpt9" is not supported`);
  });

  it('checks that JSONL records have the fields the task reads', async () => {
    const text = `model:\n  path: tiny-llama\ntask: text-classification\ndata:\n  dataset: jsonl\n  path: reviews.jsonl\n  text:\n    labelField: stars\n`;
    const d = one(await check(text), 'data-field-missing');
    assert.deepEqual(d.range, at(text, 'reviews.jsonl'));
    assert.equal(d.message, 'The first record of `reviews.jsonl` has no field `text` (`data.text.field`); its fields are `review`, `stars`.');
    const fixedField = text.replace('labelField: stars', 'field: review\n    labelField: label');
    const label = one(await check(fixedField), 'data-field-missing');
    const valueAt = fixedField.indexOf('labelField: label') + 'labelField: '.length;
    assert.deepEqual(label.range, new LineIndex(fixedField).range(valueAt, valueAt + 'label'.length), 'on the key the file sets');
  });

  it('says which layers a pattern that matches nothing was near, with a fix', async () => {
    const text = `${BASE}targets:\n  include: ["*.mlp.*", "*.attn.*"]\n  exclude: [q_proj]\n`;
    const diagnostics = await check(text);
    const include = diagnostics.find((d) => d.code === 'target-no-match' && d.severity === 'error');
    assert.ok(include);
    assert.deepEqual(include.range, at(text, '"*.attn.*"'));
    assert.match(include.message, /^`\*\.attn\.\*` matches no layer of tiny-llama\. Nearest: `\*\.self_attn\.\*`/);
    assert.equal(include.fixes?.[0]?.newText, '"*.self_attn.*"');
    const exclude = diagnostics.find((d) => d.code === 'target-no-match' && d.severity === 'warning');
    assert.ok(exclude, 'an exclude pattern that matches nothing is a warning');
    assert.match(exclude.message, /Nearest: `\*\.q_proj`/);
  });

  it('refuses targets of a kind the method cannot adapt (VeRA: linear only), as train does', async () => {
    const text = `${BASE}method: lora\ncompare: [vera]\ntargets:\n  include: ["*"]\n  layerTypes: [linear, norm]\n`;
    const d = one(await check(text), 'method-layer-kind');
    assert.equal(d.severity, 'error');
    assert.deepEqual(d.range, at(text, 'layerTypes'));
    assert.match(d.message, /^vera adapts linear layers only, but target layer "model\.layers\.0\.input_layernorm" is a rmsnorm layer/);
    assert.deepEqual(await check(text.replace('[linear, norm]', '[linear]')).then((ds) => ds.filter((x) => x.code === 'method-layer-kind')), []);
    assert.deepEqual(await check(text.replace('compare: [vera]\n', '')).then((ds) => ds.filter((x) => x.code === 'method-layer-kind')), [], 'lora leaves norms frozen');
  });

  it('explains a pattern whose layers cannot take adapters', async () => {
    const d = one(await check(`${BASE}targets:\n  include: ["*_layernorm"]\n`), 'target-no-match');
    assert.match(d.message, /matches `model\.layers\.0\.input_layernorm`, `model\.layers\.1\.input_layernorm`, but none is of the types linear\/conv2d/);
    const fa = one(await check(`${BASE}targets:\n  include: ["*.self_attn.*"]\n  freezeAttention: true\n`), 'target-no-match');
    assert.match(fa.message, /they are attention layers and `targets.freezeAttention` is on/);
    const none = one(await check(`${BASE}targets:\n  include: ["*.mlp.*"]\n  exclude: ["*"]\n`), 'no-targets');
    assert.match(none.message, /No layer of tiny-llama is left to adapt/);
  });

  it('keeps rank within d_out of every targeted layer, with a fix', async () => {
    const text = `${BASE}spruft:\n  rank: 20\ntargets:\n  include: ["*.mlp.*"]\n`;
    const d = one(await check(text), 'rank-exceeds-dout');
    assert.deepEqual(d.range, at(text, 'rank: 20', '20'));
    assert.equal(
      d.message,
      '`spruft.rank` 20 is more than the 16 rows (d_out) of `model.layers.0.mlp.down_proj`, `model.layers.1.mlp.down_proj`: a layer has only d_out rows to choose from (paper 4.1). Set `rank` to at most 16, or exclude those layers in `targets.exclude`.',
    );
    assert.deepEqual(d.fixes, [{ title: 'Change rank to 16', range: d.range, newText: '16' }]);
    assert.deepEqual(await check(text.replace('["*.mlp.*"]', '["*.up_proj", "*.gate_proj"]')), [], 'fits the layers it targets');
  });

  it('warns when a LoRA rank exceeds a layer', async () => {
    const d = one(await check(`${BASE}method: lora\nlora:\n  rank: 32\n`), 'lora-rank-exceeds');
    assert.equal(d.severity, 'warning');
  });

  it('warns when the memory estimate is above the limit, saying it is an estimate', async () => {
    const text = `${BASE}training:\n  batchSize: 64\n`;
    const d = one(await check(text, 1024 * 1024), 'memory-estimate');
    assert.equal(d.severity, 'warning');
    assert.deepEqual(d.range, at(text, 'batchSize: 64', '64'));
    assert.match(d.message, /^Estimated training memory for `spruft`: [\d.]+ MiB \(an estimate from layer shapes: /);
    assert.match(d.message, /more than the memory limit set \(1\.00 MiB\)/);
    assert.deepEqual(await check(text), [], 'fits 64 GB');
  });

  it('checks the run folder that rows are reused from', async () => {
    const d = one(await check(`${BASE}spruft:\n  selectionFrom: run-1\n`), 'path-not-found');
    assert.equal(d.message, '`run-1` has no `adapter_config.json`; name a run folder of an earlier SPruFT run.');
    writeFileSync(join(dir, 'run-1', 'adapter_config.json'), '{}');
    assert.deepEqual(await check(`${BASE}spruft:\n  selectionFrom: run-1\n`), []);
  });

  it('runs no file or model check when the schema fails', async () => {
    const before = calls.length;
    const diagnostics = await check(BASE.replace('path: tiny-llama', 'path: tiny-lama') + 'training: {lr: -1}\n');
    assert.deepEqual(diagnostics.map((d) => d.code), ['out-of-range']);
    assert.equal(calls.length, before);
  });
});
