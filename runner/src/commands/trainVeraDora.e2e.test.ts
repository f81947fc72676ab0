/**
 * `spruft train` with `compare: [vera, dora]` beside `lora`, as a user runs it: each
 * method trains on the same model and data, reports its metrics and memory, and leaves
 * its adapter in PEFT's layout (VeRA: VeraConfig and vera_lambda_*; DoRA: LoraConfig with
 * use_dora and lora_magnitude_vector). Merging them: engine/methods/veraDora.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE } from '../../../protocol/adapter';
import type { ClassificationMetrics, RunResult } from '../../../protocol/results';
import { RUN_FILES } from '../../../protocol/runFolder';
import { readSafetensors } from '../io/safetensors';
import { runSpruft } from '../../../test/fixtures/spruftCli';
import { writeMlpFolder } from '../../../test/fixtures/mlpFolder';

describe('spruft train: compare lora, vera and dora', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'spruft-vera-dora-'));
    writeMlpFolder(join(dir, 'mlp'), [24]);
    writeFileSync(join(dir, 'peft.spruft.yaml'), [
      'model:', '  path: mlp', 'task: image-classification',
      'data:', '  dataset: mnist', '  trainLimit: 160', '  evalLimit: 64', '  image: { size: 8, channels: 1 }',
      'method: lora', 'compare: [vera, dora]',
      'lora: { rank: 2, dropout: 0.1 }', 'vera: { rank: 8, dropout: 0.1 }',
      'training: { lr: 0.01, epochs: 1, batchSize: 16, seed: 3 }',
      'backend: wasm', 'output: { dir: runs, name: peft }', '',
    ].join('\n'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('trains all three, each with metrics, memory and its PEFT adapter', () => {
    const r = runSpruft(dir, ['train', 'peft.spruft.yaml', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(r.stdout) as RunResult;
    assert.equal(result.method, 'lora');
    assert.deepEqual(result.compared?.map((c) => c.method), ['vera', 'dora']);
    for (const run of [result, ...result.compared!]) {
      const m = run.metrics as ClassificationMetrics;
      assert.ok(Number.isFinite(m.loss) && m.accuracy >= 0 && m.accuracy <= 1, `${run.method}: metrics`);
      assert.ok(run.trainableParams > 0, `${run.method}: trainable parameters`);
      assert.ok(run.mem && run.mem.cache > 0, `${run.method}: memory by component`);
    }
    const [vera, dora] = result.compared!;
    // VeRA trains lambda_d [8] and lambda_b [24] on the hidden layer (the new head trains whole).
    assert.ok(vera.trainableParams < dora.trainableParams, 'VeRA trains far fewer parameters than DoRA');
    const adapter = (method: string): string => join(result.runDir, RUN_FILES.compareDir, method, RUN_FILES.adapterDir);
    const veraConfig = JSON.parse(readFileSync(join(adapter('vera'), ADAPTER_CONFIG_FILE), 'utf8')) as Record<string, unknown>;
    assert.equal(veraConfig.peft_type, 'VERA');
    const veraKeys = [...readSafetensors(join(adapter('vera'), ADAPTER_WEIGHTS_FILE)).tensors.keys()];
    assert.ok(veraKeys.includes('base_model.vera_A') && veraKeys.some((k) => k.endsWith('.vera_lambda_b')), veraKeys.join(', '));
    const doraConfig = JSON.parse(readFileSync(join(adapter('dora'), ADAPTER_CONFIG_FILE), 'utf8')) as Record<string, unknown>;
    assert.equal(doraConfig.use_dora, true);
    const doraKeys = [...readSafetensors(join(adapter('dora'), ADAPTER_WEIGHTS_FILE)).tensors.keys()];
    assert.ok(doraKeys.some((k) => k.endsWith('.lora_magnitude_vector')), doraKeys.join(', '));
  });
});
