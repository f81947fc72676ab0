/**
 * Every example config passes `spruft check` with no finding at all: not an error, not
 * a warning. The ones that name models/llama-tiny and models/vit-fashion-tiny need those
 * folders in the repository.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { formatConfigDiagnostic, loadRunConfig } from '../runner/src/config/load';

const examples = readdirSync(__dirname).filter((name) => /\.spruft\.(ya?ml|json)$/.test(name)).sort();

describe('example configs', () => {
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
      assert.deepEqual(loaded.diagnostics.map((d) => formatConfigDiagnostic(`examples/${name}`, d)), []);
      assert.ok(loaded.model, 'the model was read');
      assert.ok(loaded.estimates.length > 0, 'a memory estimate was made');
    });
  }
});
