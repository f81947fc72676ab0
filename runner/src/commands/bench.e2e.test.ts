/**
 * `spruft bench` spawned as a user runs it, on a small batch of the benchmark decoder:
 * the stable JSON keys, measured figures that agree with each other, the data-parallel
 * variant, and refusals of bad options.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BenchResult } from '../../../protocol/results';
import { REPO_ROOT, runSpruft, type CliResult } from '../../../test/fixtures/spruftCli';

const spruft = (...args: string[]): CliResult => runSpruft(REPO_ROOT, args);

function checkResult(r: BenchResult, workers: number): void {
  assert.equal(r.kind, 'memory');
  assert.equal(r.backend.name, 'wasm');
  assert.equal(r.workers, workers);
  assert.deepEqual(r.model.shape, { layers: 4, hidden: 512, intermediate: 1376, heads: 8, vocab: 2048 });
  assert.deepEqual(r.batch, { size: 2, sequence: 16 });
  assert.ok(r.gemmGflops > 0 && r.gemmGflopsAllRanks > 0);
  if (workers === 1) assert.equal(r.gemmGflopsAllRanks, r.gemmGflops);
  assert.deepEqual(r.methods.map((m) => m.variant), ['spruft r=32', 'lora r=16', 'spruft r=32 FA', 'lora r=16 FA', 'full']);
  for (const m of r.methods) {
    const b = m.mem;
    assert.equal(b.params + b.grads + b.optimizer + b.cache + b.dropout + b.other, b.total, `${m.variant}: components add up`);
    // Adam keeps two float32 moments per trainable parameter; the gradient is one.
    assert.equal(b.params, 4 * m.trainableParams, `${m.variant}: params`);
    assert.equal(b.grads, b.params, `${m.variant}: grads`);
    assert.equal(b.optimizer, 2 * b.params, `${m.variant}: optimizer`);
    assert.equal(b.dropout > 0, m.method === 'lora', `${m.variant}: only LoRA has dropout masks`);
    assert.equal(b.total, m.peakTrain - m.peakInference, `${m.variant}: mem = mem_TTL - mem_M`);
    assert.ok(m.stepMs > 0 && m.flopsPerStep > 0 && m.gemmGflops > 0 && m.stepGemmGflop > 0 && m.cores > 0, `${m.variant}: step figures`);
    assert.equal(m.mfu, m.flopsPerStep / (m.stepGemmGflop * 1e9), `${m.variant}: MFU from the step's GEMM work`);
  }
  const byVariant = new Map(r.methods.map((m) => [m.variant, m]));
  assert.deepEqual(r.pairs, { spruft: 'spruft r=32', lora: 'lora r=16', full: 'full' });
  assert.equal(r.ratios.memSpruftOverLora, byVariant.get('spruft r=32')!.mem.total / byVariant.get('lora r=16')!.mem.total);
  const [s, l, f] = ['spruft r=32', 'lora r=16', 'full'].map((v) => byVariant.get(v)!);
  assert.equal(r.ratios.stepSpruftOverFull, s.stepMs / f.stepMs);
  assert.equal(r.ratios.stepSpruftOverLoraAtEqualGemm, s.stepGemmGflop / l.stepGemmGflop);
  assert.equal(r.ratios.stepSpruftOverFullAtEqualGemm, s.stepGemmGflop / f.stepGemmGflop);
}

describe('spruft bench', () => {
  it('memory --json: every method on the decoder, figures that agree', () => {
    const r = spruft('bench', 'memory', '--model', 'decoder', '--batch', '2', '--seq', '16', '--steps', '1', '--json');
    assert.equal(r.status, 0, r.stderr);
    checkResult(JSON.parse(r.stdout) as BenchResult, 1);
    assert.match(r.stderr, /GEMM 1024x1024 on wasm: [\d.]+ GFLOP\/s/);
  });

  it('--workers 2 splits each batch across two ranks, measuring GEMM on both at once', () => {
    const r = spruft('bench', 'memory', '--model', 'decoder', '--batch', '2', '--seq', '16', '--steps', '1', '--workers', '2', '--json');
    assert.equal(r.status, 0, r.stderr);
    checkResult(JSON.parse(r.stdout) as BenchResult, 2);
    assert.match(r.stderr, /GEMM 1024x1024 on all 2 ranks at once: [\d.]+ \+ [\d.]+ = [\d.]+ GFLOP\/s/);
  });

  it('refuses bad options with what was wrong', () => {
    const cases: Array<[string[], RegExp]> = [
      [['bench', 'memory', '--model', 'resnet'], /--model must be decoder, decoder-125m, vision \(got "resnet"\)/],
      [['bench', 'speed', '--batch', '0'], /--batch must be a positive integer \(got "0"\)/],
      [['bench', 'memory', '--batch', '2', '--workers', '3'], /--workers 3 exceeds the batch of 2/],
      [['bench', 'memory', '--backend', 'cuda'], /--backend must be one of/],
      [['bench', 'accuracy'], /spruft train <run\.spruft\.yaml>` with `compare/],
      [['bench'], /say memory or speed/],
    ];
    for (const [args, message] of cases) {
      const r = spruft(...args);
      assert.notEqual(r.status, 0, args.join(' '));
      assert.equal(r.stdout, '', `${args.join(' ')}: nothing on stdout`);
      assert.match(r.stderr, message, args.join(' '));
    }
  });
});
