import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../tensor/tf';
import {
  bfloat16BitsToFloat32,
  float16BitsToFloat32,
  float32ToBfloat16,
  float32ToFloat16,
  float32ToFloat16Bits,
} from './float16';

const allBits = Uint16Array.from({ length: 65536 }, (_, i) => i);

test('float16 decoding of all 65,536 values equals TensorFlow.js float16 dequantization', async () => {
  const before = tf.memory().numTensors;
  const ours = float16BitsToFloat32(allBits);
  const decoded = tf.io.decodeWeights(allBits.buffer, [
    { name: 'h', shape: [65536], dtype: 'float32', quantization: { dtype: 'float16' } },
  ]);
  const ref = (await decoded.h.data()) as Float32Array;
  decoded.h.dispose();
  for (let i = 0; i < 65536; i++) {
    if (Number.isNaN(ref[i])) assert.ok(Number.isNaN(ours[i]), `bits ${i.toString(16)}`);
    else assert.equal(ours[i], ref[i], `bits 0x${i.toString(16)}`);
  }
  assert.equal(tf.memory().numTensors, before);
});

test('float16 encoding inverts decoding for every non-NaN value', () => {
  const values = float16BitsToFloat32(allBits);
  const back = float32ToFloat16(values);
  for (let i = 0; i < 65536; i++) {
    if (Number.isNaN(values[i])) assert.equal(back[i] & 0x7c00, 0x7c00, 'NaN stays NaN');
    else assert.equal(back[i], i, `bits 0x${i.toString(16)}`);
  }
});

test('float16 encoding rounds to nearest, ties to even (hand-computed cases)', () => {
  assert.equal(float32ToFloat16Bits(1), 0x3c00);
  assert.equal(float32ToFloat16Bits(1 + 2 ** -11), 0x3c00, 'tie between 1 and 1+2^-10 goes to even (1)');
  assert.equal(float32ToFloat16Bits(1 + 3 * 2 ** -11), 0x3c02, 'tie between 0x3c01 and 0x3c02 goes to even');
  assert.equal(float32ToFloat16Bits(1 + 2 ** -11 + 2 ** -20), 0x3c01, 'just above the tie rounds up');
  assert.equal(float32ToFloat16Bits(65504), 0x7bff, 'largest finite');
  assert.equal(float32ToFloat16Bits(65519), 0x7bff, 'below the overflow tie');
  assert.equal(float32ToFloat16Bits(65520), 0x7c00, 'the overflow tie rounds to infinity');
  assert.equal(float32ToFloat16Bits(-Infinity), 0xfc00);
  assert.equal(float32ToFloat16Bits(2 ** -24), 0x0001, 'smallest subnormal');
  assert.equal(float32ToFloat16Bits(2 ** -25), 0x0000, 'half the smallest subnormal ties to even (zero)');
  assert.equal(float32ToFloat16Bits(1.5 * 2 ** -25), 0x0001);
  assert.equal(float32ToFloat16Bits(3 * 2 ** -25), 0x0002, 'tie between 1 and 2 subnormal units goes to 2');
  assert.equal(float32ToFloat16Bits(2 ** -14 - 2 ** -25), 0x0400, 'rounds up from subnormal into the smallest normal');
  assert.equal(float32ToFloat16Bits(-0), 0x8000);
  assert.equal(float32ToFloat16Bits(1e-10), 0x0000);
  assert.equal(float32ToFloat16Bits(-2.5), 0xc100);
});

test('bfloat16 decoding is the upper half of float32; encoding rounds to nearest even', () => {
  const decoded = bfloat16BitsToFloat32(new Uint16Array([0x3f80, 0xc000, 0x7f80, 0x0001, 0x4049]));
  assert.deepEqual([...decoded.slice(0, 3)], [1, -2, Infinity]);
  assert.equal(decoded[3], 2 ** -133, 'subnormal bfloat16');
  assert.equal(decoded[4], 3.140625);
  const enc = float32ToBfloat16(new Float32Array([1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -16, NaN, -Infinity, 3.14159265]));
  assert.equal(enc[0], 0x3f80);
  assert.equal(enc[1], 0x3f80, 'tie to even (down)');
  assert.equal(enc[2], 0x3f82, 'tie to even (up)');
  assert.equal(enc[3], 0x3f81, 'above the tie');
  assert.ok((enc[4] & 0x7f80) === 0x7f80 && (enc[4] & 0x7f) !== 0, 'NaN stays NaN');
  assert.equal(enc[5], 0xff80);
  assert.equal(enc[6], 0x4049);
});
