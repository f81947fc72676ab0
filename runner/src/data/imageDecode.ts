/**
 * Decoding the user's images. JPEG, PNG and WebP are decoded by sharp (libvips; prebuilt
 * binaries installed from npm): measured against the pure-JS jpeg-js and pngjs in
 * `scripts/bench-image-decode.ts`, it decodes JPEG 3x faster, reads WebP (they do not), and
 * decodes in libuv's thread pool, so the next batch decodes while the current one trains
 * (92% of its decoding hidden behind a busy main thread, measured there).
 *
 * Images are never all in memory: an `ImageStore` decodes them on demand into a bounded
 * LRU cache of preprocessed float32 pixels (resize/crop to the model's input, channels,
 * normalization), which training fills a step ahead (`prepare`).
 */
import type sharpFunction from 'sharp';
import { SpruftError } from '../errors';
import { normalizePixels } from './imageDataset';
import type { ImageInputShape, ImageRefSet } from './imageFolder';
import type { DataIssues, ImageRef } from './tabular';
import { readRegularFile } from '../io/regularFile';

/** Larger image files are refused rather than decoded (a 16k x 16k PNG is well below this). */
const IMAGE_FILE_BYTES = 512 * 1024 * 1024;

type Sharp = typeof sharpFunction;
let sharpModule: Sharp | undefined;

/** sharp, loaded on first use so that runs without images never need its native binary. */
function sharp(): Sharp {
  if (!sharpModule) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      sharpModule = require('sharp') as Sharp;
    } catch (err) {
      throw new SpruftError('UNSUPPORTED', `decoding images needs the npm package sharp, which did not load (${(err as Error).message.split('\n')[0]}); run npm install in the extension's folder`);
    }
  }
  return sharpModule;
}

function describe(ref: ImageRef): string {
  return 'path' in ref ? ref.path : ref.where;
}

/**
 * One image -> preprocessed float32 HWC pixels: EXIF orientation applied, resized (and
 * centre-cropped) to the input, alpha dropped (as PIL's convert('RGB')), sRGB (grey as
 * ITU-R 601 luma), 8 bits, then scaled to [0, 1] and normalized. Fails with the file named.
 */
export async function decodeImage(ref: ImageRef, shape: ImageInputShape): Promise<Float32Array> {
  let data: Buffer;
  let channels: number;
  try {
    // A path is read here, bounded, as a regular file only (a FIFO named x.png would stall the decoder).
    const input = 'path' in ref ? readRegularFile(ref.path, 'image', 'DATA_INVALID', IMAGE_FILE_BYTES) : Buffer.from(ref.bytes.buffer, ref.bytes.byteOffset, ref.bytes.byteLength);
    let pipeline = sharp()(input, { failOn: 'warning' })
      .rotate()
      .resize(shape.width, shape.height, { fit: shape.fit === 'crop' ? 'cover' : 'fill' })
      .removeAlpha();
    // Always sRGB: grey is then taken as PIL's convert('L') and torchvision's Grayscale take
    // it (ITU-R 601 luma of the encoded values), not as libvips would (linear-light luminance).
    pipeline = pipeline.toColourspace('srgb');
    const out = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    data = out.data;
    channels = out.info.channels;
  } catch (err) {
    throw new SpruftError('DATA_INVALID', `cannot read this image: ${(err as Error).message.replace(/\s+/g, ' ').trim()}`, describe(ref));
  }
  const pixels = shape.height * shape.width;
  if (data.length !== pixels * channels) throw new SpruftError('DATA_INVALID', `decoded to ${data.length} bytes, expected ${pixels} x ${channels}`, describe(ref));
  const values = new Float32Array(pixels * shape.channels);
  if (channels === shape.channels) {
    for (let i = 0; i < values.length; i++) values[i] = data[i] / 255;
  } else if (channels === 1 && shape.channels === 3) {
    for (let p = 0; p < pixels; p++) values[3 * p] = values[3 * p + 1] = values[3 * p + 2] = data[p] / 255;
  } else if (channels === 3 && shape.channels === 1) {
    for (let p = 0; p < pixels; p++) values[p] = (0.299 * data[3 * p] + 0.587 * data[3 * p + 1] + 0.114 * data[3 * p + 2]) / 255;
  } else {
    throw new SpruftError('DATA_INVALID', `decoded to ${channels} channels, expected ${shape.channels}`, describe(ref));
  }
  normalizePixels(values, shape.normalize);
  return values;
}

/** Run `f` over 0..n-1 with at most `limit` at once. */
async function forEachLimited(n: number, limit: number, f: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) await f(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}

