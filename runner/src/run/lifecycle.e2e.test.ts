/**
 * Run status that tells the truth, and merges that cannot destroy their base, with
 * `spruft` spawned as a user runs it:
 *   - Ctrl-C during a compared method marks the whole run `cancelled`;
 *   - a run killed with SIGKILL reads `interrupted` (CLI listing, dashboard snapshot);
 *     a second `--resume` of a live run is refused; a resume removes stale temporaries;
 *   - corrupt run-folder files and a latest.json pointing out of its folder are named;
 *   - `merge --out` the base model's folder is refused unless --force, and an adapter is
 *     not applied to a base whose content changed.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AdapterConfig } from '../../../protocol/adapter';
import { ADAPTER_CONFIG_FILE } from '../../../protocol/adapter';
import { RUN_FILES, type RunStatusFile } from '../../../protocol/runFolder';
import { runSpruft, spruftArgv, type CliResult } from '../../../test/fixtures/spruftCli';
import { readDashboardSnapshot } from './runFolder';
import { writeMlpFolder } from '../../../test/fixtures/mlpFolder';

let dir: string;

function config(name: string, o: { epochs: number; compare?: string }): string {
  return [
    'model:', '  path: mlp', 'task: image-classification',
    'data:', '  dataset: mnist', '  trainLimit: 320', '  evalLimit: 50', '  image: { size: 8, channels: 1 }',
    'method: spruft', `compare: [${o.compare ?? ''}]`,
    'spruft: { rank: 4, importance: { metric: l2 } }',
    'lora: { rank: 2 }',
    `training: { lr: 0.003, epochs: ${o.epochs}, batchSize: 16, checkpointEvery: 5, seed: 3 }`,
    'backend: wasm',
    `output: { dir: runs, name: ${name} }`,
    '',
  ].join('\n');
}

const spruft = (...args: string[]): CliResult => runSpruft(dir, args);

/** Spawn `spruft <args>` and resolve once a line of its stderr matches `pattern`. */
function spawnUntil(args: string[], pattern: RegExp): { child: ChildProcess; seen: Promise<string>; exited: Promise<number | null>; stderr: () => string } {
  const child = spawn(process.execPath, spruftArgv(args), { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const seen = new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const m = pattern.exec(text);
      if (m) resolve(m[0]);
    });
    void exited.then((code) => reject(new Error(`spruft ${args.join(' ')} exited (${code}) before printing ${pattern}:\n${text}`)));
  });
  return { child, seen, exited, stderr: () => text };
}

function status(runDir: string): RunStatusFile {
  return JSON.parse(readFileSync(join(runDir, RUN_FILES.status), 'utf8')) as RunStatusFile;
}

