/**
 * The engine's one source of randomness: a small counter-free PRNG (sfc32) whose
 * whole state is four 32-bit words, so that checkpoints can store it and a resumed run
 * draws exactly the numbers an uninterrupted run would. Seeds expand through splitmix32.
 */
export type RngState = [number, number, number, number];

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number | RngState) {
    if (Array.isArray(seed)) {
      [this.a, this.b, this.c, this.d] = seed.map((v) => v >>> 0) as RngState;
    } else {
      const mix = splitmix32(seed);
      this.a = mix();
      this.b = mix();
      this.c = mix();
      this.d = mix();
      for (let i = 0; i < 12; i++) this.nextUint32();
    }
  }

  /** A new independent stream, derived from this seed and a label (e.g. a layer name). */
  static derive(seed: number, label: string): Rng {
    let h = seed >>> 0;
    for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
    return new Rng(h);
  }

  state(): RngState {
    return [this.a, this.b, this.c, this.d];
  }

  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box-Muller; uses two uniforms per draw for a simple state). */
  normal(): number {
    let u = this.next();
    while (u <= 1e-12) u = this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  fillNormal(out: Float32Array, std = 1): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = this.normal() * std;
    return out;
  }

  /**
   * out[i] = 1 with probability p, else 0: the same draws as `next() < p` element by element
   * (u / 2^32 < p exactly when u < p * 2^32), with the state held in locals for the loop
   * (a dropout mask is millions of draws per step).
   */
  fillBernoulli(out: Uint8Array, p: number): Uint8Array {
    const threshold = p * 4294967296;
    let a = this.a, b = this.b, c = this.c, d = this.d;
    for (let i = 0; i < out.length; i++) {
      const t = (((a + b) >>> 0) + d) >>> 0;
      d = (d + 1) >>> 0;
      a = b ^ (b >>> 9);
      b = (c + (c << 3)) >>> 0;
      c = (((((c << 21) | (c >>> 11)) >>> 0) + t) >>> 0);
      out[i] = t < threshold ? 1 : 0;
    }
    this.a = a; this.b = b; this.c = c; this.d = d;
    return out;
  }

  fillUniform(out: Float32Array, lo: number, hi: number): Float32Array {
    const span = hi - lo;
    for (let i = 0; i < out.length; i++) out[i] = lo + this.next() * span;
    return out;
  }

  /** Fisher-Yates shuffle of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }
}
