/**
 * `spruft bench` spawned as a user runs it, on a small batch of the benchmark decoder:
 * the stable JSON keys, measured figures that agree with each other, the data-parallel
 * variant, and refusals of bad options.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { BenchResult } from '../../../protocol/results';
import { REPO_ROOT, runSpruft, type CliResult } from '../../../test/fixtures/spruftCli';
import { findPeerPython, TORCH_PEER_METHODS } from '../run/peer';

const spruft = (...args: string[]): CliResult => runSpruft(REPO_ROOT, args);

function checkResult(r: BenchResult, workers: number): void {
  assert.equal(r.kind, 'memory');
  assert.equal(r.backend.name, 'wasm');
  assert.equal(r.workers, workers);
  assert.deepEqual(r.model.shape, { layers: 4, hidden: 512, intermediate: 1376, heads: 8, vocab: 2048 });
  assert.deepEqual(r.batch, { size: 2, sequence: 16 });
  assert.ok(r.gemmGflops > 0 && r.gemmGflopsAllRanks > 0);
  if (workers === 1) assert.equal(r.gemmGflopsAllRanks, r.gemmGflops);
  assert.deepEqual(r.methods.map((m) => m.variant), [
    'spruft r=32', 'lora r=16', 'vera r=16', 'dora r=16', 'spruft r=32 FA', 'lora r=16 FA', 'vera r=16 FA', 'dora r=16 FA', 'full',
  ]);
  for (const m of r.methods) {
    const b = m.mem;
    assert.equal(b.params + b.grads + b.optimizer + b.cache + b.dropout + b.other, b.total, `${m.variant}: components add up`);
    // Adam keeps two float32 moments per trainable parameter; the gradient is one.
    assert.equal(b.params, 4 * m.trainableParams, `${m.variant}: params`);
    assert.equal(b.grads, b.params, `${m.variant}: grads`);
    assert.equal(b.optimizer, 2 * b.params, `${m.variant}: optimizer`);
    assert.equal(b.dropout > 0, ['lora', 'vera', 'dora'].includes(m.method), `${m.variant}: only LoRA, VeRA and DoRA (dropout 0.1) have dropout masks`);
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

  it('--checkpointing both: every decoder variant again with its blocks checkpointed, keeping less for backward', () => {
    const r = spruft('bench', 'memory', '--model', 'decoder', '--batch', '2', '--seq', '16', '--steps', '1', '--checkpointing', 'both', '--json');
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(r.stdout) as BenchResult;
    const plain = result.methods.filter((m) => m.checkpointing === 'none');
    const ckpt = result.methods.filter((m) => m.checkpointing === 'blocks');
    assert.deepEqual(ckpt.map((m) => m.variant), plain.map((m) => `${m.variant} ckpt`));
    plain.forEach((p, i) => {
      assert.equal(ckpt[i].trainableParams, p.trainableParams, p.variant);
      assert.ok(ckpt[i].mem.cache < p.mem.cache, `${p.variant}: cache ${ckpt[i].mem.cache} B checkpointed, ${p.mem.cache} B not`);
      assert.equal(ckpt[i].mem.dropout, 0, `${p.variant}: no dropout mask outlives a checkpointed block's forward`);
    });
    assert.deepEqual(result.pairs.checkpointed, { spruft: 'spruft r=32 ckpt', lora: 'lora r=16 ckpt' });
    const by = new Map(result.methods.map((m) => [m.variant, m]));
    assert.equal(result.ratios.memSpruftOverLoraCheckpointed, by.get('spruft r=32 ckpt')!.mem.total / by.get('lora r=16 ckpt')!.mem.total);
  });

  it('decoder-125m: says from its estimate, before building or trying anything, which variants do not fit', () => {
    const r = spruft('bench', 'memory', '--model', 'decoder-125m', '--batch', '8', '--seq', '1024', '--steps', '1', '--json');
    assert.notEqual(r.status, 0);
    assert.equal(r.stdout, '');
    for (const v of ['spruft', 'lora', 'spruft FA', 'lora FA', 'full']) {
      assert.match(r.stderr, new RegExp(`\\n${v}: estimated peak [\\d.]+ GiB .* exceeds three quarters of the 4 GiB the wasm backend can address \\(its heap is shared by the variants and fragments\\): not run`), v);
    }
    assert.match(r.stderr, /bench needs a spruft and a lora variant that fit \(skipped: spruft, lora, vera, dora, spruft FA, lora FA, vera FA, dora FA, full\); lower --batch or --seq/);
  });

  it('refuses bad options with what was wrong', () => {
    const cases: Array<[string[], RegExp]> = [
      [['bench', 'memory', '--model', 'resnet'], /--model must be decoder, decoder-125m, vision \(got "resnet"\)/],
      [['bench', 'speed', '--batch', '0'], /--batch must be a positive integer \(got "0"\)/],
      [['bench', 'memory', '--batch', '2', '--workers', '3'], /--workers 3 exceeds the batch of 2/],
      [['bench', 'memory', '--backend', 'cuda'], /--backend must be one of/],
      [['bench', 'memory', '--checkpointing', 'layers'], /--checkpointing must be one of none, blocks, both \(got "layers"\)/],
      [['bench', 'accuracy'], /spruft train <run\.spruft\.yaml>` with `compare/],
      [['bench'], /say memory or speed/],
      [['bench', 'speed', '--peer', 'jax'], /--peer must be torch \(got "jax"\)/],
      [['bench', 'speed', '--model', 'vision', '--peer', 'torch'], /--peer torch runs the decoder only/],
      [['bench', 'speed', '--kernels', 'many'], /--kernels must be a non-negative integer/],
    ];
    for (const [args, message] of cases) {
      const r = spruft(...args);
      assert.notEqual(r.status, 0, args.join(' '));
      assert.equal(r.stdout, '', `${args.join(' ')}: nothing on stdout`);
      assert.match(r.stderr, message, args.join(' '));
    }
  });

  const peerPython = findPeerPython();
  it('speed --peer torch --json: the PyTorch peer beside each method, its GEMM rate, and the top kernels', {
    skip: peerPython.python ? false : `no torch peer here: ${peerPython.why}`,
  }, () => {
    const r = spruft('bench', 'speed', '--model', 'decoder', '--batch', '2', '--seq', '16', '--steps', '1', '--peer', 'torch', '--kernels', '3', '--json');
    assert.equal(r.status, 0, r.stderr);
    const b = JSON.parse(r.stdout) as BenchResult;
    assert.equal(b.backend.name, 'wasm');
    assert.ok(b.gemmGflops > 0);
    assert.equal(b.peer?.peer, 'torch');
    assert.equal(b.peer?.python, peerPython.python);
    assert.ok((b.peer?.gemmGflops ?? 0) > 0, 'the peer\'s GEMM rate');
    const ratios = b.ratios.stepOverPeer ?? {};
    // The peer implements some methods only (TORCH_PEER_METHODS); the others run without a pair.
    const paired = b.methods.filter((m) => TORCH_PEER_METHODS.includes(m.method));
    assert.deepEqual(Object.keys(ratios), b.methods.map((m) => m.variant));
    for (const m of b.methods.filter((x) => !paired.includes(x))) {
      assert.equal(m.peerStepMs, undefined, `${m.variant}: no peer step`);
      assert.equal(ratios[m.variant], null, `${m.variant}: no ratio (NaN, written as null)`);
    }
    for (const m of paired) {
      assert.ok(m.stepMs > 0 && m.mfu > 0, `${m.variant}: stepMs, mfu`);
      assert.ok((m.peerStepMs ?? 0) > 0, `${m.variant}: the peer's step`);
      assert.equal(ratios[m.variant], m.stepOverPeer);
      assert.equal(m.stepOverPeer, m.stepMs / m.peerStepMs!, 'one step: the pair\'s ratio');
      const k = m.kernels!;
      assert.ok(k.top.length > 0 && k.top.length <= 3, `${m.variant}: top kernels`);
      for (let i = 1; i < k.top.length; i++) assert.ok(k.top[i - 1].ms >= k.top[i].ms, 'most time first');
      assert.ok(k.top.some((t) => t.kernel === 'BatchMatMul'), `${m.variant}: the products are among the top kernels`);
      assert.ok(k.outsideMs <= k.totalMs);
    }
    assert.match(r.stderr, /peer: torch [\d.a-z]+ \(.*python3\), \d+ threads, GEMM 1024x1024 [\d.]+ GFLOP\/s/);
  });

  it('the peer\'s SPruFT function: float64 finite differences and the masked full update', {
    skip: peerPython.python ? false : `no torch peer here: ${peerPython.why}`,
  }, () => {
    const out = spawnSync(peerPython.python!, [join(REPO_ROOT, 'scripts', 'peer', 'decoder_bench.py'), '--check'], { encoding: 'utf8' });
    assert.equal(out.status, 0, out.stderr);
    const c = JSON.parse(out.stdout) as { gradcheck: boolean; forwardDiff: number; wfGradDiff: number; xGradDiff: number };
    assert.equal(c.gradcheck, true);
    assert.ok(c.forwardDiff < 1e-12 && c.wfGradDiff < 1e-12 && c.xGradDiff < 1e-12, JSON.stringify(c));
  });
});
