/**
 * The gradients of depthwiseConv2d (MobileNetV2's 17 depthwise 3x3 convs, stride 1 and
 * 2, 'same'), which wasm lacks and cpu computes with per-element TensorBuffer access
 * (about 3.7 s for both on a 32x32x32x32 batch).
 *
 *   y[b, oh, ow, c*M + m]  = sum_{kh, kw} x[b, oh*s + kh*d - pt, ow*s + kw*d - pl, c] * W[kh, kw, c, m]
 *   dW[kh, kw, c, m]       = sum_{b, oh, ow} x[...] * dy[b, oh, ow, c*M + m]
 *   dx[b, ih, iw, c]       = sum_{kh, kw, m} dy[b, oh, ow, c*M + m] * W[kh, kw, c, m]
 *
 * The filter gradient has no forward-conv form worth having (the channel sum a conv
 * does is exactly what depthwise lacks; a big-kernel depthwise conv ran no faster in
 * XNNPACK), so it is a JavaScript loop that sums in registers over output columns,
 * four channels at a time. The input gradient on wasm is the phase split of
 * convGeometry with XNNPACK's depthwise conv (flipped taps), for channel multiplier 1;
 * on cpu, and for multipliers > 1, it is a loop.
 */
import type { tf } from '../tensor/tf';
import { backendMemory, stridesOf, type BackendMemory, type TensorInfo } from './backendMemory';
import { assertDyShape, forwardConvInfo, inputGradPhases, type Conv2DInfo, type ConvGradAttrs } from './convGeometry';
import { callKernel } from './registry';
import { copyStrided } from './stridedCopy';

interface FilterAttrs extends ConvGradAttrs {
  filterShape: [number, number, number, number];
}
interface InputAttrs extends ConvGradAttrs {
  inputShape: [number, number, number, number];
}

export class DepthwiseGradError extends Error {
  readonly code = 'KERNEL_DEPTHWISE';
}

function geometry(xShape: readonly number[], filterShape: readonly number[], attrs: ConvGradAttrs, dyShape: readonly number[], what: string): Conv2DInfo {
  if (filterShape[2] !== xShape[3]) {
    throw new DepthwiseGradError(`${what}: filter has ${filterShape[2]} input channels, x has ${xShape[3]}`);
  }
  const info = forwardConvInfo(xShape, filterShape, attrs.strides, attrs.dilations, attrs.pad, attrs.dimRoundingMode, true);
  assertDyShape(dyShape, info, what);
  return info;
}

/** Columns ow whose input column ow*s + k*d - p lies in [0, n). */
function validRange(k: number, s: number, d: number, p: number, n: number, outLen: number): [number, number] {
  const lo = Math.max(0, Math.ceil((p - k * d) / s));
  const hi = Math.min(outLen, Math.floor((n - 1 + p - k * d) / s) + 1);
  return [lo, hi];
}

/** dW for any multiplier; NHWC. Sums in float64. */
export function depthwiseFilterGrad(mem: BackendMemory, x: TensorInfo, dy: TensorInfo, info: Conv2DInfo): TensorInfo {
  const {
    batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo, outChannels: Cout,
    filterHeight: Kh, filterWidth: Kw, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw,
  } = info;
  const M = Cout / C;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const out = mem.alloc([Kh, Kw, C, M], 'float32');
  const acc = new Float64Array(Kh * Kw * Cout);
  const xv = mem.f32(x);
  const dv = mem.f32(dy);
  const xStep = sw * C; // x elements between consecutive output columns
  const colLo = new Int32Array(Kw);
  const colHi = new Int32Array(Kw);
  for (let kw = 0; kw < Kw; kw++) [colLo[kw], colHi[kw]] = validRange(kw, sw, dw, pl, W, Wo);
  // Batch and output rows outermost: each dy row is read for all taps while in cache.
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < Ho; oh++) {
      const dRow0 = (b * Ho + oh) * Wo;
      for (let kh = 0; kh < Kh; kh++) {
        const ih = oh * sh + kh * dh - pt;
        if (ih < 0 || ih >= H) continue;
        for (let kw = 0; kw < Kw; kw++) {
          const owLo = colLo[kw];
          const n = colHi[kw] - owLo;
          if (n <= 0) continue;
          const aBase = (kh * Kw + kw) * Cout;
          const xRow = ((b * H + ih) * W + owLo * sw + kw * dw - pl) * C;
          const dRow = (dRow0 + owLo) * Cout;
          if (M === 1) {
            let c = 0;
            for (; c + 4 <= C; c += 4) {
              let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
              let xi = xRow + c;
              let di = dRow + c;
              for (let k = 0; k < n; k++) {
                s0 += xv[xi] * dv[di];
                s1 += xv[xi + 1] * dv[di + 1];
                s2 += xv[xi + 2] * dv[di + 2];
                s3 += xv[xi + 3] * dv[di + 3];
                xi += xStep;
                di += Cout;
              }
              acc[aBase + c] += s0;
              acc[aBase + c + 1] += s1;
              acc[aBase + c + 2] += s2;
              acc[aBase + c + 3] += s3;
            }
            for (; c < C; c++) {
              let s0 = 0;
              let xi = xRow + c;
              let di = dRow + c;
              for (let k = 0; k < n; k++) {
                s0 += xv[xi] * dv[di];
                xi += xStep;
                di += Cout;
              }
              acc[aBase + c] += s0;
            }
          } else {
            for (let c2 = 0; c2 < Cout; c2++) {
              const c = (c2 / M) | 0;
              let s0 = 0;
              let xi = xRow + c;
              let di = dRow + c2;
              for (let k = 0; k < n; k++) {
                s0 += xv[xi] * dv[di];
                xi += xStep;
                di += Cout;
              }
              acc[aBase + c2] += s0;
            }
          }
        }
      }
    }
  }
  // acc is [kh, kw, c*M + m], which is dW's [kh, kw, c, m] layout.
  mem.f32(out).set(acc);
  return out;
}

