import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpruftError } from '../errors';
import { locateJsonError, parseJsLiteral, parseJsonText, positionAt, readJsonFile } from './jsonText';

function spruftError(fn: () => unknown): SpruftError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SpruftError, `expected a SpruftError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected an error');
}

test('positionAt counts lines and columns from 1', () => {
  assert.deepEqual(positionAt('ab\ncd\nef', 0), { offset: 0, line: 1, column: 1 });
  assert.deepEqual(positionAt('ab\ncd\nef', 4), { offset: 4, line: 2, column: 2 });
  assert.deepEqual(positionAt('ab\ncd\nef', 6), { offset: 6, line: 3, column: 1 });
});

test('locateJsonError finds the first error and accepts what JSON.parse accepts', () => {
  const valid = ['{}', '[]', '0', '-0.5e+3', '"a\\u00e9\\n"', ' {"a": [1, 2, {"b": null}], "c": true} ', '[-1E2, 0.25]'];
  for (const text of valid) {
    JSON.parse(text);
    assert.equal(locateJsonError(text), undefined, text);
  }
  const cases: Array<[string, number]> = [
    ['{"a": 1,}', 8],
    ['{"a": 1 "b": 2}', 8],
    ['{a: 1}', 1],
    ["{'a': 1}", 1],
    ['[1, 2', 5],
    ['{"a": 01}', 6],
    ['{"a": .5}', 6],
    ['{"a": "x\ny"}', 8],
    ['{"a": tru}', 6],
    ['{"a": "\\q"}', 7],
    ['{} x', 3],
    ['', 0],
    ['[1,,2]', 3],
  ];
  for (const [text, offset] of cases) {
    assert.throws(() => JSON.parse(text), SyntaxError, `JSON.parse should reject ${text}`);
    const found = locateJsonError(text);
    assert.ok(found, `no error found in ${JSON.stringify(text)}`);
    assert.equal(found.offset, offset, `${JSON.stringify(text)}: ${found.reason}`);
  }
});

test('parseJsonText reports file:line:col and skips a byte-order mark', () => {
  const err = spruftError(() => parseJsonText('{\n  "a": 1,\n  "b": [1, 2,]\n}', '/x/config.json', 'MODEL_INVALID', 'config.json'));
  assert.equal(err.code, 'MODEL_INVALID');
  assert.equal(err.where, '/x/config.json:3:14');
  assert.match(err.message, /config\.json is not valid JSON: trailing comma/);
  assert.deepEqual(parseJsonText('\ufeff{"a": 1}', 'f', 'DATA_INVALID'), { a: 1 });
  const bom = spruftError(() => parseJsonText('\ufeff{"a" 1}', 'f.json', 'DATA_INVALID'));
  assert.equal(bom.where, 'f.json:1:6');
});

test('readJsonFile: missing file is FILE_NOT_FOUND naming the path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spruft-json-'));
  const err = spruftError(() => readJsonFile(join(dir, 'nope.json'), 'MODEL_INVALID', 'config.json'));
  assert.equal(err.code, 'FILE_NOT_FOUND');
  assert.equal(err.where, join(dir, 'nope.json'));
  writeFileSync(join(dir, 'ok.json'), '{"x": [1]}');
  assert.deepEqual(readJsonFile(join(dir, 'ok.json'), 'MODEL_INVALID'), { x: [1] });
});

test('parseJsLiteral reads minified object literals exactly', () => {
  const text = 'a.exports={modelTopology:{keras_version:"2.2.4",sparse:!1,on:!0,seed:null,v:void 0,' +
    "'q':'it\\'s',s:\"\\x41\\u00e9\\u{1F600}\",n:[.5,-.03,1e-5,-2E3,0x1f,5.,1/0,-1/0],__proto__:{x:1},3:4,},w:[1,2,],}" + ';rest';
  const start = text.indexOf('=') + 1;
  const { value, end } = parseJsLiteral(text, start, 'model.min.js', 'MODEL_INVALID');
  assert.equal(text.slice(end), ';rest');
  const v = value as Record<string, unknown>;
  const top = v.modelTopology as Record<string, unknown>;
  assert.equal(top.keras_version, '2.2.4');
  assert.equal(top.sparse, false);
  assert.equal(top.on, true);
  assert.equal(top.seed, null);
  assert.ok('v' in top && top.v === undefined);
  assert.equal(top.q, "it's");
  assert.equal(top.s, 'A\u00e9\u{1F600}');
  assert.deepEqual(top.n, [0.5, -0.03, 1e-5, -2000, 31, 5, Infinity, -Infinity]);
  assert.equal(Object.getPrototypeOf(top), Object.prototype, '__proto__ key must not set the prototype');
  assert.deepEqual(Object.getOwnPropertyDescriptor(top, '__proto__')?.value, { x: 1 });
  assert.equal(top['3'], 4);
  assert.deepEqual(v.w, [1, 2]);
});

test('parseJsLiteral refuses code and reports where', () => {
  for (const [text, col] of [
    ['x={a:foo()}', 6],
    ['x={a:window.x}', 6],
    ['x=[1,2+3]', 7],
    ['x={a:`t`}', 6],
    ['x={a:"unterminated}', 6],
    ['x={a:!"s"}', 7],
  ] as const) {
    const err = spruftError(() => parseJsLiteral(text, 2, 'm.js', 'MODEL_INVALID'));
    assert.equal(err.code, 'MODEL_INVALID');
    assert.equal(err.where, `m.js:1:${col}`, `${text}: ${err.message}`);
  }
});
