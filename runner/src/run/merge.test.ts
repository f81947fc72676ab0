/**
 * Where `spruft merge` may write: not the base model's folder, not inside it, not a folder
 * that holds it (through symlinks too), unless forced; anywhere else, existing or not.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SpruftError } from '../errors';
import { checkMergeOutput } from './merge';

let dir: string;

describe('merge output', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'spruft-merge-out-'));
    mkdirSync(join(dir, 'models', 'base'), { recursive: true });
    symlinkSync(join(dir, 'models', 'base'), join(dir, 'link'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses the base folder, a folder inside it and one that holds it, unless forced', () => {
    const base = join(dir, 'models', 'base');
    const cases: Array<[string, string]> = [
      [base, 'is'], [join(base, '.'), 'is'], [join(dir, 'link'), 'is'],
      [join(base, 'merged'), 'lies inside'], [join(dir, 'link', 'new', 'deeper'), 'lies inside'],
      [join(dir, 'models'), 'holds'], [dir, 'holds'],
    ];
    for (const [out, relation] of cases) {
      assert.throws(() => checkMergeOutput(out, base, false), (e: unknown) => e instanceof SpruftError && e.code === 'CONFIG_INVALID' && e.message.includes(`the output ${relation} the base model's folder`), out);
      assert.doesNotThrow(() => checkMergeOutput(out, base, true), `${out} with --force`);
    }
  });

  it('accepts any other folder, existing or not', () => {
    const base = join(dir, 'models', 'base');
    for (const out of [join(dir, 'merged'), join(dir, 'models', 'base-merged'), join(dir, 'models', 'other', 'x')]) {
      assert.doesNotThrow(() => checkMergeOutput(out, base, false), out);
    }
  });
});