/**
 * Taps that reach x index i along one axis: pairs (k, o) with o*s + k*d - p = i and o in
 * [0, outLen), written to `ks`/`os`; returns how many.
 */
function tapsReaching(i: number, k: number, s: number, d: number, p: number, outLen: number, ks: Int32Array, os: Int32Array): number {
  let n = 0;
  for (let t = 0; t < k; t++) {
    const num = i + p - t * d;
    if (num < 0 || num % s !== 0) continue;
    const o = num / s;
    if (o >= outLen) continue;
    ks[n] = t;
    os[n] = o;
    n++;
  }
  return n;
}

/**
 * dx as a loop (any multiplier, stride, dilation); NHWC. For multiplier 1 each dx value
 * is gathered from its taps in registers, four channels at a time (float64 sums).
 */
export function depthwiseInputGradByLoop(mem: BackendMemory, dy: TensorInfo, filter: TensorInfo, info: Conv2DInfo): TensorInfo {
  const {
    batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo, outChannels: Cout,
    filterHeight: Kh, filterWidth: Kw, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw,
  } = info;
  const M = Cout / C;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const dx = mem.alloc([B, H, W, C], 'float32');
  const dv = mem.f32(dy);
  const wv = mem.f32(filter);
  const xv = mem.f32(dx);
  const rowK = new Int32Array(Kh);
  const rowO = new Int32Array(Kh);
  // Column taps depend only on iw: computed once.
  const colN = new Int32Array(W);
  const colK = new Int32Array(W * Kw);
  const colO = new Int32Array(W * Kw);
  {
    const ks = new Int32Array(Kw);
    const os = new Int32Array(Kw);
    for (let iw = 0; iw < W; iw++) {
      const n = tapsReaching(iw, Kw, sw, dw, pl, Wo, ks, os);
      colN[iw] = n;
      colK.set(ks.subarray(0, n), iw * Kw);
      colO.set(os.subarray(0, n), iw * Kw);
    }
  }
  for (let b = 0; b < B; b++) {
    for (let ih = 0; ih < H; ih++) {
      const nr = tapsReaching(ih, Kh, sh, dh, pt, Ho, rowK, rowO);
      for (let iw = 0; iw < W; iw++) {
        const xo = ((b * H + ih) * W + iw) * C;
        const nc = colN[iw];
        const cBase = iw * Kw;
        if (M === 1) {
          let c = 0;
          for (; c + 4 <= C; c += 4) {
            let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            for (let r = 0; r < nr; r++) {
              const dRow = (b * Ho + rowO[r]) * Wo;
              const wRow = rowK[r] * Kw;
              for (let q = 0; q < nc; q++) {
                const di = (dRow + colO[cBase + q]) * C + c;
                const wi = (wRow + colK[cBase + q]) * C + c;
                s0 += dv[di] * wv[wi];
                s1 += dv[di + 1] * wv[wi + 1];
                s2 += dv[di + 2] * wv[wi + 2];
                s3 += dv[di + 3] * wv[wi + 3];
              }
            }
            xv[xo + c] = s0;
            xv[xo + c + 1] = s1;
            xv[xo + c + 2] = s2;
            xv[xo + c + 3] = s3;
          }
          for (; c < C; c++) {
            let s0 = 0;
            for (let r = 0; r < nr; r++) {
              const dRow = (b * Ho + rowO[r]) * Wo;
              const wRow = rowK[r] * Kw;
              for (let q = 0; q < nc; q++) s0 += dv[(dRow + colO[cBase + q]) * C + c] * wv[(wRow + colK[cBase + q]) * C + c];
            }
            xv[xo + c] = s0;
          }
        } else {
          for (let c = 0; c < C; c++) {
            let s0 = 0;
            for (let r = 0; r < nr; r++) {
              const dRow = (b * Ho + rowO[r]) * Wo;
              const wRow = rowK[r] * Kw;
              for (let q = 0; q < nc; q++) {
                const di = (dRow + colO[cBase + q]) * Cout + c * M;
                const wi = (wRow + colK[cBase + q]) * Cout + c * M;
                for (let m = 0; m < M; m++) s0 += dv[di + m] * wv[wi + m];
              }
            }
            xv[xo + c] = s0;
          }
        }
      }
    }
  }
  return dx;
}

