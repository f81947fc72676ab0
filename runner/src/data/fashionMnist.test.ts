import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { SpruftError } from '../errors';
import { FASHION_MNIST_DIR, FASHION_MNIST_LABELS, loadFashionMnist } from './fashionMnist';
import { labelCounts } from './imageDataset';

function idxU8(dims: number[], values: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = 0x08;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, values]);
}

function fakeFolder(n: number, labels: number[], opts: { gzip?: boolean; labelCount?: number } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'spruft-fmnist-'));
  const pixels = Uint8Array.from({ length: n * 4 * 3 }, (_, i) => i % 256);
  const write = (name: string, bytes: Buffer): void => writeFileSync(join(dir, opts.gzip === false ? name : `${name}.gz`), opts.gzip === false ? bytes : gzipSync(bytes));
  write('t10k-images-idx3-ubyte', idxU8([n, 4, 3], pixels));
  write('t10k-labels-idx1-ubyte', idxU8([opts.labelCount ?? labels.length], Uint8Array.from(labels)));
  return dir;
}

test('reads a Fashion-MNIST folder (gzipped or not): /255 scaling, labels, names, limit', () => {
  for (const gzip of [true, false]) {
    const dir = fakeFolder(3, [9, 0, 4], { gzip });
    const ds = loadFashionMnist({ split: 'test', dir });
    assert.deepEqual([ds.n, ds.height, ds.width, ds.channels], [3, 4, 3, 1]);
    assert.deepEqual(Array.from(ds.labels), [9, 0, 4]);
    assert.equal(ds.labelNames[ds.labels[0]], 'Ankle boot');
    assert.equal(ds.images[13], Math.fround(13 / 255));
    assert.deepEqual(ds.labelNames, FASHION_MNIST_LABELS);
    const two = loadFashionMnist({ split: 'test', dir, limit: 2 });
    assert.equal(two.n, 2);
    assert.equal(two.images.length, 2 * 12);
  }
});

test('missing files say how to install them; mismatched files are DATA_INVALID', () => {
  const empty = mkdtempSync(join(tmpdir(), 'spruft-fmnist-'));
  try {
    loadFashionMnist({ dir: empty });
    assert.fail('expected an error');
  } catch (err) {
    assert.ok(err instanceof SpruftError);
    assert.equal(err.code, 'FILE_NOT_FOUND');
    assert.equal(err.where, empty);
    assert.match(err.message, /sudo apt-get install dataset-fashion-mnist/);
    assert.match(err.message, /set data\.path to a folder holding train-images-idx3-ubyte\.gz and train-labels-idx1-ubyte\.gz/);
  }
  assert.throws(() => loadFashionMnist({ split: 'test', dir: fakeFolder(3, [1, 2], { labelCount: 2 }) }), /3 images but 2 labels/);
  assert.throws(() => loadFashionMnist({ split: 'test', dir: fakeFolder(2, [1, 12]) }), /label 12 of image 1 is not a Fashion-MNIST class/);
});

const installed = existsSync(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'));

test('the real Debian dataset-fashion-mnist: 60,000 + 10,000 balanced 28x28 images', { skip: installed ? false : `Fashion-MNIST is not installed in ${FASHION_MNIST_DIR} (sudo apt-get install dataset-fashion-mnist)` }, () => {
  const t0 = performance.now();
  const train = loadFashionMnist({ split: 'train' });
  const t1 = performance.now();
  const testSet = loadFashionMnist({ split: 'test' });
  const t2 = performance.now();
  assert.deepEqual([train.n, train.height, train.width, train.channels], [60000, 28, 28, 1]);
  assert.equal(testSet.n, 10000);
  assert.deepEqual(labelCounts(train), Array(10).fill(6000));
  assert.deepEqual(labelCounts(testSet), Array(10).fill(1000));
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const v of testSet.images) {
    min = Math.min(min, v);
    max = Math.max(max, v);
    sum += v;
  }
  assert.equal(min, 0);
  assert.equal(max, 1);
  const mean = sum / testSet.images.length;
  assert.ok(mean > 0.2 && mean < 0.4, `mean intensity ${mean} (Fashion-MNIST's is about 0.29)`);
  // Trousers are narrow: their mean intensity is below that of pullovers.
  const meanOf = (label: number): number => {
    let s = 0;
    let c = 0;
    for (let i = 0; i < testSet.n; i++) {
      if (testSet.labels[i] !== label) continue;
      for (let p = 0; p < 784; p++) s += testSet.images[i * 784 + p];
      c++;
    }
    return s / c / 784;
  };
  assert.ok(meanOf(1) < meanOf(2));
  console.log(`Fashion-MNIST: train ${(t1 - t0).toFixed(0)} ms, test ${(t2 - t1).toFixed(0)} ms`);
});
