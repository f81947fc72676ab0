/**
 * The one data-movement primitive behind the project's transpose, pad/crop and layout
 * changes: copy an N-d block from one strided layout to another,
 *
 *   dst[dOff + sum_k i_k * dStr[k]] = src[sOff + sum_k i_k * sStr[k]]   for all i < shape.
 *
 * A transpose is sStr permuted; a pad writes into the interior of a zeroed output (dOff);
 * a crop reads from an offset (sOff). Dimensions of size 1 are dropped and dimensions
 * contiguous in both layouts are merged first, so most copies end up as a loop over
 * runs, or as a batch of cache-tiled 2-d transposes when the innermost source and
 * destination dimensions differ (the tfjs-wasm builtin transpose does ~76 M elements/s
 * on a 4096x512 matrix; the tiled loop below does ~400 M/s in V8).
 */

export type NumArray = Float32Array | Int32Array;

export interface CopyDims {
  shape: number[];
  s: number[];
  d: number[];
}

/** Drop size-1 dims, order by destination stride (largest first), merge contiguous runs. */
export function simplifyCopy(shape: readonly number[], sStr: readonly number[], dStr: readonly number[]): CopyDims {
  const idx: number[] = [];
  for (let k = 0; k < shape.length; k++) if (shape[k] !== 1) idx.push(k);
  idx.sort((a, b) => dStr[b] - dStr[a] || sStr[b] - sStr[a]);
  const out: CopyDims = { shape: [], s: [], d: [] };
  for (const k of idx) {
    const n = out.shape.length;
    if (n > 0) {
      const last = n - 1;
      // Merge k into the previous dim when both layouts step over the previous dim's
      // whole extent of k in one step.
      if (out.s[last] === sStr[k] * shape[k] && out.d[last] === dStr[k] * shape[k]) {
        out.shape[last] *= shape[k];
        out.s[last] = sStr[k];
        out.d[last] = dStr[k];
        continue;
      }
    }
    out.shape.push(shape[k]);
    out.s.push(sStr[k]);
    out.d.push(dStr[k]);
  }
  return out;
}

const TILE = 128;

/**
 * A 2-d tiled transpose: rows r (destination-contiguous, step rs in the source) and
 * columns c (source-contiguous, step cd in the destination). Eight rows at a time, so
 * that each source read is a contiguous run and each destination write is too.
 */
function tile2d(
  src: NumArray, sBase: number, rs: number, cs: number,
  dst: NumArray, dBase: number, rd: number, cd: number,
  R: number, C: number,
): void {
  const R8 = R - (R % 8);
  for (let c0 = 0; c0 < C; c0 += TILE) {
    const c1 = c0 + TILE < C ? c0 + TILE : C;
    let r = 0;
    if (rd === 1 && cs === 1) {
      for (; r < R8; r += 8) {
        const i0 = sBase + r * rs;
        let o = dBase + c0 * cd + r;
        for (let c = c0; c < c1; c++) {
          const i = i0 + c;
          dst[o] = src[i];
          dst[o + 1] = src[i + rs];
          dst[o + 2] = src[i + 2 * rs];
          dst[o + 3] = src[i + 3 * rs];
          dst[o + 4] = src[i + 4 * rs];
          dst[o + 5] = src[i + 5 * rs];
          dst[o + 6] = src[i + 6 * rs];
          dst[o + 7] = src[i + 7 * rs];
          o += cd;
        }
      }
    }
    for (; r < R; r++) {
      let i = sBase + r * rs + c0 * cs;
      let o = dBase + r * rd + c0 * cd;
      for (let c = c0; c < c1; c++) {
        dst[o] = src[i];
        i += cs;
        o += cd;
      }
    }
  }
}

/** The dim with the smallest source step (the last one on ties). */
export function sourceInnerDim(s: readonly number[]): number {
  let p = s.length - 1;
  for (let k = 0; k < s.length; k++) if (Math.abs(s[k]) < Math.abs(s[p])) p = k;
  return p;
}

/** Copy `n` elements with steps `ss` and `ds`. */
function run(src: NumArray, i: number, ss: number, dst: NumArray, o: number, ds: number, n: number): void {
  if (ss === 1 && ds === 1) {
    if (n >= 32) {
      dst.set(src.subarray(i, i + n), o);
    } else {
      for (let k = 0; k < n; k++) dst[o + k] = src[i + k];
    }
    return;
  }
  for (let k = 0; k < n; k++) {
    dst[o] = src[i];
    i += ss;
    o += ds;
  }
}

/**
 * Copy a block of `shape` from `src` (offset sOff, strides sStr) to `dst` (offset dOff,
 * strides dStr). src and dst must not overlap (they are different tensors).
 */
export function copyStrided(
  src: NumArray, sOff: number, sStr: readonly number[],
  dst: NumArray, dOff: number, dStr: readonly number[],
  shape: readonly number[],
): void {
  for (const n of shape) if (n === 0) return;
  const { shape: sh, s, d } = simplifyCopy(shape, sStr, dStr);
  const rank = sh.length;
  if (rank === 0) {
    dst[dOff] = src[sOff];
    return;
  }
  // Innermost destination dim is the last; find the source's innermost dim.
  const last = rank - 1;
  const p = sourceInnerDim(s);

  // When both layouts are contiguous in the same dim, the copy is a set of runs; the
  // next dim is folded into the same call so that short runs do not pay a call each.
  const fold = p === last && rank >= 2 ? last - 1 : -1;
  // Outer dims: all but `last`, and `p` or the folded dim, walked with an odometer.
  const outer: number[] = [];
  for (let k = 0; k < rank; k++) if (k !== last && k !== p && k !== fold) outer.push(k);
  const counter = new Array<number>(outer.length).fill(0);
  let total = 1;
  for (const k of outer) total *= sh[k];

  let sBase = sOff;
  let dBase = dOff;
  for (let it = 0; it < total; it++) {
    if (fold >= 0) {
      for (let j = 0; j < sh[fold]; j++) run(src, sBase + j * s[fold], s[last], dst, dBase + j * d[fold], d[last], sh[last]);
    } else if (p === last) {
      run(src, sBase, s[last], dst, dBase, d[last], sh[last]);
    } else {
      tile2d(src, sBase, s[last], s[p], dst, dBase, d[last], d[p], sh[last], sh[p]);
    }
    // Advance the odometer (innermost outer dim fastest).
    for (let j = outer.length - 1; j >= 0; j--) {
      const k = outer[j];
      counter[j]++;
      sBase += s[k];
      dBase += d[k];
      if (counter[j] < sh[k]) break;
      counter[j] = 0;
      sBase -= s[k] * sh[k];
      dBase -= d[k] * sh[k];
    }
  }
}

/** Row-major strides of `shape`, permuted: the source strides that read `perm` order. */
export function permutedStrides(shape: readonly number[], perm: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = acc;
    acc *= shape[i];
  }
  return perm.map((p) => strides[p]);
}
