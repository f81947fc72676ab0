import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../tensor/tf';
import { Adam, type OptimizerConfig } from '../engine/optimizer';
import { ADAM_PART } from '../tensor/ops/adam';
import type { BackendKind } from './backendMemory';
import { adamPartKernel } from './adam';
import { assertEqualValues, randomTensor, runKernel, startBackends, toHost, type HostTensor } from './kernelTesting';
import { nativeBlas } from './nativeBlas';
import { nativeKernelsInPlace, registerProjectKernels } from './register';
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
  const out: HostTensor[] = [toHost(w), toHost(b), ...[...state.moments.values()].flat().map((a) => ({ shape: [a.length], dtype: 'float32' as const, values: a }))];
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

  /** Three steps per config on `backend`, through whatever is registered there, then through the tfjs ops. */
  async function both(backend: BackendKind): Promise<{ registered: boolean; viaKernel: HostTensor[][]; viaOps: HostTensor[][] }> {
    const prev = tf.getBackend();
    await tf.setBackend(backend);
    try {
      const registered = tf.getKernel(ADAM_PART, backend) != null;
      const viaKernel = CONFIGS.map(threeSteps);
      if (registered) uninstallKernel(ADAM_PART, backend);
      const viaOps = CONFIGS.map(threeSteps);
      registerProjectKernels(backend);
      assert.equal(tf.getKernel(ADAM_PART, backend) != null, registered, 'registered again');
      return { registered, viaKernel, viaOps };
    } finally {
      await tf.setBackend(prev);
    }
  }

  it('Adam and AdamW give the same floats through every path: the JavaScript kernel (cpu), the native one (wasm with the addon) and the tfjs ops (both backends)', async () => {
    const cpu = await both('cpu');
    const wasm = await both('wasm');
    assert.equal(cpu.registered, true, 'cpu has the JavaScript kernel');
    // On wasm the kernel is native: present exactly when the addon with adamPart loaded.
    assert.equal(wasm.registered, typeof nativeBlas()?.adamPart === 'function');
    assert.equal(nativeKernelsInPlace().includes(ADAM_PART), wasm.registered);
    const reference = cpu.viaOps;
    for (const [what, run] of [['cpu kernel', cpu.viaKernel], ['wasm (kernel where registered)', wasm.viaKernel], ['wasm ops', wasm.viaOps]] as const) {
      run.forEach((tensors, c) => tensors.forEach((t, i) => assertEqualValues(t, reference[c][i], `${what}, ${CONFIGS[c].kind} wd ${CONFIGS[c].weightDecay}, tensor ${i}`)));
    }
  });

  it('refuses inputs of other sizes or types, saying so', () => {
    const a = randomTensor([4], 1);
    assert.throws(() => runKernel('cpu', adamPartKernel, { a, g: randomTensor([5], 2) }, { part: 'm', beta1: 0.9 }), /every input must be float32 of 4 entries/);
  });

  it('the native part checks its operands against their arrays', { skip: typeof nativeBlas()?.adamPart === 'function' ? false : 'the native addon (with adamPart) is not here' }, () => {
    const blas = nativeBlas()!;
    const x = new Float32Array(8);
    assert.throws(() => blas.adamPart!(0, 8, x, 1, x, 0, x, 0, null, 0, 0.9, 0.1, 0, 0, 0), /adamPart: an operand lies outside its array/);
    assert.throws(() => blas.adamPart!(2, 8, x, 0, x, 0, x, 0, null, 0, 1, 1, 1e-8, 1e-3, 0), /adamPart: v lies outside its array/);
    assert.throws(() => blas.adamPart!(3 as 0, 8, x, 0, x, 0, x, 0, null, 0, 0, 0, 0, 0, 0), /part must be 0, 1 or 2/);
  });
});
