/**
 * `spruft score` spawned as a user runs it, on the project's pretrained llama-tiny: the
 * JSON keys, a selection that follows the scores, the text output, errors.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ScoreResult } from '../../../protocol/results';
import { REPO_ROOT, runSpruft, type CliResult } from '../../../test/fixtures/spruftCli';

let dir: string;

const spruft = (...args: string[]): CliResult => runSpruft(dir, args);

const config = (metric: string): string =>
  `model:\n  path: ${join(REPO_ROOT, 'models', 'llama-tiny')}\ntask: causal-lm\nbackend: wasm\ndata:\n  dataset: text\n  path: corpus.txt\n  text:\n    maxLength: 32\n`
  + `spruft:\n  rank: 4\n  importance:\n    metric: ${metric}\ntraining:\n  batchSize: 4\n`;

describe('spruft score', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'spruft-score-'));
    writeFileSync(join(dir, 'corpus.txt'), 'Call me Ishmael. Some years ago, never mind how long precisely, I thought I would sail about a little.\n'.repeat(20));
    writeFileSync(join(dir, 'l2.spruft.yaml'), config('l2'));
    writeFileSync(join(dir, 'taylor.spruft.yaml'), config('taylor'));
    writeFileSync(join(dir, 'bad.spruft.yaml'), config('tayler'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const metric of ['l2', 'taylor']) {
    it(`${metric} --json: every row's score, the top-r rows selected, time and peaks`, () => {
      const r = spruft('score', `${metric}.spruft.yaml`, '--json');
      assert.equal(r.status, 0, r.stderr);
      const result = JSON.parse(r.stdout) as ScoreResult;
      assert.equal(result.metric, metric);
      assert.equal(result.backend.name, 'wasm');
      assert.ok(result.layers.length > 0);
      let selected = 0;
      for (const l of result.layers) {
        assert.equal(l.rowScores.length, l.dOut, `${l.name}: one score per row`);
        assert.ok(l.rowScores.every((s) => Number.isFinite(s) && s >= 0), `${l.name}: scores are magnitudes`);
        assert.equal(l.rows.length, Math.min(4, l.dOut), `${l.name}: rank 4`);
        assert.deepEqual(l.rows, l.rows.slice().sort((a, b) => a - b), `${l.name}: rows ascending`);
        assert.deepEqual(l.scores, l.rows.map((row) => l.rowScores[row]), `${l.name}: scores of the selected rows`);
        const lowestChosen = Math.min(...l.scores);
        const highestLeft = Math.max(-Infinity, ...l.rowScores.filter((_, row) => !l.rows.includes(row)));
        assert.ok(lowestChosen >= highestLeft, `${l.name}: the selected rows are the highest scored`);
        selected += l.rows.length * l.dIn;
      }
      assert.equal(result.trainableParams, selected);
      assert.ok(result.peakBytes > 0 && result.inferencePeakBytes > 0 && result.ms > 0);
      assert.equal(new Set(result.layers.map((l) => l.rowScores.join())).size > 1, true, 'layers differ');
    });
  }

  it('zo-taylor --json: each layer\'s SNR over the n k estimates, and a warning on stderr where it is below 1', () => {
    writeFileSync(join(dir, 'zo.spruft.yaml'), config('zo-taylor').replace('metric: zo-taylor\n', 'metric: zo-taylor\n    perturbations: 2\n    calibrationSets: 3\n'));
    const r = spruft('score', 'zo.spruft.yaml', '--json');
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(r.stdout) as ScoreResult;
    for (const l of result.layers) assert.ok(typeof l.snr === 'number' && l.snr >= 0, `${l.name}: snr ${l.snr}`);
    const low = result.layers.filter((l) => l.snr! < 1);
    assert.equal(result.warnings!.length > 0, low.length > 0, JSON.stringify(result.warnings));
    if (low.length > 0) assert.match(r.stderr, new RegExp(`zo-taylor: the estimate is below its noise .* in ${low.length} of ${result.layers.length} layers`));
  });

  it('prints the rows per layer and a summary without --json', () => {
    const r = spruft('score', 'l2.spruft.yaml');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^model\.layers\.0\.self_attn\.q_proj\s+4\/\d+\s+rows: \d+ \d+ \d+ \d+$/m);
    assert.match(r.stdout, /^l2: [\d,]+ parameters selected in (?:[\d.]+ m?s|[\d:]+); peak [\d.]+ \w?i?B \(inference peak [\d.]+ \w?i?B\)$/m);
  });

  it('refuses a bad config with file:line:col, and a missing one by its path', () => {
    const bad = spruft('score', 'bad.spruft.yaml', '--json');
    assert.equal(bad.status, 1);
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr, /bad\.spruft\.yaml:13:\d+: error: .*tayler/);
    const missing = spruft('score', 'nowhere.spruft.yaml');
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /nowhere\.spruft\.yaml/);
  });
});
