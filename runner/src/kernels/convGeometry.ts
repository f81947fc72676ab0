/**
 * Geometry shared by the convolution gradient kernels: tfjs's own conv info (so that
 * padding and output sizes agree with the forward op to the pixel), the strides of the
 * logical [batch, row, column, channel] axes in NHWC or NCHW memory, and the phase plan
 * that turns the input gradient of a strided convolution into stride-1 convolutions.
 */
import { tf } from '../tensor/tf';
import { stridesOf } from './backendMemory';

export type Conv2DInfo = tf.backend_util.Conv2DInfo;
export type PadAttr = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;

/** Attributes every conv gradient kernel takes (tfjs's names). */
export interface ConvGradAttrs {
  strides: number | [number, number];
  pad: PadAttr;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  /** Not passed by tfjs to the Conv2D gradients; honoured when present. */
  dilations?: number | [number, number];
}

export class ConvGeometryError extends Error {
  readonly code = 'KERNEL_CONV_GEOMETRY';
}

/** tfjs's conv info for the forward op whose gradient is asked for. */
export function forwardConvInfo(
  xShape: readonly number[], filterShape: readonly number[], strides: number | [number, number],
  dilations: number | [number, number] | undefined, pad: PadAttr, dimRoundingMode: 'floor' | 'round' | 'ceil' | undefined,
  depthwise: boolean, dataFormat: 'NHWC' | 'NCHW' = 'NHWC',
): Conv2DInfo {
  if (xShape.length !== 4 || filterShape.length !== 4) {
    throw new ConvGeometryError(`conv gradient needs rank-4 input and filter, got [${xShape}] and [${filterShape}]`);
  }
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], filterShape as [number, number, number, number],
    strides, dilations ?? 1, pad, dimRoundingMode, depthwise,
    tf.backend_util.convertConv2DDataFormat(dataFormat),
  );
}

/** Strides of the logical axes [b, h, w, c] of a 4-d tensor stored NHWC or NCHW. */
export function bhwcStrides(shape: readonly number[], channelsLast: boolean): [number, number, number, number] {
  const s = stridesOf(shape);
  return channelsLast ? [s[0], s[1], s[2], s[3]] : [s[0], s[2], s[3], s[1]];
}

/** The shape [b, h, w, c] stored NHWC or NCHW. */
export function physicalShape(b: number, h: number, w: number, c: number, channelsLast: boolean): number[] {
  return channelsLast ? [b, h, w, c] : [b, c, h, w];
}

export function assertDyShape(dyShape: readonly number[], info: Conv2DInfo, what: string): void {
  const want = info.outShape;
  if (dyShape.length !== 4 || dyShape.some((d, i) => d !== want[i])) {
    throw new ConvGeometryError(`${what}: dy has shape [${dyShape}], the forward conv gives [${want}]`);
  }
}

/**
 * One phase of the input gradient along one spatial axis (paper-free, standard algebra):
 * with forward index i*s + k*d - pad = x-index, the x rows with (x + pad) mod s = r
 * receive only taps k with k*d = r (mod s), and form a stride-1 correlation of dy with
 * those taps flipped. For s = 1 there is one phase with every tap (dilation d kept).
 */
export interface AxisPhase {
  /** Kernel indices in the order the stride-1 conv applies them (flipped). */
  taps: number[];
  /** Dilation of the stride-1 conv (d when s = 1; 1 for the strided phases). */
  dilation: number;
  /** dy index read by conv input row 0 (rows outside [0, dyLen) are zeros). */
  dyStart: number;
  /** Rows of the stride-1 conv input: count + (taps - 1) * dilation. */
  inLen: number;
  /** x rows written: first row and step. */
  xStart: number;
  xStep: number;
  /** Number of x rows in this phase. */
  count: number;
}

/**
 * Phases of the input gradient along one axis (x length n, kernel k, stride s,
 * dilation d, leading pad p). Returns null for stride > 1 with dilation > 1, which the
 * phase split does not cover (callers use a direct loop then).
 */
export function inputGradPhases(n: number, k: number, s: number, d: number, p: number): AxisPhase[] | null {
  if (s === 1) {
    const taps = Array.from({ length: k }, (_, t) => k - 1 - t);
    return [{ taps, dilation: d, dyStart: p - (k - 1) * d, inLen: n + (k - 1) * d, xStart: 0, xStep: 1, count: n }];
  }
  if (d !== 1) return null;
  const phases: AxisPhase[] = [];
  for (let r = 0; r < s; r++) {
    // x + p = q*s + r; q ranges over the x rows 0..n-1.
    const qMin = Math.ceil((p - r) / s);
    const qMax = Math.floor((n - 1 + p - r) / s);
    const count = qMax - qMin + 1;
    if (count <= 0) continue;
    const nTaps = r < k ? Math.ceil((k - r) / s) : 0;
    const taps = Array.from({ length: nTaps }, (_, t) => r + s * (nTaps - 1 - t));
    phases.push({
      taps, dilation: 1, dyStart: qMin - (nTaps - 1), inLen: count + Math.max(nTaps - 1, 0),
      xStart: qMin * s + r - p, xStep: s, count,
    });
  }
  return phases;
}