describe('run lifecycle (spawned spruft)', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'spruft-lifecycle-'));
    writeMlpFolder(join(dir, 'mlp'), [24]);
    writeFileSync(join(dir, 'compare.spruft.yaml'), config('compare', { epochs: 400, compare: 'lora' }));
    writeFileSync(join(dir, 'long.spruft.yaml'), config('long', { epochs: 400 }));
    writeFileSync(join(dir, 'short.spruft.yaml'), config('short', { epochs: 1 }));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('Ctrl-C during a compared method marks the whole run cancelled, not completed', async () => {
    const runDir = join(dir, 'runs', 'compare');
    // The first method is cut short by --max-steps so that the compared one starts soon.
    const run = spawnUntil(['train', 'compare.spruft.yaml', '--max-steps', '6'], /\[lora\] \S+ \d+\/\d+/);
    await run.seen;
    run.child.kill('SIGINT');
    assert.equal(await run.exited, 1, run.stderr());
    const s = status(runDir);
    assert.equal(s.status, 'cancelled', 'the whole run');
    assert.deepEqual(s.methods, { spruft: 'completed', lora: 'cancelled' });
    assert.equal(status(join(runDir, RUN_FILES.compareDir, 'lora')).status, 'cancelled');
    assert.ok(existsSync(join(runDir, RUN_FILES.compareDir, 'lora', RUN_FILES.checkpointDir, 'latest.json')), 'checkpoint kept');
  });

  it('a killed run reads interrupted; a second --resume of a live run is refused; a resume removes stale temporaries', async () => {
    const runDir = join(dir, 'runs', 'long');
    const first = spawnUntil(['train', 'long.spruft.yaml'], /\[spruft\] \S+ \d+\/\d+/);
    try {
      await first.seen;
    } catch (err) {
      first.child.kill('SIGKILL');
      throw err;
    }
    const s = status(runDir);
    assert.equal(s.owner?.pid, first.child.pid, 'the owner is recorded');
    assert.ok(s.heartbeatAt, 'with a heartbeat');
    assert.equal(readDashboardSnapshot(runDir).status, 'running', 'a live run reads running');

    const second = spruft('train', '--resume', runDir);
    assert.equal(second.status, 1);
    assert.match(second.stderr, new RegExp(`running in process ${first.child.pid}`));

    first.child.kill('SIGKILL');
    await first.exited;
    assert.equal(status(runDir).status, 'running', 'the file still says running');
    assert.equal(readDashboardSnapshot(runDir).status, 'interrupted', 'the dashboard shows it interrupted');
    const listed = spruft('runs', 'runs', '--json');
    assert.equal(listed.status, 0, listed.stderr);
    const row = (JSON.parse(listed.stdout) as { runs: Array<{ runDir: string; status: string; resume?: string }> }).runs.find((r) => r.runDir.endsWith('long'));
    assert.equal(row?.status, 'interrupted');
    assert.match(row?.resume ?? '', /spruft train --resume/);
    const evaluated = spruft('eval', runDir);
    assert.equal(evaluated.status, 1);
    assert.match(evaluated.stderr, /no adapter to evaluate yet: it was interrupted.*spruft train --resume/);

    // What a checkpoint write killed mid-way leaves behind.
    const checkpoint = join(runDir, RUN_FILES.checkpointDir);
    writeFileSync(join(checkpoint, '.latest.json.tmp-4194301-abc-1'), '{"dir": "ste');
    mkdirSync(join(checkpoint, '.step-999.tmpdir-4194301-abc-2'));
    const resumed = spawnUntil(['train', '--resume', runDir], /\[spruft\] \S+ \d+\/\d+/);
    try {
      await resumed.seen;
      // The two planted temporaries are named; the SIGKILL above may have left more of its
      // own (a checkpoint write cut mid-way, or the previous step folder), named beside them.
      const removed = /removed \d+ stale file\(s\) a killed run left: (.*)/.exec(resumed.stderr())?.[1]?.split(', ') ?? [];
      assert.ok(removed.includes('.latest.json.tmp-4194301-abc-1') && removed.includes('.step-999.tmpdir-4194301-abc-2'), resumed.stderr());
      assert.ok(!existsSync(join(checkpoint, '.latest.json.tmp-4194301-abc-1')) && !existsSync(join(checkpoint, '.step-999.tmpdir-4194301-abc-2')));
      assert.equal(status(runDir).owner?.pid, resumed.child.pid, 'the resuming process owns the run');
    } finally {
      resumed.child.kill('SIGTERM');
    }
    assert.equal(await resumed.exited, 1);
    assert.equal(status(runDir).status, 'cancelled', 'SIGTERM stops after the step, as Ctrl-C');
    assert.ok(!existsSync(join(runDir, RUN_FILES.lock)), 'the lock is released');
  });

  it('names a corrupt run-folder file and a latest.json that points out of its folder', () => {
    const runDir = join(dir, 'runs', 'long');
    const latest = join(runDir, RUN_FILES.checkpointDir, 'latest.json');
    const good = readFileSync(latest, 'utf8');
    writeFileSync(latest, JSON.stringify({ dir: '../../../..', step: 3 }));
    let r = spruft('train', '--resume', runDir);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /latest\.json: "dir" must name a step-<n> folder inside checkpoint\/, not "\.\.\/\.\.\/\.\.\/\.\."/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack');
    writeFileSync(latest, good);

    const configPath = join(runDir, RUN_FILES.config);
    const config = readFileSync(configPath, 'utf8');
    writeFileSync(configPath, config.slice(0, 40));
    r = spruft('train', '--resume', runDir);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /run\.spruft\.json:\d+:\d+: run\.spruft\.json is not valid JSON/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack');
    writeFileSync(configPath, config);
  });

  it('merge refuses to write over the base model (unless --force); eval then refuses the changed base, naming both', () => {
    const trained = spruft('train', 'short.spruft.yaml', '--json');
    assert.equal(trained.status, 0, trained.stderr);
    const runDir = join(dir, 'runs', 'short');
    const baseBefore = readFileSync(join(dir, 'mlp', 'model.safetensors'));
    // (Inside and holding the base's folder: merge.test.ts.)
    const refused = spruft('merge', runDir, '--out', 'mlp');
    assert.equal(refused.status, 1, refused.stderr);
    assert.match(refused.stderr, /the output is the base model's folder .*--force/);
    assert.deepEqual(readFileSync(join(dir, 'mlp', 'model.safetensors')), baseBefore, 'the base is untouched');

    const recorded = (JSON.parse(readFileSync(join(runDir, RUN_FILES.adapterDir, ADAPTER_CONFIG_FILE), 'utf8')) as AdapterConfig).baseModel;
    assert.match(recorded.fingerprint, /^[0-9a-f]{64}$/, 'the adapter records the base content hash');
    const forced = spruft('merge', runDir, '--out', 'mlp', '--force');
    assert.equal(forced.status, 0, forced.stderr);
    const evaluated = spruft('eval', runDir);
    assert.equal(evaluated.status, 1, 'the adapter is not applied a second time');
    assert.match(evaluated.stderr, /trained on another base model: it records .*mlp with content hash [0-9a-f]{12}, but .*mlp has content hash [0-9a-f]{12}/);
    assert.ok(evaluated.stderr.includes(recorded.fingerprint.slice(0, 12)));
  });
});
