/**
 * What "SPruFT: New run config" writes passes `spruft check` (schema and semantic checks,
 * against the repository's real models and data) with no error, for every task and
 * dataset the pickers offer.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { TASKS } from '../../../protocol/config';
import { formatConfigDiagnostic, loadRunConfig } from '../../../runner/src/config/load';
import { configFileName, DATA_CHOICES, runConfigText, TASK_CHOICES, type NewRunConfig } from './runConfigTemplate';

const repo = join(__dirname, '..', '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'spruft-new-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const cases: NewRunConfig[] = [
  { name: 'digits', task: 'image-classification', modelPath: join(repo, 'models/vit-fashion-tiny'), dataset: 'mnist', compareLora: true },
  { name: 'fashion', task: 'image-classification', modelPath: join(repo, 'models/vit-fashion-tiny'), dataset: 'fashion-mnist', compareLora: false },
  { name: 'mobilenet', task: 'image-classification', modelPath: 'npm:nsfwjs/mobilenet_v2', cutAt: 'out_relu', dataset: 'mnist', compareLora: true, image: { size: 32, channels: 3, normalize: 'minus-one' } },
  { name: 'reviews', task: 'text-classification', modelPath: join(repo, 'models/llama-tiny'), dataset: 'jsonl', dataPath: join(repo, 'examples/data/reviews.jsonl'), compareLora: true },
  { name: 'my corpus', task: 'causal-lm', modelPath: join(repo, 'models/llama-tiny'), dataset: 'text', dataPath: join(repo, 'examples/data/corpus.txt'), compareLora: true },
];

describe('new run config', () => {
  it('offers every task, and for each only datasets that task reads', () => {
    assert.deepEqual(TASK_CHOICES.map((t) => t.task).sort(), [...TASKS].sort());
    assert.deepEqual(DATA_CHOICES['text-classification'].map((d) => d.dataset), ['jsonl']);
  });

  for (const c of cases) {
    it(`writes a ${c.task} config on ${c.dataset} that spruft check accepts`, async () => {
      const path = join(dir, configFileName(c.name));
      const text = runConfigText(c);
      writeFileSync(path, text);
      const loaded = await loadRunConfig(path, undefined, { memoryLimitBytes: 64 * 1024 ** 3 });
      const errors = loaded.diagnostics.filter((d) => d.severity === 'error').map((d) => formatConfigDiagnostic(path, d));
      assert.deepEqual(errors, []);
      assert.ok(loaded.resolved, 'resolved');
      assert.equal(loaded.resolved.task, c.task);
      assert.deepEqual(loaded.resolved.compare, c.compareLora ? ['lora'] : []);
      assert.ok(loaded.estimates.length > 0, 'the model was read and its memory estimated');
      // Every key line carries a comment or is a section/simple value the hover documents.
      assert.ok(text.split('\n').filter((l) => l.includes('#')).length >= 8, 'commented');
    });
  }

  it('makes a file name from the run name', () => {
    assert.equal(configFileName('my corpus'), 'my-corpus.spruft.yaml');
    assert.equal(configFileName('../..'), 'run.spruft.yaml');
  });
});
