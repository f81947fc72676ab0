/** Rules between keys that a run used to find only after making its folder (issue 14). */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { checkRunConfigText } from './index';

const codes = (text: string) => checkRunConfigText(text).diagnostics.map((d) => [d.code, d.severity, d.range.start.line]);

it('refuses more data-parallel workers than examples in a batch, at the key that says so', () => {
  const base = 'model: { path: m }\ntask: image-classification\ndata: { dataset: mnist }\n';
  assert.deepEqual(codes(`${base}training:\n  batchSize: 4\n  workers: 5\n`), [['workers-exceed-batch', 'error', 5]]);
  assert.deepEqual(codes(`${base}training:\n  workers: 33\n`), [['workers-exceed-batch', 'error', 4]], 'against the default batch of 32');
  assert.deepEqual(codes(`${base}training:\n  batchSize: 4\n  workers: 4\n`), []);
});

it('refuses method head where there is no head to train', () => {
  const lm = 'model: { path: m }\ntask: causal-lm\ndata: { dataset: text, path: t.txt }\n';
  assert.deepEqual(codes(`${lm}method: head\n`), [['nothing-to-train', 'error', 3]]);
  const image = 'model: { path: m }\ntask: image-classification\ndata: { dataset: mnist }\n';
  assert.deepEqual(codes(`${image}method: lora\ncompare: [head]\nhead: { train: false }\n`), [['nothing-to-train', 'error', 4]]);
  assert.deepEqual(codes(`${image}method: head\n`), []);
});
