import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../tensor/tf';
import { initBackend } from '../engine/backend';
import { startBackends } from './kernelTesting';
import { PROJECT_KERNELS, plannedKernels, projectKernelsInPlace, registerProjectKernels, unregisterProjectKernels } from './register';
import { builtinKernel, isProjectKernel } from './registry';

describe('registerProjectKernels', () => {
  before(startBackends);

  it('registers the planned kernels on wasm, once, however often it is called', () => {
    const warnings: unknown[] = [];
    const warn = console.warn;
    console.warn = (...args: unknown[]) => warnings.push(args);
    try {
      const first = registerProjectKernels('wasm');
      const configs = first.map((name) => tf.getKernel(name, 'wasm'));
      const second = registerProjectKernels('wasm');
      assert.deepEqual(second, first);
      assert.deepEqual(first, plannedKernels('wasm'));
      second.forEach((name, i) => assert.equal(tf.getKernel(name, 'wasm'), configs[i], `${name} re-registered`));
    } finally {
      console.warn = warn;
    }
    assert.deepEqual(warnings, [], 'no "already registered" warnings');
  });

  it('gives the tensorflow backend nothing', () => {
    assert.deepEqual(registerProjectKernels('tensorflow'), []);
  });

  it('puts the builtin cpu kernels back and installs ours again', () => {
    registerProjectKernels('cpu');
    assert.deepEqual(projectKernelsInPlace('cpu'), PROJECT_KERNELS.cpu.map((p) => p.kernelName));
    const builtins = PROJECT_KERNELS.cpu.map((p) => builtinKernel(p.kernelName, 'cpu'));
    unregisterProjectKernels('cpu');
    assert.deepEqual(projectKernelsInPlace('cpu'), []);
    PROJECT_KERNELS.cpu.forEach((p, i) => assert.equal(tf.getKernel(p.kernelName, 'cpu'), builtins[i], p.kernelName));
    assert.deepEqual(registerProjectKernels('cpu'), PROJECT_KERNELS.cpu.map((p) => p.kernelName));
    for (const p of PROJECT_KERNELS.cpu) assert.ok(isProjectKernel(p.kernelName, 'cpu'));
  });

  it('keeps wasm kernels that exist only as ours when unregistering', () => {
    unregisterProjectKernels('wasm');
    // wasm has no builtin Conv2DBackpropFilter: after unregistering there is none again.
    assert.equal(tf.getKernel('Conv2DBackpropFilter', 'wasm'), undefined);
    assert.ok(tf.getKernel('Transpose', 'wasm') != null);
    registerProjectKernels('wasm');
    assert.ok(isProjectKernel('Conv2DBackpropFilter', 'wasm'));
  });

  it('is what initBackend records in its result', async () => {
    const info = await initBackend('wasm');
    assert.deepEqual(info.projectKernels, plannedKernels('wasm'));
    const cpu = await initBackend('cpu');
    assert.deepEqual(cpu.projectKernels, PROJECT_KERNELS.cpu.map((p) => p.kernelName));
    await tf.setBackend('wasm');
  });
});
