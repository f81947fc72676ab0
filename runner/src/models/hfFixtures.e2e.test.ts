/**
 * The project's tiny Hugging Face checkpoints (models/<name>-tiny, scripts/make-hf-fixtures.ts)
 * through the CLI as a user drives it: `spruft inspect`, `spruft score` (l2, taylor,
 * zo-taylor), `spruft train` with SPruFT, LoRA and full fine-tuning, FA (freezeAttention)
 * with dependency groups, and `spruft merge` back into the same layout and dtypes.
 * A few steps each.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { InspectResult, RunResult, ScoreResult } from '../../../protocol/results';
import { readHfHeader } from '../io/hfFolder';
import { REPO_ROOT, runSpruft } from '../../../test/fixtures/spruftCli';

const FIXTURES = [
  { name: 'gpt2-tiny', architecture: 'gpt2', causal: true, layer: 'transformer.h.1.attn.c_attn', dtype: 'F16' },
  { name: 'bert-tiny', architecture: 'bert', causal: false, layer: 'bert.pooler.dense', dtype: 'F32' },
  { name: 'roberta-tiny', architecture: 'roberta', causal: false, layer: 'classifier.dense', dtype: 'F32' },
  { name: 'qwen2-tiny', architecture: 'qwen2', causal: true, layer: 'model.layers.1.self_attn.k_proj', dtype: 'BF16' },
  { name: 'mistral-tiny', architecture: 'mistral', causal: true, layer: 'model.layers.1.mlp.down_proj', dtype: 'F32' },
] as const;

let dir: string;

function config(f: (typeof FIXTURES)[number], run: string, lines: string[]): string {
  const data = f.causal
    ? `data: { dataset: text, path: ${join(REPO_ROOT, 'examples/data/corpus.txt')}, trainLimit: 8, evalLimit: 4, text: { maxLength: 24 } }`
    : `data: { dataset: jsonl, path: ${join(REPO_ROOT, 'examples/data/reviews.jsonl')}, trainLimit: 8, evalLimit: 4, text: { maxLength: 24 } }`;
  const file = join(dir, `${f.name}-${run}.spruft.yaml`);
  writeFileSync(file, [
    `model: { path: ${join(REPO_ROOT, 'models', f.name)} }`, `task: ${f.causal ? 'causal-lm' : 'text-classification'}`, data,
    ...lines, 'lora: { rank: 2 }', 'training: { lr: 1e-3, epochs: 1, batchSize: 4, seed: 1 }', 'backend: wasm', `output: { dir: runs, name: ${f.name}-${run} }`, '',
  ].join('\n'));
  return file;
}

function json<T>(args: string[]): T {
  const r = runSpruft(dir, [...args, '--json']);
  assert.equal(r.status, 0, `spruft ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

describe('HF fixtures over the CLI', () => {
  before(() => { dir = mkdtempSync(join(tmpdir(), 'spruft-hf-e2e-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const f of FIXTURES) {
    it(`${f.name}: score (l2), train (SPruFT by taylor vs LoRA vs full; FA with dependency groups by zo-taylor vs LoRA FA), merge, inspect the merged folder`, () => {
      const score = json<ScoreResult>(['score', config(f, 'l2', ['method: spruft', 'spruft: { rank: 3, importance: { metric: l2 } }'])]);
      assert.equal(score.metric, 'l2');
      assert.ok(score.layers.length > 0 && score.layers.every((l) => l.rows.length === 3), 'three rows per scored layer');

      const main = json<RunResult>(['train', config(f, 'main', ['method: spruft', 'compare: [lora, full]', 'spruft: { rank: 3, importance: { metric: taylor } }'])]);
      assert.deepEqual([main.method, ...(main.compared ?? []).map((c) => c.method)], ['spruft', 'lora', 'full']);
      for (const r of [main, ...(main.compared ?? [])]) assert.ok(Number.isFinite(r.metrics.loss) && r.trainableParams > 0, `${r.method} trained`);
      const full = main.compared!.find((c) => c.method === 'full')!;
      assert.ok(main.trainableParams < full.trainableParams / 10, 'SPruFT trains a small share of what full does');

      const fa = json<RunResult>(['train', config(f, 'fa', [
        'method: spruft', 'compare: [lora]', 'targets: { freezeAttention: true }',
        'spruft: { rank: 3, dependency: true, importance: { metric: zo-taylor, perturbations: 2, calibrationSets: 2 } }',
      ])]);
      assert.ok(fa.trainableParams < main.trainableParams * 2 && Number.isFinite(fa.metrics.loss));

      const out = join(dir, `${f.name}-merged`);
      const merged = runSpruft(dir, ['merge', main.runDir, '--out', out]);
      assert.equal(merged.status, 0, merged.stderr);
      const src = readHfHeader(join(REPO_ROOT, 'models', f.name));
      const header = readHfHeader(out);
      assert.deepEqual(header.tensors.map((t) => `${t.name}:${t.dtype}:${t.shape}`).sort(), src.tensors.map((t) => `${t.name}:${t.dtype}:${t.shape}`).sort());
      assert.ok(header.tensors.every((t) => t.dtype === f.dtype));
      assert.ok(existsSync(join(out, 'tokenizer.json')), 'the tokenizer comes along');
      const inspected = json<InspectResult>(['inspect', out]);
      assert.equal(inspected.architecture, f.architecture);
      assert.ok(inspected.layers.some((l) => l.name === f.layer), `${f.layer} is listed`);
    });
  }
});
