import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { resolveRunConfig } from '../../../protocol/config';
import { DOC_PATH, estimateRow, FIXTURE, fitTokens, OTHER_ROWS, PAPER_ROWS, renderDoc } from '../../../scripts/memory-estimate-doc';
import type { SpruftError } from '../errors';
import { inspectModelHeader } from '../models/inspect';
import { estimateTrainingMemory } from './memoryEstimate';

it('estimates memory by component from layer shapes, by hand on a two-layer MLP', () => {
  const layers = [
    { name: 'fc1', kind: 'linear' as const, shape: [8, 4], params: 40, dOut: 8, dIn: 4 },
    { name: 'classifier', kind: 'linear' as const, shape: [2, 8], params: 18, dOut: 2, dIn: 8 },
  ];
  const model = { layers, params: 58, architecture: 'spruft-mlp' };
  const config = resolveRunConfig(
    { model: { path: 'm' }, task: 'image-classification', data: { dataset: 'mnist' }, spruft: { rank: 2, trainBias: true }, training: { batchSize: 10 } },
    { baseDir: '/', resolvePath: (b, p) => `${b}${p}` },
  );
  const spruft = estimateTrainingMemory(model, config, 'spruft', [layers[0]!]);
  // An MLP sees one position per example: 10 tokens. Rows 2 x d_in 4 + 2 bias = 10 trainable.
  assert.equal(spruft.trainableParams, 10);
  // "other": Adam's update buffer, at most the adapter's 10 entries (W_f's 8 and b_f's 2: an upper bound).
  assert.deepEqual(spruft.breakdown, { params: 40, grads: 40, optimizer: 80, cache: 10 * (4 + 8 + 2) * 4, dropout: 0, other: 40, total: 40 + 40 + 80 + 560 + 40 });
  assert.equal(spruft.modelBytes, 232);
  assert.equal(spruft.estimated, true);
  const lora = estimateTrainingMemory(model, { ...config, lora: { rank: 2, alpha: 16, dropout: 0.1 } }, 'lora', [layers[0]!]);
  assert.equal(lora.trainableParams, 2 * (4 + 8));
  assert.equal(lora.breakdown.dropout, 10 * 4 * 4, 'a dropout mask over the adapter input');
  assert.ok(lora.peakBytes > spruft.peakBytes, 'LoRA keeps more (paper table 1)');
  const head = estimateTrainingMemory(model, config, 'head', []);
  assert.equal(head.trainableParams, 18);
});

describe('the estimate from config.json alone (no weights)', () => {
  it('plans Llama-2-7B from its config: the paper\'s parameter counts, and "mem" within 7% of table 12 at the doc\'s tokens per step', () => {
    const model = inspectModelHeader(FIXTURE);
    assert.equal(model.fromConfigOnly, true);
    assert.equal(existsSync(join(FIXTURE, 'model.safetensors')), false, 'no weights in the fixture');
    // Llama-2-7B's published parameter count.
    assert.equal(model.params, 6_738_415_616);
    assert.deepEqual(model.transformer, { kind: 'decoder', blocks: 32, hidden: 4096, intermediate: 11008, heads: 32, kvHeads: 32, gatedMlp: true, vocab: 32000 });
    const { tokens } = fitTokens(model);
    assert.ok(tokens > 1024 && tokens < 2048, `fitted tokens per step ${tokens}`);
    for (const row of PAPER_ROWS) {
      const e = estimateRow(model, row, 1, Math.round(tokens), 'pytorch');
      assert.equal((e.trainableParams / 1e6).toFixed(1), row.paramsM.toFixed(1), `${row.method} r=${row.rank}${row.fa ? ' FA' : ''}: #param`);
      const error = e.breakdown.total / (row.memGB * 1024 ** 3) - 1;
      assert.ok(Math.abs(error) < 0.07, `${row.method} r=${row.rank}${row.fa ? ' FA' : ''}: ${(100 * error).toFixed(1)}% off the paper`);
    }
  });

  it('VeRA and DoRA on Llama-2-7B: the paper\'s #param (tables 1, 3, 11), DoRA above LoRA and VeRA below it', () => {
    const model = inspectModelHeader(FIXTURE);
    const tokens = Math.round(fitTokens(model).tokens);
    for (const row of OTHER_ROWS) {
      const e = estimateRow(model, row, 1, tokens, 'pytorch');
      assert.equal((e.trainableParams / 1e6).toFixed(row.method === 'vera' ? 2 : 1), row.paramsM.toFixed(row.method === 'vera' ? 2 : 1), `${row.method}${row.fa ? ' FA' : ''}: #param`);
    }
    const mem = (i: number, rows = OTHER_ROWS) => estimateRow(model, rows[i]!, 1, tokens, 'pytorch').breakdown.total;
    const lora = mem(0, PAPER_ROWS);
    assert.ok(mem(0) > 1.5 * lora && mem(1) < lora, 'table 1\'s order: DoRA well above LoRA, VeRA just below');
  });

  it('docs/memory-estimate.md is what scripts/memory-estimate-doc.ts writes', () => {
    assert.equal(readFileSync(DOC_PATH, 'utf8'), renderDoc(), 'run: npx tsx scripts/memory-estimate-doc.ts');
  });

  it('refuses a config.json it cannot lay out, naming the key and the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'config-only-'));
    try {
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'llama', hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, vocab_size: 10 }));
      assert.throws(() => inspectModelHeader(dir), (err: Error) => /"intermediate_size" must be a positive integer/.test(err.message) && (err as SpruftError).where === join(dir, 'config.json'));
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'gpt2' }));
      assert.throws(() => inspectModelHeader(dir), /"vocab_size"|"n_embd"|"n_layer"|"n_head"/, 'every architecture with a spec lays out from its config, naming a missing key');
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'mamba' }));
      assert.throws(() => inspectModelHeader(dir), /model_type "mamba" cannot be laid out from config.json alone/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
