/**
 * The playground's predictions (`model/predict`): the fine-tuned answer equals the answer
 * of the merged model (W[idx] += W_f written out by `spruft merge`, the equivalent full
 * update, a separate code path), the base answer that of the unchanged model; a decoder
 * continues a prompt greedily within the bytes asked for; an image file is read like the
 * run's own image files and answers as its pixels do. No tensor is left behind.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { runSpruft } from '../../../test/fixtures/spruftCli';
import { mergeRun, startTrain } from '../app';
import type { ImageExamples } from '../engine/batches';
import { tf } from '../tensor/tf';
import { inferenceContext } from '../models/layer';
import { predictRun } from './predict';
import { prepare, readResolved } from './session';
import { writeMlpFolder } from '../../../test/fixtures/mlpFolder';

const repo = join(__dirname, '..', '..', '..');

/** Softmax of the model's logits on evaluation image `index`, in float64. */
async function probabilities(modelPath: string, runDir: string, index: number): Promise<Map<string, number>> {
  const config = { ...readResolved(runDir), model: { ...readResolved(runDir).model, path: modelPath } };
  const { model, data } = await prepare(config, undefined);
  try {
    const ex = data.eval as ImageExamples;
    const per = ex.shape[0] * ex.shape[1] * ex.shape[2];
    const logits = tf.tidy(() => model.forward(tf.tensor(ex.inputs.slice(index * per, (index + 1) * per), [1, ...ex.shape]), inferenceContext()));
    const values = Array.from(await logits.data());
    logits.dispose();
    const max = Math.max(...values);
    const sum = values.reduce((s, v) => s + Math.exp(v - max), 0);
    return new Map(values.map((v, i) => [data.labelNames![i]!, Math.exp(v - max) / sum]));
  } finally {
    model.dispose();
  }
}

