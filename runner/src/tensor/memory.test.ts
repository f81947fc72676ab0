import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { liveBufferBytes, peakBytes } from './memory';
import { TEST_BACKENDS, useBackend } from './ops/testing';
import { tf } from './tf';

const MiB = 2 ** 20;

for (const backend of TEST_BACKENDS) {
  describe(`buffer meter on ${backend}`, () => {
    before(() => useBackend(backend));

    it('counts a buffer once however many views share it, and frees it with the last', () => {
      const base = liveBufferBytes();
      const x = tf.zeros([256, 1024]); // 1 MiB
      assert.equal(liveBufferBytes() - base, MiB);
      const views = [tf.reshape(x, [1024, 256]), tf.reshape(x, [262144]), tf.reshape(x, [256, 1024])];
      assert.equal(liveBufferBytes() - base, MiB, 'views add nothing');
      assert.ok(tf.memory().numBytes >= 4 * MiB, 'while tfjs counts each handle');
      x.dispose();
      views.slice(0, 2).forEach((v) => v.dispose());
      assert.equal(liveBufferBytes() - base, MiB, 'alive while a view is');
      views[2].dispose();
      assert.equal(liveBufferBytes(), base);
    });

    it('counts bool and int32 buffers by their element size, and variables', () => {
      const base = liveBufferBytes();
      const b = tf.zeros([1000], 'bool');
      const i = tf.zeros([1000], 'int32');
      const v = tf.tidy(() => tf.variable(tf.zeros([1000])));
      assert.equal(liveBufferBytes() - base, 1000 + 4000 + 4000);
      tf.tidy(() => v.assign(tf.ones([1000])));
      assert.equal(liveBufferBytes() - base, 1000 + 4000 + 4000, 'assign replaces the buffer');
      tf.dispose([b, i, v]);
      assert.equal(liveBufferBytes(), base);
    });

    it('peakBytes sees transient buffers, what was alive before, and nested peaks', async () => {
      const keep = tf.zeros([256, 1024]);
      const base = liveBufferBytes();
      const inner = { peak: 0 };
      const outer = await peakBytes(async () => {
        tf.tidy(() => { tf.add(tf.zeros([512, 1024]), 1); }); // 2 + 2 MiB for a moment
        inner.peak = await peakBytes(() => { tf.tidy(() => { tf.zeros([128, 1024]); }); });
      });
      assert.equal(inner.peak, base + MiB / 2);
      assert.equal(outer, base + 4 * MiB + 4, 'x, x + 1 and the scalar 1');
      assert.equal(liveBufferBytes(), base);
      keep.dispose();
    });
  });
}
