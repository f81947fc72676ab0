/**
 * Drawing a dropout mask (engine/methods/common.ts `dropoutMask`): 8M keep/drop draws, about
 * what the bench decoder's LoRA layers draw per step, element by element through
 * `Rng.next()` and through `Rng.fillBernoulli` (the same draws, state in locals), side by
 * side in one process, checking that both give the same mask and leave the same state.
 *
 *   npx tsx scripts/bench-dropout-mask.ts
 */
import { Rng } from '../runner/src/tensor/rng';

const n = 8_000_000;
const keep = 0.9;
for (let rep = 1; rep <= 3; rep++) {
  const one = new Rng(rep);
  const many = new Rng(rep);
  const a = new Uint8Array(n);
  const b = new Uint8Array(n);
  let start = performance.now();
  for (let i = 0; i < n; i++) a[i] = one.next() < keep ? 1 : 0;
  const perDraw = performance.now() - start;
  start = performance.now();
  many.fillBernoulli(b, keep);
  const filled = performance.now() - start;
  const same = a.every((v, i) => v === b[i]) && one.state().every((v, i) => v === many.state()[i]);
  console.log(`run ${rep}: next() ${perDraw.toFixed(0)} ms, fillBernoulli ${filled.toFixed(0)} ms (${(perDraw / filled).toFixed(1)}x), same draws ${same}`);
}
