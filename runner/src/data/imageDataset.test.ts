import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../tensor/tf';
import { Rng } from '../tensor/rng';
import { SpruftError } from '../errors';
import {
  balancedLimit,
  checkImageDataset,
  labelCounts,
  preprocessImages,
  resizeBilinear,
  selectClasses,
  splitHoldout,
  type ImageDataset,
} from './imageDataset';

/** n images of h x w x c whose pixels encode (image, position) so that subsets can be traced. */
function synthetic(labels: number[], names: string[], h = 2, w = 2, c = 1): ImageDataset {
  const n = labels.length;
  const images = new Float32Array(n * h * w * c);
  for (let i = 0; i < images.length; i++) images[i] = (Math.floor(i / (h * w * c)) + 1) / 1000;
  return { n, height: h, width: w, channels: c, images, labels: Int32Array.from(labels), labelNames: names };
}

const imageId = (ds: ImageDataset, k: number): number => Math.round(ds.images[k * ds.height * ds.width * ds.channels] * 1000) - 1;

test('resizeBilinear: hand-computed cases (half-pixel centres)', () => {
  // 4x4 -> 2x2: each output samples the centre of a 2x2 block = its mean.
  const src = Float32Array.from({ length: 16 }, (_, i) => i);
  assert.deepEqual(Array.from(resizeBilinear(src, 1, 4, 4, 1, 2, 2)), [2.5, 4.5, 10.5, 12.5]);
  // 1x2 -> 1x4: samples at x = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1).
  assert.deepEqual(Array.from(resizeBilinear(new Float32Array([0, 1]), 1, 1, 2, 1, 1, 4)), [0, 0.25, 0.75, 1]);
  // Channels are interpolated independently; same size is the identity.
  const rgb = new Float32Array([0, 10, 100, 1, 20, 200]);
  assert.deepEqual(Array.from(resizeBilinear(rgb, 1, 1, 2, 3, 1, 1)), [0.5, 15, 150]);
  assert.deepEqual(resizeBilinear(rgb, 1, 1, 2, 3, 1, 2), rgb);
});

test('resizeBilinear equals tf.image.resizeBilinear(halfPixelCenters) on random images', async () => {
  const rng = new Rng(7);
  const before = tf.memory().numTensors;
  for (const [n, h, w, c, oh, ow] of [
    [2, 28, 28, 1, 32, 32],
    [1, 28, 28, 3, 14, 20],
    [3, 5, 7, 2, 11, 3],
    [1, 224, 224, 3, 64, 64],
  ]) {
    const x = rng.fillUniform(new Float32Array(n * h * w * c), 0, 1);
    const ours = resizeBilinear(x, n, h, w, c, oh, ow);
    const t = tf.tensor4d(x, [n, h, w, c]);
    const r = tf.image.resizeBilinear(t, [oh, ow], false, true);
    const ref = (await r.data()) as Float32Array;
    tf.dispose([t, r]);
    let maxDiff = 0;
    for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ref[i] - ours[i]));
    assert.ok(maxDiff < 1e-6, `${h}x${w}x${c} -> ${oh}x${ow}: max difference ${maxDiff}`);
  }
  assert.equal(tf.memory().numTensors, before);
});

test('preprocessImages: grey to RGB, RGB to grey, and the three normalizations', () => {
  const grey = synthetic([0], ['a'], 1, 2, 1);
  grey.images.set([0.5, 1]);
  const rgb = preprocessImages(grey, { channels: 3 });
  assert.deepEqual(Array.from(rgb.images), [0.5, 0.5, 0.5, 1, 1, 1]);
  assert.equal(rgb.normalization, 'unit');
  assert.deepEqual([...grey.images], [0.5, 1], 'input untouched');
  const minus = preprocessImages(grey, { normalize: 'minus-one' });
  assert.deepEqual(Array.from(minus.images), [0, 1]);
  const inet = preprocessImages(grey, { channels: 3, normalize: 'imagenet' });
  const expected = [0.5, 0.5, 0.5, 1, 1, 1].map((v, i) => Math.fround((v - [0.485, 0.456, 0.406][i % 3]) / [0.229, 0.224, 0.225][i % 3]));
  assert.deepEqual(Array.from(inet.images), expected);
  const colour: ImageDataset = { ...synthetic([0], ['a'], 1, 1, 3), images: new Float32Array([1, 0.5, 0]) };
  assert.deepEqual(Array.from(preprocessImages(colour, { channels: 1 }).images), [Math.fround(0.299 + 0.587 * 0.5)]);
  const big = preprocessImages(synthetic([0, 1], ['a', 'b'], 28, 28, 1), { size: 32, channels: 3, normalize: 'minus-one' });
  assert.deepEqual([big.n, big.height, big.width, big.channels, big.images.length], [2, 32, 32, 3, 2 * 32 * 32 * 3]);
  checkImageDataset(big);
  const err = (fn: () => unknown): string => {
    try {
      fn();
    } catch (e) {
      assert.ok(e instanceof SpruftError);
      return e.message;
    }
    return assert.fail('expected an error');
  };
  assert.match(err(() => preprocessImages(grey, { normalize: 'imagenet' })), /imagenet normalization needs 3-channel images/);
  assert.match(err(() => preprocessImages(grey, { channels: 4 })), /cannot convert 1-channel images to 4 channels/);
  assert.match(err(() => preprocessImages(minus, { size: 4 })), /already normalized \(minus-one\)/);
  assert.match(err(() => preprocessImages(grey, { size: 0 })), /positive integers/);
});

