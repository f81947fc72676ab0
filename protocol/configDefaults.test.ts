/**
 * Defaults are written once, in the schema (protocol/config.ts), and resolveRunConfig
 * applies them from there (TypeBox Value.Default): every documented default is what a run
 * of a minimal config gets, and what the file sets is kept.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { resolveRunConfig, RunConfigSchema, type RunConfigFile } from './config';
import { schemaAt, type ConfigPath, type SchemaNode } from './configValidate';

const options = { baseDir: '/work', sourcePath: '/work/a.spruft.yaml', resolvePath: (base: string, p: string) => `${base}/${p}` };

function defaults(node: SchemaNode, path: ConfigPath = [], out: Array<[ConfigPath, unknown]> = []): Array<[ConfigPath, unknown]> {
  if (node.default !== undefined) out.push([path, node.default]);
  for (const [key, child] of Object.entries(node.properties ?? {})) defaults(child, [...path, key], out);
  return out;
}

function at(value: unknown, path: ConfigPath): unknown {
  return path.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], value);
}

it('gives a minimal config every default the schema documents', () => {
  const resolved = resolveRunConfig({ model: { path: 'm' }, task: 'image-classification', data: { dataset: 'mnist' } }, options);
  const all = defaults(RunConfigSchema as unknown as SchemaNode);
  assert.ok(all.length >= 50, `${all.length} defaults`);
  for (const [path, value] of all) {
    const expected = path.join('.') === 'output.dir' ? `/work/${String(value)}` : value;
    assert.deepEqual(at(resolved, path), expected, path.join('.'));
  }
  assert.equal(resolved.spruft.importance.seed, resolved.training.seed, 'the importance seed follows training.seed');
});

it('keeps what the file sets, and gives instruction tuning the paper\'s Llama settings where the file says nothing', () => {
  const file: RunConfigFile = {
    model: { path: 'm' }, task: 'causal-lm', data: { dataset: 'jsonl', path: 'd.jsonl', format: 'alpaca' },
    training: { batchSize: 4, warmup: 0.2 }, lora: { rank: 2 }, targets: { include: ['*.mlp.*'] },
  };
  const before = structuredClone(file);
  const r = resolveRunConfig(file, options);
  assert.deepEqual(file, before, 'the file is not changed');
  assert.equal(r.training.batchSize, 4);
  assert.equal(r.training.warmup, 0.2, 'set in the file: kept');
  assert.equal(r.training.schedule, 'linear', 'instruction tuning: linear (paper 5.3), not the schema\'s cosine');
  assert.deepEqual(r.training.methodLr, { spruft: 2e-5, lora: 1e-4, dora: 1e-4 });
  assert.deepEqual([r.lora.rank, r.lora.alpha], [2, schemaAt(['lora', 'alpha'])!.default]);
  assert.deepEqual(r.targets.include, ['*.mlp.*']);
  assert.deepEqual(r.targets.exclude, []);
});
