/**
 * Image decoders side by side, in one process: sharp (libvips, native, prebuilt binaries
 * from npm) against the pure-JS jpeg-js and pngjs (dev dependencies, kept for this
 * measurement only). Encodes `count` photo-like RGB images of `size` x `size` as JPEG and
 * PNG with sharp, then decodes each file to raw RGB: sharp one at a time (awaited),
 * sharp `count` at once (libuv's thread pool), jpeg-js and pngjs (on the main thread).
 * Also times how much of sharp's decoding overlaps a busy main thread (what training does).
 *
 *   npx tsx scripts/bench-image-decode.ts [size=224] [count=64]
 */
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

const size = Number(process.argv[2] ?? 224);
const count = Number(process.argv[3] ?? 64);

/** A smooth colour field with texture and noise: compresses like a photo, not like a flat test card. */
function photoLike(seed: number): Buffer {
  const px = Buffer.alloc(size * size * 3);
  let s = seed * 2654435761 >>> 0;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      s = (s * 1664525 + 1013904223) >>> 0;
      const noise = (s >>> 24) / 16;
      const i = (y * size + x) * 3;
      px[i] = 128 + 100 * Math.sin((x + seed) / 17) + noise;
      px[i + 1] = 128 + 90 * Math.cos((y - seed) / 23) + noise;
      px[i + 2] = 128 + 80 * Math.sin((x + y) / 31) + noise;
    }
  }
  return px;
}

async function main(): Promise<void> {
  const raw = Array.from({ length: count }, (_, i) => photoLike(i));
  const input = { raw: { width: size, height: size, channels: 3 as const } };
  const jpegs = await Promise.all(raw.map((r) => sharp(r, input).jpeg({ quality: 90 }).toBuffer()));
  const pngs = await Promise.all(raw.map((r) => sharp(r, input).png().toBuffer()));
  const rows: Array<{ decoder: string; format: string; msPerImage: number }> = [];
  const time = async (decoder: string, format: string, f: () => Promise<void> | void): Promise<void> => {
    await f(); // warm-up
    const t0 = performance.now();
    await f();
    rows.push({ decoder, format, msPerImage: (performance.now() - t0) / count });
  };
  const sharpRaw = (b: Buffer) => sharp(b).removeAlpha().raw().toBuffer();
  for (const [format, files] of [['jpeg', jpegs], ['png', pngs]] as const) {
    await time('sharp, one at a time', format, async () => { for (const b of files) await sharpRaw(b); });
    await time(`sharp, ${count} at once`, format, async () => { await Promise.all(files.map(sharpRaw)); });
  }
  await time('jpeg-js', 'jpeg', () => { for (const b of jpegs) jpeg.decode(b, { useTArray: true }); });
  await time('pngjs', 'png', () => { for (const b of pngs) PNG.sync.read(b); });

  // Overlap: decode every JPEG with sharp while the main thread spins for as long as
  // decoding them alone took; the wall time over the spin says what did not overlap.
  const alone = rows.find((r) => r.decoder.startsWith('sharp, one') && r.format === 'jpeg')!.msPerImage * count;
  const t0 = performance.now();
  const pending = Promise.all(jpegs.map(sharpRaw));
  const spinUntil = performance.now() + alone;
  while (performance.now() < spinUntil) { /* the training step */ }
  await pending;
  const wall = performance.now() - t0;
  console.log(JSON.stringify({ size, count, rows, overlap: { decodeAloneMs: alone, spinMs: alone, wallMs: wall, hiddenFraction: (2 * alone - wall) / alone } }, null, 2));
}

void main();
