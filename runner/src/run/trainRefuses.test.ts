/**
 * Every rule a run enforces on its config is a `spruft check` finding first, at the key it
 * is about, and `train` refuses such a config before it makes a run folder: too many
 * workers for the batch, a head the labels do not fit without `head.replace`, a task the
 * model cannot read, a `head` method with no head to train, an `output.dir` that is a file.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LineIndex } from '../../../protocol/lineIndex';
import { startTrain } from '../app';
import { loadRunConfig, RunConfigError } from '../config/load';
import { writeMlpFolder } from '../../../test/fixtures/mlpFolder';

describe('train refuses what check rejects, before any run folder', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'spruft-refuse-'));
    writeMlpFolder(join(dir, 'mlp'), [12]);
    writeFileSync(join(dir, 'train.jsonl'), '{"text": "hello", "label": "a"}\n{"text": "again", "label": "b"}\n');
    writeFileSync(join(dir, 'not-a-folder'), 'a file\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A config that passes, with `lines` replacing keys of the same name (whole lines). */
  const write = (name: string, changes: Record<string, string> = {}): string => {
    const lines: Record<string, string> = {
      model: 'model: { path: ./mlp }',
      task: 'task: image-classification',
      data: 'data: { dataset: mnist, trainLimit: 40, evalLimit: 20, image: { size: 8, channels: 1 } }',
      method: 'method: lora',
      training: 'training: { batchSize: 4, maxSteps: 1 }',
      backend: 'backend: cpu',
      output: `output: { dir: ./runs-${name} }`,
      ...changes,
    };
    const path = join(dir, `${name}.spruft.yaml`);
    writeFileSync(path, Object.values(lines).join('\n') + '\n');
    return path;
  };

  const cases: Array<{ name: string; code: string; changes: Record<string, string>; at: [string, string] }> = [
    { name: 'workers', code: 'workers-exceed-batch', changes: { training: 'training: { batchSize: 4, maxSteps: 1, workers: 6 }' }, at: ['training:', '6'] },
    { name: 'head', code: 'head-size-mismatch', changes: { data: 'data: { dataset: mnist, classes: [0, 1, 2], trainLimit: 40, image: { size: 8, channels: 1 } }\nhead: { replace: false }' }, at: ['head:', 'false'] },
    { name: 'task', code: 'task-model-mismatch', changes: { task: 'task: text-classification', data: 'data: { dataset: jsonl, path: train.jsonl }' }, at: ['task:', 'text-classification'] },
    { name: 'nothing', code: 'nothing-to-train', changes: { method: 'method: head\nhead: { train: false }' }, at: ['method:', 'head'] },
    { name: 'output', code: 'output-not-folder', changes: { output: 'output: { dir: ./not-a-folder/runs }' }, at: ['output:', './not-a-folder/runs'] },
  ];

  it('accepts the base config (each case below changes one thing)', async () => {
    const loaded = await loadRunConfig(write('base'));
    assert.deepEqual(loaded.diagnostics.filter((d) => d.severity === 'error'), []);
  });

  for (const c of cases) {
    it(`${c.name}: a check error at the key, and train makes no folder`, async () => {
      const path = write(c.name, c.changes);
      const text = readFileSync(path, 'utf8');
      const loaded = await loadRunConfig(path);
      const found = loaded.diagnostics.filter((d) => d.code === c.code);
      assert.equal(found.length, 1, JSON.stringify(loaded.diagnostics.map((d) => [d.code, d.message])));
      assert.equal(found[0]!.severity, 'error');
      const lineStart = text.indexOf(c.at[0]);
      const offset = text.indexOf(c.at[1], lineStart);
      assert.deepEqual(found[0]!.range.start, new LineIndex(text).positionAt(offset), `${c.code} points at ${c.at[1]}`);

      const before = readdirSync(dir).sort();
      await assert.rejects(startTrain({ configPath: path }, {}), (err: unknown) => err instanceof RunConfigError && err.diagnostics.some((d) => d.code === c.code));
      assert.deepEqual(readdirSync(dir).sort(), before, 'no folder was made');
      assert.equal(existsSync(join(dir, `runs-${c.name}`)), false);
    });
  }
});
