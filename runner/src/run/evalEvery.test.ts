/**
 * `training.evalEvery`: evaluations during training land in evaluations.jsonl and reach
 * the hooks (the dashboard's "evaluation over the run"), the last one equals the final
 * metrics, and evaluating leaves training untouched: the same adapter bit for bit as a
 * run that does not evaluate on the way.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { snapshotFromRunFolder } from '../../../protocol/dashboardSnapshot';
import type { EvaluationEvent } from '../../../protocol/rpc';
import { RUN_FILES } from '../../../protocol/runFolder';
import { startTrain } from '../app';
import { writeMlpFolder } from '../../../test/fixtures/mlpFolder';

describe('training.evalEvery', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'spruft-eval-every-'));
    writeMlpFolder(join(dir, 'mlp'), [16, 12]);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const config = (name: string, evalEvery: string): string => {
    const path = join(dir, `${name}.spruft.yaml`);
    writeFileSync(path, [
      'model: { path: ./mlp }',
      'task: image-classification',
      'data: { dataset: mnist, trainLimit: 120, evalLimit: 40, image: { size: 8, channels: 1 } }',
      'method: spruft',
      'compare: [lora]',
      'spruft: { ratio: 0.5, importance: { metric: l2 } }',
      `training: { batchSize: 16, maxSteps: 5, lr: 0.05, seed: 3${evalEvery} }`,
      'backend: cpu',
      `output: { dir: ./runs, name: ${name} }`,
      '',
    ].join('\n'));
    return path;
  };

  it('evaluates every N steps and at the end, without changing what is trained', async () => {
    const seen: EvaluationEvent[] = [];
    const run = await (await startTrain({ configPath: config('every2', ', evalEvery: 2') }, { onEvaluation: (e) => seen.push(e) })).done;
    assert.deepEqual(seen.map((e) => [e.method, e.step]), [['spruft', 2], ['spruft', 4], ['spruft', 5], ['lora', 2], ['lora', 4], ['lora', 5]]);
    const last = seen.filter((e) => e.method === 'spruft').at(-1)!;
    assert.equal(last.loss, run.metrics.loss);
    assert.equal(last.accuracy, run.metrics.accuracy);
    const lines = readFileSync(join(run.runDir, RUN_FILES.evaluations), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as EvaluationEvent);
    assert.deepEqual(lines.map((e) => e.step), [2, 4, 5]);
    const snapshot = snapshotFromRunFolder(run.runDir, (p) => {
      try {
        return readFileSync(join(run.runDir, p), 'utf8');
      } catch {
        return undefined;
      }
    }, ['lora'])!;
    assert.deepEqual(snapshot.methods.map((m) => [m.method, m.evaluations?.map((e) => e.step)]), [['spruft', [2, 4, 5]], ['lora', [2, 4, 5]]]);

    const plain = await (await startTrain({ configPath: config('plain', '') }, {})).done;
    const adapter = (d: string) => readFileSync(join(d, RUN_FILES.adapterDir, 'adapter_model.safetensors'));
    assert.ok(adapter(run.runDir).equals(adapter(plain.runDir)), 'the same adapter, bit for bit');
    assert.equal(plain.metrics.loss, run.metrics.loss);
    const plainEvaluations = readFileSync(join(plain.runDir, RUN_FILES.evaluations), 'utf8').trim().split('\n');
    assert.equal(plainEvaluations.length, 1, 'without evalEvery: the final evaluation only');
  });
});
