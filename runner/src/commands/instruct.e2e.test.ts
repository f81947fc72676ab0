/**
 * The instruction-tuning examples as a user runs them, briefly: `spruft train` on
 * examples/instruct.spruft.yaml (llama-tiny, byte tokenizer) and
 * examples/gpt2-instruct.spruft.yaml (GPT-2 in HF layout, fp16, GPT-2's BPE), one step per
 * method, reports multiple choice per task before and after tuning; `spruft eval <run> --tasks` scores a task on the frozen model
 * and the adapted one; a model folder without a tokenizer is a located error.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { LanguageModelMetrics, RunResult } from '../../../protocol/results';
import { makeFixtureModels } from '../../../test/fixtures/models/makeFixtureModels';
import { REPO_ROOT, runSpruft } from '../../../test/fixtures/spruftCli';

const EXAMPLES = join(REPO_ROOT, 'examples');
const TASKS = ['arc_easy', 'piqa', 'boolq', 'hellaswag', 'winogrande'];
let dir: string;
let trained: RunResult;

function json(r: { status: number | null; stdout: string; stderr: string }): RunResult {
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as RunResult;
}

/** An example config, its relative paths made absolute, one step per method, two questions per task; trained. */
function trainBriefly(example: string): RunResult {
  const text = readFileSync(join(EXAMPLES, `${example}.spruft.yaml`), 'utf8')
    .replace(/path: \.\.\/models\//, `path: ${join(REPO_ROOT, 'models')}/`)
    .replace('path: data/instructions.jsonl', `path: ${join(EXAMPLES, 'data/instructions.jsonl')}`)
    .replace(/- data\/mc\//g, `- ${join(EXAMPLES, 'data/mc')}/`)
    .replace(/ {2}epochs: \d+\n/, (epochs) => `${epochs}  maxSteps: 1\n  evalBatchSize: 16\n`)
    .replace('evaluation:\n', 'evaluation:\n  limit: 2\n')
    .concat(`output: { dir: ${join(dir, 'runs')}, name: ${example} }\n`);
  writeFileSync(join(dir, `${example}.spruft.yaml`), text);
  return json(runSpruft(dir, ['train', `${example}.spruft.yaml`, '--json']));
}

function checkTrained(result: RunResult): void {
  for (const r of [result, ...(result.compared ?? [])]) {
    const m = r.metrics as LanguageModelMetrics;
    assert.deepEqual(Object.keys(m.multipleChoice ?? {}), TASKS, r.method);
    for (const task of TASKS) {
      const s = m.multipleChoice![task];
      assert.ok(s.acc >= 0 && s.acc <= 1 && s.accNorm >= 0 && s.accNorm <= 1, `${task}: ${JSON.stringify(s)}`);
      assert.equal(s.n, 2);
      assert.equal(r.before!.multipleChoice![task].n, 2);
    }
    assert.ok(Number.isFinite(m.perplexity) && Number.isFinite(r.before!.perplexity));
    assert.equal(r.steps, 1);
  }
  assert.deepEqual([result.method, result.compared?.map((r) => r.method)], ['spruft', ['lora']]);
  // The frozen model is scored once: every method reports the same "before".
  assert.deepEqual(result.before, result.compared![0].before);
}

describe('instruction tuning and multiple choice (examples/instruct.spruft.yaml, examples/gpt2-instruct.spruft.yaml)', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'spruft-instruct-'));
    trained = trainBriefly('instruct');
  });

  it('train --json: metrics.multipleChoice[task] = {acc, accNorm, n} after each method, and before tuning', () => {
    checkTrained(trained);
  });

  it('the GPT-2 example (models/gpt2-tiny, GPT-2\'s tokenizer) trains and scores the same way', () => {
    checkTrained(trainBriefly('gpt2-instruct'));
  });

  it('eval <run> --tasks: the frozen model and the adapted one side by side, as train scored them', () => {
    const r = json(runSpruft(dir, ['eval', trained.runDir, '--tasks', `piqa=${join(EXAMPLES, 'data/mc/piqa.jsonl')}`, '--json']));
    const after = (r.metrics as LanguageModelMetrics).multipleChoice!;
    assert.deepEqual(Object.keys(after), [...TASKS, 'piqa'].filter((t, i, a) => a.indexOf(t) === i));
    // The config's tasks (limit 2) give what train measured; the same adapter, the same scores.
    assert.deepEqual(after.arc_easy, (trained.metrics as LanguageModelMetrics).multipleChoice!.arc_easy);
    assert.deepEqual(r.before!.multipleChoice!.boolq, trained.before!.multipleChoice!.boolq);
    const text = runSpruft(dir, ['eval', trained.runDir, '--tasks', join(EXAMPLES, 'data/mc/winogrande.jsonl')]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /multiple choice\s+task\s+acc before -> after\s+acc_norm before -> after\s+questions/);
    assert.match(text.stdout, /winogrande\s+\d+\.\d\d% -> \d+\.\d\d%/);
  });

  it('a missing task file and a model folder without a tokenizer are errors that say where', () => {
    const missing = runSpruft(dir, ['eval', trained.runDir, '--tasks', 'nowhere.jsonl']);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /nowhere\.jsonl: data file not found/);
    // A model trained with another tokenizer (its config.json names other special ids) and no tokenizer files.
    const { llama } = makeFixtureModels(dir);
    const configPath = join(llama, 'config.json');
    writeFileSync(configPath, JSON.stringify({ ...JSON.parse(readFileSync(configPath, 'utf8')), bos_token_id: 1, eos_token_id: 2 }));
    writeFileSync(join(dir, 'no-tokenizer.spruft.yaml'), `model:\n  path: ${llama}\ntask: causal-lm\ndata: { dataset: jsonl, format: alpaca, path: ${join(EXAMPLES, 'data/instructions.jsonl')} }\n`);
    const check = runSpruft(dir, ['check', 'no-tokenizer.spruft.yaml']);
    assert.equal(check.status, 1);
    assert.match(check.stdout + check.stderr, /no-tokenizer\.spruft\.yaml:2:9: error: `causal-lm` needs the model's tokenizer, but it has no tokenizer\.json/);
  });
});
