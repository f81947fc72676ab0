/**
 * `spruft serve` when its client goes away, spawned for real (the wasm backend loaded):
 *   - stdin closed in the middle of a run: the run is recorded `cancelled` with its
 *     checkpoint, and the process exits at once with code 0 (it used to exit 7 with the
 *     run `failed`: notifications threw once the connection was closed, and the wasm
 *     runtime rethrows uncaught errors);
 *   - stdin ending in the middle of a frame: the process says so and exits.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RUN_FILES, type RunStatusFile } from '../../../protocol/runFolder';
import { spruftArgv } from '../../../test/fixtures/spruftCli';
import { writeMlpFolder } from '../../../test/fixtures/mlpFolder';

let dir: string;

function frame(message: unknown): string {
  const body = JSON.stringify(message);
  return `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

interface Served {
  child: ChildProcessWithoutNullStreams;
  /** Resolves with the first message from the server that `match` accepts. */
  next(match: (m: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

function serve(): Served {
  const child = spawn(process.execPath, spruftArgv(['serve']), { cwd: dir });
  let buffer = Buffer.alloc(0);
  let stderr = '';
  const messages: Array<Record<string, unknown>> = [];
  const waiting: Array<{ match: (m: Record<string, unknown>) => boolean; resolve: (m: Record<string, unknown>) => void }> = [];
  const deliver = (m: Record<string, unknown>): void => {
    const i = waiting.findIndex((w) => w.match(m));
    if (i >= 0) waiting.splice(i, 1)[0]!.resolve(m);
    else messages.push(m);
  };
  child.stdout.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/Content-Length: (\d+)/i.exec(buffer.subarray(0, end).toString())?.[1]);
      if (buffer.length < end + 4 + length) return;
      deliver(JSON.parse(buffer.subarray(end + 4, end + 4 + length).toString()) as Record<string, unknown>);
      buffer = buffer.subarray(end + 4 + length);
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    exited,
    stderr: () => stderr,
    next: (match) => {
      const i = messages.findIndex(match);
      if (i >= 0) return Promise.resolve(messages.splice(i, 1)[0]!);
      return new Promise((resolve, reject) => {
        waiting.push({ match, resolve });
        void exited.then(({ code }) => reject(new Error(`spruft serve exited (${code}) while a message was awaited:\n${stderr}`)));
      });
    },
  };
}

/** The exit, or a failure if it takes longer than `ms` (the bug this guards against is a process that stays). */
async function exitWithin(s: Served, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      s.child.kill('SIGKILL');
      reject(new Error(`spruft serve still alive ${ms} ms after its input ended:\n${s.stderr()}`));
    }, ms);
  });
  try {
    return await Promise.race([s.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('spruft serve when the client goes away', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'spruft-serve-gone-'));
    writeMlpFolder(join(dir, 'mlp'), [24]);
    writeFileSync(join(dir, 'long.spruft.yaml'), [
      'model: { path: mlp }', 'task: image-classification',
      'data: { dataset: mnist, trainLimit: 320, evalLimit: 50, image: { size: 8, channels: 1 } }',
      'method: spruft', 'spruft: { rank: 4, importance: { metric: l2 } }',
      'training: { lr: 0.003, epochs: 400, batchSize: 16, checkpointEvery: 5, seed: 3 }',
      'backend: wasm', 'output: { dir: runs, name: gone }', '',
    ].join('\n'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('stdin closed mid-run: the run is cancelled with its checkpoint, the process exits 0 at once', async () => {
    const s = serve();
    s.child.stdin.write(frame({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { backend: 'wasm' } }));
    await s.next((m) => m.id === 1);
    s.child.stdin.write(frame({ jsonrpc: '2.0', id: 2, method: 'run/train', params: { configPath: join(dir, 'long.spruft.yaml') } }));
    const started = (await s.next((m) => m.id === 2)).result as { runDir: string };
    // A few steps in, past the first checkpoint.
    await s.next((m) => m.method === 'run/progress' && (m.params as { phase: string; step: number }).phase === 'training' && (m.params as { step: number }).step >= 6);
    s.child.stdin.end();
    const { code } = await exitWithin(s, 20_000);
    assert.equal(code, 0, s.stderr());
    const status = JSON.parse(readFileSync(join(started.runDir, RUN_FILES.status), 'utf8')) as RunStatusFile;
    assert.equal(status.status, 'cancelled', s.stderr());
    assert.ok(existsSync(join(started.runDir, RUN_FILES.checkpointDir, 'latest.json')), 'checkpoint kept');
    assert.doesNotMatch(s.stderr(), /uncaught|unhandled/i);
  });

  it('stdin ending in the middle of a frame: says so and exits', async () => {
    const s = serve();
    s.child.stdin.write(frame({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { backend: 'cpu' } }));
    await s.next((m) => m.id === 1);
    s.child.stdin.end('Content-Length: 120\r\n\r\n{"jsonrpc": "2.0", "id": 2, "meth');
    const { code } = await exitWithin(s, 20_000);
    assert.equal(code, 0);
    assert.match(s.stderr(), /input ended in the middle of a message \(\d+ of 120 bytes\)/);
  });
});
