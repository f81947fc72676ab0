import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../tensor/tf';
import { profileKernels } from './kernelProfile';
import { startBackends } from './kernelTesting';

describe('profileKernels', () => {
  before(startBackends);

  it('charges each kernel its own time and calls, and puts the registry back as it was', async () => {
    await tf.setBackend('wasm');
    const registered = tf.getKernelsForBackend('wasm');
    const a = tf.randomNormal([64, 48]);
    const b = tf.randomNormal([32, 48]);
    const tensors = tf.memory().numTensors;
    const profile = await profileKernels('wasm', () => tf.tidy(() => {
      // A transposed product (the project's kernel, which may call others) and two adds.
      const c = tf.matMul(a, b, false, true);
      return tf.add(tf.add(c, 1), 2).dataSync();
    }));
    assert.equal(tf.memory().numTensors, tensors, 'no tensors left behind');
    const byName = new Map(profile.kernels.map((k) => [k.kernel, k]));
    assert.equal(byName.get('BatchMatMul')?.calls, 1);
    assert.equal(byName.get('Add')?.calls, 2);
    for (let i = 1; i < profile.kernels.length; i++) assert.ok(profile.kernels[i - 1].ms >= profile.kernels[i].ms, 'most time first');
    const own = profile.kernels.reduce((s, k) => s + k.ms, 0);
    assert.ok(own <= profile.totalMs + 1e-6, 'own times add up to no more than the whole');
    assert.ok(Math.abs(profile.outsideMs - (profile.totalMs - own)) < 1e-9);
    const after = tf.getKernelsForBackend('wasm');
    assert.equal(after.length, registered.length);
    for (const k of registered) assert.equal(tf.getKernel(k.kernelName, 'wasm'), k, `${k.kernelName} restored`);
    tf.dispose([a, b]);
  });

  it('restores the registry when the profiled function throws', async () => {
    const before0 = tf.getKernel('Add', 'wasm');
    await assert.rejects(profileKernels('wasm', () => { throw new Error('boom'); }), /boom/);
    assert.equal(tf.getKernel('Add', 'wasm'), before0);
  });
});
