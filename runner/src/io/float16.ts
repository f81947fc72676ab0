/**
 * Half-precision conversions for the file formats: IEEE 754 binary16 (safetensors F16,
 * tfjs `float16` quantization) and bfloat16 (safetensors BF16, the upper half of a
 * float32). Decoding is exact; encoding rounds to nearest, ties to even, as numpy and
 * PyTorch do, so that a file written here is bit-identical to one written there.
 */

let f16Table: Float32Array | undefined;

/** All 65,536 binary16 values as float32 (built once, 256 KiB). */
function float16Table(): Float32Array {
  if (f16Table) return f16Table;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    let v: number;
    if (exp === 0) v = mant * 2 ** -24;
    else if (exp === 31) v = mant === 0 ? Infinity : NaN;
    else v = (1 + mant / 1024) * 2 ** (exp - 15);
    table[h] = sign * v;
  }
  f16Table = table;
  return table;
}

export function float16BitsToFloat32(bits: Uint16Array, out = new Float32Array(bits.length)): Float32Array {
  const table = float16Table();
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]];
  return out;
}

export function bfloat16BitsToFloat32(bits: Uint16Array, out = new Float32Array(bits.length)): Float32Array {
  const u32 = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < bits.length; i++) u32[i] = bits[i] << 16;
  return out;
}

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** One float32 value to binary16 bits, round to nearest even; overflow gives infinity. */
export function float32ToFloat16Bits(value: number): number {
  scratchF32[0] = value;
  const x = scratchU32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal in binary16 (or zero): the value in units of 2^-24 is m * 2^(e-14).
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (half & 1) === 1)) half++;
    return sign | half;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++;
  return sign | h;
}

export function float32ToFloat16(values: Float32Array, out = new Uint16Array(values.length)): Uint16Array {
  for (let i = 0; i < values.length; i++) out[i] = float32ToFloat16Bits(values[i]);
  return out;
}

/** float32 to bfloat16 bits, round to nearest even; NaN stays a (quiet) NaN. */
export function float32ToBfloat16(values: Float32Array, out = new Uint16Array(values.length)): Uint16Array {
  const u32 = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < values.length; i++) {
    const x = u32[i];
    if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) {
      out[i] = (x >>> 16) | 0x40;
      continue;
    }
    out[i] = ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
  }
  return out;
}
