/**
 * Training on images decoded lazily through a cache smaller than the data (the next step
 * decoding while this one trains) sees exactly the batches that training on the same
 * images held in memory sees: the same loss curve and the same trained weights, bit for
 * bit, with gradient accumulation, scoring and evaluation on the lazy path too.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { resolveRunConfig } from '../../../protocol/config';
import { ImageCache, ImageStore, decodeImage } from '../data/imageDecode';
import { listImageFolder, type ImageInputShape } from '../data/imageFolder';
import { DataIssues } from '../data/tabular';
import { initMlp } from '../models/init';
import { MlpModel } from '../models/mlp';
import type { ImageExamples } from './batches';
import { evaluateClassifier } from './evaluate';
import { attachMethod, detachMethod } from './methods';
import { useBackend } from '../tensor/ops/testing';
import { scoreRows } from './score';
import { tf } from '../tensor/tf';
import { trainLoop } from './train';

const root = mkdtempSync(join(tmpdir(), 'spruft-lazy-train-'));
after(() => rmSync(root, { recursive: true, force: true }));

const N = 60;
const SHAPE: ImageInputShape = { height: 6, width: 6, channels: 1, normalize: 'minus-one', fit: 'stretch' };

describe('training on lazily decoded images', () => {
  before(async () => {
    await useBackend('cpu');
    // Three classes told apart by brightness and texture, PNG and JPEG mixed.
    await Promise.all(Array.from({ length: N }, async (_, i) => {
      const cls = i % 3;
      const px = Buffer.alloc(12 * 12);
      for (let p = 0; p < px.length; p++) px[p] = Math.min(255, 40 + cls * 80 + ((p * (i + 3)) % 37));
      const img = sharp(px, { raw: { width: 12, height: 12, channels: 1 } });
      const path = join(root, `c${cls}`, `${i}.${i % 2 ? 'png' : 'jpg'}`);
      mkdirSync(join(root, `c${cls}`), { recursive: true });
      writeFileSync(path, await (i % 2 ? img.png() : img.jpeg({ quality: 95 })).toBuffer());
    }));
  });

  it('equals training on the same images in memory: loss curve and weights, bit for bit', async () => {
    const set = listImageFolder(root, { issues: new DataIssues('error') });
    const per = 6 * 6;
    const inputs = new Float32Array(N * per);
    for (let i = 0; i < N; i++) inputs.set(await decodeImage(set.refs[i], SHAPE), i * per);
    const inMemory: ImageExamples = { kind: 'images', n: N, shape: [6, 6, 1], inputs, labels: set.labels };
    // A cache of 8 images; each step asks for 2 x 6 and raises it to 24: still 40% of the data.
    const cache = new ImageCache(8 * per * 4);
    const lazy: ImageExamples = { kind: 'images', n: N, shape: [6, 6, 1], inputs: new Float32Array(0), labels: set.labels, source: new ImageStore(set, SHAPE, cache) };
    const config = resolveRunConfig({
      model: { path: 'x' }, task: 'image-classification', data: { dataset: 'image-folder', path: root },
      targets: { layerTypes: ['linear'] }, spruft: { rank: 3, importance: { metric: 'taylor', calibrationBatches: 3 } },
      training: { lr: 0.02, batchSize: 6, gradAccumulation: 2, epochs: 3, seed: 4 },
    }, { baseDir: '/', resolvePath: (_b, p) => p });
    const mlp = { model_type: 'spruft-mlp' as const, image_size: 6, num_channels: 1, hidden_sizes: [10], num_labels: 3 };
    const run = async (data: ImageExamples) => {
      const model = new MlpModel('mlp', '', { ...mlp }, initMlp({ ...mlp }, 8));
      const scored = await scoreRows(model, config, data);
      const attached = attachMethod(model, { method: 'spruft', config, selection: scored.layers, trainHead: true, seed: 4 });
      const outcome = await trainLoop({ model, attached, train: data, config, runId: 't', method: 'spruft' });
      const weights = attached.trainables.map((t) => Array.from(t.variable.dataSync()));
      const metrics = await evaluateClassifier(model, data, { batchSize: 7, labelNames: set.labelNames });
      detachMethod(model);
      model.dispose();
      return { rows: scored.layers.map((l) => l.rows), losses: outcome.lossCurve.map((p) => p.loss), weights, metrics };
    };
    const before = tf.memory().numTensors;
    const a = await run(inMemory);
    const b = await run(lazy);
    assert.equal(tf.memory().numTensors, before, 'no tensor leaked');
    assert.deepEqual(b.rows, a.rows, 'the same rows scored');
    assert.equal(a.losses.length, 15, '60 examples / 12 per step x 3 epochs');
    assert.deepEqual(b.losses, a.losses, 'the same loss curve');
    assert.deepEqual(b.weights, a.weights, 'the same trained W_f');
    assert.deepEqual(b.metrics.confusion, a.metrics.confusion, 'the same evaluation');
    assert.ok(a.losses[a.losses.length - 1] < a.losses[0], `it learns (${a.losses[0].toFixed(3)} -> ${a.losses[a.losses.length - 1].toFixed(3)})`);
    assert.ok(cache.peakBytes <= cache.capacityBytes && cache.capacityBytes < N * per * 4, `the cache (${cache.capacityBytes} bytes) holds less than the data (${N * per * 4})`);
    assert.ok(cache.decodes > N, `images evicted and decoded again (${cache.decodes} decodes of ${N} images)`);
  });
});
