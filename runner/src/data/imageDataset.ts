/**
 * Image datasets as plain typed arrays (the engine turns them into tensors): NHWC float32,
 * values in [0, 1] as loaded, labels 0..K-1 with names. Pure functions select, subsample,
 * split and preprocess them (resize, channels, normalization) with plain loops.
 */
import type { Rng } from '../tensor/rng';
import { SpruftError } from '../errors';
import { balancedIndices, selectLabelIndices, stratifiedSplitIndices } from './sampling';

export type Normalization = 'unit' | 'minus-one' | 'imagenet';

export interface ImageDataset {
  n: number;
  height: number;
  width: number;
  channels: number;
  /** n x height x width x channels, row-major (NHWC). In [0, 1] unless `normalization` says otherwise. */
  images: Float32Array;
  labels: Int32Array;
  labelNames: string[];
  /** Set by `preprocessImages`; absent means 'unit' ([0, 1]). */
  normalization?: Normalization;
}

/** Per-channel mean and standard deviation of ImageNet (RGB, [0, 1] scale). */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/** Throws DATA_INVALID if sizes disagree or a label is out of range. */
export function checkImageDataset(ds: ImageDataset, where?: string): void {
  const { n, height, width, channels } = ds;
  const fail = (m: string): never => {
    throw new SpruftError('DATA_INVALID', m, where);
  };
  if (![n, height, width, channels].every((d) => Number.isInteger(d) && d >= 0)) fail(`bad dataset sizes ${JSON.stringify({ n, height, width, channels })}`);
  if (ds.images.length !== n * height * width * channels) fail(`images hold ${ds.images.length} values, expected ${n} x ${height} x ${width} x ${channels}`);
  if (ds.labels.length !== n) fail(`${ds.labels.length} labels for ${n} images`);
  for (let i = 0; i < n; i++) {
    if (ds.labels[i] < 0 || ds.labels[i] >= ds.labelNames.length) fail(`image ${i} has label ${ds.labels[i]}, but there are ${ds.labelNames.length} label names`);
  }
}

/** The images at `indices`, in that order. */
export function subsetImages(ds: ImageDataset, indices: ArrayLike<number>, labels?: Int32Array, labelNames?: string[]): ImageDataset {
  const size = ds.height * ds.width * ds.channels;
  const images = new Float32Array(indices.length * size);
  const outLabels = labels ?? new Int32Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (!(i >= 0 && i < ds.n)) throw new SpruftError('INTERNAL', `index ${i} outside 0..${ds.n - 1}`);
    images.set(ds.images.subarray(i * size, (i + 1) * size), k * size);
    if (!labels) outLabels[k] = ds.labels[i];
  }
  return { ...ds, n: indices.length, images, labels: outLabels, labelNames: labelNames ?? ds.labelNames };
}

/** Samples per label. */
export function labelCounts(ds: { labels: Int32Array; labelNames: string[] }): number[] {
  const counts = new Array<number>(ds.labelNames.length).fill(0);
  for (const l of ds.labels) counts[l]++;
  return counts;
}

/** Keep these classes (label indices or names) and renumber them 0.. in the order given. */
export function selectClasses(ds: ImageDataset, classes: Array<number | string>): ImageDataset {
  const sel = selectLabelIndices(ds.labels, ds.labelNames, classes);
  return subsetImages(ds, sel.indices, sel.labels, sel.labelNames);
}

/** At most `limit` images, balanced across labels, chosen with `rng` (see `balancedIndices`). */
export function balancedLimit(ds: ImageDataset, limit: number, rng: Rng): ImageDataset {
  return subsetImages(ds, balancedIndices(ds.labels, ds.labelNames.length, limit, rng));
}

/** Stratified split: `holdout` gets round(n * fraction) images, each label in proportion. */
export function splitHoldout(ds: ImageDataset, fraction: number, rng: Rng): { train: ImageDataset; holdout: ImageDataset } {
  const { train, holdout } = stratifiedSplitIndices(ds.labels, ds.labelNames.length, fraction, rng);
  return { train: subsetImages(ds, train), holdout: subsetImages(ds, holdout) };
}

/**
 * Bilinear resize of NHWC images with half-pixel centres: output pixel (y, x) samples the
 * input at ((y + 0.5) * inH / outH - 0.5, ...), clamped at the border — the convention of
 * `tf.image.resize` (TF 2), `tf.image.resizeBilinear(x, size, false, true)`, OpenCV and PIL
 * without antialiasing.
 */