test('selectClasses keeps the given labels and renumbers them in the order given', () => {
  const ds = synthetic([0, 1, 2, 1, 0, 2, 3], ['zero', 'one', 'two', 'three']);
  const sel = selectClasses(ds, [2, 'zero']);
  assert.deepEqual(sel.labelNames, ['two', 'zero']);
  assert.deepEqual(Array.from(sel.labels), [1, 0, 1, 0]);
  assert.deepEqual([0, 1, 2, 3].map((k) => imageId(sel, k)), [0, 2, 4, 5], 'the images travel with their labels');
  checkImageDataset(sel);
  assert.throws(() => selectClasses(ds, [7]), /class 7 is not one of this dataset's labels \(0: zero, 1: one/);
  assert.throws(() => selectClasses(ds, ['two', 2]), /selected twice/);
});

test('balancedLimit: balanced, seeded, and fills from larger classes when one runs short', () => {
  const labels = [...Array(50).fill(0), ...Array(30).fill(1), ...Array(4).fill(2)];
  const ds = synthetic(labels, ['a', 'b', 'c']);
  const a = balancedLimit(ds, 30, new Rng(1));
  assert.deepEqual(labelCounts(a), [13, 13, 4], '10 each, class c has only 4: the 6 left go to a and b');
  const b = balancedLimit(ds, 30, new Rng(1));
  assert.deepEqual(a.images, b.images, 'same seed, same subset');
  const c = balancedLimit(ds, 30, new Rng(2));
  assert.notDeepEqual(a.images, c.images, 'another seed, another subset');
  assert.deepEqual(labelCounts(balancedLimit(ds, 7, new Rng(1))), [3, 2, 2]);
  assert.equal(balancedLimit(ds, 1000, new Rng(1)).n, 84);
  const ids = Array.from({ length: a.n }, (_, k) => imageId(a, k));
  assert.deepEqual(ids, [...ids].sort((x, y) => x - y), 'original order kept');
  assert.equal(new Set(ids).size, 30, 'no image twice');
  ids.forEach((id, k) => assert.equal(a.labels[k], labels[id]));
});

test('splitHoldout: stratified, exact total, disjoint, seeded', () => {
  const labels = [...Array(50).fill(0), ...Array(30).fill(1), ...Array(20).fill(2), 3];
  const ds = synthetic(labels, ['a', 'b', 'c', 'd']);
  const { train, holdout } = splitHoldout(ds, 0.2, new Rng(3));
  assert.equal(holdout.n, 20);
  assert.equal(train.n, 81);
  assert.deepEqual(labelCounts(holdout), [10, 6, 4, 0]);
  const ids = (d: ImageDataset): number[] => Array.from({ length: d.n }, (_, k) => imageId(d, k));
  const all = [...ids(train), ...ids(holdout)].sort((x, y) => x - y);
  assert.deepEqual(all, Array.from({ length: 101 }, (_, i) => i), 'a partition of the dataset');
  assert.deepEqual(splitHoldout(ds, 0.2, new Rng(3)).holdout.images, holdout.images);
  // Largest remainder: 0.25 of (3, 3, 2) = (0.75, 0.75, 0.5) -> total 2 -> labels 0 and 1.
  assert.deepEqual(labelCounts(splitHoldout(synthetic([0, 0, 0, 1, 1, 1, 2, 2], ['a', 'b', 'c']), 0.25, new Rng(1)).holdout), [1, 1, 0]);
  assert.throws(() => splitHoldout(ds, 1.5, new Rng(1)), /fraction must be in \[0, 1\]/);
});

test('checkImageDataset catches size and label mismatches', () => {
  const ds = synthetic([0, 1], ['a', 'b']);
  assert.throws(() => checkImageDataset({ ...ds, n: 3 }), /images hold 8 values, expected 3 x 2 x 2 x 1/);
  assert.throws(() => checkImageDataset({ ...ds, labels: new Int32Array([0, 2]) }), /image 1 has label 2, but there are 2 label names/);
});
