import assert from 'node:assert/strict';
import { it } from 'node:test';
import { resolveRunConfig } from '../../../protocol/config';
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
  assert.deepEqual(spruft.breakdown, { params: 40, grads: 40, optimizer: 80, cache: 10 * (4 + 8 + 2) * 4, dropout: 0, other: 0, total: 40 + 40 + 80 + 560 });
  assert.equal(spruft.modelBytes, 232);
  assert.equal(spruft.estimated, true);
  const lora = estimateTrainingMemory(model, { ...config, lora: { rank: 2, alpha: 16, dropout: 0.1 } }, 'lora', [layers[0]!]);
  assert.equal(lora.trainableParams, 2 * (4 + 8));
  assert.equal(lora.breakdown.dropout, 10 * 4 * 4, 'a dropout mask over the adapter input');
  assert.ok(lora.peakBytes > spruft.peakBytes, 'LoRA keeps more (paper table 1)');
  const head = estimateTrainingMemory(model, config, 'head', []);
  assert.equal(head.trainableParams, 18);
});
