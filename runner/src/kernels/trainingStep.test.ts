/**
 * End to end: the gradients of a small MobileNetV2-style block plus an embedding and an
 * attention-like product (every project kernel on the path), computed on wasm with the
 * project's kernels, equal those of the cpu backend with only its builtin kernels.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../tensor/tf';
import { wasmHeapBytes } from './backendMemory';
import { assertClose, backendInstance, randomTensor, startBackends, toHost, type HostTensor } from './kernelTesting';
import { registerProjectKernels, unregisterProjectKernels } from './register';

interface Params {
  expand: tf.Tensor4D; // 1x1, 4 -> 12
  depthwise: tf.Tensor4D; // 3x3, 12 channels
  project: tf.Tensor4D; // 1x1, 12 -> 6
  stem: tf.Tensor4D; // 3x3 stride 2, 3 -> 4
  embedding: tf.Tensor2D; // 20 x 6
}

const SHAPES: Record<keyof Params, number[]> = {
  stem: [3, 3, 3, 4],
  expand: [1, 1, 4, 12],
  depthwise: [3, 3, 12, 1],
  project: [1, 1, 12, 6],
  embedding: [20, 6],
};

function loss(p: Params, images: tf.Tensor4D, tokens: tf.Tensor1D): tf.Scalar {
  let h = tf.relu(tf.conv2d(images, p.stem, 2, 'same'));
  h = tf.relu6(tf.conv2d(h, p.expand, 1, 'same'));
  h = tf.relu6(tf.depthwiseConv2d(h, p.depthwise, 2, 'same'));
  h = tf.conv2d(h, p.project, 1, 'valid'); // [2, 3, 3, 6]
  const feats = tf.reshape(h, [2, 9, 6]);
  const emb = tf.reshape(tf.gather(p.embedding, tokens), [2, 4, 6]);
  const scores = tf.matMul(emb, feats, false, true); // [2, 4, 9]
  const mixed = tf.matMul(tf.softmax(scores), feats); // [2, 4, 6]
  return tf.mean(tf.square(tf.sub(mixed, emb)));
}

function gradients(seed: number): Record<string, HostTensor> {
  const result: Record<string, HostTensor> = {};
  tf.tidy(() => {
    const params = {} as Record<keyof Params, tf.Tensor>;
    (Object.keys(SHAPES) as Array<keyof Params>).forEach((k, i) => {
      const h = randomTensor(SHAPES[k], seed + i);
      params[k] = tf.tensor(h.values, h.shape);
    });
    const images = tf.tensor4d(randomTensor([2, 12, 12, 3], seed + 10).values, [2, 12, 12, 3]);
    const tokens = tf.tensor1d([3, 0, 19, 3, 7, 7, 12, 5], 'int32');
    const names = Object.keys(SHAPES) as Array<keyof Params>;
    const g = tf.grads((...ts: tf.Tensor[]) => {
      const p = {} as Params;
      names.forEach((n, i) => {
        (p as unknown as Record<string, tf.Tensor>)[n] = ts[i];
      });
      return loss(p, images, tokens);
    });
    const out = g(names.map((n) => params[n]));
    names.forEach((n, i) => {
      result[n] = toHost(out[i]);
    });
  });
  return result;
}

describe('a training step through every project kernel', () => {
  before(startBackends);

  it('gives the same gradients on wasm (project kernels) as on cpu (builtin kernels)', async () => {
    unregisterProjectKernels('cpu');
    await tf.setBackend('cpu');
    const want = gradients(1);
    registerProjectKernels('wasm');
    await tf.setBackend('wasm');
    const got = gradients(1);
    for (const name of Object.keys(SHAPES)) assertClose(got[name], want[name], 1e-4, `d loss / d ${name}`);
    // And cpu with the project kernels agrees too.
    registerProjectKernels('cpu');
    await tf.setBackend('cpu');
    const cpuProject = gradients(1);
    for (const name of Object.keys(SHAPES)) assertClose(cpuProject[name], want[name], 1e-4, `cpu project d loss / d ${name}`);
    await tf.setBackend('wasm');
  });

  it('repeats on wasm without leaking tensors or growing the heap', () => {
    gradients(2);
    const tensors = tf.memory().numTensors;
    const ids = backendInstance('wasm').numDataIds();
    const heap = wasmHeapBytes(backendInstance('wasm'));
    for (let i = 0; i < 5; i++) gradients(2);
    assert.equal(tf.memory().numTensors, tensors);
    assert.equal(backendInstance('wasm').numDataIds(), ids);
    assert.equal(wasmHeapBytes(backendInstance('wasm')), heap);
  });
});
