/**
 * Conv2DBackpropFilter and Conv2DBackpropInput against the cpu backend's own kernels
 * (tfjs's reference implementation) and, for dilations (which tfjs's kernels ignore), a
 * plain loop written here; then end to end through tf.grad of tf.conv2d on wasm.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../tensor/tf';
import { wasmHeapBytes, type BackendKind } from './backendMemory';
import { conv2dBackpropFilterKernel } from './conv2dBackpropFilter';
import { conv2dBackpropInputKernel } from './conv2dBackpropInput';
import { forwardConvInfo, type ConvGradAttrs } from './convGeometry';
import {
  assertClose, backendInstance, randomTensor, runKernel, startBackends, toHost, type HostTensor,
} from './kernelTesting';
import { builtinKernel } from './registry';

interface Case extends ConvGradAttrs {
  x: [number, number, number, number];
  f: [number, number, number, number];
  dataFormat?: 'NHWC' | 'NCHW';
}

const CASES: Case[] = [
  { x: [2, 5, 5, 3], f: [3, 3, 3, 4], strides: 1, pad: 'same' },
  { x: [2, 5, 5, 3], f: [3, 3, 3, 4], strides: 1, pad: 'valid' },
  { x: [2, 7, 6, 3], f: [3, 3, 3, 2], strides: 2, pad: 'same' },
  { x: [2, 7, 6, 3], f: [3, 3, 3, 2], strides: 2, pad: 'valid' },
  { x: [2, 8, 8, 3], f: [3, 3, 3, 2], strides: 2, pad: 'same' },
  { x: [1, 8, 8, 2], f: [1, 1, 2, 5], strides: 2, pad: 'same' },
  { x: [1, 9, 9, 2], f: [1, 1, 2, 5], strides: 2, pad: 'valid' },
  { x: [3, 9, 7, 4], f: [5, 3, 4, 3], strides: [2, 3], pad: 'same' },
  { x: [2, 11, 10, 2], f: [3, 5, 2, 3], strides: [3, 2], pad: 'valid' },
  { x: [2, 6, 6, 3], f: [3, 3, 3, 4], strides: 1, pad: [[0, 0], [1, 2], [2, 0], [0, 0]] },
  { x: [2, 7, 7, 3], f: [3, 3, 3, 4], strides: 2, pad: [[0, 0], [0, 1], [1, 1], [0, 0]] },
  { x: [2, 6, 6, 3], f: [2, 2, 3, 4], strides: 1, pad: 2 },
  { x: [2, 7, 6, 3], f: [3, 3, 3, 2], strides: 2, pad: 1, dimRoundingMode: 'ceil' },
  { x: [1, 4, 4, 1], f: [4, 4, 1, 1], strides: 1, pad: 'valid' },
  { x: [2, 10, 10, 3], f: [7, 7, 3, 4], strides: 2, pad: 'same' },
  { x: [4, 10, 10, 8], f: [3, 3, 8, 8], strides: 1, pad: 'same' },
  { x: [2, 3, 5, 5], f: [3, 3, 3, 4], strides: 1, pad: 'same', dataFormat: 'NCHW' },
  { x: [2, 3, 7, 6], f: [3, 3, 3, 2], strides: 2, pad: 'same', dataFormat: 'NCHW' },
];

/** Cases with dilation (tfjs's builtin kernels have no dilation; checked by a plain loop). */
const DILATED: Case[] = [
  { x: [2, 9, 9, 3], f: [3, 3, 3, 2], strides: 1, pad: 'same', dilations: 2 },
  { x: [2, 9, 8, 3], f: [3, 2, 3, 2], strides: 1, pad: 'valid', dilations: [2, 3] },
  { x: [2, 9, 9, 2], f: [3, 3, 2, 2], strides: [2, 1], pad: 'same', dilations: [1, 2] },
  { x: [1, 9, 9, 2], f: [3, 3, 2, 2], strides: 2, pad: 'same', dilations: 2 }, // direct-loop path
  { x: [2, 2, 9, 9], f: [3, 3, 2, 3], strides: 1, pad: 'same', dilations: 2, dataFormat: 'NCHW' },
];

function geometry(c: Case) {
  return forwardConvInfo(c.x, c.f, c.strides, c.dilations, c.pad, c.dimRoundingMode, false, c.dataFormat ?? 'NHWC');
}

