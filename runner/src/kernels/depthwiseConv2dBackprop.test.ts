/**
 * DepthwiseConv2dNativeBackpropFilter / -Input against the cpu backend's own kernels and
 * (for dilations, which those kernels ignore) plain loops; then tf.grad of
 * tf.depthwiseConv2d end to end on wasm, with leak checks.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../tensor/tf';
import { wasmHeapBytes, type BackendKind } from './backendMemory';
import { forwardConvInfo, type PadAttr } from './convGeometry';
import { depthwiseBackpropFilterKernel, depthwiseBackpropInputKernel } from './depthwiseConv2dBackprop';
import {
  assertClose, backendInstance, randomTensor, runKernel, startBackends, toHost, type HostTensor,
} from './kernelTesting';
import { registerProjectKernels } from './register';
import { builtinKernel } from './registry';

interface Case {
  x: [number, number, number, number];
  f: [number, number, number, number];
  strides: number | [number, number];
  pad: PadAttr;
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

const CASES: Case[] = [
  { x: [2, 8, 8, 5], f: [3, 3, 5, 1], strides: 1, pad: 'same' }, // MobileNetV2, stride 1
  { x: [2, 8, 8, 5], f: [3, 3, 5, 1], strides: 2, pad: 'same' }, // MobileNetV2, stride 2
  { x: [2, 9, 7, 6], f: [3, 3, 6, 1], strides: 2, pad: 'same' },
  { x: [2, 9, 7, 4], f: [3, 3, 4, 1], strides: 1, pad: 'valid' },
  { x: [2, 9, 7, 4], f: [3, 3, 4, 1], strides: 2, pad: 'valid' },
  { x: [1, 10, 10, 9], f: [5, 5, 9, 1], strides: 2, pad: 'same' },
  { x: [3, 7, 8, 3], f: [3, 2, 3, 1], strides: [2, 1], pad: 'same' },
  { x: [2, 6, 6, 4], f: [3, 3, 4, 1], strides: 1, pad: [[0, 0], [2, 0], [1, 1], [0, 0]] },
  { x: [2, 7, 7, 4], f: [3, 3, 4, 1], strides: 2, pad: 1, dimRoundingMode: 'ceil' },
  { x: [2, 6, 6, 3], f: [3, 3, 3, 2], strides: 1, pad: 'same' }, // channel multiplier 2
  { x: [2, 7, 6, 3], f: [3, 3, 3, 3], strides: 2, pad: 'valid' }, // channel multiplier 3
  { x: [4, 16, 16, 32], f: [3, 3, 32, 1], strides: 2, pad: 'same' },
];

const DILATED: Case[] = [
  { x: [2, 9, 9, 4], f: [3, 3, 4, 1], strides: 1, pad: 'same', dilations: 2 },
  { x: [2, 9, 8, 3], f: [3, 2, 3, 2], strides: 1, pad: 'valid', dilations: [2, 3] },
  { x: [1, 9, 9, 2], f: [3, 3, 2, 1], strides: 2, pad: 'same', dilations: 2 }, // loop path
];

function geometry(c: Case) {
  return forwardConvInfo(c.x, c.f, c.strides, c.dilations, c.pad, c.dimRoundingMode, true);
}

function data(c: Case, seed: number) {
  return { x: randomTensor(c.x, seed), w: randomTensor(c.f, seed + 1), dy: randomTensor(geometry(c).outShape as number[], seed + 2) };
}

function label(c: Case): string {
  return `x[${c.x}] f[${c.f}] s${JSON.stringify(c.strides)} pad ${JSON.stringify(c.pad)}` +
    (c.dilations != null ? ` d${JSON.stringify(c.dilations)}` : '');
}

const filterAttrs = (c: Case) => ({ strides: c.strides, pad: c.pad, dilations: c.dilations ?? 1, dimRoundingMode: c.dimRoundingMode, filterShape: c.f });
const inputAttrs = (c: Case) => ({ strides: c.strides, pad: c.pad, dilations: c.dilations ?? 1, dimRoundingMode: c.dimRoundingMode, inputShape: c.x });

function plainGradients(c: Case, x: HostTensor, w: HostTensor, dy: HostTensor): { dx: HostTensor; dw: HostTensor } {
  const g = geometry(c);
  const [B, H, W, C] = c.x;
  const [Kh, Kw, , M] = c.f;
  const dx = new Float64Array(x.values.length);
  const dw = new Float64Array(w.values.length);
  for (let b = 0; b < B; b++)
    for (let oh = 0; oh < g.outHeight; oh++)
      for (let ow = 0; ow < g.outWidth; ow++)
        for (let kh = 0; kh < Kh; kh++)
          for (let kw = 0; kw < Kw; kw++) {
            const ih = oh * g.strideHeight + kh * g.dilationHeight - g.padInfo.top;
            const iw = ow * g.strideWidth + kw * g.dilationWidth - g.padInfo.left;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            for (let ch = 0; ch < C; ch++)
              for (let m = 0; m < M; m++) {
                const d = dy.values[((b * g.outHeight + oh) * g.outWidth + ow) * C * M + ch * M + m];
                const xi = ((b * H + ih) * W + iw) * C + ch;
                const wi = ((kh * Kw + kw) * C + ch) * M + m;
                dw[wi] += x.values[xi] * d;
                dx[xi] += w.values[wi] * d;
              }
          }
  return {
    dx: { shape: x.shape, dtype: 'float32', values: Float32Array.from(dx) },
    dw: { shape: w.shape, dtype: 'float32', values: Float32Array.from(dw) },
  };
}

describe('DepthwiseConv2dNativeBackpropFilter / -Input', () => {
  before(startBackends);

  for (const backend of ['wasm', 'cpu'] as BackendKind[]) {
    it(`filter gradient on ${backend} matches the cpu builtin kernel`, () => {
      const ref = builtinKernel('DepthwiseConv2dNativeBackpropFilter', 'cpu');
      assert.ok(ref != null);
      CASES.forEach((c, i) => {
        const { x, dy } = data(c, 10 * i);
        const want = runKernel('cpu', ref.kernelFunc, { x, dy }, filterAttrs(c));
        assertClose(runKernel(backend, depthwiseBackpropFilterKernel, { x, dy }, filterAttrs(c)), want, 1e-4, `${backend} ${label(c)}`);
      });
    });

    it(`input gradient on ${backend} matches the cpu builtin kernel`, () => {
      const ref = builtinKernel('DepthwiseConv2dNativeBackpropInput', 'cpu');
      assert.ok(ref != null);
      CASES.forEach((c, i) => {
        const { w, dy } = data(c, 10 * i);
        const want = runKernel('cpu', ref.kernelFunc, { dy, filter: w }, inputAttrs(c));
        assertClose(runKernel(backend, depthwiseBackpropInputKernel, { dy, filter: w }, inputAttrs(c)), want, 1e-4, `${backend} ${label(c)}`);
      });
    });

    it(`both gradients on ${backend} match plain loops, dilations included`, () => {
      [...CASES.slice(0, 3), CASES[9], ...DILATED].forEach((c, i) => {
        const { x, w, dy } = data(c, 50 + 10 * i);
        const plain = plainGradients(c, x, w, dy);
        assertClose(runKernel(backend, depthwiseBackpropFilterKernel, { x, dy }, filterAttrs(c)), plain.dw, 1e-4, `dW ${backend} ${label(c)}`);
        assertClose(runKernel(backend, depthwiseBackpropInputKernel, { dy, filter: w }, inputAttrs(c)), plain.dx, 1e-4, `dx ${backend} ${label(c)}`);
      });
    });
  }

  it('rejects mismatched shapes with a clear message', () => {
    const c = CASES[0];
    const { x } = data(c, 1);
    assert.throws(
      () => runKernel('wasm', depthwiseBackpropFilterKernel, { x, dy: randomTensor([2, 8, 8, 4], 1) }, filterAttrs(c)),
      /dy has shape/,
    );
    assert.throws(
      () => runKernel('wasm', depthwiseBackpropFilterKernel, { x, dy: randomTensor([2, 8, 8, 5], 1) }, { ...filterAttrs(c), filterShape: [3, 3, 4, 1] }),
      /input channels/,
    );
  });

  for (const backend of ['wasm', 'cpu'] as BackendKind[]) {
    it(`tf.grad of tf.depthwiseConv2d on ${backend} equals the cpu reference, without leaks`, async () => {
      registerProjectKernels(backend);
      await tf.setBackend(backend);
      const refF = builtinKernel('DepthwiseConv2dNativeBackpropFilter', 'cpu');
      const refI = builtinKernel('DepthwiseConv2dNativeBackpropInput', 'cpu');
      assert.ok(refF != null && refI != null);
      for (const c of [CASES[0], CASES[1], CASES[9], CASES[11]]) {
        const d = data(c, 5);
        const x = tf.tensor4d(d.x.values, c.x);
        const w = tf.tensor4d(d.w.values, c.f);
        const dyT = tf.tensor(d.dy.values, d.dy.shape);
        const g = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.mul(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad as 'same'), dyT)));
        const [gx, gw] = g([x, w]);
        assertClose(toHost(gw), runKernel('cpu', refF.kernelFunc, { x: d.x, dy: d.dy }, filterAttrs(c)), 1e-4, `tf.grad dW ${label(c)}`);
        assertClose(toHost(gx), runKernel('cpu', refI.kernelFunc, { dy: d.dy, filter: d.w }, inputAttrs(c)), 1e-4, `tf.grad dx ${label(c)}`);
        tf.dispose([gx, gw]);
        const step = () => tf.tidy(() => {
          const [a, b] = g([x, w]);
          a.dataSync();
          b.dataSync();
        });
        step();
        const tensors = tf.memory().numTensors;
        const ids = backendInstance(backend).numDataIds();
        const heap = wasmHeapBytes(backendInstance(backend));
        for (let i = 0; i < 5; i++) step();
        assert.equal(tf.memory().numTensors, tensors);
        assert.equal(backendInstance(backend).numDataIds(), ids);
        assert.equal(wasmHeapBytes(backendInstance(backend)), heap);
        tf.dispose([x, w, dyT]);
      }
    });
  }
});
