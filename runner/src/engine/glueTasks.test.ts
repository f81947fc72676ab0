/**
 * GLUE's sentence-pair and regression tasks on an encoder (paper appendix C): STS-B's TSV
 * layout (examples/data/stsb.tsv, hand-made), its two sentences through the BERT
 * tokenizer's pair template with token types, a one-output head trained with the mean
 * squared error (transformers' problem_type "regression"), and MSE, Pearson and Spearman
 * in the evaluation; the merged config.json says regression, as transformers reads it.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolveRunConfig, type RunConfigFile } from '../../../protocol/config';
import type { RegressionMetrics } from '../../../protocol/results';
import { mergeRuns, predictRun, startTrain } from '../app';
import { encodePairWithSpecials, loadTokenizer } from '../data/tokenizers';
import { readHfFolder } from '../io/hfFolder';
import { inferenceContext } from '../models/layer';
import type { RawWeights } from '../models/model';
import { bertLogits64 } from '../models/reference64';
import { assertClose, useBackend } from '../tensor/ops/testing';
import { tf } from '../tensor/tf';
import { disposeBatch, makeBatch, type TokenExamples } from './batches';
import { taskLoss } from './loss';
import { mseLoss } from './regressionLoss';
import { prepare } from '../run/session';
import { listRun } from '../commands/runs';
import { formatScore, parseByteSize } from '../../../protocol/format';
import { runSpruft } from '../../../test/fixtures/spruftCli';
import { RUN_FILES } from '../../../protocol/runFolder';
import { applyAdapter } from './adapterIO';
import { detachMethod } from './methods';
import { loadModel } from '../models/load';

const ROOT = resolve(__dirname, '../../..');
const FIXTURE = join(ROOT, 'examples/data/stsb.tsv');
const BERT = join(ROOT, 'models/bert-tiny');
const LENGTH = 32;

function stsbConfig(dir: string, extra: Partial<RunConfigFile> = {}): RunConfigFile {
  return {
    model: { path: BERT }, task: 'text-classification',
    data: { dataset: 'tsv', path: FIXTURE, columns: { text: 'sentence1', textPair: 'sentence2', label: 'score' }, evalFraction: 0.25, text: { maxLength: LENGTH } },
    head: { problemType: 'regression' },
    method: 'spruft', spruft: { ratio: 0.25, importance: { metric: 'taylor' } }, targets: { include: ['*'] },
    training: { lr: 1e-3, batchSize: 6, epochs: 2, seed: 1, evalBatchSize: 8 },
    backend: 'wasm', output: { dir: join(dir, 'runs'), name: 'stsb' },
    ...extra,
  } as RunConfigFile;
}

/** The scores column of the fixture, by sentence pair. */
function fixtureScores(): Map<string, number> {
  const lines = readFileSync(FIXTURE, 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t'));
  return new Map(lines.map((c) => [`${c[7]}\t${c[8]}`, Number(c[9])]));
}

describe('GLUE pair and regression tasks (STS-B layout) on BERT', () => {
  let dir: string;
  let runDir = '';
  before(async () => {
    await useBackend('wasm');
    dir = mkdtempSync(join(tmpdir(), 'spruft-glue-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('pairs become [CLS] a [SEP] b [SEP] with token types; the one-output head matches the float64 reference', async () => {
    const c = resolveRunConfig(stsbConfig(dir), { baseDir: dir, resolvePath: (b, p) => resolve(b, p) });
    const { model, data } = await prepare(c, undefined);
    const tok = loadTokenizer(BERT);
    const vocab = (model.input as { vocabSize: number }).vocabSize;
    const train = data.train as TokenExamples;
    const evalSet = data.eval as TokenExamples;
    assert.equal(train.n + evalSet.n, 24);
    assert.equal(evalSet.n, 6);
    assert.equal(train.labels, undefined, 'a regression has values, not labels');
    assert.equal(model.numLabels, 1, 'the head has one output (num_labels 1)');
    assert.match(data.description, /18 training and 6 evaluation text pairs with numeric labels/);
    // Every example's ids are its pair's as the tokenizer encodes it, with the template's types packed in.
    const scores = fixtureScores();
    const pairs = [...scores.keys()].map((k) => k.split('\t') as [string, string]);
    const cls = tok.prefixIds[0];
    let typeOnes = 0;
    for (let i = 0; i < evalSet.n; i++) {
      const row = evalSet.ids.subarray(i * LENGTH, (i + 1) * LENGTH);
      const match = pairs.find(([a, b]) => {
        const e = encodePairWithSpecials(tok, a, b, LENGTH);
        return e.ids.every((id, p) => row[p] === id + e.typeIds[p] * vocab);
      });
      assert.ok(match, `eval example ${i} is one of the fixture's pairs, packed with its token types`);
      assert.equal(evalSet.values![i], Math.fround(scores.get(match.join('\t'))!), 'its value is the score column');
      assert.equal(row[0], cls);
      typeOnes += Array.from(row).filter((id) => id >= vocab).length;
    }
    assert.ok(typeOnes > 0, 'second sentences carry token type 1');

    // Logits of the prepared model (new 1-output head) against bertLogits64 with the token types.
    const raw: RawWeights = new Map(model.weightEntries().map((e) => [e.fileName, { shape: e.get().shape, data: e.get().dataSync() as Float32Array }]));
    const batch = makeBatch(evalSet, Int32Array.from([0, 1, 2, 3]));
    const numTensors = tf.memory().numTensors;
    const ours = tf.tidy(() => model.forward(batch.x, inferenceContext()).dataSync() as Float32Array);
    assert.equal(tf.memory().numTensors, numTensors, 'forward leaked tensors');
    const config = JSON.parse(readFileSync(join(BERT, 'config.json'), 'utf8')) as Record<string, unknown>;
    for (let i = 0; i < 4; i++) {
      const row = Array.from(evalSet.ids.subarray(i * LENGTH, (i + 1) * LENGTH));
      const mask = evalSet.mask.subarray(i * LENGTH, (i + 1) * LENGTH);
      const n = mask.reduce((a, b) => a + b, 0);
      const ids = row.slice(0, n).map((id) => id % vocab);
      const types = row.slice(0, n).map((id) => Math.floor(id / vocab));
      const expected = bertLogits64(config, raw, ids, types)[0];
      assert.ok(Math.abs(ours[i] - expected) < 1e-4, `example ${i}: ${ours[i]} vs float64 ${expected}`);
    }
    // The batch's loss is the MSE against its values (taskLoss dispatches on them).
    const loss = tf.tidy(() => taskLoss(model.forward(batch.x, inferenceContext()), batch).dataSync()[0]);
    const values = Array.from(evalSet.values!.subarray(0, 4));
    const mse = values.reduce((s, v, i) => s + (ours[i] - v) ** 2, 0) / 4;
    assert.ok(Math.abs(loss - mse) < 1e-4 * Math.max(1, mse), `loss ${loss} vs ${mse}`);
    disposeBatch(batch);
    model.dispose();
  });

  it('mseLoss: value and gradient against float64 finite differences', () => {
    const logits = [0.3, -1.2, 2.5, 0.75, -0.1];
    const values = [1, -1, 2, 0, 0.5];
    const before = tf.memory().numTensors;
    const { value, grads } = tf.tidy(() => {
      const x = tf.variable(tf.tensor2d(logits, [5, 1]));
      const y = tf.tensor1d(values);
      const r = tf.variableGrads(() => mseLoss(x, y), [x]);
      const out = { value: r.value.dataSync()[0], grads: Array.from(r.grads[x.name].dataSync()) };
      x.dispose();
      return out;
    });
    assert.equal(tf.memory().numTensors, before, 'no tensor leaked');
    const f = (l: number[]): number => l.reduce((s, v, i) => s + (v - values[i]) ** 2, 0) / l.length;
    assert.ok(Math.abs(value - f(logits)) < 1e-5);
    logits.forEach((_, i) => {
      const h = 1e-6;
      const up = logits.slice(); up[i] += h;
      const down = logits.slice(); down[i] -= h;
      const fd = (f(up) - f(down)) / (2 * h);
      assert.ok(Math.abs(grads[i] - fd) < 1e-4, `d/dlogit ${i}: ${grads[i]} vs ${fd}`);
    });
    assert.throws(() => tf.tidy(() => mseLoss(tf.zeros([2, 3]), tf.zeros([2]))), /one output/);
  });

  it('trains SPruFT (taylor scores) and LoRA on it: MSE, Pearson, Spearman; merged config.json is a regression head', async () => {
    const path = join(dir, 'stsb.spruft.yaml');
    writeFileSync(path, JSON.stringify(stsbConfig(dir, { compare: ['lora'] } as Partial<RunConfigFile>)));
    const result = await (await startTrain({ configPath: path }, {})).done;
    for (const r of [result, ...(result.compared ?? [])]) {
      const m = r.metrics as RegressionMetrics;
      assert.equal(m.examples, 6);
      assert.equal(m.loss, m.mse);
      assert.ok(Number.isFinite(m.mse) && m.mse >= 0, `${r.method} mse ${m.mse}`);
      assert.ok(m.pearson >= -1 && m.pearson <= 1 && m.spearman >= -1 && m.spearman <= 1, `${r.method} correlations ${m.pearson} ${m.spearman}`);
      assert.equal('accuracy' in m, false);
    }
    runDir = result.runDir;
    // `spruft runs` lists each method's Pearson.
    assert.deepEqual(listRun(runDir).methods.map((m) => [m.method, m.pearson]), [result, ...result.compared!].map((r) => [r.method, (r.metrics as RegressionMetrics).pearson]));
    const out = join(dir, 'merged');
    await mergeRuns([result.runDir], out, {});
    const merged = readHfFolder(out);
    const config = merged.config as Record<string, unknown>;
    assert.equal(config.problem_type, 'regression');
    assert.equal(config.num_labels, 1);
    assert.deepEqual(merged.tensors.get('classifier.weight')!.shape, [1, 64]);
  });

  it('a merged model over the shard limit: model-0000k-of-0000n.safetensors + index as transformers writes them, re-read with the adapted outputs', async () => {
    assert.equal(parseByteSize('5GB'), 5e9);
    assert.equal(parseByteSize('2GiB'), 2 * 2 ** 30);
    assert.equal(parseByteSize(' 200kb '), 200_000);
    assert.equal(parseByteSize(1234), 1234);
    assert.equal(parseByteSize('5 parsecs'), undefined);
    assert.equal(parseByteSize(0), undefined);
    const out = join(dir, 'sharded');
    // bert-tiny holds 183k float32 weights (~0.73 MB, its word embeddings 0.41 MB alone): 3 shards of 200KB.
    await mergeRuns([runDir], out, { maxShardSize: '200KB' });
    const files = readdirSync(out).sort();
    const shards = files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f));
    assert.ok(shards.length >= 3, files.join(', '));
    assert.ok(shards.every((f) => f.endsWith(`-of-${String(shards.length).padStart(5, '0')}.safetensors`)));
    assert.ok(!files.includes('model.safetensors'));
    assert.ok(files.includes('tokenizer.json') && files.includes('vocab.txt'), 'the tokenizer comes along');
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('.')), [], 'no temporary folder left');
    const index = JSON.parse(readFileSync(join(out, 'model.safetensors.index.json'), 'utf8')) as { metadata: { total_size: number }; weight_map: Record<string, string> };
    assert.deepEqual([...new Set(Object.values(index.weight_map))].sort(), shards);
    // As save_pretrained: a shard stays within the limit unless one tensor alone exceeds it.
    for (const f of shards) {
      const alone = Object.values(index.weight_map).filter((v) => v === f).length === 1;
      assert.ok(alone || statSync(join(out, f)).size <= 200_000 + 8192, `${f} within the limit (+ its header)`);
    }
    // The runner's own loader reads the shards; outputs are the base model with the adapter attached.
    const c = resolveRunConfig(stsbConfig(dir), { baseDir: dir, resolvePath: (b, p) => resolve(b, p) });
    const { model: tuned, data } = await prepare(c, undefined);
    applyAdapter(join(runDir, RUN_FILES.adapterDir), tuned, { strict: false });
    const merged = loadModel(out);
    const batch = makeBatch(data.eval, Int32Array.from([0, 1, 2, 3, 4, 5]));
    const a = tf.tidy(() => tuned.forward(batch.x, inferenceContext()).dataSync() as Float32Array);
    const b = tf.tidy(() => merged.forward(batch.x, inferenceContext()).dataSync() as Float32Array);
    assertClose(b, a, 1e-4, 'sharded merged model vs base + adapter');
    disposeBatch(batch);
    detachMethod(tuned);
    tuned.dispose();
    merged.dispose();
    await assert.rejects(mergeRuns([runDir], join(dir, 'never'), { maxShardSize: 'lots' }), /max shard size "lots" is not a size/);
    assert.equal(existsSync(join(dir, 'never')), false);
  });

  it('the playground answers with the predicted number before and after tuning', async () => {
    const answer = await predictRun({ runDir, input: { kind: 'example', index: 0 } });
    assert.equal(typeof answer.base.value, 'number');
    assert.equal(typeof answer.tuned.value, 'number');
    assert.notEqual(answer.base.value, answer.tuned.value, 'the adapter changes the prediction');
    assert.ok([...fixtureScores().values()].some((v) => Math.fround(v) === Number(answer.input.label)), `true label ${answer.input.label} is a score of the file`);
  });

  it('the playground takes a typed pair, encoded as the run encodes its pairs: one pair of the file answers exactly as example 0 does', async () => {
    const example = await predictRun({ runDir, input: { kind: 'example', index: 0 } });
    const typed = [];
    for (const [a, b] of [...fixtureScores().keys()].map((k) => k.split('\t') as [string, string])) {
      typed.push({ a, b, answer: await predictRun({ runDir, input: { kind: 'text', text: a, pair: b } }) });
    }
    const same = typed.filter((t) => t.answer.base.value === example.base.value && t.answer.tuned.value === example.tuned.value);
    assert.equal(same.length, 1, 'exactly one pair of the file is example 0');
    assert.equal(same[0].answer.input.text, same[0].a);
    assert.equal(same[0].answer.input.pair, same[0].b);
    // The order of the two texts matters (segments A and B): swapped, the answer is another.
    const swapped = await predictRun({ runDir, input: { kind: 'text', text: same[0].b, pair: same[0].a } });
    assert.notEqual(swapped.tuned.value, example.tuned.value);
    await assert.rejects(predictRun({ runDir, input: { kind: 'text', text: same[0].a } }), /this run classifies text pairs \(data\.columns\.textPair: "sentence2"\): give the second text too/);
    // From a terminal: --pair, and the regression head's number printed.
    const cli = runSpruft(dir, ['predict', runDir, '--text', same[0].a, '--pair', same[0].b]);
    assert.equal(cli.status, 0, cli.stderr);
    assert.match(cli.stdout, new RegExp(`fine-tuned  predicted ${formatScore(example.tuned.value!).replace('.', '\\.')} \\(spruft\\)`));
    const refused = runSpruft(dir, ['predict', runDir, '--example', '0', '--pair', 'x']);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /--pair is the second text of --text/);
  });

  it('refusals: qm-taylor (per class) and a label that is not a number', async () => {
    const qm = join(dir, 'qm.spruft.yaml');
    writeFileSync(qm, JSON.stringify(stsbConfig(dir, { spruft: { importance: { metric: 'qm-taylor' } }, output: { dir: join(dir, 'runs'), name: 'qm' } } as Partial<RunConfigFile>)));
    await assert.rejects(async () => (await startTrain({ configPath: qm }, {})).done, /qm-taylor scores per class/);
    const bad = join(dir, 'bad.tsv');
    cpSync(FIXTURE, bad);
    writeFileSync(bad, readFileSync(FIXTURE, 'utf8').replace('\t4.800\n', '\tsimilar\n'));
    const c = resolveRunConfig({ ...stsbConfig(dir), data: { ...stsbConfig(dir).data, path: bad } } as RunConfigFile, { baseDir: dir, resolvePath: (b, p) => resolve(b, p) });
    await assert.rejects(prepare(c, undefined), /bad\.tsv:2.*label "similar" is not a number/s);
  });
});
