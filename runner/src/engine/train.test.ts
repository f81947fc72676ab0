import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolveRunConfig, type ResolvedRunConfig, type RunConfigFile } from '../../../protocol/config';
import type { MethodName } from '../../../protocol/results';
import { MlpModel, type MlpConfig } from '../models/mlp';
import type { RawWeights } from '../models/model';
import type { ImageExamples } from './batches';
import { attachMethod, detachMethod } from './methods';
import { peakBytes } from '../tensor/memory';
import { inferenceContext } from '../models/layer';
import { makeBatch, disposeBatch } from './batches';
import { Rng } from '../tensor/rng';
import { scoreRows } from './score';
import { SimulatedCrash, trainLoop } from './train';
import { tf } from '../tensor/tf';
import { useBackend } from '../tensor/ops/testing';

const SIZE = 4, LABELS = 3, HIDDEN = [12, 10];

function tinyMlp(seed: number): MlpModel {
  const rng = new Rng(seed);
  const raw: RawWeights = new Map();
  const dims = [SIZE * SIZE, ...HIDDEN];
  HIDDEN.forEach((h, i) => {
    raw.set(`mlp.layers.${i}.weight`, { shape: [h, dims[i]], data: rng.fillNormal(new Float32Array(h * dims[i]), 0.4) });
    raw.set(`mlp.layers.${i}.bias`, { shape: [h], data: new Float32Array(h) });
  });
  raw.set('classifier.weight', { shape: [LABELS, HIDDEN[1]], data: rng.fillNormal(new Float32Array(LABELS * HIDDEN[1]), 0.4) });
  raw.set('classifier.bias', { shape: [LABELS], data: new Float32Array(LABELS) });
  const config: MlpConfig = { model_type: 'spruft-mlp', image_size: SIZE, num_channels: 1, hidden_sizes: HIDDEN, num_labels: LABELS };
  return new MlpModel('tiny', '/tmp/tiny', config, raw);
}

/** A learnable synthetic task: the label is the argmax of a fixed projection of the pixels. */
function teacherData(n: number, seed: number): ImageExamples {
  const rng = new Rng(seed);
  const proj = rng.fillNormal(new Float32Array(LABELS * SIZE * SIZE));
  const inputs = rng.fillNormal(new Float32Array(n * SIZE * SIZE));
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = -Infinity;
    for (let k = 0; k < LABELS; k++) {
      let s = 0;
      for (let j = 0; j < SIZE * SIZE; j++) s += proj[k * SIZE * SIZE + j] * inputs[i * SIZE * SIZE + j];
      if (s > best) { best = s; labels[i] = k; }
    }
  }
  return { kind: 'images', n, shape: [SIZE, SIZE, 1], inputs, labels };
}

function config(overrides: Partial<RunConfigFile> = {}): ResolvedRunConfig {
  const file: RunConfigFile = {
    model: { path: '/tmp/tiny' }, task: 'image-classification', data: { dataset: 'idx' },
    targets: { layerTypes: ['linear'] },
    spruft: { rank: 3, importance: { metric: 'l2' } },
    lora: { rank: 2, dropout: 0.1 },
    training: { lr: 0.01, batchSize: 16, epochs: 3, seed: 7, checkpointEvery: 2 },
    ...overrides,
  };
  return resolveRunConfig(file, { baseDir: '/tmp', resolvePath: (b, p) => join(b, p) });
}

async function trainMethod(method: MethodName, cfg: ResolvedRunConfig, model: MlpModel, data: ImageExamples, extra: { checkpointDir?: string; resume?: boolean; crashAfterStep?: number; measure?: boolean } = {}) {
  const selection = method === 'spruft' ? (await scoreRows(model, cfg, data)).layers : undefined;
  const attached = attachMethod(model, { method, config: cfg, selection, trainHead: true, seed: cfg.training.seed });
  let inferencePeak: number | undefined;
  if (extra.measure) {
    const batch = makeBatch(data, Int32Array.from({ length: cfg.training.batchSize }, (_, i) => i));
    inferencePeak = await peakBytes(() => { tf.tidy(() => model.forward(batch.x, inferenceContext())); });
    disposeBatch(batch);
  }
  const outcome = await trainLoop({
    model, attached, train: data, config: cfg, runId: 'test', method,
    checkpointDir: extra.checkpointDir, resume: extra.resume, crashAfterStep: extra.crashAfterStep, inferencePeak,
  });
  const weights = new Map(attached.trainables.map((t) => [t.name, Array.from(t.variable.dataSync())]));
  return { attached, outcome, weights };
}

