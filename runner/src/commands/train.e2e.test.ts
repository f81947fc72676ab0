/**
 * `spruft train` as a user runs it: the JSON document's stable keys, the run folder, and
 * a run killed (SIGKILL) mid-epoch then resumed with `--resume`, which must end with the
 * same adapter weights, bit for bit, as an uninterrupted run.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADAPTER_WEIGHTS_FILE } from '../../../protocol/adapter';
import type { ClassificationMetrics, RunResult } from '../../../protocol/results';
import { RUN_FILES } from '../../../protocol/runFolder';
import { readSafetensors } from '../io/safetensors';
import { runSpruft, spruftArgv, type CliResult } from '../../../test/fixtures/spruftCli';
import { writeMlpFolder } from '../../../test/fixtures/mlpFolder';

let dir: string;

function config(name: string): string {
  return [
    'model:', '  path: mlp', 'task: image-classification',
    'data:', '  dataset: mnist', '  trainLimit: 320', '  evalLimit: 100', '  image: { size: 8, channels: 1 }',
    'method: spruft', 'compare: [lora]',
    'spruft: { rank: 4, importance: { metric: l2 } }',
    'lora: { rank: 2, dropout: 0.1 }',
    'training: { lr: 0.003, epochs: 2, batchSize: 16, checkpointEvery: 3, seed: 3 }',
    'backend: wasm',
    `output: { dir: runs, name: ${name} }`,
    '',
  ].join('\n');
}

function weights(adapterDir: string): Record<string, number[]> {
  const file = readSafetensors(join(adapterDir, ADAPTER_WEIGHTS_FILE));
  return Object.fromEntries([...file.tensors].map(([n, t]) => [n, Array.from(t.data)]));
}

const train = (...args: string[]): CliResult => runSpruft(dir, ['train', ...args]);

describe('spruft train', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'spruft-train-'));
    writeMlpFolder(join(dir, 'mlp'), [24]);
    writeFileSync(join(dir, 'straight.spruft.yaml'), config('straight'));
    writeFileSync(join(dir, 'killed.spruft.yaml'), config('killed'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  let straight: RunResult;

  it('prints one JSON document with the stable keys and writes the run folder', () => {
    const r = train('straight.spruft.yaml', '--json');
    assert.equal(r.status, 0, r.stderr);
    straight = JSON.parse(r.stdout) as RunResult;
    assert.equal(straight.method, 'spruft');
    assert.equal(straight.backend.name, 'wasm');
    assert.ok(straight.trainableParams > 0 && straight.percent > 0);
    const m = straight.metrics as ClassificationMetrics;
    assert.ok(Number.isFinite(m.loss) && m.accuracy >= 0 && m.accuracy <= 1);
    assert.deepEqual(Object.keys(m.perLabelStats).sort(), ['max', 'median', 'min', 'q1', 'q3']);
    assert.equal(Object.keys(m.perLabel).length, 10);
    assert.deepEqual(Object.keys(straight.mem!).sort(), ['cache', 'dropout', 'grads', 'optimizer', 'other', 'params', 'total']);
    assert.equal(straight.compared?.[0].method, 'lora');
    for (const f of [RUN_FILES.config, RUN_FILES.status, RUN_FILES.metrics, RUN_FILES.progress, RUN_FILES.selection, RUN_FILES.memory, join(RUN_FILES.adapterDir, ADAPTER_WEIGHTS_FILE)]) {
      assert.ok(existsSync(join(straight.runDir, f)), `${f} written`);
    }
    assert.match(r.stderr, /\[spruft\] .*loss/, 'progress on stderr');
  });

  it('killed mid-epoch and resumed, it ends with the same weights, bit for bit', async () => {
    const runDir = join(dir, 'runs', 'killed');
    const child = spawn(process.execPath, spruftArgv(['train', 'killed.spruft.yaml']), { cwd: dir, stdio: 'ignore' });
    // Kill it (no cleanup: SIGKILL) once its first checkpoint exists: mid-way through epoch 1.
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (existsSync(join(runDir, RUN_FILES.checkpointDir, 'latest.json'))) {
          clearInterval(timer);
          child.kill('SIGKILL');
        }
      }, 20);
      child.once('exit', (code, signal) => {
        clearInterval(timer);
        if (signal === 'SIGKILL') resolve();
        else reject(new Error(`the run ended (code ${code}) before its first checkpoint`));
      });
    });
    const status = JSON.parse(readFileSync(join(runDir, RUN_FILES.status), 'utf8')) as { status: string };
    assert.equal(status.status, 'running', 'a killed run leaves its status as it was');
    assert.ok(!existsSync(join(runDir, RUN_FILES.adapterDir, ADAPTER_WEIGHTS_FILE)), 'no adapter before the run ends');
    const r = train('--resume', runDir, '--json');
    assert.equal(r.status, 0, r.stderr);
    const resumed = JSON.parse(r.stdout) as RunResult;
    assert.equal(resumed.steps, straight.steps);
    assert.deepEqual(weights(join(runDir, RUN_FILES.adapterDir)), weights(join(straight.runDir, RUN_FILES.adapterDir)), 'spruft adapter');
    const lora = join(RUN_FILES.compareDir, 'lora', RUN_FILES.adapterDir);
    assert.deepEqual(weights(join(runDir, lora)), weights(join(straight.runDir, lora)), 'lora adapter');
    assert.deepEqual(resumed.metrics, straight.metrics);
  });

  it('refuses a bad config before starting, naming file, line and column', () => {
    writeFileSync(join(dir, 'bad.spruft.yaml'), config('bad').replace('lr: 0.003', 'lr: fast'));
    const r = train('bad.spruft.yaml');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /bad\.spruft\.yaml:\d+:\d+: error: /);
    assert.ok(!existsSync(join(dir, 'runs', 'bad')), 'no run folder for a config with errors');
  });
});
