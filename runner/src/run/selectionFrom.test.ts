import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SelectionEvent } from '../../../protocol/rpc';
import { RUN_FILES } from '../../../protocol/runFolder';
import { startTrain } from '../app';
import { SpruftError } from '../errors';
import { writeMlpFolder } from '../../../test/fixtures/mlpFolder';

/** Score once, train many (`spruft.selectionFrom`): a second run reuses the rows and dependent columns of the first. */
describe('spruft.selectionFrom', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'spruft-selection-'));
    writeMlpFolder(join(dir, 'mlp'), [16, 12]);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const runConfig = (name: string, spruft: string): string => {
    const path = join(dir, `${name}.spruft.yaml`);
    writeFileSync(path, [
      'model: { path: ./mlp }',
      'task: image-classification',
      'data: { dataset: mnist, trainLimit: 120, evalLimit: 40, image: { size: 8, channels: 1 } }',
      'method: spruft',
      'targets: { layerTypes: [linear] }',
      `spruft: ${spruft}`,
      'training: { batchSize: 16, maxSteps: 2, seed: 3 }',
      `output: { dir: ./runs, name: ${name} }`,
      '',
    ].join('\n'));
    return path;
  };
  const selectionOf = (runDir: string): SelectionEvent => JSON.parse(readFileSync(join(runDir, RUN_FILES.selection), 'utf8')) as SelectionEvent;

  it('reuses the stored rows and columns instead of scoring, and refuses a non-spruft adapter', async () => {
    const first = await (await startTrain({ configPath: runConfig('scored', '{ ratio: 0.5, dependency: true, importance: { metric: taylor } }') }, {})).done;
    const scored = selectionOf(first.runDir);
    assert.equal(scored.metric, 'taylor');
    assert.ok(scored.layers[1].columns && scored.layers[1].columns.length > 0, 'dependent columns chosen');

    // Another metric in the second config: it must not be used, the stored choice is.
    const second = await (await startTrain({ configPath: runConfig('reused', `{ ratio: 0.5, dependency: true, importance: { metric: random }, selectionFrom: ${first.runDir} }`) }, {})).done;
    const reused = selectionOf(second.runDir);
    assert.equal(reused.metric, 'taylor', 'the stored selection\'s metric');
    assert.deepEqual(reused.layers.map((l) => [l.name, l.rows, l.columns]), scored.layers.map((l) => [l.name, l.rows, l.columns]));
    assert.equal(second.trainableParams, first.trainableParams);

    const fake = join(dir, 'lora-adapter');
    mkdirSync(fake);
    const adapter = JSON.parse(readFileSync(join(first.runDir, RUN_FILES.adapterDir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(fake, 'adapter_config.json'), JSON.stringify({ ...adapter, method: 'lora' }));
    await assert.rejects(
      (await startTrain({ configPath: runConfig('refused', `{ ratio: 0.5, selectionFrom: ${fake} }`) }, {})).done,
      (err: unknown) => err instanceof SpruftError && err.code === 'ADAPTER_INVALID' && /method "lora"/.test(err.message),
    );
  });
});
