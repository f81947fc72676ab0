/**
 * Every example config passes `spruft check` with no finding at all: not an error, not
 * a warning (informations, such as the data's shape, are fine). The ones that name
 * models/llama-tiny and models/vit-fashion-tiny need those folders in the repository;
 * image-folder's folder of images is written by scripts/write-image-folder.ts when missing.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { formatConfigDiagnostic, loadRunConfig } from '../runner/src/config/load';
import { DEFAULT_DIGITS_FOLDER, writeDigitFolder } from '../scripts/write-image-folder';

const examples = readdirSync(__dirname).filter((name) => /\.spruft\.(ya?ml|json)$/.test(name)).sort();

describe('example configs', () => {
  before(async () => {
    if (!existsSync(DEFAULT_DIGITS_FOLDER)) await writeDigitFolder();
  });

  it('has one for each task the engine supports', async () => {
    const tasks = new Set<string>();
    for (const name of examples) {
      const loaded = await loadRunConfig(join(__dirname, name), undefined, { semantic: false });
      if (loaded.resolved) tasks.add(loaded.resolved.task);
    }
    assert.deepEqual([...tasks].sort(), ['causal-lm', 'image-classification', 'text-classification']);
  });

  for (const name of examples) {
    it(`${name} passes spruft check`, async () => {
      const loaded = await loadRunConfig(join(__dirname, name));
      assert.deepEqual(loaded.diagnostics.filter((d) => d.severity !== 'information').map((d) => formatConfigDiagnostic(`examples/${name}`, d)), []);
      assert.ok(loaded.model, 'the model was read');
      assert.ok(loaded.estimates.length > 0, 'a memory estimate was made');
    });
  }

  it('the data shape of the user\'s own data is reported before a run', async () => {
    const folder = await loadRunConfig(join(__dirname, 'image-folder.spruft.yaml'));
    const shape = folder.diagnostics.find((d) => d.code === 'data-shape');
    assert.match(shape?.message ?? '', /^digits-folder: 600 images in 10 classes: eight 60 \(10%\), five 60 \(10%\).*; largest\/smallest class 1\.0\.$/);
    const csv = await loadRunConfig(join(__dirname, 'text-csv.spruft.yaml'));
    assert.match(csv.diagnostics.find((d) => d.code === 'data-shape')?.message ?? '', /^reviews\.csv: 40 examples in 2 classes: negative \d+ \(\d+%\), positive \d+/);
  });
});
