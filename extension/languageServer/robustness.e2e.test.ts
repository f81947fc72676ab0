/**
 * Bad input to the language server: a 5 MB file, binary junk, 10,000-deep nesting, paths to
 * /dev/zero and a FIFO. Each
 * is answered within a second (diagnostics, completion, hover, symbols) and the server
 * keeps serving the next document.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LspTestClient, uriOf } from './testClient';

let dir: string;
let client: LspTestClient;

async function within<T>(label: string, ms: number, work: () => Promise<T>): Promise<T> {
  const start = performance.now();
  const result = await work();
  const took = performance.now() - start;
  assert.ok(took < ms, `${label}: answered in ${took.toFixed(0)} ms (limit ${ms} ms)`);
  return result;
}

async function survives(name: string, text: string, firstCode: string): Promise<void> {
  const uri = uriOf(join(dir, name));
  const diagnostics = await within(`${name}: diagnostics`, 1000, () => client.open(uri, text));
  assert.equal(diagnostics[0]?.code, firstCode, `${name}: ${JSON.stringify(diagnostics.slice(0, 2))}`);
  assert.ok(diagnostics.length <= 201, `${name}: findings are capped`);
  const end = { line: 3, character: 2 };
  await within(`${name}: completion`, 1000, () => client.completion(uri, end));
  await within(`${name}: hover`, 1000, () => client.hover(uri, { line: 0, character: 3 }));
  await within(`${name}: symbols`, 1000, () => client.symbols(uri));
  await within(`${name}: change`, 1000, () => client.change(uri, text + '\n'));
  assert.ok(client.alive, `${name}: the server is still running`);
}

describe('language server on bad input', () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'spruft-ls-bad-'));
    client = new LspTestClient();
    await client.initialize();
    // The first document pays for loading the server's modules; measure what follows.
    await client.open(uriOf(join(dir, 'warm.spruft.yaml')), 'task: causal-lm\n');
  });

  after(async () => {
    await client.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers on a 5 MB file', async () => {
    let text = 'model:\n  path: m\n';
    while (text.length < 5 * 1024 * 1024) text += `key${text.length}: some value that repeats\n`;
    await survives('huge.spruft.yaml', text, 'file-too-large');
  });

  it('answers on binary junk', async () => {
    const bytes = new Uint8Array(200_000);
    let x = 12345;
    for (let i = 0; i < bytes.length; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      bytes[i] = x >>> 24;
    }
    await survives('junk.spruft.yaml', Buffer.from(bytes).toString('latin1'), 'not-text');
  });

  it('answers on 10,000-deep nesting', async () => {
    await survives('flow.spruft.yaml', 'model: ' + '['.repeat(10_000) + ']'.repeat(10_000) + '\n', 'too-deep');
    await survives('map.spruft.yaml', 'data: ' + '{a: '.repeat(10_000) + '1' + '}'.repeat(10_000) + '\n', 'too-deep');
    await survives('block.spruft.yaml', '- '.repeat(10_000) + 'x\n', 'too-deep');
    let indented = '';
    for (let i = 0; i < 600; i++) indented += `${' '.repeat(i)}k${i}:\n`;
    await survives('indent.spruft.yaml', indented, 'unknown-key');
  });

  it('answers at once on a model or data path that is a device or a FIFO, reading nothing of it', { skip: process.platform !== 'linux' && 'needs /dev/zero and mkfifo' }, async () => {
    // Before: /dev/zero as model.json read until memory ran out, a FIFO blocked for ever.
    const fifo = join(dir, 'pipe');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
    const cases: Array<[string, string, RegExp]> = [
      ['zero.spruft.yaml', 'model: {path: /dev/zero}\ntask: causal-lm\ndata: {dataset: text, path: c.txt}\n', /character device, not a regular file/],
      ['fifo-model.spruft.yaml', `model: {path: ${JSON.stringify(fifo)}}\ntask: causal-lm\ndata: {dataset: text, path: c.txt}\n`, /FIFO \(named pipe\), not a regular file/],
      ['fifo-data.spruft.yaml', `model: {path: m}\ntask: text-classification\ndata: {dataset: jsonl, path: ${JSON.stringify(fifo)}}\n`, /FIFO \(named pipe\), not a regular file/],
    ];
    for (const [name, text, expected] of cases) {
      const diagnostics = await within(`${name}: diagnostics`, 2000, () => client.open(uriOf(join(dir, name)), text));
      assert.ok(diagnostics.some((d) => expected.test(String(d.message))), `${name}: ${JSON.stringify(diagnostics.map((d) => d.message))}`);
    }
    assert.ok(client.alive);
  });

  it('still serves a good document afterwards', async () => {
    const uri = uriOf(join(dir, 'after.spruft.yaml'));
    const diagnostics = await client.open(uri, 'model: {path: m}\ntask: causal-lm\ndata: {dataset: text, path: c.txt}\n');
    assert.deepEqual(diagnostics.map((d) => d.code), ['path-not-found', 'path-not-found']);
    assert.ok(client.alive);
    assert.doesNotMatch(client.stderr, /uncaught|unhandled/);
  });
});
