import { describe, it, before } from 'node:test';
import { Rng } from '../rng';
import { gelu, relu6, silu } from './activations';
import { gradCheck, input, useBackend } from './testing';

function erf64(x: number): number {
  // Abramowitz-Stegun 7.1.26 is too coarse for a 1e-4 check; integrate instead (Simpson).
  const n = 2000;
  const h = x / n;
  let s = 1 + Math.exp(-x * x);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * Math.exp(-((i * h) ** 2));
  return (2 / Math.sqrt(Math.PI)) * (h / 3) * s;
}

describe('activations', () => {
  before(() => useBackend('wasm'));
  it('gelu (exact, erf) equals float64 finite differences', () => {
    const rng = new Rng(50);
    gradCheck(rng, {
      what: 'gelu', inputs: { x: input(rng, [4, 6], 1.5) }, wrt: ['x'], forward: (t) => gelu(t.x), tol: 2e-4,
      reference: (a) => a.x.map((v) => 0.5 * v * (1 + erf64(v / Math.SQRT2))),
    });
  });
  it('silu equals float64 finite differences', () => {
    const rng = new Rng(51);
    gradCheck(rng, {
      what: 'silu', inputs: { x: input(rng, [4, 6], 2) }, wrt: ['x'], forward: (t) => silu(t.x),
      reference: (a) => a.x.map((v) => v / (1 + Math.exp(-v))),
    });
  });
  it('relu6 equals float64 finite differences (away from the kinks)', () => {
    const rng = new Rng(52);
    const x = input(rng, [4, 6], 4);
    // Keep samples away from 0 and 6, where relu6 has no derivative.
    x.data = x.data.map((v) => (Math.abs(v) < 0.1 || Math.abs(v - 6) < 0.1 ? v + 0.5 : v));
    gradCheck(rng, {
      what: 'relu6', inputs: { x }, wrt: ['x'], forward: (t) => relu6(t.x),
      reference: (a) => a.x.map((v) => Math.min(Math.max(v, 0), 6)),
    });
  });
});