describe('training loop', () => {
  let dir: string;
  before(async () => {
    await useBackend('wasm');
    dir = mkdtempSync(join(tmpdir(), 'spruft-train-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const method of ['spruft', 'lora', 'full', 'head'] as const) {
    it(`${method}: the loss goes down and no tensor leaks`, async () => {
      const model = tinyMlp(1);
      const data = teacherData(256, 2);
      const before = tf.memory().numTensors;
      const { outcome } = await trainMethod(method, config(), model, data);
      detachMethod(model);
      assert.equal(tf.memory().numTensors, before, 'tensors left after training and detaching');
      const first = outcome.lossCurve.slice(0, 3).reduce((s, p) => s + p.loss, 0) / 3;
      const last = outcome.lossCurve.slice(-3).reduce((s, p) => s + p.loss, 0) / 3;
      assert.ok(last < first * 0.9, `${method}: loss ${first.toFixed(3)} -> ${last.toFixed(3)}`);
      model.dispose();
    });
  }

  it('same seed, same weights; another seed, other weights', async () => {
    const data = teacherData(128, 3);
    const run = async (seed: number) => {
      const model = tinyMlp(1);
      const { weights } = await trainMethod('lora', config({ training: { lr: 0.01, batchSize: 16, epochs: 1, seed } }), model, data);
      model.dispose();
      return weights;
    };
    const a = await run(5);
    const b = await run(5);
    const c = await run(6);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });

  for (const method of ['spruft', 'lora'] as const) {
    it(`${method}: a run killed mid-epoch and resumed ends with the same weights, bit for bit`, async () => {
      const data = teacherData(200, 4);
      const cfg = config({ training: { lr: 0.01, batchSize: 16, epochs: 2, seed: 9, checkpointEvery: 3, gradAccumulation: 2 } });
      const straight = await trainMethod(method, cfg, tinyMlp(1), data);
      const ckDir = join(dir, `ck-${method}`);
      const crashed = tinyMlp(1);
      await assert.rejects(trainMethod(method, cfg, crashed, data, { checkpointDir: ckDir, crashAfterStep: 5 }), SimulatedCrash);
      crashed.dispose();
      const resumed = await trainMethod(method, cfg, tinyMlp(1), data, { checkpointDir: ckDir, resume: true });
      assert.equal(resumed.outcome.steps, straight.outcome.steps);
      assert.deepEqual(resumed.weights, straight.weights);
    });
  }

  it('measured memory: parameters, gradients and optimizer state equal what the shapes say', async () => {
    const data = teacherData(64, 5);
    for (const method of ['spruft', 'lora', 'full'] as const) {
      const model = tinyMlp(1);
      const { attached, outcome } = await trainMethod(method, config({ training: { batchSize: 32, maxSteps: 2, seed: 1 } }), model, data, { measure: true });
      const m = outcome.memory!;
      assert.ok(m, 'memory measured');
      const paramBytes = attached.trainableParams * 4;
      assert.equal(m.breakdown.params, paramBytes);
      assert.equal(m.breakdown.grads, paramBytes);
      assert.equal(m.breakdown.optimizer, 2 * paramBytes);
      const b = m.breakdown;
      assert.equal(b.params + b.grads + b.optimizer + b.cache + b.dropout + b.other, b.total, 'components add up to mem');
      assert.equal(b.total, m.peakTrain - m.peakInference);
      if (method === 'lora') {
        // One bool mask per adapted layer input: batch x d_in bytes each.
        const expected = attached.adaptedLayers.reduce((s, l) => s + 32 * l.dIn, 0);
        assert.equal(b.dropout, expected);
      } else {
        assert.equal(b.dropout, 0);
      }
      model.dispose();
    }
  });
});
