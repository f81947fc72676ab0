/**
 * `Conv2DBackpropInput` (the input gradient of conv2d; also conv2dTranspose's forward)
 * as stride-1 forward convolutions, which wasm runs through XNNPACK: the builtin wasm
 * kernel is a direct C++ loop about 8x slower than the forward conv of the same size.
 *
 *   dx[b, ih, iw, ci] = sum_{kh, kw, co} dy[b, oh, ow, co] * W[kh, kw, ci, co],  oh*sh + kh*dh - pt = ih
 *
 * Stride 1: a 'valid' conv of dy, zero-padded, with W flipped in both spatial axes and
 * its channel axes swapped. Stride s > 1: the x rows fall into s phases by (ih + pt) mod s,
 * each a stride-1 conv of dy with the taps of its phase (convGeometry.inputGradPhases),
 * so no multiply is spent on inserted zeros; the phase results are written interleaved.
 */
import type { tf } from '../tensor/tf';
import { backendMemory, stridesOf, type BackendMemory, type TensorInfo } from './backendMemory';
import {
  assertDyShape, bhwcStrides, forwardConvInfo, inputGradPhases, physicalShape, type Conv2DInfo, type ConvGradAttrs,
} from './convGeometry';
import { callKernel } from './registry';
import { copyStrided } from './stridedCopy';

interface BackpropInputAttrs extends ConvGradAttrs {
  dataFormat?: 'NHWC' | 'NCHW';
  inputShape: [number, number, number, number];
}

export function conv2dBackpropInputInfo(dy: TensorInfo, filter: TensorInfo, attrs: BackpropInputAttrs): Conv2DInfo {
  const info = forwardConvInfo(
    attrs.inputShape, filter.shape, attrs.strides, attrs.dilations, attrs.pad, attrs.dimRoundingMode, false,
    attrs.dataFormat ?? 'NHWC',
  );
  assertDyShape(dy.shape, info, 'Conv2DBackpropInput');
  return info;
}

/** Phase-split forward convs; null when an axis has stride and dilation both > 1. */
export function backpropInputByConv(mem: BackendMemory, dy: TensorInfo, filter: TensorInfo, info: Conv2DInfo): TensorInfo | null {
  const {
    batchSize: B, inHeight: H, inWidth: W, inChannels: Ci, outHeight: Ho, outWidth: Wo, outChannels: Co,
    filterHeight: Kh, filterWidth: Kw,
  } = info;
  const phasesH = inputGradPhases(H, Kh, info.strideHeight, info.dilationHeight, info.padInfo.top);
  const phasesW = inputGradPhases(W, Kw, info.strideWidth, info.dilationWidth, info.padInfo.left);
  if (phasesH == null || phasesW == null) return null;
  const channelsLast = info.dataFormat === 'channelsLast';
  const tapless = phasesH.some((p) => p.taps.length === 0) || phasesW.some((p) => p.taps.length === 0);
  const dx = mem.alloc(physicalShape(B, H, W, Ci, channelsLast), 'float32', tapless);
  const dxs = bhwcStrides(dx.shape, channelsLast);
  const dys = bhwcStrides(dy.shape, channelsLast);
  try {
    for (const ph of phasesH) {
      for (const pw of phasesW) {
        const Th = ph.taps.length;
        const Tw = pw.taps.length;
        if (Th === 0 || Tw === 0) continue;
        // The conv input: dy rows dyStart .. dyStart + inLen - 1, zeros outside dy.
        const j0 = Math.max(0, -ph.dyStart);
        const j1 = Math.min(ph.inLen, Ho - ph.dyStart);
        const i0 = Math.max(0, -pw.dyStart);
        const i1 = Math.min(pw.inLen, Wo - pw.dyStart);
        const inShape = [B, ph.inLen, pw.inLen, Co];
        const zeros = j0 > 0 || j1 < ph.inLen || i0 > 0 || i1 < pw.inLen;
        const inp = mem.alloc(inShape, 'float32', zeros);
        const filt = mem.alloc([Th, Tw, Co, Ci], 'float32');
        const ins = stridesOf(inShape);
        if (j1 > j0 && i1 > i0) {
          copyStrided(
            mem.f32(dy), (ph.dyStart + j0) * dys[1] + (pw.dyStart + i0) * dys[2], dys,
            mem.f32(inp), j0 * ins[1] + i0 * ins[2], ins,
            [B, j1 - j0, i1 - i0, Co],
          );
        }
        const wv = mem.f32(filter);
        const fv = mem.f32(filt);
        for (let t = 0; t < Th; t++) {
          for (let u = 0; u < Tw; u++) {
            // W[kh, kw, :, :] is [Ci, Co]; the conv wants [Co, Ci].
            copyStrided(wv, (ph.taps[t] * Kw + pw.taps[u]) * Ci * Co, [1, Co], fv, (t * Tw + u) * Co * Ci, [Ci, 1], [Co, Ci]);
          }
        }
        let r: TensorInfo;
        try {
          r = callKernel('Conv2D', mem, { x: inp, filter: filt }, {
            strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [ph.dilation, pw.dilation],
            dimRoundingMode: undefined,
          } as unknown as tf.NamedAttrMap);
        } finally {
          mem.dispose(inp);
          mem.dispose(filt);
        }
        // r is [B, count_h, count_w, Ci]; write it to rows xStart + m*xStep.
        const rs = stridesOf(r.shape);
        copyStrided(
          mem.f32(r), 0, rs,
          mem.f32(dx), ph.xStart * dxs[1] + pw.xStart * dxs[2], [dxs[0], ph.xStep * dxs[1], pw.xStep * dxs[2], dxs[3]],
          [B, ph.count, pw.count, Ci],
        );
        mem.dispose(r);
      }
    }
  } catch (err) {
    mem.dispose(dx);
    throw err;
  }
  return dx;
}

