/**
 * Fashion-MNIST (Zalando, MIT): 60,000 training and 10,000 test images, 28x28 grey, 10
 * balanced classes, in IDX files. Debian's `dataset-fashion-mnist` installs them in
 * /usr/share/datasets/fashion-mnist; any folder with the same file names (gzipped or not)
 * works via `dir` (the run config's data.path).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SpruftError } from '../errors';
import { readIdx } from './idx';
import type { ImageDataset } from './imageDataset';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export const FASHION_MNIST_LABELS = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

export type FashionMnistSplit = 'train' | 'test';

export interface FashionMnistOptions {
  split?: FashionMnistSplit;
  /** Folder with the IDX files (default: Debian's). */
  dir?: string;
  /** Only the first `limit` images (in file order; see balancedLimit for a balanced subset). */
  limit?: number;
}

/** The image and label files of a split, `.gz` or uncompressed, whichever exists. */
export function fashionMnistFiles(split: FashionMnistSplit, dir = FASHION_MNIST_DIR): { images: string; labels: string } {
  const stem = split === 'train' ? 'train' : 't10k';
  const find = (kind: string): string => {
    const base = join(dir, `${stem}-${kind}-ubyte`);
    for (const p of [`${base}.gz`, base]) if (existsSync(p)) return p;
    throw new SpruftError(
      'FILE_NOT_FOUND',
      `Fashion-MNIST ${split} file ${stem}-${kind}-ubyte.gz not found. Install the dataset with \`sudo apt-get install dataset-fashion-mnist\` (Debian/Ubuntu), or set data.path to a folder holding ${stem}-images-idx3-ubyte.gz and ${stem}-labels-idx1-ubyte.gz`,
      dir,
    );
  };
  return { images: find('images-idx3'), labels: find('labels-idx1') };
}

/** A split as an ImageDataset (n x 28 x 28 x 1, values / 255). */
export function loadFashionMnist(options: FashionMnistOptions = {}): ImageDataset {
  const split = options.split ?? 'train';
  const files = fashionMnistFiles(split, options.dir);
  const images = readIdx(files.images);
  const labels = readIdx(files.labels);
  if (images.dtype !== 'uint8' || images.dims.length !== 3) {
    throw new SpruftError('DATA_INVALID', `expected uint8 images of shape [n, height, width], got ${images.dtype} [${images.dims.join(', ')}]`, files.images);
  }
  if (labels.dtype !== 'uint8' || labels.dims.length !== 1) {
    throw new SpruftError('DATA_INVALID', `expected uint8 labels of shape [n], got ${labels.dtype} [${labels.dims.join(', ')}]`, files.labels);
  }
  const [total, height, width] = images.dims;
  if (labels.dims[0] !== total) {
    throw new SpruftError('DATA_INVALID', `${total} images but ${labels.dims[0]} labels in ${files.labels}; the two files are from different versions`, files.images);
  }
  const n = options.limit === undefined ? total : Math.max(0, Math.min(total, Math.floor(options.limit)));
  const pixels = images.data as Uint8Array;
  const out = new Float32Array(n * height * width);
  for (let i = 0; i < out.length; i++) out[i] = pixels[i] / 255;
  const lab = new Int32Array(n);
  const raw = labels.data as Uint8Array;
  for (let i = 0; i < n; i++) {
    if (raw[i] >= FASHION_MNIST_LABELS.length) {
      throw new SpruftError('DATA_INVALID', `label ${raw[i]} of image ${i} is not a Fashion-MNIST class (0-9)`, `${files.labels}:item ${i}`);
    }
    lab[i] = raw[i];
  }
  return { n, height, width, channels: 1, images: out, labels: lab, labelNames: [...FASHION_MNIST_LABELS] };
}
