/**
 * The built runner (dist/runner.js, which loads dist/dataParallelWorker.js) trains a
 * small MLP on real MNIST digits with `training.workers: 2`, SPruFT compared with LoRA,
 * and ends where `training.workers: 1` does; the packaged extension carries the worker.
 * Needs `npm run build` first (npm test does it).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunResult } from '../../../../protocol/results';
import { initMlp } from '../../models/init';
import type { MlpConfig } from '../../models/mlp';
import { writeHfFolder } from '../../io/hfFolder';
import { WORKER_BUNDLE } from './pool';

const ROOT = join(__dirname, '..', '..', '..', '..');
const RUNNER = join(ROOT, 'dist', 'runner.js');
const MLP: MlpConfig = { model_type: 'spruft-mlp', image_size: 8, num_channels: 1, hidden_sizes: [24, 16], num_labels: 10 };

function config(workers: number): string {
  return `model:
  path: model
task: image-classification
data:
  dataset: mnist
  trainLimit: 120
  evalLimit: 60
  image:
    size: 8
    channels: 1
method: spruft
compare: [lora]
spruft:
  rank: 3
  importance:
    metric: l2
lora:
  rank: 2
  dropout: 0
training:
  lr: 0.01
  batchSize: 15
  epochs: 1
  seed: 3
  workers: ${workers}
backend: wasm
output:
  dir: runs
  name: workers-${workers}
`;
}

describe('data-parallel training in the built runner', () => {
  let dir: string;
  before(() => {
    assert.ok(existsSync(RUNNER) && existsSync(join(ROOT, 'dist', WORKER_BUNDLE)), `build the runner first (npm run build): ${RUNNER} and dist/${WORKER_BUNDLE}`);
    dir = mkdtempSync(join(tmpdir(), 'spruft-dp-e2e-'));
    const raw = initMlp(MLP, 5);
    writeHfFolder(join(dir, 'model'), { config: MLP, tensors: raw });
    for (const w of [1, 2]) writeFileSync(join(dir, `w${w}.spruft.yaml`), config(w));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('packs the worker bundle into the extension (.vscodeignore allow-list)', () => {
    const allowed = readFileSync(join(ROOT, '.vscodeignore'), 'utf8').split('\n');
    assert.ok(allowed.includes(`!dist/${WORKER_BUNDLE}`), `.vscodeignore must allow dist/${WORKER_BUNDLE}`);
  });

  it('spruft train with 2 workers ends where 1 worker does, for SPruFT and LoRA', () => {
    const results = [1, 2].map((w) => {
      const r = spawnSync(process.execPath, [RUNNER, 'train', `w${w}.spruft.yaml`, '--json'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0, `workers ${w}: ${r.stderr}`);
      return { result: JSON.parse(r.stdout) as RunResult, stderr: r.stderr };
    });
    const [one, two] = results;
    assert.match(two.stderr, /data-parallel: 2 ranks/);
    assert.doesNotMatch(one.stderr, /data-parallel/);
    const pairs = [[one.result, two.result], [one.result.compared![0], two.result.compared![0]]];
    for (const [a, b] of pairs) {
      assert.equal(b.method, a.method);
      assert.equal(b.steps, 8);
      assert.equal(b.trainableParams, a.trainableParams);
      const la = a.metrics.loss!;
      const lb = b.metrics.loss!;
      assert.ok(Math.abs(la - lb) < 1e-4 * Math.max(1, la), `${a.method}: evaluation loss ${lb} with 2 workers, ${la} with 1`);
      assert.match(b.memory!.source, /rank 0 of 2 data-parallel workers: these figures are rank 0's, for its 7 of every 15 examples/);
    }
  });
});