describe('playground predictions', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'spruft-predict-'));
    writeMlpFolder(join(dir, 'mlp'), [16, 12]);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('answers an image example with the base and the fine-tuned model; fine-tuned = merged model', async () => {
    const path = join(dir, 'digits.spruft.yaml');
    writeFileSync(path, [
      'model: { path: ./mlp }',
      'task: image-classification',
      'data: { dataset: mnist, trainLimit: 120, evalLimit: 40, image: { size: 8, channels: 1 } }',
      'method: spruft',
      'spruft: { ratio: 0.5, importance: { metric: l2 } }',
      'training: { batchSize: 16, maxSteps: 6, lr: 0.05, seed: 3 }',
      'backend: cpu',
      'output: { dir: ./runs, name: digits }',
      '',
    ].join('\n'));
    const run = await (await startTrain({ configPath: path }, {})).done;
    const tensorsBefore = tf.memory().numTensors;
    const answer = await predictRun({ runDir: run.runDir, input: { kind: 'example', index: 7 }, topK: 10 });
    assert.equal(tf.memory().numTensors, tensorsBefore, 'no tensor left behind');
    assert.equal(answer.task, 'image-classification');
    assert.equal(answer.method, 'spruft');
    assert.equal(answer.examples, 40);
    assert.equal(answer.input.index, 7);
    assert.ok(answer.input.label !== undefined, 'the true label');
    const image = answer.input.image!;
    assert.equal(image.pixels.length, image.width * image.height * image.channels);
    assert.equal(Math.max(...image.pixels), 255);
    for (const side of [answer.base, answer.tuned]) {
      const top = side.top!;
      assert.equal(top.length, 10);
      assert.ok(Math.abs(top.reduce((s, t) => s + t.probability, 0) - 1) < 1e-5, 'a distribution over the 10 labels');
      assert.ok(top.every((t, i) => i === 0 || top[i - 1]!.probability >= t.probability), 'ranked');
    }
    const merged = join(dir, 'merged');
    await mergeRun(run.runDir, merged);
    const expectTuned = await probabilities(merged, run.runDir, 7);
    const expectBase = await probabilities(join(dir, 'mlp'), run.runDir, 7);
    for (const t of answer.tuned.top!) assert.ok(Math.abs(t.probability - expectTuned.get(t.label)!) < 1e-5, `tuned ${t.label}: ${t.probability} vs merged ${expectTuned.get(t.label)}`);
    for (const t of answer.base.top!) assert.ok(Math.abs(t.probability - expectBase.get(t.label)!) < 1e-6, `base ${t.label}`);
    assert.ok(answer.tuned.top!.some((t) => Math.abs(t.probability - expectBase.get(t.label)!) > 1e-4), 'fine-tuning changed the answer');

    // The same digit as an image file (8-bit PNG of the model's own 8x8 input): read like the run's image files.
    const png = join(dir, 'digit.png');
    const prepared = await prepare(readResolved(run.runDir), undefined);
    prepared.model.dispose();
    const ex = prepared.data.eval as ImageExamples;
    const gray = Buffer.from(Array.from(ex.inputs.subarray(7 * 64, 8 * 64), (v) => Math.round(v * 255)));
    await sharp(gray, { raw: { width: 8, height: 8, channels: 1 } }).png().toFile(png);
    const fromFile = await predictRun({ runDir: run.runDir, input: { kind: 'image', path: png }, topK: 10 });
    assert.equal(tf.memory().numTensors, tensorsBefore);
    for (const t of fromFile.tuned.top!) assert.ok(Math.abs(t.probability - expectTuned.get(t.label)!) < 0.01, `image file ${t.label}: ${t.probability} vs ${expectTuned.get(t.label)} (8-bit pixels)`);
    await assert.rejects(predictRun({ runDir: run.runDir, input: { kind: 'image', path: join(dir, 'missing.png') } }), /cannot read this image/);

    // The same from a terminal: `spruft predict`.
    const cli = runSpruft(dir, ['predict', run.runDir, '--example', '7', '--top', '10', '--json']);
    assert.equal(cli.status, 0, cli.stderr);
    const printed = JSON.parse(cli.stdout) as typeof answer;
    assert.deepEqual(printed.tuned, answer.tuned);
    assert.deepEqual(printed.base, answer.base);
    const text = runSpruft(dir, ['predict', run.runDir, '--example', '7']);
    assert.match(text.stdout, /^image-classification, example 7, true label \w+\n  base {8}\w+ \d+\.\d%.*\n  fine-tuned {2}\w+ \d+\.\d%.* \(spruft\)\n$/);
    const wrong = runSpruft(dir, ['predict', run.runDir, '--example', '1', '--text', 'x']);
    assert.notEqual(wrong.status, 0);
    assert.match(wrong.stderr, /give one run folder and one of --example, --text, --image/);

    await assert.rejects(predictRun({ runDir: run.runDir, input: { kind: 'example', index: 40 } }), /example 40 does not exist: the evaluation data has 40/);
    await assert.rejects(predictRun({ runDir: dir, input: { kind: 'example', index: 0 } }), /no adapter in this run folder/);
  });

  it('classifies a typed text and an evaluation text with a decoder given a head', async () => {
    const path = join(dir, 'reviews.spruft.yaml');
    writeFileSync(path, [
      `model: { path: ${JSON.stringify(join(repo, 'models/llama-tiny'))} }`,
      'task: text-classification',
      `data: { dataset: jsonl, path: ${JSON.stringify(join(repo, 'examples/data/reviews.jsonl'))}, evalFraction: 0.25, labelNames: [negative, positive], text: { maxLength: 32 } }`,
      'method: spruft',
      'spruft: { rank: 2, importance: { metric: l2 } }',
      'targets: { include: ["*.mlp.*"] }',
      'training: { batchSize: 4, maxSteps: 1, lr: 0.01, seed: 3 }',
      'backend: wasm',
      'output: { dir: ./runs, name: reviews }',
      '',
    ].join('\n'));
    const run = await (await startTrain({ configPath: path }, {})).done;
    const tensorsBefore = tf.memory().numTensors;
    const typed = await predictRun({ runDir: run.runDir, input: { kind: 'text', text: 'A warm, funny film.' } });
    const example = await predictRun({ runDir: run.runDir, input: { kind: 'example', index: 0 } });
    assert.equal(tf.memory().numTensors, tensorsBefore);
    assert.equal(typed.input.text, 'A warm, funny film.');
    for (const side of [typed.base, typed.tuned, example.base, example.tuned]) {
      assert.deepEqual(side.top!.map((t) => t.label).sort(), ['negative', 'positive'], 'both labels, ranked');
    }
    assert.ok(['negative', 'positive'].includes(example.input.label!), 'the example\'s true label');
    assert.ok(example.input.text && example.input.text.length > 0, 'the example\'s text');
    await assert.rejects(predictRun({ runDir: run.runDir, input: { kind: 'text', text: 'A warm film.', pair: 'A cold one.' } }), /this run reads single texts \(no data\.columns\.textPair\): a second text has nowhere to go/);
  });

  it('continues a prompt greedily with a decoder, base and fine-tuned', async () => {
    const path = join(dir, 'lm.spruft.yaml');
    writeFileSync(path, [
      `model: { path: ${JSON.stringify(join(repo, 'models/llama-tiny'))} }`,
      'task: causal-lm',
      `data: { dataset: text, path: ${JSON.stringify(join(repo, 'examples/data/corpus.txt'))}, evalFraction: 0.2, text: { maxLength: 64 } }`,
      'method: spruft',
      'spruft: { rank: 4, importance: { metric: l2 } }',
      'targets: { include: ["*.mlp.*"] }',
      'training: { batchSize: 4, maxSteps: 1, lr: 0.01, seed: 3 }',
      'backend: wasm',
      'output: { dir: ./runs, name: lm }',
      '',
    ].join('\n'));
    const run = await (await startTrain({ configPath: path }, {})).done;
    const tensorsBefore = tf.memory().numTensors;
    const answer = await predictRun({ runDir: run.runDir, input: { kind: 'text', text: 'The sea ' }, maxNewTokens: 6 });
    assert.equal(tf.memory().numTensors, tensorsBefore);
    assert.equal(answer.task, 'causal-lm');
    assert.equal(answer.input.text, 'The sea ');
    for (const side of [answer.base, answer.tuned]) {
      assert.equal(typeof side.continuation, 'string');
      assert.ok(new TextEncoder().encode(side.continuation).length <= 6, 'at most 6 new bytes');
    }
    const fromExample = await predictRun({ runDir: run.runDir, input: { kind: 'example', index: 0 }, maxNewTokens: 1 });
    assert.ok(fromExample.input.text && fromExample.input.text.length > 0, 'the start of an evaluation passage is the prompt');
  });
});