/** [b, h, w, c] -> flat index, for either layout. */
function indexer(shape: number[], nhwc: boolean) {
  return nhwc
    ? (b: number, h: number, w: number, c: number) => ((b * shape[1] + h) * shape[2] + w) * shape[3] + c
    : (b: number, h: number, w: number, c: number) => ((b * shape[1] + c) * shape[2] + h) * shape[3] + w;
}

/** The definition of the conv gradients as plain loops. */
function plainGradients(c: Case, x: HostTensor, w: HostTensor, dy: HostTensor): { dx: HostTensor; dw: HostTensor } {
  const g = geometry(c);
  const nhwc = g.dataFormat === 'channelsLast';
  const xi = indexer(x.shape, nhwc);
  const yi = indexer(dy.shape, nhwc);
  const dx = new Float64Array(x.values.length);
  const dw = new Float64Array(w.values.length);
  const [Kh, Kw, Ci, Co] = c.f;
  for (let b = 0; b < g.batchSize; b++)
    for (let oh = 0; oh < g.outHeight; oh++)
      for (let ow = 0; ow < g.outWidth; ow++)
        for (let kh = 0; kh < Kh; kh++)
          for (let kw = 0; kw < Kw; kw++) {
            const ih = oh * g.strideHeight + kh * g.dilationHeight - g.padInfo.top;
            const iw = ow * g.strideWidth + kw * g.dilationWidth - g.padInfo.left;
            if (ih < 0 || ih >= g.inHeight || iw < 0 || iw >= g.inWidth) continue;
            for (let ci = 0; ci < Ci; ci++)
              for (let co = 0; co < Co; co++) {
                const wi = ((kh * Kw + kw) * Ci + ci) * Co + co;
                const d = dy.values[yi(b, oh, ow, co)];
                dw[wi] += x.values[xi(b, ih, iw, ci)] * d;
                dx[xi(b, ih, iw, ci)] += w.values[wi] * d;
              }
          }
  return {
    dx: { shape: x.shape, dtype: 'float32', values: Float32Array.from(dx) },
    dw: { shape: w.shape, dtype: 'float32', values: Float32Array.from(dw) },
  };
}

function label(c: Case): string {
  return `x[${c.x}] f[${c.f}] s${JSON.stringify(c.strides)} pad ${JSON.stringify(c.pad)} ${c.dataFormat ?? 'NHWC'}` +
    (c.dilations != null ? ` d${JSON.stringify(c.dilations)}` : '') + (c.dimRoundingMode ? ` ${c.dimRoundingMode}` : '');
}

function data(c: Case, seed: number) {
  const g = geometry(c);
  return {
    x: randomTensor(c.x, seed),
    w: randomTensor(c.f, seed + 1),
    dy: randomTensor(g.outShape as number[], seed + 2),
  };
}

function filterAttrs(c: Case) {
  return { strides: c.strides, pad: c.pad, dataFormat: c.dataFormat ?? 'NHWC', dimRoundingMode: c.dimRoundingMode, filterShape: c.f, dilations: c.dilations };
}
function inputAttrs(c: Case) {
  return { strides: c.strides, pad: c.pad, dataFormat: c.dataFormat ?? 'NHWC', dimRoundingMode: c.dimRoundingMode, inputShape: c.x, dilations: c.dilations };
}

