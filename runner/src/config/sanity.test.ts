/**
 * Checks before any work: a run config that is not UTF-8 is named as such (with the
 * offset of the first bad byte), and values no run could finish or that would put the run
 * folder outside `output.dir` are errors (`epochs: 1e9`, `output.name: ".."`); merely
 * unusual ones are warnings.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkRunConfigText } from '../../../protocol/configValidate';
import { SpruftError } from '../errors';
import { loadRunConfig } from './load';

const BASE = 'model: {path: m}\ntask: causal-lm\ndata: {dataset: text, path: c.txt}\n';
let dir: string;

function findings(extra: string): string[] {
  return checkRunConfigText(BASE + extra).diagnostics.map((d) => `${d.severity} ${d.path.join('.')}: ${d.message}`);
}

describe('run config sanity', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'spruft-sanity-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('names a config file that is not UTF-8, and where', async () => {
    const path = join(dir, 'latin1.spruft.yaml');
    writeFileSync(path, Buffer.from(`${BASE}name: caf\xe9\n`, 'latin1'));
    const at = Buffer.byteLength(BASE) + 'name: caf'.length;
    await assert.rejects(loadRunConfig(path), (e: unknown) => {
      assert.ok(e instanceof SpruftError && e.code === 'CONFIG_INVALID', String(e));
      assert.ok(e.message.includes(`run config is not UTF-8 text (byte 0xe9 at offset ${at})`), e.message);
      assert.equal(e.where, `${path}:byte ${at}`);
      return true;
    });
  });

  it('refuses epochs no run could finish, warns of unusual ones', () => {
    assert.deepEqual(findings('training: {epochs: 1e9}\n'), ['error training.epochs: `training.epochs` is 1000000000: more than the 100,000 passes a run accepts; set `training.maxSteps` to bound a run by steps.']);
    assert.match(findings('training: {epochs: 5000}\n')[0] ?? '', /^warning training\.epochs: .*far more passes than fine-tuning takes/);
    assert.deepEqual(findings('training: {epochs: 5}\n'), []);
  });

  it('refuses an output.name that leaves output.dir', () => {
    for (const name of ['..', '.', '../x', 'a/b']) {
      assert.match(findings(`output: {name: "${name}"}\n`)[0] ?? '', /^error output\.name: .*(not allowed|cannot be `\.` or `\.\.`)/, name);
    }
    assert.deepEqual(findings('output: {name: run.v2..b}\n'), [], 'dots inside a name are fine');
  });
});
