import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from './rng';

describe('Rng', () => {
  it('fillBernoulli draws exactly what next() < p would, and leaves the same state', () => {
    for (const p of [0, 0.1, 0.5, 0.9, 1]) {
      const one = new Rng(42);
      const many = new Rng(42);
      const expected = Uint8Array.from({ length: 10_007 }, () => (one.next() < p ? 1 : 0));
      const got = many.fillBernoulli(new Uint8Array(expected.length), p);
      assert.deepEqual(got, expected, `p = ${p}`);
      assert.deepEqual(many.state(), one.state(), `state after p = ${p}`);
      assert.equal(many.next(), one.next());
    }
  });

  it('a state restored from state() continues the same stream (checkpoints rely on it)', () => {
    const r = new Rng(3);
    r.fillBernoulli(new Uint8Array(17), 0.5);
    const copy = new Rng(r.state());
    assert.deepEqual(Array.from({ length: 5 }, () => copy.nextUint32()), Array.from({ length: 5 }, () => r.nextUint32()));
  });

  it('keeps about p of its draws', () => {
    const mask = new Rng(9).fillBernoulli(new Uint8Array(100_000), 0.9);
    const kept = mask.reduce((s, v) => s + v, 0) / mask.length;
    assert.ok(Math.abs(kept - 0.9) < 0.005, `kept ${kept}`);
  });
});