/**
 * dx as XNNPACK depthwise convs, one per (row phase, column phase); null where this
 * does not apply (multiplier > 1, or stride and dilation both > 1 on an axis).
 */
export function depthwiseInputGradByConv(mem: BackendMemory, dy: TensorInfo, filter: TensorInfo, info: Conv2DInfo): TensorInfo | null {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo, outChannels: Cout } = info;
  const Kw = info.filterWidth;
  if (Cout !== C) return null;
  const phasesH = inputGradPhases(H, info.filterHeight, info.strideHeight, info.dilationHeight, info.padInfo.top);
  const phasesW = inputGradPhases(W, Kw, info.strideWidth, info.dilationWidth, info.padInfo.left);
  if (phasesH == null || phasesW == null) return null;
  const tapless = phasesH.some((p) => p.taps.length === 0) || phasesW.some((p) => p.taps.length === 0);
  const dx = mem.alloc([B, H, W, C], 'float32', tapless);
  const dxs = stridesOf(dx.shape);
  const dys = stridesOf(dy.shape);
  try {
    for (const ph of phasesH) {
      for (const pw of phasesW) {
        const Th = ph.taps.length;
        const Tw = pw.taps.length;
        if (Th === 0 || Tw === 0) continue;
        const j0 = Math.max(0, -ph.dyStart);
        const j1 = Math.min(ph.inLen, Ho - ph.dyStart);
        const i0 = Math.max(0, -pw.dyStart);
        const i1 = Math.min(pw.inLen, Wo - pw.dyStart);
        const inShape = [B, ph.inLen, pw.inLen, C];
        const zeros = j0 > 0 || j1 < ph.inLen || i0 > 0 || i1 < pw.inLen;
        const inp = mem.alloc(inShape, 'float32', zeros);
        const filt = mem.alloc([Th, Tw, C, 1], 'float32');
        const ins = stridesOf(inShape);
        if (j1 > j0 && i1 > i0) {
          copyStrided(
            mem.f32(dy), (ph.dyStart + j0) * dys[1] + (pw.dyStart + i0) * dys[2], dys,
            mem.f32(inp), j0 * ins[1] + i0 * ins[2], ins,
            [B, j1 - j0, i1 - i0, C],
          );
        }
        const wv = mem.f32(filter);
        const fv = mem.f32(filt);
        for (let t = 0; t < Th; t++) {
          for (let u = 0; u < Tw; u++) {
            const src = (ph.taps[t] * Kw + pw.taps[u]) * C;
            fv.set(wv.subarray(src, src + C), (t * Tw + u) * C);
          }
        }
        let r: TensorInfo;
        try {
          r = callKernel('DepthwiseConv2dNative', mem, { x: inp, filter: filt }, {
            strides: [1, 1], pad: 'valid', dilations: [ph.dilation, pw.dilation], dimRoundingMode: undefined, dataFormat: 'NHWC',
          } as unknown as tf.NamedAttrMap);
        } finally {
          mem.dispose(inp);
          mem.dispose(filt);
        }
        copyStrided(
          mem.f32(r), 0, stridesOf(r.shape),
          mem.f32(dx), ph.xStart * dxs[1] + pw.xStart * dxs[2], [dxs[0], ph.xStep * dxs[1], pw.xStep * dxs[2], dxs[3]],
          [B, ph.count, pw.count, C],
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

function checkFloat(what: string, ...infos: TensorInfo[]): void {
  for (const t of infos) {
    if (t.dtype !== 'float32') throw new DepthwiseGradError(`${what} (project kernel) takes float32, got ${t.dtype}`);
  }
}

export const depthwiseBackpropFilterKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const mem = backendMemory(backend as tf.KernelBackend);
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  checkFloat('DepthwiseConv2dNativeBackpropFilter', x, dy);
  const a = attrs as unknown as FilterAttrs;
  const info = geometry(x.shape, a.filterShape, a, dy.shape, 'DepthwiseConv2dNativeBackpropFilter');
  return depthwiseFilterGrad(mem, x, dy, info);
};

export const depthwiseBackpropInputKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const mem = backendMemory(backend as tf.KernelBackend);
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  checkFloat('DepthwiseConv2dNativeBackpropInput', dy, filter);
  const a = attrs as unknown as InputAttrs;
  const info = geometry(a.inputShape, filter.shape, a, dy.shape, 'DepthwiseConv2dNativeBackpropInput');
  // XNNPACK's depthwise conv only pays on wasm; the cpu backend's is a loop like ours.
  const byConv = mem.kind === 'wasm' ? depthwiseInputGradByConv(mem, dy, filter, info) : null;
  return byConv ?? depthwiseInputGradByLoop(mem, dy, filter, info);
};