/**
 * Decode every image once before a run (in the thread pool, a few at a time, nothing
 * kept), so that an unreadable file stops the run before training, naming it, or under
 * `skip` is counted and left out. Returns the indices of the readable images.
 */
export async function verifyImages(set: ImageRefSet, shape: ImageInputShape, issues: DataIssues): Promise<Int32Array> {
  const ok = new Uint8Array(set.refs.length);
  let first: SpruftError | undefined;
  await forEachLimited(set.refs.length, 8, async (i) => {
    if (first) return;
    try {
      await decodeImage(set.refs[i], shape);
      ok[i] = 1;
    } catch (err) {
      if (!(err instanceof SpruftError)) throw err;
      // A manifest's image is named by its row; the file it names goes into the message.
      const message = err.where ? err.message.slice(err.where.length + 2) : err.message;
      try {
        issues.add(set.where[i], err.where && err.where !== set.where[i] ? `${err.where}: ${message}` : message);
      } catch (stop) {
        first ??= stop as SpruftError;
      }
    }
  });
  if (first) throw first;
  return Int32Array.from([...ok.keys()].filter((i) => ok[i] === 1));
}

/** A bounded LRU cache of decoded images shared by several stores (train and eval split). */
export class ImageCache {
  private readonly entries = new Map<string, Float32Array>();
  private bytes = 0;
  /** Most bytes held at once, and decodes done: what the memory test and reports read. */
  peakBytes = 0;
  decodes = 0;

  constructor(public capacityBytes: number) {}

  get residentBytes(): number {
    return this.bytes;
  }

  get(key: string): Float32Array | undefined {
    const v = this.entries.get(key);
    if (v) {
      this.entries.delete(key);
      this.entries.set(key, v);
    }
    return v;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  set(key: string, value: Float32Array): void {
    const old = this.entries.get(key);
    if (old) this.bytes -= old.byteLength;
    this.entries.delete(key);
    this.entries.set(key, value);
    this.bytes += value.byteLength;
    for (const [k, v] of this.entries) {
      if (this.bytes <= this.capacityBytes) break;
      this.entries.delete(k);
      this.bytes -= v.byteLength;
    }
    this.peakBytes = Math.max(this.peakBytes, this.bytes);
  }

  /** Make room for at least `bytes` at once (what one step and the prefetch of the next need). */
  ensureCapacity(bytes: number): void {
    this.capacityBytes = Math.max(this.capacityBytes, bytes);
  }
}

let storeIds = 0;

/**
 * The images of one split, decoded on demand through the shared cache. `prepare(indices)`
 * decodes what is missing (in sharp's thread pool); `get(i)` is synchronous and only
 * answers for prepared images, so a batch is cut without waiting on the disk.
 */
export class ImageStore {
  readonly bytesPerImage: number;
  private readonly id = storeIds++;
  private readonly inFlight = new Map<number, Promise<void>>();

  constructor(readonly set: ImageRefSet, readonly shape: ImageInputShape, readonly cache: ImageCache) {
    this.bytesPerImage = shape.height * shape.width * shape.channels * 4;
  }

  get n(): number {
    return this.set.refs.length;
  }

  get(i: number): Float32Array {
    const v = this.cache.get(`${this.id}:${i}`);
    if (!v) throw new SpruftError('INTERNAL', `image ${i} (${this.set.where[i]}) was not prepared before its batch was cut`);
    return v;
  }

  async prepare(indices: ArrayLike<number>): Promise<void> {
    // Room for this request and the one before it (the batch being trained while this one decodes).
    this.cache.ensureCapacity(2 * indices.length * this.bytesPerImage);
    const waits: Array<Promise<void>> = [];
    for (const i of Array.from(indices)) {
      const key = `${this.id}:${i}`;
      if (this.cache.has(key)) {
        this.cache.get(key);
        continue;
      }
      let pending = this.inFlight.get(i);
      if (!pending) {
        pending = decodeImage(this.set.refs[i], this.shape).then((values) => {
          this.cache.decodes += 1;
          this.cache.set(key, values);
        }).finally(() => this.inFlight.delete(i));
        this.inFlight.set(i, pending);
      }
      waits.push(pending);
    }
    await Promise.all(waits);
    // Touch the whole request last, so that its images are the newest in the cache.
    for (const i of Array.from(indices)) {
      if (!this.cache.get(`${this.id}:${i}`)) throw new SpruftError('INTERNAL', `image cache of ${this.cache.capacityBytes} bytes cannot hold a batch of ${indices.length} images`);
    }
  }
}
