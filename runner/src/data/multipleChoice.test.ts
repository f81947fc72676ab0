import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpruftError } from '../errors';
import { detectLayout, parseTaskSpec, readMultipleChoiceTask, type McQuestion } from './multipleChoice';

const dir = mkdtempSync(join(tmpdir(), 'spruft-mc-'));
function file(name: string, records: unknown[]): string {
  const path = join(dir, name);
  writeFileSync(path, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return path;
}
const only = (spec: string): McQuestion => {
  const t = readMultipleChoiceTask(spec);
  assert.equal(t.questions.length, 1);
  return t.questions[0];
};

test('ARC (Hugging Face and original layouts): "Question: ..\\nAnswer:", " choice", answerKey by label', () => {
  const hf = file('arc_easy.jsonl', [{ id: 'Mercury_1', question: 'Which is a gas?', choices: { text: ['rock', 'steam', 'ice'], label: ['A', 'B', 'C'] }, answerKey: 'B' }]);
  const q = only(hf);
  assert.deepEqual(q, { contexts: Array(3).fill('Question: Which is a gas?\nAnswer:'), continuations: [' rock', ' steam', ' ice'], choiceTexts: ['rock', 'steam', 'ice'], gold: 1 });
  const original = file('ARC-Challenge-Dev.jsonl', [{ id: 'x', question: { stem: 'Pick 2', choices: [{ text: 'one', label: '1' }, { text: 'two', label: '2' }] }, answerKey: '2' }]);
  const t = readMultipleChoiceTask(original);
  assert.equal(t.layout, 'arc');
  assert.equal(t.name, 'ARC-Challenge-Dev');
  assert.deepEqual([t.questions[0].contexts[0], t.questions[0].gold], ['Question: Pick 2\nAnswer:', 1]);
});

test('BoolQ, PIQA, SIQA, RTE, OpenBookQA prompts as the harness writes them', () => {
  let q = only(file('boolq.jsonl', [{ question: 'is water wet', passage: 'Water is wet.', answer: true, title: 'Water' }]));
  assert.deepEqual([q.contexts[0], q.continuations, q.gold], ['Water is wet.\nQuestion: is water wet?\nAnswer:', [' no', ' yes'], 1]);
  q = only(file('boolq-sg.jsonl', [{ question: 'q', passage: 'p', label: 0, idx: 0 }]));
  assert.equal(q.gold, 0);
  q = only(file('piqa.jsonl', [{ goal: 'Open a jar', sol1: 'twist the lid', sol2: 'eat the lid', label: 0 }]));
  assert.deepEqual([q.contexts[0], q.continuations, q.gold], ['Question: Open a jar\nAnswer:', [' twist the lid', ' eat the lid'], 0]);
  q = only(file('siqa.jsonl', [{ context: 'Kai gave a gift.', question: 'How does Kai feel?', answerA: 'kind', answerB: 'sad', answerC: 'angry', label: '1' }]));
  assert.deepEqual([q.contexts[0], q.choiceTexts, q.gold], ['Q: Kai gave a gift. How does Kai feel?\nA:', ['kind', 'sad', 'angry'], 0]);
  q = only(file('rte.jsonl', [{ sentence1: 'A cat sat.', sentence2: 'An animal sat.', label: 0, idx: 3 }]));
  assert.deepEqual([q.contexts[0], q.choiceTexts, q.gold], ['A cat sat.\nQuestion: An animal sat. True or False?\nAnswer:', ['True', 'False'], 0]);
  q = only(file('openbookqa.jsonl', [{ id: '7-1', question_stem: 'The sun is', choices: { text: ['hot', 'cold'], label: ['A', 'B'] }, answerKey: 'A' }]));
  assert.deepEqual([q.contexts[0], q.continuations, q.gold], ['The sun is', [' hot', ' cold'], 0]);
  // The original OBQA files share ARC's layout; the name tells them apart.
  const obqa = readMultipleChoiceTask(`obqa=${file('main-dev.jsonl', [{ id: '7-1', question: { stem: 'The sun is', choices: [{ text: 'hot', label: 'A' }, { text: 'cold', label: 'B' }] }, answerKey: 'A' }])}`);
  assert.deepEqual([obqa.name, obqa.layout, obqa.questions[0].contexts[0]], ['obqa', 'openbookqa', 'The sun is']);
});

test('HellaSwag: activity label, ctx_a + capitalised ctx_b, WikiHow markup removed', () => {
  const q = only(file('hellaswag.jsonl', [{
    ind: 4, activity_label: 'Making a cake', ctx_a: 'A woman mixes flour.', ctx_b: 'then SHE', ctx: 'ignored',
    endings: ['pours it [title] Into a pan.', 'eats  the bowl.', 'sings.', 'leaves [step] quickly.'], label: 0,
  }]));
  assert.equal(q.contexts[0], 'Making a cake: A woman mixes flour. Then she');
  assert.deepEqual(q.choiceTexts, ['pours it. Into a pan.', 'eats the bowl.', 'sings.', 'leaves quickly.']);
  assert.equal(q.gold, 0);
});

test('WinoGrande: partial scoring, each option fills the blank, the rest of the sentence is scored', () => {
  const q = only(file('winogrande.jsonl', [{ sentence: 'The trophy did not fit in the case because the _ was too big.', option1: 'trophy', option2: 'case', answer: '1' }]));
  assert.deepEqual(q.contexts, ['The trophy did not fit in the case because the trophy', 'The trophy did not fit in the case because the case']);
  assert.deepEqual(q.continuations, [' was too big.', ' was too big.']);
  assert.equal(q.gold, 0);
});

test('layouts are detected from fields, names pick a layout, a limit takes the first questions', () => {
  assert.equal(detectLayout({ goal: '', sol1: '', sol2: '', label: 0 }), 'piqa');
  assert.equal(detectLayout({ question: '', answerKey: 'A', choices: {} }), 'arc');
  assert.equal(detectLayout({ question: '', answerKey: 'A', choices: {} }, 'openbookqa-test'), 'openbookqa');
  assert.equal(detectLayout({ a: 1 }), undefined);
  assert.deepEqual(parseTaskSpec('arc_challenge=data/x.jsonl'), { name: 'arc_challenge', path: 'data/x.jsonl', layout: 'arc' });
  assert.deepEqual(parseTaskSpec('/data/piqa.jsonl'), { name: 'piqa', path: '/data/piqa.jsonl', layout: 'piqa' });
  const generic = file('mine.jsonl', [{ query: 'A', choices: ['x', 'y'], gold: 1 }, { context: 'B', choices: ['x', 'y'], label: 0 }]);
  assert.equal(readMultipleChoiceTask(generic, 1).questions.length, 1);
  // A JSON array (as Hugging Face exports) reads the same as JSONL.
  const array = join(dir, 'piqa-array.json');
  writeFileSync(array, JSON.stringify([{ goal: 'g', sol1: 'a', sol2: 'b', label: 1 }]));
  assert.equal(readMultipleChoiceTask(`piqa=${array}`).questions[0].gold, 1);
});

test('bad task files are refused naming the file, the record and the field', () => {
  const fails = (spec: string, pattern: RegExp, where: string): void => {
    assert.throws(() => readMultipleChoiceTask(spec), (e: unknown) => e instanceof SpruftError && e.code === 'DATA_INVALID' && pattern.test(e.message) && e.where === where, spec);
  };
  const arc = file('arc-bad.jsonl', [{ question: 'q', choices: { text: ['a', 'b'], label: ['A', 'B'] }, answerKey: 'A' }, { question: 'q', choices: { text: ['a', 'b'], label: ['A', 'B'] }, answerKey: 'E' }]);
  fails(arc, /answerKey "E" is not one of the choice labels \(A, B\)/, `${arc}:2`);
  const piqa = file('piqa-bad.jsonl', [{ goal: 'g', sol1: 'a', label: 0 }]);
  fails(`piqa=${piqa}`, /no "sol2" field \(piqa layout/, `${piqa}:1`);
  const wg = file('wg-bad.jsonl', [{ sentence: 'no blank', option1: 'a', option2: 'b', answer: '1' }]);
  fails(wg, /has no "_" blank/, `${wg}:1`);
  const unknown = file('mystery.jsonl', [{ a: 1 }]);
  fails(unknown, /not recognised from its fields \(a\); name it: --tasks <task>=/, `${unknown}:1`);
  assert.throws(() => readMultipleChoiceTask(join(dir, 'missing.jsonl')), (e: unknown) => e instanceof SpruftError && e.code === 'FILE_NOT_FOUND');
});
