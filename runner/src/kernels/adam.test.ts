import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../tensor/tf';
import { Adam, type OptimizerConfig } from '../engine/optimizer';
import { ADAM_PART } from '../tensor/ops/adam';
import type { BackendKind } from './backendMemory';
import { adamPartKernel } from './adam';
import { assertEqualValues, randomTensor, runKernel, startBackends, toHost, type HostTensor } from './kernelTesting';
import { registerProjectKernels } from './register';
import { uninstallKernel } from './registry';

/** Three steps of the optimizer on two parameters; returns the parameters and moments after. */
function threeSteps(config: OptimizerConfig): HostTensor[] {
  const w = tf.variable(tf.tensor(randomTensor([7, 5], 1).values, [7, 5]));
  const b = tf.variable(tf.tensor(randomTensor([5], 2).values, [5]));
  const adam = new Adam(config, [{ name: 'w', variable: w }, { name: 'b', variable: b }]);
  for (let step = 0; step < 3; step++) {
    const grads = new Map<string, tf.Tensor>([
      ['w', tf.tensor(randomTensor([7, 5], 10 + step).values, [7, 5])],
      // A zero gradient: v stays 0 where it was, and the root of 0 meets epsilon.
      ['b', step === 0 ? tf.zeros([5]) : tf.tensor(randomTensor([5], 20 + step).values, [5])],
    ]);
    adam.apply(grads, 1e-2 * (step + 1));
    tf.dispose([...grads.values()]);
  }
  const state = adam.state();
  const out = [toHost(w), toHost(b), ...[...state.moments.values()].flat().map((a, i) => ({ shape: [a.length], dtype: 'float32' as const, values: a, i }))];
  adam.dispose();
  tf.dispose([w, b]);
  return out;
}

const CONFIGS: OptimizerConfig[] = [
  { kind: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 },
  { kind: 'adam', beta1: 0.8, beta2: 0.99, epsilon: 1e-6, weightDecay: 0.01 },
  { kind: 'adamw', beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.1 },
];

describe('SpruftAdamPart', () => {
  before(async () => {
    await startBackends();
    registerProjectKernels('cpu');
  });

  for (const backend of ['wasm', 'cpu'] as BackendKind[]) {
    it(`Adam and AdamW on ${backend} give the floats of the composition of tfjs ops, step by step`, async () => {
      const prev = tf.getBackend();
      await tf.setBackend(backend);
      try {
        for (const config of CONFIGS) {
          assert.ok(tf.getKernel(ADAM_PART, backend) != null);
          const fused = threeSteps(config);
          uninstallKernel(ADAM_PART, backend);
          const composed = threeSteps(config);
          registerProjectKernels(backend);
          fused.forEach((t, i) => assertEqualValues({ ...t, shape: t.shape }, composed[i], `${backend} ${config.kind} wd ${config.weightDecay} tensor ${i}`));
        }
      } finally {
        await tf.setBackend(prev);
      }
    });
  }

  it('refuses inputs of other sizes or types, saying so', () => {
    const a = randomTensor([4], 1);
    assert.throws(() => runKernel('cpu', adamPartKernel, { a, g: randomTensor([5], 2) }, { part: 'm', beta1: 0.9 }), /every input must be float32 of 4 entries/);
  });
});
