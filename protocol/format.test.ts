import assert from 'node:assert/strict';
import { it } from 'node:test';
import { describeProgress, formatBytes, formatCount, formatDuration, formatScore, shortLayerNames } from './format';

it('formats bytes, durations, counts and scores as the dashboard shows them', () => {
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(2.5 * 1024 * 1024), '2.50 MiB');
  assert.equal(formatBytes(-3 * 1024), '-3.00 KiB');
  assert.equal(formatBytes(150 * 1024 ** 3), '150 GiB');
  assert.equal(formatDuration(12_400), '12 s');
  assert.equal(formatDuration(249_000), '4:09');
  assert.equal(formatDuration(3_907_000), '1:05:07');
  assert.equal(formatDuration(Number.NaN), '–');
  assert.equal(formatDuration(2_449), '2.4 s');
  assert.equal(formatDuration(5_000), '5 s');
  assert.equal(formatDuration(9_960), '10 s');
  assert.equal(formatDuration(340.4), '340 ms');
  assert.equal(formatDuration(999.6), '1000 ms');
  assert.equal(formatCount(31_744), '31.7k');
  assert.equal(formatCount(6_738_415_616), '6.74B');
  assert.equal(formatScore(0.000012), '1.20e-5');
  assert.equal(formatScore(3.14159), '3.14');
});

it('shortens layer names to what differs between them', () => {
  assert.deepEqual(shortLayerNames(['model.layers.0.mlp.up_proj', 'model.layers.1.self_attn.q_proj']), ['0.mlp.up_proj', '1.self_attn.q_proj']);
  assert.deepEqual(shortLayerNames(['fc1', 'fc2']), ['fc1', 'fc2']);
  assert.deepEqual(shortLayerNames(['a.b.c']), ['a.b.c']);
  assert.deepEqual(shortLayerNames(['x.w', 'x.w']), ['x.w', 'x.w'], 'two segments stay');
  assert.deepEqual(shortLayerNames(['mlp.layers.0', 'mlp.layers.1']), ['layers.0', 'layers.1']);
});

it('describes a progress event in one line', () => {
  const line = describeProgress({ runId: 'r', method: 'spruft', phase: 'training', step: 12, totalSteps: 100, epoch: 1, totalEpochs: 1, loss: 0.53211, samplesPerSec: 180.24, etaMs: 34_000, elapsedMs: 5_000 });
  assert.equal(line, 'spruft: training · step 12/100 · loss 0.5321 · 180.2 samples/s · ETA 34 s · elapsed 5 s');
});