describe('Conv2DBackpropFilter / Conv2DBackpropInput', () => {
  before(startBackends);

  for (const backend of ['wasm', 'cpu'] as BackendKind[]) {
    it(`weight gradient on ${backend} matches the cpu builtin kernel`, () => {
      const ref = builtinKernel('Conv2DBackpropFilter', 'cpu');
      assert.ok(ref != null);
      CASES.forEach((c, i) => {
        const { x, dy } = data(c, 10 * i);
        const attrs = filterAttrs(c);
        const want = runKernel('cpu', ref.kernelFunc, { x, dy }, attrs);
        const got = runKernel(backend, conv2dBackpropFilterKernel, { x, dy }, attrs);
        assertClose(got, want, 1e-4, `${backend} ${label(c)}`);
      });
    });

    it(`input gradient on ${backend} matches the cpu builtin kernel`, () => {
      const ref = builtinKernel('Conv2DBackpropInput', 'cpu');
      assert.ok(ref != null);
      CASES.forEach((c, i) => {
        const { w, dy } = data(c, 10 * i);
        const attrs = inputAttrs(c);
        const want = runKernel('cpu', ref.kernelFunc, { dy, filter: w }, attrs);
        const got = runKernel(backend, conv2dBackpropInputKernel, { dy, filter: w }, attrs);
        assertClose(got, want, 1e-4, `${backend} ${label(c)}`);
      });
    });

    it(`both gradients on ${backend} match plain loops, dilations included`, () => {
      [...CASES.slice(0, 6), ...DILATED].forEach((c, i) => {
        const { x, w, dy } = data(c, 100 + 10 * i);
        const plain = plainGradients(c, x, w, dy);
        assertClose(runKernel(backend, conv2dBackpropFilterKernel, { x, dy }, filterAttrs(c)), plain.dw, 1e-4, `dW ${backend} ${label(c)}`);
        assertClose(runKernel(backend, conv2dBackpropInputKernel, { dy, filter: w }, inputAttrs(c)), plain.dx, 1e-4, `dx ${backend} ${label(c)}`);
      });
    });
  }

  it('rejects a dy whose shape does not fit the forward conv', () => {
    const c = CASES[0];
    const { x } = data(c, 1);
    const dy = randomTensor([2, 4, 5, 4], 3);
    assert.throws(() => runKernel('wasm', conv2dBackpropFilterKernel, { x, dy }, filterAttrs(c)), /dy has shape/);
  });

  it('tf.grad of tf.conv2d runs on wasm and equals the cpu reference, without leaks', async () => {
    await tf.setBackend('wasm');
    const refFilter = builtinKernel('Conv2DBackpropFilter', 'cpu');
    const refInput = builtinKernel('Conv2DBackpropInput', 'cpu');
    assert.ok(refFilter != null && refInput != null);
    for (const c of [CASES[2], CASES[5], CASES[15]]) {
      const d = data(c, 7);
      const x = tf.tensor4d(d.x.values, c.x);
      const w = tf.tensor4d(d.w.values, c.f);
      const dyT = tf.tensor(d.dy.values, d.dy.shape);
      const lossGrads = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad as 'same'), dyT)));
      const [gx, gw] = lossGrads([x, w]);
      assertClose(toHost(gw), runKernel('cpu', refFilter.kernelFunc, { x: d.x, dy: d.dy }, filterAttrs(c)), 1e-4, `tf.grad dW ${label(c)}`);
      assertClose(toHost(gx), runKernel('cpu', refInput.kernelFunc, { dy: d.dy, filter: d.w }, inputAttrs(c)), 1e-4, `tf.grad dx ${label(c)}`);
      tf.dispose([gx, gw]);

      // Repeated steps: same tensor count, same number of backend buffers, no heap growth.
      const step = () => tf.tidy(() => {
        const [a, b] = lossGrads([x, w]);
        a.dataSync();
        b.dataSync();
      });
      step();
      const tensors = tf.memory().numTensors;
      const ids = backendInstance('wasm').numDataIds();
      const heap = wasmHeapBytes(backendInstance('wasm'));
      for (let i = 0; i < 5; i++) step();
      assert.equal(tf.memory().numTensors, tensors);
      assert.equal(backendInstance('wasm').numDataIds(), ids);
      assert.equal(wasmHeapBytes(backendInstance('wasm')), heap);
      tf.dispose([x, w, dyT]);
    }
  });

  it('fused conv2d (bias + relu) trains on wasm, and conv2dTranspose runs', async () => {
    await tf.setBackend('wasm');
    const c = CASES[4];
    const d = data(c, 3);
    const x = tf.tensor4d(d.x.values, c.x);
    const w = tf.tensor4d(d.w.values, c.f);
    const bias = tf.tensor1d([0.1, -0.2]);
    const f = (a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.fused.conv2d({ x: a as tf.Tensor4D, filter: b as tf.Tensor4D, strides: 2, pad: 'same', bias, activation: 'relu' }));
    const [gx, gw] = tf.grads(f)([x, w]);
    // Same gradients with the unfused ops.
    const [ux, uw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.relu(tf.add(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'), bias))))([x, w]);
    assertClose(toHost(gx), toHost(ux), 1e-5, 'fused dx');
    assertClose(toHost(gw), toHost(uw), 1e-5, 'fused dW');
    const y = tf.conv2d(x, w, 2, 'same');
    const back = tf.conv2dTranspose(y, w, c.x, 2, 'same');
    const ref = runKernel('cpu', builtinKernel('Conv2DBackpropInput', 'cpu')!.kernelFunc,
      { dy: toHost(y), filter: d.w }, inputAttrs(c));
    assertClose(toHost(back), ref, 1e-4, 'conv2dTranspose');
    tf.dispose([x, w, bias, gx, gw, ux, uw, y, back]);
  });
});
