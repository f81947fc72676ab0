import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parquetWriteFile } from 'hyparquet-writer';
import sharp from 'sharp';
import { resolveRunConfig } from '../../../protocol/config';
import { evaluateClassifier } from '../engine/evaluate';
import { useBackend } from '../tensor/ops/testing';
import { loadTaskData } from '../engine/taskData';
import { tf } from '../tensor/tf';
import { SpruftError } from '../errors';
import { initMlp } from '../models/init';
import { MlpModel } from '../models/mlp';
import { IMAGENET_MEAN, IMAGENET_STD } from './imageDataset';
import { ImageCache, ImageStore, decodeImage, verifyImages } from './imageDecode';
import { listImageFolder, type ImageInputShape } from './imageFolder';
import { DataIssues } from './tabular';

const root = mkdtempSync(join(tmpdir(), 'spruft-imagefolder-'));
after(() => rmSync(root, { recursive: true, force: true }));

type Format = 'png' | 'jpeg' | 'webp';

/** A w x h image of one colour (RGB, or grey with 1 channel, with alpha with 4), encoded. */
async function solid(path: string, format: Format, w: number, h: number, rgb: number[], channels: 1 | 3 | 4 = 3): Promise<void> {
  const px = Buffer.alloc(w * h * channels);
  for (let p = 0; p < w * h; p++) for (let c = 0; c < channels; c++) px[p * channels + c] = c < rgb.length ? rgb[c] : 255;
  const img = sharp(px, { raw: { width: w, height: h, channels } });
  const encoded = format === 'png' ? img.png() : format === 'jpeg' ? img.jpeg({ quality: 95 }) : img.webp({ lossless: true });
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, await encoded.toBuffer());
}

/** A photo-like image (colour gradients and noise), so that lazily decoded pixels differ per file. */
async function textured(path: string, seed: number, size: number): Promise<void> {
  const px = Buffer.alloc(size * size * 3);
  for (let i = 0; i < px.length; i++) px[i] = (i * 7 + seed * 131 + ((i * seed) % 17)) & 255;
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, await sharp(px, { raw: { width: size, height: size, channels: 3 } }).png().toBuffer());
}

const SHAPE: ImageInputShape = { height: 8, width: 8, channels: 3, normalize: 'unit', fit: 'crop' };

function dataError(err: unknown, where: RegExp, message: RegExp): true {
  assert.ok(err instanceof SpruftError, String(err));
  assert.equal(err.code, 'DATA_INVALID');
  assert.match(err.where ?? '', where);
  assert.match(err.message, message);
  return true;
}