export function resizeBilinear(images: Float32Array, n: number, inH: number, inW: number, channels: number, outH: number, outW: number): Float32Array {
  const out = new Float32Array(n * outH * outW * channels);
  const axis = (inSize: number, outSize: number): { lo: Int32Array; hi: Int32Array; frac: Float32Array } => {
    const lo = new Int32Array(outSize);
    const hi = new Int32Array(outSize);
    const frac = new Float32Array(outSize);
    const scale = inSize / outSize;
    for (let o = 0; o < outSize; o++) {
      const src = Math.max(0, (o + 0.5) * scale - 0.5);
      const l = Math.min(Math.floor(src), inSize - 1);
      lo[o] = l;
      hi[o] = Math.min(l + 1, inSize - 1);
      frac[o] = src - l;
    }
    return { lo, hi, frac };
  };
  const ys = axis(inH, outH);
  const xs = axis(inW, outW);
  const rowIn = inW * channels;
  const imgIn = inH * rowIn;
  let o = 0;
  for (let b = 0; b < n; b++) {
    const base = b * imgIn;
    for (let y = 0; y < outH; y++) {
      const top = base + ys.lo[y] * rowIn;
      const bottom = base + ys.hi[y] * rowIn;
      const fy = ys.frac[y];
      for (let x = 0; x < outW; x++) {
        const left = xs.lo[x] * channels;
        const right = xs.hi[x] * channels;
        const fx = xs.frac[x];
        for (let c = 0; c < channels; c++) {
          const tl = images[top + left + c];
          const tr = images[top + right + c];
          const bl = images[bottom + left + c];
          const br = images[bottom + right + c];
          const t = tl + (tr - tl) * fx;
          const u = bl + (br - bl) * fx;
          out[o++] = t + (u - t) * fy;
        }
      }
    }
  }
  return out;
}

export interface PreprocessOptions {
  /** Output size: a square side or [height, width]. Default: unchanged. */
  size?: number | [number, number];
  /** 1 (grey) or 3 (RGB). Grey to RGB repeats the value; RGB to grey uses ITU-R 601 luma. Default: unchanged. */
  channels?: number;
  /** 'unit': [0, 1]; 'minus-one': [-1, 1]; 'imagenet': (x - mean) / std per RGB channel. Default 'unit'. */
  normalize?: Normalization;
}

/** [0, 1] pixels -> the normalization's scale, in place (`imagenet`: RGB, channels last). */
export function normalizePixels(images: Float32Array, normalize: Normalization): void {
  if (normalize === 'minus-one') {
    for (let i = 0; i < images.length; i++) images[i] = images[i] * 2 - 1;
  } else if (normalize === 'imagenet') {
    for (let i = 0; i < images.length; i += 3) {
      for (let c = 0; c < 3; c++) images[i + c] = (images[i + c] - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
    }
  }
}

/** Resize, convert channels, normalize — in that order. Returns a new dataset. */
export function preprocessImages(ds: ImageDataset, options: PreprocessOptions): ImageDataset {
  if (ds.normalization && ds.normalization !== 'unit') {
    throw new SpruftError('CONFIG_INVALID', `these images are already normalized (${ds.normalization}); preprocess the [0, 1] images once`);
  }
  const [outH, outW] = options.size === undefined ? [ds.height, ds.width] : typeof options.size === 'number' ? [options.size, options.size] : options.size;
  if (![outH, outW].every((d) => Number.isInteger(d) && d > 0)) throw new SpruftError('CONFIG_INVALID', `image size must be positive integers, got ${JSON.stringify(options.size)}`);
  const outC = options.channels ?? ds.channels;
  if (outC !== ds.channels && !((ds.channels === 1 && outC === 3) || (ds.channels === 3 && outC === 1))) {
    throw new SpruftError('CONFIG_INVALID', `cannot convert ${ds.channels}-channel images to ${outC} channels (supported: 1 <-> 3)`);
  }
  const normalize = options.normalize ?? 'unit';
  if (normalize === 'imagenet' && outC !== 3) {
    throw new SpruftError('CONFIG_INVALID', 'imagenet normalization needs 3-channel images; set channels: 3 (grey is repeated)');
  }
  const resized = outH === ds.height && outW === ds.width ? ds.images : resizeBilinear(ds.images, ds.n, ds.height, ds.width, ds.channels, outH, outW);
  const pixels = ds.n * outH * outW;
  let images: Float32Array;
  if (outC === ds.channels) {
    images = resized === ds.images ? resized.slice() : resized;
  } else if (outC === 3) {
    images = new Float32Array(pixels * 3);
    for (let p = 0, o = 0; p < pixels; p++) {
      const v = resized[p];
      images[o++] = v;
      images[o++] = v;
      images[o++] = v;
    }
  } else {
    images = new Float32Array(pixels);
    for (let p = 0, i = 0; p < pixels; p++, i += 3) images[p] = 0.299 * resized[i] + 0.587 * resized[i + 1] + 0.114 * resized[i + 2];
  }
  normalizePixels(images, normalize);
  return { ...ds, height: outH, width: outW, channels: outC, images, normalization: normalize };
}
