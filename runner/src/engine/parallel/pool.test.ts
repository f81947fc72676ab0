/**
 * Data-parallel workers that fail: a model a worker cannot build, a step that throws, a
 * thread that ends mid-run, a cancelled run. Each surfaces as a SpruftError with the
 * worker's message (no hang), and no worker thread outlives the run: the pool's count
 * and the process's own thread list (/proc/self/task) are back where they started.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { resolveRunConfig, type ResolvedRunConfig, type RunConfigFile } from '../../../../protocol/config';
import { SpruftError } from '../../errors';
import { initMlp } from '../../models/init';
import { MlpModel, type MlpConfig } from '../../models/mlp';
import type { ImageExamples } from '../batches';
import { attachMethod, detachMethod } from '../methods';
import { useBackend } from '../../tensor/ops/testing';
import { Rng } from '../../tensor/rng';
import { trainLoop } from '../train';
import { liveWorkerThreads, WorkerPool } from './pool';

const MLP: MlpConfig = { model_type: 'spruft-mlp', image_size: 4, num_channels: 1, hidden_sizes: [8], num_labels: 3 };

/** An MLP that a worker cannot rebuild: its exported config names an unknown architecture. */
class UnknownToWorkers extends MlpModel {
  override exportConfig(): Record<string, unknown> {
    return { ...super.exportConfig(), model_type: 'mystery-net' };
  }
}

function images(n: number): ImageExamples {
  const rng = new Rng(2);
  return { kind: 'images', n, shape: [4, 4, 1], inputs: rng.fillNormal(new Float32Array(n * 16)), labels: Int32Array.from({ length: n }, () => rng.int(3)) };
}

function config(training: RunConfigFile['training']): ResolvedRunConfig {
  return resolveRunConfig({
    model: { path: '/tmp/tiny' }, task: 'image-classification', data: { dataset: 'idx' },
    targets: { layerTypes: ['linear'] }, lora: { rank: 2, dropout: 0 }, training,
  }, { baseDir: '/tmp', resolvePath: (b, p) => join(b, p) });
}

function threadCount(): number {
  return readdirSync('/proc/self/task').length;
}

async function trainLora(model: MlpModel, cfg: ResolvedRunConfig, extra: { pool?: WorkerPool; signal?: AbortSignal; onStep?: (step: number) => void } = {}) {
  const attached = attachMethod(model, { method: 'lora', config: cfg, trainHead: true, seed: 0 });
  try {
    return await trainLoop({
      model, attached, train: images(64), config: cfg, runId: 'dp-fail', method: 'lora', pool: extra.pool, signal: extra.signal,
      onProgress: (e) => extra.onStep?.(e.step),
    });
  } finally {
    detachMethod(model);
  }
}

async function rejectsWith(p: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof SpruftError, `a SpruftError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('data-parallel worker failures', () => {
  let baseline: number;
  before(async () => {
    await useBackend('wasm');
    baseline = threadCount();
  });

  const gone = (): void => {
    assert.equal(liveWorkerThreads(), 0, 'worker threads still running');
    assert.ok(threadCount() <= baseline, `the process has ${threadCount()} threads, ${baseline} before`);
  };

  it('a worker that cannot build the model: the run fails with its message, its thread is gone', async () => {
    const model = new UnknownToWorkers('odd', '/tmp/odd', { ...MLP }, initMlp(MLP, 1));
    await rejectsWith(trainLora(model, config({ batchSize: 8, maxSteps: 2, workers: 2 })), 'UNSUPPORTED', /^data-parallel worker 1: .*model_type "mystery-net" is not supported/);
    model.dispose();
    gone();
  });

  it('a model path a worker cannot read: its FILE_NOT_FOUND reaches the caller', async () => {
    const model = new MlpModel('t', '/tmp/t', { ...MLP }, initMlp(MLP, 1));
    const missing = '/nonexistent/spruft-model';
    await rejectsWith(
      WorkerPool.start({ ranks: 3, model, recipe: { kind: 'tfjs-layers', path: missing, options: {}, weights: new Map() } }),
      'FILE_NOT_FOUND', /^data-parallel worker 1: .*\/nonexistent\/spruft-model/,
    );
    model.dispose();
    gone();
  });

  for (const how of ['throw', 'exit'] as const) {
    it(`a worker that ${how === 'throw' ? 'throws' : 'ends its thread'} at step 2: the run stops there with a clear error`, async () => {
      const model = new MlpModel('t', '/tmp/t', { ...MLP }, initMlp(MLP, 1));
      const pool = await WorkerPool.start({ ranks: 3, model, fault: { rank: 2, atStep: 2, how } });
      const steps: number[] = [];
      try {
        const expected = how === 'throw' ? /^data-parallel worker 2: injected fault at step 2/ : /^data-parallel worker 2 stopped unexpectedly \(thread exit code 3\)/;
        await rejectsWith(trainLora(model, config({ batchSize: 8, maxSteps: 5, workers: 3 }), { pool, onStep: (s) => steps.push(s) }), 'INTERNAL', expected);
        assert.deepEqual(steps, [1], 'the first step finished, the second did not');
        // A pool with a failed worker refuses further work at once.
        await rejectsWith(pool.step(2, [], [], false), 'INTERNAL', /^data-parallel worker 2/);
      } finally {
        await pool.close();
        model.dispose();
      }
      gone();
    });
  }

  it('a cancelled run stops after the step in flight and closes its workers', async () => {
    const model = new MlpModel('t', '/tmp/t', { ...MLP }, initMlp(MLP, 1));
    const abort = new AbortController();
    await rejectsWith(
      trainLora(model, config({ batchSize: 8, maxSteps: 50, workers: 2 }), { signal: abort.signal, onStep: (s) => { if (s === 1) abort.abort(); } }),
      'RUN_CANCELLED', /after step 1 of 8/,
    );
    model.dispose();
    gone();
  });

  it('more workers than examples per batch: a config error before any thread starts', async () => {
    const model = new MlpModel('t', '/tmp/t', { ...MLP }, initMlp(MLP, 1));
    await rejectsWith(trainLora(model, config({ batchSize: 2, maxSteps: 1, workers: 3 })), 'CONFIG_INVALID', /training.workers \(3\) exceeds training.batchSize \(2\)/);
    model.dispose();
    gone();
  });
});
