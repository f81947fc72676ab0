import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { runConfigJsonSchema } from '../protocol/config';

it('the build writes the JSON Schema of protocol/config.ts for *.spruft.json', async () => {
  // The same step esbuild.mjs runs, into a scratch folder.
  const { writeRunConfigSchema } = (await import(join(__dirname, 'writeRunConfigSchema.mjs'))) as {
    writeRunConfigSchema: (root: string, outFile?: string) => Promise<string>;
  };
  const dir = mkdtempSync(join(tmpdir(), 'spruft-schema-'));
  try {
    const file = await writeRunConfigSchema(join(__dirname, '..'), join(dir, 'spruft-config.schema.json'));
    const written = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    assert.deepEqual(written, runConfigJsonSchema());
    assert.equal((written.properties as Record<string, { markdownDescription?: string }>).method?.markdownDescription, 'Fine-tuning method. Default: `spruft` (paper 4.1).');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
