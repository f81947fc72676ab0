/** `spruft check` spawned as a user runs it: output lines, exit codes, --json, and what it loads. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as esbuild from 'esbuild';
import { makeFixtureModels } from '../../../test/fixtures/models/makeFixtureModels';
import { REPO_ROOT as ROOT, runSpruft, type CliResult } from '../../../test/fixtures/spruftCli';

let dir: string;

const spruft = (...args: string[]): CliResult => runSpruft(dir, args);

describe('spruft check', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'spruft-check-'));
    makeFixtureModels(dir);
    writeFileSync(join(dir, 'corpus.txt'), 'text\n');
    writeFileSync(join(dir, 'good.spruft.yaml'), 'model:\n  path: tiny-llama\ntask: causal-lm\ndata:\n  dataset: text\n  path: corpus.txt\nspruft:\n  rank: 8\n');
    writeFileSync(join(dir, 'bad.spruft.yaml'), 'model:\n  path: tiny-llama\ntask: causal-lm\ndata:\n  dataset: text\n  path: corpus.txt\ntraining:\n  lr: "1e-4"\n  epoch: 3\n');
    writeFileSync(join(dir, 'warn.spruft.yaml'), 'model:\n  path: tiny-llama\ntask: causal-lm\ndata:\n  dataset: text\n  path: corpus.txt\nlora:\n  rank: 4\n');
    writeFileSync(join(dir, 'nomodel.spruft.yaml'), 'model:\n  path: missing-model\ntask: causal-lm\ndata:\n  dataset: text\n  path: corpus.txt\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('prints only problems, and exits 0 when none is an error', () => {
    const r = spruft('check', 'good.spruft.yaml', 'warn.spruft.yaml');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'warn.spruft.yaml:7:1: warning: `lora` has no effect: `method` is `spruft` and `compare` does not name `lora` or `dora`.\n');
    assert.match(r.stderr, /spruft check: 0 errors, 1 warning in 2 files/);
    assert.match(r.stderr, /good\.spruft\.yaml: note: estimated training memory for spruft: .*an estimate from layer shapes/);
  });

  it('plans a model from its config.json alone: Llama-2-7B, no weights here', () => {
    const fixture = join(ROOT, 'test', 'fixtures', 'models', 'llama-2-7b-config');
    writeFileSync(join(dir, 'llama7b.spruft.yaml'), `model:\n  path: ${JSON.stringify(fixture)}\ntask: causal-lm\ndata:\n  dataset: text\n  path: corpus.txt\n  text: { maxLength: 2048 }\nmethod: spruft\ncompare: [lora]\nspruft: { rank: 128 }\nlora: { rank: 64 }\ntargets: { layerTypes: [linear] }\ntraining: { batchSize: 1 }\nbackend: wasm\n`);
    const r = spruft('check', '--json', 'llama7b.spruft.yaml');
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { files: Array<{ diagnostics: Array<{ code: string; message: string }>; estimates: Array<{ method: string; trainableParams: number; modelBytes: number; peakBytes: number }> }> };
    const [file] = report.files;
    assert.deepEqual(file.estimates.map((e) => [e.method, e.trainableParams]), [['spruft', 145_752_064], ['lora', 159_907_840]], 'the paper\'s #param (table 11)');
    assert.equal(file.estimates[0].modelBytes, 6_738_415_616 * 4);
    const warning = file.diagnostics.find((d) => d.code === 'memory-estimate');
    assert.ok(warning, 'the estimate is compared with what the wasm backend can address');
    assert.match(warning.message, /more than the 4 GB that the wasm backend can address/);
  });

  it('prints file:line:col: severity: message for each problem and exits 1 on errors', () => {
    const r = spruft('check', 'bad.spruft.yaml');
    assert.equal(r.status, 1);
    assert.deepEqual(r.stdout.trim().split('\n'), [
      'bad.spruft.yaml:8:7: error: `training.lr` must be a number, not the string "1e-4": remove the quotes.',
      'bad.spruft.yaml:9:3: error: Unknown key `epoch` in `training`. Did you mean `epochs`?',
    ]);
    assert.match(r.stderr, /spruft check: 2 errors, 0 warnings in 1 file/);
  });

  it('checks several files, as JSON with --json', () => {
    const r = spruft('check', '--json', 'good.spruft.yaml', 'bad.spruft.yaml', 'nomodel.spruft.yaml');
    assert.equal(r.status, 1);
    const report = JSON.parse(r.stdout) as { files: Array<{ path: string; diagnostics: Array<{ code: string; range: unknown }> }>; errors: number; warnings: number };
    assert.deepEqual(report.files.map((f) => [f.path, f.diagnostics.map((d) => d.code)]), [
      ['good.spruft.yaml', []],
      ['bad.spruft.yaml', ['type', 'unknown-key']],
      ['nomodel.spruft.yaml', ['path-not-found']],
    ]);
    assert.deepEqual([report.errors, report.warnings], [3, 0]);
    assert.deepEqual(report.files[1]!.diagnostics[0]!.range, { start: { line: 7, character: 6 }, end: { line: 7, character: 12 } }, 'ranges are 0-based in JSON');
  });

  it('leaves files and the model alone with --no-semantic', () => {
    const r = spruft('check', '--no-semantic', 'nomodel.spruft.yaml');
    assert.equal(r.status, 0, r.stdout);
  });

  it('says so when the file is missing, or the arguments are wrong', () => {
    const missing = spruft('check', 'nowhere.spruft.yaml');
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /run config not found/);
    const usage = spruft('check');
    assert.equal(usage.status, 1);
    assert.match(usage.stderr, /usage: spruft check/);
  });

  // The requirement: checking a config never starts TensorFlow.js.
  it('bundles no TensorFlow.js into spruft check or the language server', async () => {
    for (const entry of ['runner/src/commands/check.ts', 'extension/languageServer/server.ts']) {
      const result = await esbuild.build({ entryPoints: [entry], absWorkingDir: ROOT, bundle: true, write: false, platform: 'node', format: 'cjs', metafile: true, logLevel: 'silent', external: ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'] });
      const tfjs = Object.keys(result.metafile.inputs).filter((input) => input.includes('@tensorflow/'));
      assert.deepEqual(tfjs.slice(0, 3), [], `${relative(ROOT, join(ROOT, entry))} pulls in TensorFlow.js`);
    }
  });
});
