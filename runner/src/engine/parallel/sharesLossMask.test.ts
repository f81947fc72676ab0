/**
 * Instruction data split across data-parallel ranks: each share keeps its loss mask, and
 * the loss denominators count only the response tokens the mask keeps (so the ranks'
 * weighted losses add up to the single-process loss).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TokenExamples } from '../batches';
import { lossWeight, takeShare } from './shares';

test('shares keep the loss mask, and loss weights count only the positions it keeps', () => {
  const ex: TokenExamples = {
    kind: 'tokens', n: 2, length: 4,
    ids: Int32Array.from([1, 2, 3, 4, 5, 6, 7, 0]),
    mask: Uint8Array.from([1, 1, 1, 1, 1, 1, 1, 0]),
    lossMask: Uint8Array.from([0, 0, 1, 1, 0, 1, 1, 0]),
  };
  // Positions p predict token p + 1: row 0 counts tokens 2..3 (2), row 1 tokens 1..2 (2).
  assert.equal(lossWeight(ex, Int32Array.from([0])), 2);
  assert.equal(lossWeight(ex, Int32Array.from([1])), 2);
  assert.equal(lossWeight({ ...ex, lossMask: undefined }, Int32Array.from([0, 1])), 3 + 2);
  const share = takeShare(ex, Int32Array.from([1])) as TokenExamples;
  assert.deepEqual([Array.from(share.ids), Array.from(share.lossMask!)], [[5, 6, 7, 0], [0, 1, 1, 0]]);
  assert.equal((takeShare({ ...ex, lossMask: undefined }, Int32Array.from([0])) as TokenExamples).lossMask, undefined);
});
