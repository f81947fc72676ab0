import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../tensor/rng';
import { SpruftError } from '../errors';
import {
  ByteTokenizer,
  balancedTextLimit,
  readJsonl,
  readTextCorpus,
  selectTextClasses,
  splitTextHoldout,
} from './text';
import { encodeBatch, encodeWithSpecials } from './tokenizers/types';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'spruft-text-'));

function dataError(fn: () => unknown): SpruftError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SpruftError, String(err));
    assert.equal(err.code, 'DATA_INVALID', err.message);
    return err;
  }
  return assert.fail('expected an error');
}

test('readJsonl: string labels (sorted names), integer labels, given names, nested fields, CRLF, blank lines', () => {
  const dir = tmp();
  const f = join(dir, 'd.jsonl');
  writeFileSync(f, '\ufeff{"text": "good film", "label": "pos"}\r\n\r\n{"text": "bad", "label": "neg"}\n{"text": "ok", "label": "pos"}\n');
  let ds = readJsonl(f);
  assert.deepEqual(ds.texts, ['good film', 'bad', 'ok']);
  assert.deepEqual(ds.labelNames, ['neg', 'pos']);
  assert.deepEqual(Array.from(ds.labels), [1, 0, 1]);
  ds = readJsonl(f, { labelNames: ['pos', 'neg'] });
  assert.deepEqual(Array.from(ds.labels), [0, 1, 0]);
  writeFileSync(f, '{"sentence": "a", "y": 2}\n{"sentence": "b", "y": 0}\n');
  ds = readJsonl(f, { textField: 'sentence', labelField: 'y' });
  assert.deepEqual(ds.labelNames, ['0', '1', '2']);
  assert.deepEqual(Array.from(ds.labels), [2, 0]);
  writeFileSync(f, '{"input": {"text": "x"}, "meta": {"label": "b"}}\n');
  ds = readJsonl(f, { textField: 'input.text', labelField: 'meta.label' });
  assert.deepEqual([ds.texts, ds.labelNames], [['x'], ['b']]);
  ds = readJsonl(f, { textField: 'input.text', labelField: null });
  assert.deepEqual(Array.from(ds.labels), [-1]);
  assert.deepEqual(ds.labelNames, []);
});

test('readJsonl errors name the file and line (and column for bad JSON)', () => {
  const dir = tmp();
  const f = join(dir, 'd.jsonl');
  const check = (content: string, where: string, message: RegExp, options = {}): void => {
    writeFileSync(f, content);
    const err = dataError(() => readJsonl(f, options));
    assert.equal(err.where, `${f}:${where}`);
    assert.match(err.message, message);
  };
  check('{"text": "a", "label": 0}\n\n{"text": "b" "label": 1}\n', '3:14', /line 3 is not valid JSON: expected ',' or '}' after the value of "text"/);
  check('{"text": "a", "label": 0}\n{"review": "b", "label": 1}\n', '2', /line 2 has no "text" field \(its fields: review, label\); set data\.textField/);
  check('{"text": "a"}\n', '1', /line 1 has no "label" field/);
  check('{"text": 5, "label": 0}\n', '1', /"text" must be a string/);
  check('[1]\n', '1', /not a JSON object/);
  check('{"text": "a", "label": 0}\n{"text": "b", "label": "x"}\n', '2', /label "x" is a string but earlier labels are integers/);
  check('{"text": "a", "label": 1.5}\n', '1', /must be a string or a non-negative integer/);
  check('{"text": "a", "label": "pos"}\n\n{"text": "b", "label": "meh"}\n', '3', /label "meh" is not one of the label names \(pos, neg\)/, { labelNames: ['pos', 'neg'] });
  assert.throws(() => readJsonl(join(dir, 'missing.jsonl')), (e: unknown) => e instanceof SpruftError && e.code === 'FILE_NOT_FOUND');
});

