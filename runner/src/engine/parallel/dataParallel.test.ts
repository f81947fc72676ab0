/**
 * Data-parallel training (training.workers = 2) against one thread on a tiny MLP:
 * the combined gradient equals the full batch's, training ends at the same weights up
 * to float rounding, runs repeat bit for bit, and a killed run resumes bit for bit.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolveRunConfig, type ResolvedRunConfig, type RunConfigFile } from '../../../../protocol/config';
import type { MethodName } from '../../../../protocol/results';
import { initLlama } from '../../models/init';
import { LlamaModel, type LlamaConfig } from '../../models/llama';
import { MlpModel, type MlpConfig } from '../../models/mlp';
import type { RawWeights } from '../../models/model';
import type { ImageExamples, TokenExamples } from '../batches';
import { makeBatch } from '../batches';
import { attachMethod, detachMethod } from '../methods';
import { assertClose, useBackend } from '../../tensor/ops/testing';
import { Rng } from '../../tensor/rng';
import { scoreRows } from '../score';
import { accumulateGradients, StepRunner } from '../step';
import { tf } from '../../tensor/tf';
import { SimulatedCrash, trainLoop } from '../train';
import { DataParallelStep, methodSpecOf } from './dataParallel';
import { liveWorkerThreads, WorkerPool } from './pool';
import { lossWeight, rankZeroShare, shareBounds, takeShare } from './shares';

const SIZE = 4, LABELS = 3, HIDDEN = [12, 10];

function tinyMlp(): MlpModel {
  const rng = new Rng(1);
  const raw: RawWeights = new Map();
  const dims = [SIZE * SIZE, ...HIDDEN];
  HIDDEN.forEach((h, i) => {
    raw.set(`mlp.layers.${i}.weight`, { shape: [h, dims[i]], data: rng.fillNormal(new Float32Array(h * dims[i]), 0.4) });
    raw.set(`mlp.layers.${i}.bias`, { shape: [h], data: rng.fillNormal(new Float32Array(h), 0.1) });
  });
  raw.set('classifier.weight', { shape: [LABELS, HIDDEN[1]], data: rng.fillNormal(new Float32Array(LABELS * HIDDEN[1]), 0.4) });
  raw.set('classifier.bias', { shape: [LABELS], data: new Float32Array(LABELS) });
  const config: MlpConfig = { model_type: 'spruft-mlp', image_size: SIZE, num_channels: 1, hidden_sizes: HIDDEN, num_labels: LABELS };
  return new MlpModel('tiny', '/tmp/tiny', config, raw);
}

function randomImages(n: number, seed: number): ImageExamples {
  const rng = new Rng(seed);
  return {
    kind: 'images', n, shape: [SIZE, SIZE, 1],
    inputs: rng.fillNormal(new Float32Array(n * SIZE * SIZE)),
    labels: Int32Array.from({ length: n }, () => rng.int(LABELS)),
  };
}

function config(training: RunConfigFile['training'], lora: RunConfigFile['lora'] = { rank: 2, dropout: 0 }): ResolvedRunConfig {
  return resolveRunConfig({
    model: { path: '/tmp/tiny' }, task: 'image-classification', data: { dataset: 'idx' },
    targets: { layerTypes: ['linear'] }, spruft: { rank: 3, importance: { metric: 'l2' } }, lora, training,
  }, { baseDir: '/tmp', resolvePath: (b, p) => join(b, p) });
}

async function attach(model: MlpModel, method: MethodName, cfg: ResolvedRunConfig, data: ImageExamples) {
  const selection = method === 'spruft' ? (await scoreRows(model, cfg, data)).layers : undefined;
  return attachMethod(model, { method, config: cfg, selection, trainHead: true, seed: cfg.training.seed });
}

async function train(method: MethodName, cfg: ResolvedRunConfig, data: ImageExamples, extra: { checkpointDir?: string; resume?: boolean; crashAfterStep?: number; pool?: WorkerPool } = {}) {
  const model = tinyMlp();
  try {
    const attached = await attach(model, method, cfg, data);
    const outcome = await trainLoop({ model, attached, train: data, config: cfg, runId: 'dp', method, ...extra });
    const weights = new Map(attached.trainables.map((t) => [t.name, Array.from(t.variable.dataSync())]));
    return { outcome, weights };
  } finally {
    detachMethod(model);
    model.dispose();
  }
}

describe('data-parallel shares', () => {
  it('cover the batch contiguously; rank 0 never has more', () => {
    for (const [size, ranks] of [[7, 2], [8, 2], [5, 3], [2, 2], [1, 2], [33, 4]]) {
      let next = 0;
      for (let r = 0; r < ranks; r++) {
        const [a, b] = shareBounds(size, ranks, r);
        assert.equal(a, next);
        next = b;
        assert.ok(b - a <= shareBounds(size, ranks, 0)[1] + 1);
        if (r > 0) assert.ok(b - a >= shareBounds(size, ranks, 0)[1], `rank ${r} of ${ranks} has less than rank 0 at size ${size}`);
      }
      assert.equal(next, size);
    }
    assert.equal(rankZeroShare(32, 2), 16);
    assert.equal(rankZeroShare(7, 2), 3);
  });

  it('weigh examples as the loss does: classification by count, causal LM by counted next tokens', () => {
    const t = 4;
    // Example 0 is all real; example 1 has two real tokens (one counted next token).
    const lm: TokenExamples = { kind: 'tokens', n: 2, length: t, ids: Int32Array.from([5, 6, 7, 8, 9, 10, 0, 0]), mask: Uint8Array.from([1, 1, 1, 1, 1, 1, 0, 0]) };
    assert.equal(lossWeight(lm, Int32Array.from([0])), 3);
    assert.equal(lossWeight(lm, Int32Array.from([1])), 1);
    // The same as the batch's own position weights.
    const batch = makeBatch(lm, Int32Array.from([0, 1]));
    assert.equal(tf.sum(batch.weights!).dataSync()[0], lossWeight(lm, Int32Array.from([0, 1])));
    tf.dispose([batch.x, batch.targets!, batch.weights!]);
    const share = takeShare(lm, Int32Array.from([1])) as TokenExamples;
    assert.deepEqual(Array.from(share.ids), [9, 10, 0, 0]);
    const images = randomImages(5, 3);
    const part = takeShare(images, Int32Array.from([4, 1])) as ImageExamples;
    assert.deepEqual(Array.from(part.labels), [images.labels[4], images.labels[1]]);
    assert.deepEqual(Array.from(part.inputs.subarray(0, SIZE * SIZE)), Array.from(images.inputs.subarray(4 * SIZE * SIZE, 5 * SIZE * SIZE)));
  });
});

describe('data-parallel training, 2 workers', () => {
  let dir: string;
  /** One worker thread for most tests (starting one takes seconds under tsx); every tinyMlp() is the same model. */
  let pool: WorkerPool;
  before(async () => {
    await useBackend('wasm');
    dir = mkdtempSync(join(tmpdir(), 'spruft-dp-'));
    const model = tinyMlp();
    pool = await WorkerPool.start({ ranks: 2, model });
    model.dispose();
  });
  after(async () => {
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
    assert.equal(liveWorkerThreads(), 0);
  });

  it('spruft and lora: the combined gradient is the full batch\'s (two micro-batches of unequal shares), no tensor leaks', async () => {
    const data = randomImages(40, 5);
    const model = tinyMlp();
    try {
      for (const method of ['spruft', 'lora'] as const) {
        const cfg = config({ batchSize: 7, seed: 3 });
        const attached = await attach(model, method, cfg, data);
        // Non-zero trainables, so that the gradients depend on them.
        for (const t of attached.trainables) tf.tidy(() => t.variable.assign(tf.randomNormal(t.variable.shape, 0, 0.1, 'float32', 11)));
        await pool.attach(methodSpecOf(model, attached, cfg));
        const runner = new StepRunner(model, attached, { kind: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 });
        const micro = [Int32Array.from([3, 9, 27, 1, 0, 14, 30]), Int32Array.from([5, 6, 2])];
        const before = tf.memory().numTensors;
        const parallel = await new DataParallelStep(pool, runner, model, attached, data).gradients((k) => micro[k], 2, new Rng(1));
        // The reference: each micro-batch whole, on this thread, averaged.
        const single = accumulateGradients(model, attached.trainables, (k) => ({ batch: makeBatch(data, micro[k]), weight: 0.5, ctx: { training: true, dropoutMaskBytes: 0 } }), 2);
        assert.ok(Math.abs(parallel.loss - single.loss) < 1e-6 * Math.abs(single.loss), `${method}: loss ${parallel.loss} vs ${single.loss}`);
        for (const t of attached.trainables) {
          const g = parallel.grads.get(t.name)!.dataSync();
          assert.ok(g.some((v) => v !== 0), `${t.name}: a gradient reached it`);
          assertClose(g, single.grads.get(t.name)!.dataSync(), 1e-5, `${method} ${t.name}`);
        }
        tf.dispose([...parallel.grads.values(), ...single.grads.values()]);
        assert.equal(tf.memory().numTensors, before, 'tensors left by the parallel step');
        runner.dispose();
      }
    } finally {
      detachMethod(model);
      model.dispose();
    }
  });

  it('a causal LM with padding: shares weigh by counted next tokens, the gradient is the full batch\'s', async () => {
    const c: LlamaConfig = {
      model_type: 'llama', vocab_size: 32, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 1,
      num_attention_heads: 2, max_position_embeddings: 8, tie_word_embeddings: false,
    };
    const model = new LlamaModel('tiny-llama', '/tmp/tiny-llama', c, initLlama(c, 2));
    const rng = new Rng(6);
    const t = 8;
    // Real lengths 8, 2, 6, 1, 5: rank 0 gets 2 examples (8 counted next tokens), rank 1 three (5 + 0 + 4).
    const lengths = [8, 2, 6, 1, 5];
    const data: TokenExamples = {
      kind: 'tokens', n: lengths.length, length: t,
      ids: Int32Array.from({ length: lengths.length * t }, (_, i) => (i % t < lengths[Math.floor(i / t)] ? 1 + rng.int(31) : 0)),
      mask: Uint8Array.from({ length: lengths.length * t }, (_, i) => (i % t < lengths[Math.floor(i / t)] ? 1 : 0)),
    };
    const cfg = resolveRunConfig({
      model: { path: '/tmp/tiny-llama' }, task: 'causal-lm', data: { dataset: 'text' }, targets: { layerTypes: ['linear'] }, lora: { rank: 2, dropout: 0 },
    }, { baseDir: '/tmp', resolvePath: (b, p) => join(b, p) });
    const lmPool = await WorkerPool.start({ ranks: 2, model });
    try {
      const attached = attachMethod(model, { method: 'lora', config: cfg, trainHead: false, seed: 1 });
      for (const tr of attached.trainables) tf.tidy(() => tr.variable.assign(tf.randomNormal(tr.variable.shape, 0, 0.1, 'float32', 12)));
      await lmPool.attach(methodSpecOf(model, attached, cfg));
      const runner = new StepRunner(model, attached, { kind: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 });
      const all = Int32Array.from([0, 1, 2, 3, 4]);
      const parallel = await new DataParallelStep(lmPool, runner, model, attached, data).gradients(() => all, 1, new Rng(1));
      const single = accumulateGradients(model, attached.trainables, () => ({ batch: makeBatch(data, all), weight: 1, ctx: { training: true, dropoutMaskBytes: 0 } }), 1);
      assert.ok(Math.abs(parallel.loss - single.loss) < 1e-5 * single.loss, `loss ${parallel.loss} vs ${single.loss}`);
      for (const tr of attached.trainables) assertClose(parallel.grads.get(tr.name)!.dataSync(), single.grads.get(tr.name)!.dataSync(), 1e-4, tr.name);
      tf.dispose([...parallel.grads.values(), ...single.grads.values()]);
      runner.dispose();
    } finally {
      await lmPool.close();
      detachMethod(model);
      model.dispose();
    }
  });

  for (const method of ['spruft', 'lora'] as const) {
    // spruft: trainLoop starts and closes its own worker; lora: the shared one.
    const own = method === 'spruft';
    it(`${method}: training with 2 workers ends where 1 worker does (float tolerance)${own ? '; its worker thread is gone afterwards' : ''}`, async () => {
      const data = randomImages(60, 6);
      const base = { lr: 0.01, batchSize: 9, epochs: 1, seed: 4, gradAccumulation: 2 };
      const one = await train(method, config({ ...base, workers: 1 }), data);
      const two = await train(method, config({ ...base, workers: 2 }), data, own ? {} : { pool });
      assert.equal(two.outcome.steps, one.outcome.steps);
      two.outcome.lossCurve.forEach((p, i) => assert.ok(Math.abs(p.loss - one.outcome.lossCurve[i].loss) < 1e-5, `loss at step ${p.step}`));
      for (const [name, w] of one.weights) assertClose(two.weights.get(name)!, w, 1e-4, `${method} ${name}`);
      assert.equal(liveWorkerThreads(), 1, 'only the shared worker thread is left');
    });
  }

  it('two runs with 2 workers give the same weights, bit for bit (lora with dropout: per-share streams)', async () => {
    const data = randomImages(48, 7);
    const cfg = config({ lr: 0.01, batchSize: 8, epochs: 1, seed: 5, workers: 2 }, { rank: 2, dropout: 0.2 });
    const a = await train('lora', cfg, data, { pool });
    const b = await train('lora', cfg, data, { pool });
    assert.deepEqual(a.weights, b.weights);
    assert.deepEqual(a.outcome.lossCurve.map((p) => p.loss), b.outcome.lossCurve.map((p) => p.loss));
  });

  it('a run with 2 workers killed mid-epoch and resumed ends with the same weights, bit for bit', async () => {
    const data = randomImages(50, 8);
    const cfg = config({ lr: 0.01, batchSize: 8, epochs: 2, seed: 9, checkpointEvery: 3, gradAccumulation: 2, workers: 2 }, { rank: 2, dropout: 0.1 });
    for (const method of ['spruft', 'lora'] as const) {
      const straight = await train(method, cfg, data, { pool });
      const ckDir = join(dir, `ck-${method}`);
      await assert.rejects(train(method, cfg, data, { pool, checkpointDir: ckDir, crashAfterStep: 4 }), SimulatedCrash);
      const resumed = await train(method, cfg, data, { pool, checkpointDir: ckDir, resume: true });
      assert.equal(resumed.outcome.steps, straight.outcome.steps);
      assert.deepEqual(resumed.weights, straight.weights, method);
    }
  });
});
