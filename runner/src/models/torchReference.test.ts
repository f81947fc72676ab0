/**
 * Merged models as another framework reads them: each tiny fixture (and the ViT) gets SPruFT row
 * adapters with random values, is merged (W[idx] += W_f) and written back in its own
 * layout and dtype; PyTorch then reads the written bytes with its own safetensors parser
 * and computes the logits as transformers' modeling code does
 * (scripts/hf_torch_reference.py, float64), which must equal the adapted model's.
 * transformers itself is not packaged in Debian, so the forward pass is written out
 * there; skipped, saying why, where Debian's python3-torch is missing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolveRunConfig } from '../../../protocol/config';
import { exportModel, mergeTraining } from '../engine/adapterIO';
import { attachMethod } from '../engine/methods';
import { assertClose, useBackend } from '../tensor/ops/testing';
import { tf } from '../tensor/tf';
import { inferenceContext } from './layer';
import { loadModel } from './load';
import type { Model } from './model';

const REPO = join(__dirname, '..', '..', '..');
const PYTHON = '/usr/bin/python3';
const probe = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' });
const skip = probe.status === 0 ? false : `needs Debian's python3-torch at ${PYTHON} (${(probe.error?.message ?? probe.stderr).trim().split('\n').pop()})`;

const IDS = [[5, 17, 300, 42, 9, 250, 1000, 7], [12, 400, 3, 88, 901, 61, 14, 2]];

function logits(model: Model, ids: number[][]): Float32Array {
  return tf.tidy(() => model.forward(tf.tensor2d(ids, [ids.length, ids[0].length], 'int32'), inferenceContext()).dataSync() as Float32Array);
}

/** One PyTorch process for every job (importing torch takes seconds). */
function torchLogits(jobs: Array<{ folder: string; ids?: number[][]; types?: number[][]; pixels?: number[][][][] }>): number[][] {
  const r = spawnSync(PYTHON, [join(REPO, 'scripts/hf_torch_reference.py'), '-'], { input: JSON.stringify(jobs), encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as Array<{ logits: number[] }>).map((j) => j.logits);
}

const NAMES = ['gpt2-tiny', 'bert-tiny', 'roberta-tiny', 'qwen2-tiny', 'mistral-tiny', 'vit-fashion-tiny'];

/** Two random 28x28x1 images, channels last, as nested lists. */
function images(): { tensor: () => tf.Tensor; nested: number[][][][] } {
  const data = Array.from({ length: 2 * 28 * 28 }, (_, i) => Math.sin(i * 12.9898) * 0.5 + 0.5);
  const nested = [0, 1].map((b) => Array.from({ length: 28 }, (_, y) => Array.from({ length: 28 }, (_, x) => [data[b * 784 + y * 28 + x]])));
  return { tensor: () => tf.tensor4d(data, [2, 28, 28, 1]), nested };
}

/** Load a fixture, give every layer SPruFT rows with random values, merge, write in its own dtype. */
function mergedFixture(name: string, out: string): { ids?: number[][]; types?: number[][]; pixels?: number[][][][]; logits: Float32Array } {
  const source = join(REPO, 'models', name);
  const model = loadModel(source);
  const causal = model.head?.name === 'lm_head';
  const image = model.input.kind === 'image';
  // Padding at the end of the second sequence for the encoders (pad id from config.json).
  const pad = (model as Model & { padTokenId?: number }).padTokenId;
  const ids = pad === undefined ? IDS : [IDS[0], [...IDS[1].slice(0, 5), pad, pad, pad]];
  const task = image ? 'image-classification' : causal ? 'causal-lm' : 'text-classification';
  const config = resolveRunConfig({ model: { path: source }, task, data: { dataset: image ? 'mnist' : causal ? 'text' : 'jsonl' }, targets: { layerTypes: ['linear', 'conv2d', 'norm'] } }, { baseDir: '/', resolvePath: (_b, p) => p });
  const selection = model.layers.filter((l) => !l.head).map((l) => ({ name: l.name, kind: l.kind, rows: [1, Math.floor(l.dOut / 2)], scores: [1, 1], dOut: l.dOut, dIn: l.dIn }));
  const attached = attachMethod(model, { method: 'spruft', config, selection, trainHead: false, seed: 1 });
  tf.tidy(() => attached.trainables.forEach((t, i) => t.variable.assign(tf.mul(tf.randomNormal(t.variable.shape, 0, 1, 'float32', 30 + i), 0.2))));
  mergeTraining(model);
  exportModel(model, out);
  model.dispose();
  // The engine re-reads the merged folder; PyTorch reads the same bytes on its own.
  const reread = loadModel(out);
  if (image) {
    const img = images();
    const ours = tf.tidy(() => reread.forward(img.tensor(), inferenceContext()).dataSync() as Float32Array);
    reread.dispose();
    return { pixels: img.nested, logits: ours };
  }
  // BERT reads token types: the first sequence as a pair (type 1 from position 4), packed into the ids (tokenTypes.ts).
  const typed = reread.input.kind === 'tokens' && (reread.input.tokenTypes ?? 1) > 1;
  const types = typed ? [[0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 1, 0, 0, 0]] : undefined;
  const vocab = reread.input.kind === 'tokens' ? reread.input.vocabSize : 0;
  const ours = logits(reread, types ? ids.map((row, i) => row.map((id, p) => id + types[i][p] * vocab)) : ids);
  reread.dispose();
  return { ids, ...(types ? { types } : {}), logits: ours };
}

describe('merged checkpoints read by PyTorch (transformers modeling, float64)', { skip }, () => {
  let dir: string;
  before(async () => {
    await useBackend('wasm');
    dir = mkdtempSync(join(tmpdir(), 'spruft-torch-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const ours = new Map<string, Float32Array>();
  const theirs = new Map<string, number[]>();
  before(() => {
    const jobs = NAMES.map((name) => {
      const folder = join(dir, name);
      const { logits: l, ...inputs } = mergedFixture(name, folder);
      ours.set(name, l);
      return { folder, ...inputs };
    });
    torchLogits(jobs).forEach((l, i) => theirs.set(NAMES[i], l));
  });

  for (const name of NAMES) {
    it(`${name}: merged in its own dtype, PyTorch's logits equal the adapted model's`, () => {
      assert.equal(ours.get(name)!.length, theirs.get(name)!.length);
      assertClose(ours.get(name)!, theirs.get(name)!, 2e-4, `${name} logits`);
    });
  }
});