/** Direct loop (float64 sums), for what the phase split does not cover. */
export function backpropInputByLoop(mem: BackendMemory, dy: TensorInfo, filter: TensorInfo, info: Conv2DInfo): TensorInfo {
  const {
    batchSize: B, inHeight: H, inWidth: W, inChannels: Ci, outHeight: Ho, outWidth: Wo, outChannels: Co,
    filterHeight: Kh, filterWidth: Kw, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw,
  } = info;
  const channelsLast = info.dataFormat === 'channelsLast';
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const dx = mem.alloc(physicalShape(B, H, W, Ci, channelsLast), 'float32');
  const acc = new Float64Array(B * H * W * Ci);
  const [xb, xh, xw, xc] = bhwcStrides(dx.shape, channelsLast);
  const [db, dh_, dw_, dc] = bhwcStrides(dy.shape, channelsLast);
  const dv = mem.f32(dy);
  const wv = mem.f32(filter);
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < Ho; oh++) {
      for (let ow = 0; ow < Wo; ow++) {
        const dyo = b * db + oh * dh_ + ow * dw_;
        for (let kh = 0; kh < Kh; kh++) {
          const ih = oh * sh + kh * dh - pt;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < Kw; kw++) {
            const iw = ow * sw + kw * dw - pl;
            if (iw < 0 || iw >= W) continue;
            const xo = b * xb + ih * xh + iw * xw;
            const wo = (kh * Kw + kw) * Ci * Co;
            for (let ci = 0; ci < Ci; ci++) {
              let s = 0;
              const wr = wo + ci * Co;
              for (let co = 0; co < Co; co++) s += dv[dyo + co * dc] * wv[wr + co];
              acc[xo + ci * xc] += s;
            }
          }
        }
      }
    }
  }
  mem.f32(dx).set(acc);
  return dx;
}

export function conv2dBackpropInput(mem: BackendMemory, dy: TensorInfo, filter: TensorInfo, attrs: BackpropInputAttrs): TensorInfo {
  const info = conv2dBackpropInputInfo(dy, filter, attrs);
  return backpropInputByConv(mem, dy, filter, info) ?? backpropInputByLoop(mem, dy, filter, info);
}

export const conv2dBackpropInputKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const mem = backendMemory(backend as tf.KernelBackend);
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  if (dy.dtype !== 'float32' || filter.dtype !== 'float32') {
    throw new Error(`Conv2DBackpropInput (project kernel) takes float32, got ${dy.dtype} and ${filter.dtype}`);
  }
  return conv2dBackpropInput(mem, dy, filter, attrs as unknown as BackpropInputAttrs);
};
