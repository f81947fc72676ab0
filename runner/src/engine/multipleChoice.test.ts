import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { McTask } from '../data/multipleChoice';
import { ByteTokenizer } from '../data/text';
import { BigramModel, bigramLogProb } from '../../../test/fixtures/bigramModel';
import { continuationLogLikelihoods, encodeChoice, scoreMultipleChoice } from './evaluate';
import { useBackend } from '../tensor/ops/testing';
import { tf } from '../tensor/tf';

const V = ByteTokenizer.VOCAB_SIZE;
const logProb = bigramLogProb;

const byte = (c: string): number => c.charCodeAt(0);

/**
 * After ':' a space is likely; after ' ' "a" is likelier than "b", after "b" another "b" is
 * very likely. So " a" (one unlikely token) outscores " bbbb" (four likely ones) in total
 * log-likelihood, but " bbbb" wins per character: acc and acc_norm disagree.
 */
function table(): Float64Array[] {
  const t = Array.from({ length: V }, () => new Float64Array(V));
  t[byte(':')][byte(' ')] = 6;
  t[byte(' ')][byte('a')] = 5;
  t[byte(' ')][byte('b')] = 4;
  t[byte('b')][byte('b')] = 7;
  t[byte('Q')][byte(':')] = 5;
  return t;
}

before(async () => {
  await useBackend('cpu');
});

test('multiple choice: continuation log-likelihoods equal the float64 reference; prompt tokens add nothing', async () => {
  const logits = table();
  const model = new BigramModel(logits);
  const tok = new ByteTokenizer();
  const before = tf.memory().numTensors;
  const pairs = [encodeChoice(tok, 'Q:', ' a'), encodeChoice(tok, 'Q:', ' bbbb'), encodeChoice(tok, 'Q: ', 'a')];
  assert.deepEqual(pairs[0], { context: [257, byte('Q'), byte(':')], continuation: [byte(' '), byte('a')] });
  // A trailing space of the context moves to the continuation (as the harness does).
  assert.deepEqual(pairs[2], pairs[0]);
  const ll = await continuationLogLikelihoods(model, pairs, tok.padId, 2, 64);
  const lp = (s: string): number => {
    let sum = 0;
    for (let i = 1; i < s.length; i++) sum += logProb(logits, byte(s[i - 1]), byte(s[i]));
    return sum;
  };
  assert.ok(Math.abs(ll[0] - lp(': a')) < 1e-4, `${ll[0]} vs ${lp(': a')}`);
  assert.ok(Math.abs(ll[1] - lp(': bbbb')) < 1e-4, `${ll[1]} vs ${lp(': bbbb')}`);
  assert.equal(ll[2], ll[0]);
  // A logits budget of one short sequence scores one pair a batch: the same sums.
  const single = await continuationLogLikelihoods(model, pairs, tok.padId, 2, 64, 6 * V);
  assert.deepEqual(Array.from(single), Array.from(ll));
  // A context cut from the left to fit maxLength changes nothing a bigram model sees.
  const cut = await continuationLogLikelihoods(model, [encodeChoice(tok, 'a long preamble. Q:', ' bbbb')], tok.padId, 4, 6);
  assert.ok(Math.abs(cut[0] - ll[1]) < 1e-5);
  assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
  model.dispose();
});

test('multiple choice: acc takes the highest log-likelihood, acc_norm the highest per character', async () => {
  const logits = table();
  const model = new BigramModel(logits);
  const tok = new ByteTokenizer();
  const q = (gold: number, choices: string[]) => ({ contexts: choices.map(() => 'Q:'), continuations: choices.map((c) => ` ${c}`), choiceTexts: choices, gold });
  // By hand from the table: ll(" a") = -0.49 - 1.13 = -1.62 > ll(" bbbb") = -0.49 - 2.13 - 3 x 0.21 = -3.25,
  // but per character -1.62 < -3.25 / 4 = -0.81.
  const la = logProb(logits, byte(':'), byte(' ')) + logProb(logits, byte(' '), byte('a'));
  const lb = logProb(logits, byte(':'), byte(' ')) + logProb(logits, byte(' '), byte('b')) + 3 * logProb(logits, byte('b'), byte('b'));
  assert.ok(la > lb && la / 1 < lb / 4, `the case must split acc from acc_norm: ${la} ${lb}`);
  const task: McTask = {
    name: 'hand-built', layout: 'generic', path: 'memory',
    questions: [
      q(1, ['a', 'bbbb']), // acc picks "a" (wrong), acc_norm picks "bbbb" (right)
      q(0, ['a', 'bbbb']), // acc right, acc_norm wrong
      q(1, ['zz', 'bbbb']), // both pick "bbbb" (right)
    ],
  };
  const before = tf.memory().numTensors;
  const score = await scoreMultipleChoice(model, tok, task, { batchSize: 3, maxLength: 64 });
  assert.deepEqual(score.predictions, [0, 0, 1]);
  assert.equal(score.n, 3);
  assert.ok(Math.abs(score.acc - 2 / 3) < 1e-12);
  assert.ok(Math.abs(score.accNorm - 2 / 3) < 1e-12);
  const only = await scoreMultipleChoice(model, tok, { ...task, questions: [task.questions[0]] }, { batchSize: 3, maxLength: 64 });
  assert.deepEqual([only.acc, only.accNorm], [0, 1]);
  assert.ok(Math.abs(score.accStderr - Math.sqrt((2 / 3) * (1 / 3) / 2)) < 1e-12);
  assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
  model.dispose();
});