test('readTextCorpus: files, folders, paragraphs, lines', () => {
  const dir = tmp();
  mkdirSync(join(dir, 'c'));
  writeFileSync(join(dir, 'c', 'b.txt'), 'Second file.\r\n');
  writeFileSync(join(dir, 'c', 'a.txt'), 'First para\nstill first.\n\n  \nSecond para.\n\n\n');
  writeFileSync(join(dir, 'c', 'skip.md'), 'not read');
  assert.deepEqual(readTextCorpus(join(dir, 'c')), ['First para\nstill first.', 'Second para.', 'Second file.']);
  assert.deepEqual(readTextCorpus(join(dir, 'c', 'a.txt'), { unit: 'line' }), ['First para', 'still first.', 'Second para.']);
  assert.deepEqual(readTextCorpus([join(dir, 'c', 'b.txt'), join(dir, 'c', 'skip.md')], { unit: 'file' }), ['Second file.', 'not read']);
  assert.match(dataError(() => readTextCorpus(join(dir, 'c'), { extensions: ['.csv'] })).message, /no \.csv files in this folder/);
});

test('text dataset helpers: select, balanced limit, stratified split', () => {
  const ds = { n: 6, texts: ['a', 'b', 'c', 'd', 'e', 'f'], labels: Int32Array.from([0, 1, 0, 2, 1, 0]), labelNames: ['x', 'y', 'z'] };
  const sel = selectTextClasses(ds, ['y', 'x']);
  assert.deepEqual([sel.texts, Array.from(sel.labels), sel.labelNames], [['a', 'b', 'c', 'e', 'f'], [1, 0, 1, 0, 1], ['y', 'x']]);
  const lim = balancedTextLimit(ds, 3, new Rng(1));
  assert.deepEqual(Array.from(lim.labels).sort(), [0, 1, 2]);
  const { train, holdout } = splitTextHoldout(ds, 0.5, new Rng(2));
  assert.equal(holdout.n, 3);
  assert.deepEqual([...train.texts, ...holdout.texts].sort(), ds.texts);
});

test('ByteTokenizer: ids are UTF-8 bytes + PAD/BOS/EOS, truncation keeps EOS, mask marks real tokens', () => {
  const tok = new ByteTokenizer();
  assert.equal(tok.vocabSize, 259);
  const e = encodeBatch(tok, ['hé'], 8);
  // h = 104, é = C3 A9.
  assert.deepEqual(Array.from(e.ids), [257, 104, 0xc3, 0xa9, 258, 256, 256, 256]);
  assert.deepEqual(Array.from(e.attentionMask), [1, 1, 1, 1, 1, 0, 0, 0]);
  assert.deepEqual([e.lengths[0], e.truncated], [5, 0]);
  assert.equal(tok.decode(e.ids), 'hé');
  const cut = encodeWithSpecials(tok, 'hé!', 4);
  assert.deepEqual(cut, { ids: [257, 104, 0xc3, 258], truncated: true });
  assert.equal(tok.decode(cut.ids), 'h\ufffd', 'a character cut in half decodes to U+FFFD');
  assert.deepEqual(encodeWithSpecials(tok, 'ab', 4), { ids: [257, 97, 98, 258], truncated: false });
  assert.deepEqual(Array.from(encodeBatch(tok, [''], 3).ids), [257, 258, 256]);
  assert.deepEqual(encodeWithSpecials(new ByteTokenizer({ addBos: false, addEos: false }), 'abc', 2).ids, [97, 98]);
  assert.throws(() => encodeWithSpecials(tok, 'a', 1), /maxLength 1 is too small: it must hold the 2 special tokens/);
  const batch = encodeBatch(tok, ['a', 'xyz', '😀'], 5);
  assert.deepEqual(batch.shape, [3, 5]);
  assert.deepEqual(Array.from(batch.ids), [257, 97, 258, 256, 256, 257, 120, 121, 122, 258, 257, 0xf0, 0x9f, 0x98, 258]);
  assert.deepEqual(Array.from(batch.lengths), [3, 5, 5]);
  assert.deepEqual(Array.from(batch.attentionMask.subarray(0, 5)), [1, 1, 1, 0, 0]);
  assert.deepEqual(tok.describe(), { kind: 'byte', model: 'byte', vocabSize: 259, pad: 256, bos: 257, eos: 258 });
  assert.throws(() => tok.decode([300]), /outside the byte tokenizer's vocabulary/);
});
