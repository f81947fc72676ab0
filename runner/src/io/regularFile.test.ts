/**
 * Paths to things that are not regular files: /dev/zero (reads without end), a FIFO
 * (opening it waits for a writer, reading it for ever), a folder, an oversized file. Every
 * reader of models, data, configs and run folders refuses each at once, naming what the
 * path is; a file that is not UTF-8 is named as such, with the offset of the first bad byte.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadRunConfig } from '../config/load';
import { readIdx } from '../data/idx';
import { readJsonl, readTextCorpus } from '../data/text';
import { SpruftError } from '../errors';
import { inspectModelHeader } from '../models/inspect';
import { readHfConfig } from './hfFolder';
import { readJsonFile } from './jsonText';
import { decodeUtf8, firstInvalidUtf8, readRegularFile, readTextFile } from './regularFile';
import { readSafetensorsHeader } from './safetensors';
import { readLayersModelJson } from './tfjsLayers';

const linux = process.platform === 'linux';
let dir: string;
let fifo: string;

function refuses(read: () => unknown, kind: RegExp, label: string): void {
  assert.throws(read, (e: unknown) => {
    assert.ok(e instanceof SpruftError, `${label}: a SpruftError, got ${String(e)}`);
    assert.match(e.message, kind, label);
    return true;
  });
}

describe('reading only regular files', { skip: !linux && 'needs /dev/zero and mkfifo' }, () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'spruft-regular-'));
    fifo = join(dir, 'pipe');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses /dev/zero in every reader, naming it a character device', () => {
    const device = /character device, not a regular file/;
    refuses(() => readRegularFile('/dev/zero', 'file', 'DATA_INVALID'), device, 'readRegularFile');
    refuses(() => readJsonFile('/dev/zero', 'MODEL_INVALID', 'config.json'), device, 'readJsonFile');
    refuses(() => readSafetensorsHeader('/dev/zero'), device, 'safetensors header');
    refuses(() => readLayersModelJson('/dev/zero'), device, 'model.json');
    refuses(() => inspectModelHeader('/dev/zero'), device, 'inspect');
    refuses(() => readIdx('/dev/zero'), device, 'IDX');
    refuses(() => readJsonl('/dev/zero'), device, 'JSONL');
    refuses(() => readTextCorpus('/dev/zero'), device, 'text corpus');
  });

  it('refuses a FIFO at once (no writer needed), naming it', () => {
    const named = /FIFO \(named pipe\)/;
    refuses(() => readSafetensorsHeader(fifo), named, 'safetensors header');
    refuses(() => readLayersModelJson(fifo), named, 'model.json');
    refuses(() => readJsonl(fifo), named, 'JSONL');
    refuses(() => readIdx(fifo), named, 'IDX');
  });

  it('refuses a model folder whose config.json or model.safetensors is a device', () => {
    const model = join(dir, 'hf');
    mkdirSync(model);
    symlinkSync('/dev/zero', join(model, 'config.json'));
    refuses(() => readHfConfig(model), /config\.json.*character device/, 'config.json -> /dev/zero');
    const model2 = join(dir, 'hf2');
    mkdirSync(model2);
    writeFileSync(join(model2, 'config.json'), '{"model_type": "spruft-mlp"}');
    symlinkSync(fifo, join(model2, 'model.safetensors'));
    refuses(() => inspectModelHeader(model2), /FIFO/, 'model.safetensors -> FIFO');
  });

  it('a run config that is a device or a FIFO is an error, not a hang', async () => {
    for (const path of ['/dev/zero', fifo]) {
      await assert.rejects(loadRunConfig(path), (e: unknown) => e instanceof SpruftError && /not a regular file/.test(e.message));
    }
  });

  it('caps the size read whole', () => {
    const big = join(dir, 'big.json');
    writeFileSync(big, '{"a": "' + 'x'.repeat(2000) + '"}');
    refuses(() => readTextFile(big, 'config.json', 'MODEL_INVALID', 1000), /1\.96 KiB, more than the 1000 B/, 'cap');
  });

  it('names a file that is not UTF-8, with the offset of the first bad byte', () => {
    const latin1 = join(dir, 'config.json');
    writeFileSync(latin1, Buffer.from('{"name": "caf\xe9"}', 'latin1'));
    refuses(() => readJsonFile(latin1, 'MODEL_INVALID', 'config.json'), /config\.json is not UTF-8 text \(byte 0xe9 at offset 13\)/, 'latin-1');
    const err = (() => {
      try {
        readJsonFile(latin1, 'MODEL_INVALID', 'config.json');
      } catch (e) {
        return e as SpruftError;
      }
    })();
    assert.equal(err?.where, `${latin1}:byte 13`);
  });
});

describe('firstInvalidUtf8', () => {
  it('agrees with a fatal TextDecoder on valid and invalid sequences', () => {
    const cases: Array<[number[], number]> = [
      [[0x61, 0x62], -1],
      [[0xc3, 0xa9], -1], // é
      [[0xe2, 0x82, 0xac], -1], // €
      [[0xf0, 0x9f, 0x98, 0x80], -1], // emoji
      [[0x61, 0xe9, 0x62], 1], // latin-1 é
      [[0xc0, 0x80], 0], // overlong NUL
      [[0xed, 0xa0, 0x80], 0], // surrogate
      [[0xf4, 0x90, 0x80, 0x80], 0], // past U+10FFFF
      [[0x61, 0xe2, 0x82], 1], // cut short
    ];
    for (const [bytes, at] of cases) {
      const u8 = Uint8Array.from(bytes);
      assert.equal(firstInvalidUtf8(u8), at, JSON.stringify(bytes));
      let valid = true;
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(u8);
      } catch {
        valid = false;
      }
      assert.equal(valid, at === -1, `decoder agrees on ${JSON.stringify(bytes)}`);
    }
    assert.equal(decodeUtf8(Uint8Array.from([0xef, 0xbb, 0xbf, 0x61]), 'f', 'file', 'DATA_INVALID'), '\ufeffa', 'a BOM is kept');
  });
});