describe('image folders', () => {
  let mixed: string;
  before(async () => {
    mixed = join(root, 'mixed');
    // Sizes, formats, grey, alpha and nested folders mixed, as a user's photos come.
    await solid(join(mixed, 'cat', 'a.png'), 'png', 20, 10, [255, 0, 0]);
    await solid(join(mixed, 'cat', 'b.JPG'), 'jpeg', 16, 16, [0, 0, 255]);
    await solid(join(mixed, 'cat', 'nested', 'c.webp'), 'webp', 9, 30, [0, 255, 0]);
    await solid(join(mixed, 'dog', 'grey.png'), 'png', 12, 12, [128], 1);
    await solid(join(mixed, 'dog', 'alpha.png'), 'png', 8, 8, [10, 20, 30, 0], 4);
    writeFileSync(join(mixed, 'dog', '.DS_Store'), 'hidden files are not data');
  });

  it('mixed formats: classes from sorted subfolders, every JPEG, PNG and WebP decoded to the input', async () => {
    const set = listImageFolder(mixed, { issues: new DataIssues('error') });
    assert.deepEqual(set.labelNames, ['cat', 'dog']);
    assert.deepEqual(set.where.map((w) => w.slice(mixed.length + 1)), ['cat/a.png', 'cat/b.JPG', 'cat/nested/c.webp', 'dog/alpha.png', 'dog/grey.png']);
    assert.deepEqual([...set.labels], [0, 0, 0, 1, 1]);
    const expected = [[1, 0, 0], [0, 0, 1], [0, 1, 0], [10 / 255, 20 / 255, 30 / 255], [128 / 255, 128 / 255, 128 / 255]];
    for (let i = 0; i < set.refs.length; i++) {
      const px = await decodeImage(set.refs[i], SHAPE);
      assert.equal(px.length, 8 * 8 * 3);
      // JPEG is lossy: a few levels off; the lossless formats exactly (alpha dropped, grey repeated).
      const tol = set.where[i].endsWith('.JPG') ? 6 / 255 : 1e-6;
      for (let p = 0; p < 64; p++) for (let c = 0; c < 3; c++) assert.ok(Math.abs(px[p * 3 + c] - expected[i][c]) <= tol, `${set.where[i]} pixel ${p} channel ${c}: ${px[p * 3 + c]} vs ${expected[i][c]}`);
    }
    // Grey output and the normalizations the models expect.
    const grey = await decodeImage(set.refs[0], { ...SHAPE, channels: 1 });
    assert.ok(Math.abs(grey[0] - 0.299) < 1e-6, `red as ITU-R 601 luma, as PIL and torchvision take it: ${grey[0]}`);
    const minusOne = await decodeImage(set.refs[0], { ...SHAPE, normalize: 'minus-one' });
    assert.deepEqual([...minusOne.subarray(0, 3)], [1, -1, -1]);
    const imagenet = await decodeImage(set.refs[0], { ...SHAPE, normalize: 'imagenet' });
    assert.ok(Math.abs(imagenet[1] - (0 - IMAGENET_MEAN[1]) / IMAGENET_STD[1]) < 1e-5);
    assert.equal((await verifyImages(set, SHAPE, new DataIssues('error'))).length, 5);
  });

  it('crop keeps the centre, stretch keeps everything', async () => {
    // Left half black, right half white, 20 x 10: a centre crop to 8 x 8 still shows both halves,
    // but a 4:1 image whose outer quarters are red loses them under crop and keeps them under stretch.
    const px = Buffer.alloc(40 * 10 * 3);
    for (let y = 0; y < 10; y++) for (let x = 0; x < 40; x++) if (x < 10 || x >= 30) px[(y * 40 + x) * 3] = 255;
    const path = join(root, 'wide.png');
    writeFileSync(path, await sharp(px, { raw: { width: 40, height: 10, channels: 3 } }).png().toBuffer());
    const crop = await decodeImage({ path }, SHAPE);
    const stretch = await decodeImage({ path }, { ...SHAPE, fit: 'stretch' });
    assert.equal(crop[0], 0, 'the centre crop has no red');
    assert.equal(stretch[0], 1, 'stretched, the red border stays');
  });

  it('a corrupt JPEG stops the run naming the file; under skip it is counted and left out', async () => {
    const dir = join(root, 'corrupt');
    await solid(join(dir, 'a', '1.png'), 'png', 8, 8, [1, 2, 3]);
    await solid(join(dir, 'a', '2.jpg'), 'jpeg', 64, 64, [200, 100, 50]);
    await solid(join(dir, 'b', '3.png'), 'png', 8, 8, [3, 2, 1]);
    const good = readFileSync(join(dir, 'a', '2.jpg'));
    writeFileSync(join(dir, 'a', '2.jpg'), good.subarray(0, Math.floor(good.length / 2)));
    const set = listImageFolder(dir, { issues: new DataIssues('error') });
    await assert.rejects(verifyImages(set, SHAPE, new DataIssues('error')), (e) => dataError(e, /corrupt\/a\/2\.jpg$/, /cannot read this image: .*(premature|truncat|end of)/i));
    const issues = new DataIssues('skip');
    const ok = await verifyImages(set, SHAPE, issues);
    assert.deepEqual([...ok], [0, 2]);
    assert.equal(issues.items.length, 1);
    assert.match(issues.summary('image'), /skipped 1 image with bad data \(first: .*2\.jpg: cannot read this image/);
  });

  it('an empty class folder and a non-image file: errors naming them, or skipped and counted', async () => {
    const dir = join(root, 'untidy');
    await solid(join(dir, 'a', '1.png'), 'png', 8, 8, [1, 2, 3]);
    await solid(join(dir, 'b', '2.png'), 'png', 8, 8, [1, 2, 3]);
    await solid(join(dir, 'c', 'x.webp'), 'webp', 8, 8, [1, 2, 3]);
    mkdirSync(join(dir, 'empty'));
    writeFileSync(join(dir, 'c', 'notes.txt'), 'not an image');
    assert.throws(() => listImageFolder(dir, { issues: new DataIssues('error') }), (e) => dataError(e, /untidy\/c\/notes\.txt$/, /not an image file \("\.txt"\)/));
    writeFileSync(join(dir, 'c', 'notes.txt'), '');
    rmSync(join(dir, 'c', 'notes.txt'));
    assert.throws(() => listImageFolder(dir, { issues: new DataIssues('error') }), (e) => dataError(e, /untidy\/empty$/, /class "empty" has no image/));
    writeFileSync(join(dir, 'c', 'notes.txt'), 'not an image');
    const issues = new DataIssues('skip');
    const set = listImageFolder(dir, { issues });
    assert.deepEqual(set.labelNames, ['a', 'b', 'c'], 'the empty class is left out under skip');
    assert.equal(set.refs.length, 3);
    assert.deepEqual(issues.items.map((i) => i.where.slice(dir.length + 1)), ['c/notes.txt', 'empty']);
    // data.labelNames fixes the classes: a folder outside the list is an issue too.
    assert.throws(() => listImageFolder(dir, { labelNames: ['a', 'b'], issues: new DataIssues('error') }), (e) => dataError(e, /untidy\/c$/, /not one of data\.labelNames/));
  });

  it('lazy loading: a folder 12x larger than the cache trains an epoch with memory bounded (measured)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const dir = join(root, 'large');
    const n = 240;
    const size = 48;
    await Promise.all(Array.from({ length: n }, (_, i) => textured(join(dir, `class${i % 3}`, `${i}.png`), i, size)));
    const set = listImageFolder(dir, { issues: new DataIssues('error') });
    const shape: ImageInputShape = { height: size, width: size, channels: 3, normalize: 'unit', fit: 'crop' };
    const perImage = size * size * 3 * 4;
    const datasetBytes = n * perImage;
    const cache = new ImageCache(datasetBytes / 12);
    const store = new ImageStore(set, shape, cache);
    gc();
    const baseline = process.memoryUsage().arrayBuffers;
    let peakGrowth = 0;
    const batch = 8;
    const order = Array.from({ length: n }, (_, i) => (i * 97) % n);
    const seen = new Set<string>();
    for (let start = 0; start < n; start += batch) {
      const idx = order.slice(start, start + batch);
      await store.prepare(idx);
      for (const i of idx) {
        const px = store.get(i);
        seen.add(`${px[0]},${px[100]},${px[1000]}`);
      }
      gc();
      peakGrowth = Math.max(peakGrowth, process.memoryUsage().arrayBuffers - baseline);
    }
    assert.equal(cache.decodes, n, 'every image decoded once in the epoch');
    assert.ok(seen.size > n / 2, `distinct pixels per image (${seen.size})`);
    assert.ok(cache.peakBytes <= cache.capacityBytes, `cache held ${cache.peakBytes} bytes, capacity ${cache.capacityBytes}`);
    // Measured: what the process holds in array buffers grows by about the cache, not the folder.
    assert.ok(peakGrowth < cache.capacityBytes + 2 * batch * perImage + 512 * 1024, `array buffers grew by ${peakGrowth} bytes; cache ${cache.capacityBytes}, the whole folder decoded ${datasetBytes}`);
    assert.ok(peakGrowth < datasetBytes / 4, `growth ${peakGrowth} vs folder ${datasetBytes}`);
    // An image that was evicted is not served stale: asking without preparing fails loudly.
    assert.throws(() => store.get(order[0]), /was not prepared/);
  });

  it('manifests: a CSV of relative paths, a Parquet file of image bytes and one of HF image structs give the same examples', async () => {
    await useBackend('cpu');
    const dir = join(root, 'manifest');
    const colours = { red: [255, 0, 0], green: [0, 255, 0] } as Record<string, number[]>;
    const rows: Array<{ file: string; label: string }> = [];
    for (let i = 0; i < 12; i++) {
      const label = i % 2 ? 'red' : 'green';
      const file = `img/${i}.${i % 3 ? 'png' : 'jpg'}`;
      await solid(join(dir, file), i % 3 ? 'png' : 'jpeg', 9 + i, 9, colours[label]);
      rows.push({ file, label });
    }
    writeFileSync(join(dir, 'train.csv'), 'file,class\n' + rows.map((r) => `${r.file},${r.label}`).join('\n') + '\n');
    parquetWriteFile({
      filename: join(dir, 'train.parquet'),
      columnData: [
        { name: 'image', data: rows.map((r) => new Uint8Array(readFileSync(join(dir, r.file)))), type: 'BYTE_ARRAY' },
        { name: 'class', data: rows.map((r) => r.label), type: 'STRING' },
      ],
    });
    // Hugging Face's Image feature: a struct of bytes and path (path null when the bytes are inline).
    parquetWriteFile({
      filename: join(dir, 'hf.parquet'),
      schema: [
        { name: 'schema', num_children: 2 },
        { name: 'image', num_children: 2, repetition_type: 'OPTIONAL' },
        { name: 'bytes', type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL' },
        { name: 'path', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
        { name: 'class', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
      ],
      columnData: [
        { name: 'image', data: rows.map((r) => ({ bytes: new Uint8Array(readFileSync(join(dir, r.file))), path: null })) },
        { name: 'class', data: rows.map((r) => r.label) },
      ],
    });
    const mlpConfig = { model_type: 'spruft-mlp' as const, image_size: 4, num_channels: 3, hidden_sizes: [6], num_labels: 2 };
    const model = new MlpModel('mlp', '', mlpConfig, initMlp(mlpConfig, 2));
    const load = (dataset: 'csv' | 'parquet', file: string) => loadTaskData(resolveRunConfig({
      model: { path: 'x' }, task: 'image-classification',
      data: { dataset, path: join(dir, file), evalFraction: 0.25, columns: { image: dataset === 'csv' ? 'file' : 'image', label: 'class' } },
    }, { baseDir: '/', resolvePath: (_b, p) => p }), model);
    const fromCsv = await load('csv', 'train.csv');
    const fromParquet = await load('parquet', 'train.parquet');
    assert.deepEqual(fromCsv.labelNames, ['green', 'red']);
    assert.deepEqual(fromParquet.labelNames, ['green', 'red']);
    assert.match(fromParquet.description, /9 training and 3 evaluation images at 4x4x3/);
    const first = async (data: typeof fromCsv): Promise<number[]> => {
      const m = await evaluateClassifier(model, data.eval, { batchSize: 2, labelNames: data.labelNames! });
      return [m.examples, m.loss];
    };
    assert.deepEqual(await first(fromParquet), await first(fromCsv), 'the same images, read from paths or from bytes');
    assert.deepEqual(await first(await load('parquet', 'hf.parquet')), await first(fromCsv), 'the same images, from HF\'s {bytes, path} structs');
    writeFileSync(join(dir, 'bad.csv'), 'file,class\nimg/0.jpg,green\nimg/missing.png,red\n');
    await assert.rejects(load('csv', 'bad.csv'), (e) => dataError(e, /bad\.csv:3$/, /img\/missing\.png: cannot read this image/));
    model.dispose();
  });

  it('a run config: image-folder read, split, verified and evaluated through the engine lazily', async () => {
    await useBackend('cpu');
    const dir = join(root, 'run');
    await Promise.all(Array.from({ length: 30 }, (_, i) => solid(join(dir, ['red', 'green', 'blue'][i % 3], `${i}.${(['png', 'jpeg', 'webp'] as const)[i % 3]}`), (['png', 'jpeg', 'webp'] as const)[i % 3], 10 + i, 12, [[255, 0, 0], [0, 255, 0], [0, 0, 255]][i % 3])));
    writeFileSync(join(dir, 'red', '99.jpg'), 'not a jpeg at all');
    const config = (onError: 'error' | 'skip') => resolveRunConfig({
      model: { path: 'x' }, task: 'image-classification',
      data: { dataset: 'image-folder', path: dir, evalFraction: 0.2, onError, image: { cacheMiB: 1 } },
    }, { baseDir: '/', resolvePath: (_b, p) => p });
    const mlpConfig = { model_type: 'spruft-mlp' as const, image_size: 4, num_channels: 3, hidden_sizes: [6], num_labels: 3 };
    const model = new MlpModel('mlp', '', mlpConfig, initMlp(mlpConfig, 2));
    await assert.rejects(loadTaskData(config('error'), model), (e) => dataError(e, /red\/99\.jpg$/, /cannot read this image/));
    const data = await loadTaskData(config('skip'), model);
    assert.match(data.description, /24 training and 6 evaluation images at 4x4x3, decoded lazily.*classes: blue 8, green 8, red 8; skipped 1 example with bad data \(first: .*99\.jpg/);
    assert.deepEqual(data.labelNames, ['blue', 'green', 'red']);
    const before = tf.memory().numTensors;
    const metrics = await evaluateClassifier(model, data.eval, { batchSize: 4, labelNames: data.labelNames! });
    assert.equal(metrics.examples, 6);
    assert.equal(tf.memory().numTensors, before);
    model.dispose();
  });
});
