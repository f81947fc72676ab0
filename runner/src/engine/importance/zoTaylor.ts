/**
 * `zo-taylor`: zeroth-order Taylor importance (paper 4.2.2, definition 4.1, eq. 8).
 *
 * SPSA (definition 4.1) estimates the gradient of the loss on a calibration set D with
 * respect to theta, the weights of all scored layers together, from two forward passes:
 *   g^ = (L(theta + eps z) - L(theta - eps z)) / (2 eps) * z,   z ~ N(0, I_d).
 * n perturbations on each of k calibration sets give n k estimates (4.2.2, after Reddi
 * et al.), averaged; the importance of neuron i is eta_i = |theta_i^T g^_i| (eq. 8), with
 * theta_i neuron i's parameters and g^_i the matching part of the averaged estimate.
 *
 * Since theta_i^T g^_i = mean_s proj_s * (theta_i^T z_s,i) with proj_s the scalar finite
 * difference, only two numbers per neuron are ever needed from z_s: theta_i^T z_s,i,
 * computed while z_s is generated for the + pass. So z is never stored (MeZO's trick,
 * Malladi et al. 2023): each perturbation has a seed, and every pass regenerates z from
 * it, layer by layer and row block by row block, as the forward reaches the layer. What
 * stays across perturbations is one accumulator per neuron (and per dependent column).
 *
 * Memory: the forward runs without a tape (every layer frozen, nothing kept for a
 * backward pass), and a layer's perturbed weight exists only a block of rows at a time
 * (at most `blockElements`: 1/64 of the scored parameters; the block's slice of W, its z
 * and W + eps z are the most that exist at once), each released as soon as it is used.
 * The frozen weights are never modified, so they are restored exactly, by construction.
 * The peak is that of inference plus about three blocks, under 5% of the weights
 * (`spruft score` measures it next to the inference peak). The JavaScript-side buffer for
 * z is one block.
 *
 * The sign convention, eps and the pairing (+, -) per seed follow definition 4.1; the
 * statistics (unbiased, variance (|theta_i|^2 |g|^2 + (theta_i^T g_i)^2) / (n k) for the
 * projection, property 4.2) are checked in zoTaylor.test.ts.
 */
import { SpruftError } from '../../errors';
import { inferenceContext, type AdaptableLayer } from '../../models/layer';
import { batchNorm } from '../../tensor/ops/batchNorm';
import { frozenConv2d } from '../../tensor/ops/conv2d';
import { frozenDepthwiseConv2d } from '../../tensor/ops/depthwiseConv2d';
import { dims, flatten2d } from '../../tensor/ops/grad';
import { layerNorm } from '../../tensor/ops/layerNorm';
import { frozenLinear } from '../../tensor/ops/linear';
import { rmsNorm } from '../../tensor/ops/rmsNorm';
import { Rng } from '../../tensor/rng';
import { tf, type Tensor } from '../../tensor/tf';
import { columnCount, hasColumns } from './axes';
import type { ImportanceContext, ImportanceMetric } from './metric';

/** Smallest block of rows perturbed at once, in parameters. */
export const BLOCK_ELEMENTS = 1 << 14;

/**
 * Parameters perturbed at once for a model whose scored layers hold `total` parameters:
 * 1/64 of them (at least BLOCK_ELEMENTS), so that the three block-sized tensors that can
 * exist at once add under 5% to the weights that inference holds anyway, while large
 * models still run a few large products per layer rather than many small ones.
 */
export function blockElements(total: number): number {
  return Math.max(BLOCK_ELEMENTS, Math.ceil(total / 64));
}

/** Per-neuron and per-column theta^T z of one perturbation, filled during its + pass. */
interface LayerDots {
  rows: Float64Array;
  columns?: Float64Array;
  done: boolean;
}

/** The seed of perturbation `j` on calibration set `set`: z is regenerated from it. */
export function perturbationSeed(seed: number, set: number, j: number): number {
  return Rng.derive(seed, `zo-taylor/set-${set}/z-${j}`).nextUint32();
}

/**
 * Standard normals from an Rng, both values of each Box-Muller pair used (half the cost of
 * `Rng.normal`, which keeps one): z is drawn afresh on every pass, so its cost counts.
 */
export class NormalStream {
  private spare: number | undefined;
  constructor(private readonly rng: Rng) {}

  next(): number {
    if (this.spare !== undefined) {
      const v = this.spare;
      this.spare = undefined;
      return v;
    }
    let u = this.rng.next();
    while (u <= 1e-12) u = this.rng.next();
    const r = Math.sqrt(-2 * Math.log(u));
    const a = 2 * Math.PI * this.rng.next();
    this.spare = r * Math.sin(a);
    return r * Math.cos(a);
  }
}

/** The stream of z for one layer: the same numbers on every pass with this seed. */
export function layerStream(perturbation: number, layer: AdaptableLayer): NormalStream {
  return new NormalStream(Rng.derive(perturbation, `zo-taylor/${layer.name}`));
}

function addInto(target: Float64Array, offset: number, t: Tensor, factor: number): void {
  const v = t.dataSync();
  t.dispose();
  for (let i = 0; i < v.length; i++) target[offset + i] += v[i] * factor;
}

/**
 * The frozen forward of `layer` with its weight moved by `scale * z`, z drawn from `rng`
 * in row-major order of the row matrix (row i's d_in parameters in the weight's own
 * order, then row i+1's), a block of rows at a time. When `dots` is given, theta^T z per
 * row (and per input column) is added to it.
 */
export function perturbedForward(layer: AdaptableLayer, x: Tensor, scale: number, rng: NormalStream, dots?: LayerDots, blockSize = BLOCK_ELEMENTS): Tensor {
  const w = layer.weight;
  const s = dims(w);
  const dOut = layer.dOut;
  const perRow = layer.dIn;
  // Channel-wise layers are small (one weight per channel and tap): one block.
  const blocked = layer.kind === 'linear' || layer.kind === 'conv2d';
  const rowsPerBlock = blocked ? Math.max(1, Math.floor(blockSize / perRow)) : dOut;
  const buffer = new Float32Array(Math.min(dOut, rowsPerBlock) * perRow);
  const rowsLast = layer.kind === 'conv2d' || layer.kind === 'depthwise-conv2d';
  // One block of the perturbed layer: rows [r0, r0 + n). Its tensors are released as soon
  // as they are used, so that at most about three blocks of parameters exist at once.
  const block = (r0: number, n: number): Tensor => {
    const z = buffer.subarray(0, n * perRow);
    // Scaled z in the block's engine layout: rows first (linear, norms) or rows last (convs:
    // row o's parameter t sits at t * n + o).
    if (rowsLast) {
      for (let o = 0; o < n; o++) for (let t = 0; t < perRow; t++) z[t * n + o] = rng.next() * scale;
    } else {
      for (let k = 0; k < z.length; k++) z[k] = rng.next() * scale;
    }
    const whole = n === dOut;
    const shape = layer.kind === 'linear' ? [n, s[1]] : layer.kind === 'conv2d' ? [s[0], s[1], s[2], n] : s;
    const wb = whole ? w : layer.kind === 'linear' ? tf.slice(w, [r0, 0], [n, s[1]]) : tf.slice(w, [0, 0, 0, r0], [s[0], s[1], s[2], n]);
    const zb = tf.tensor(z, shape);
    if (dots) {
      const prod = tf.mul(wb, zb);
      switch (layer.kind) {
        case 'linear':
          addInto(dots.rows, r0, tf.sum(prod, 1), 1 / scale);
          if (dots.columns) addInto(dots.columns, 0, tf.sum(prod, 0), 1 / scale);
          break;
        case 'conv2d':
          addInto(dots.rows, r0, tf.sum(prod, [0, 1, 2]), 1 / scale);
          if (dots.columns) addInto(dots.columns, 0, tf.sum(prod, [0, 1, 3]), 1 / scale);
          break;
        case 'depthwise-conv2d':
          addInto(dots.rows, r0, tf.sum(prod, [0, 1, 3]), 1 / scale);
          break;
        default:
          addInto(dots.rows, r0, tf.clone(prod), 1 / scale);
      }
      prod.dispose();
    }
    const moved = tf.add(wb, zb);
    zb.dispose();
    if (!whole) wb.dispose();
    const bias = layer.bias && !whole ? tf.slice(layer.bias, [r0], [n]) : layer.bias;
    const frozen = { kind: 'frozen' } as const;
    try {
      return tf.tidy(() => {
        switch (layer.kind) {
          case 'linear': return frozenLinear(flatten2d(x).x2, moved, bias, false);
          case 'conv2d': return frozenConv2d(x, moved, bias, layer.conv!, false);
          case 'depthwise-conv2d': return frozenDepthwiseConv2d(x, moved, bias, layer.conv!, false);
          case 'layernorm': return layerNorm(x, moved, layer.bias, layer.eps, frozen, false);
          case 'rmsnorm': return rmsNorm(x, moved, layer.eps, frozen, false);
          case 'batchnorm':
            return batchNorm(x, moved, layer.bias, { mean: layer.movingMean!, variance: layer.movingVariance!, eps: layer.eps }, frozen, false);
        }
      });
    } finally {
      moved.dispose();
      if (bias && bias !== layer.bias) bias.dispose();
    }
  };
  const restore = (y: Tensor): Tensor => {
    if (layer.kind !== 'linear') return y;
    const out = tf.reshape(y, [...x.shape.slice(0, -1), dOut]);
    y.dispose();
    return out;
  };
  if (rowsPerBlock >= dOut) return restore(block(0, dOut));
  const parts: Tensor[] = [];
  for (let r0 = 0; r0 < dOut; r0 += rowsPerBlock) parts.push(block(r0, Math.min(rowsPerBlock, dOut - r0)));
  const y = tf.concat(parts, -1);
  tf.dispose(parts);
  return restore(y);
}

/** The loss of one batch with every scored layer moved by `scale * z(seed)`. */
function perturbedLoss(
  ctx: ImportanceContext, batch: Parameters<ImportanceContext['loss']>[1], seed: number, scale: number, dots?: Map<string, LayerDots>,
): number {
  const block = blockElements(ctx.layers.reduce((s, l) => s + l.weight.size, 0));
  for (const layer of ctx.layers) {
    layer.perturbedForward = (x: Tensor) => {
      const d = dots?.get(layer.name);
      // A layer applied twice in one pass gets the same z both times, and its dots once.
      const record = d && !d.done ? d : undefined;
      const y = perturbedForward(layer, x, scale, layerStream(seed, layer), record, block);
      if (record) record.done = true;
      return y;
    };
  }
  try {
    const loss = tf.tidy(() => ctx.loss(ctx.model.forward(batch.x, inferenceContext()), batch));
    const value = loss.dataSync()[0];
    loss.dispose();
    if (!Number.isFinite(value)) {
      throw new SpruftError('DATA_INVALID', `zo-taylor: the perturbed loss is ${value}; lower spruft.importance.epsilon (now ${Math.abs(scale)})`);
    }
    return value;
  } finally {
    for (const layer of ctx.layers) layer.perturbedForward = undefined;
  }
}

export interface ZoProjections {
  /** layer name -> theta_i^T g^_i per neuron (signed), the mean over all n k estimates. */
  rows: Map<string, Float64Array>;
  /** layer name -> per neuron, the mean over the n k estimates of (theta_i^T g^_i)^2 (for the standard error). */
  rowSquares: Map<string, Float64Array>;
  /** layer name -> the same per dependent input column. */
  columns: Map<string, Float64Array>;
  /** n k: the estimates averaged. */
  estimates: number;
}

/** The signed projections theta_i^T g^_i (eq. 8 before |.|). */
export async function zoProjections(ctx: ImportanceContext): Promise<ZoProjections> {
  for (const layer of ctx.layers) {
    if (layer.training.kind !== 'frozen') {
      throw new SpruftError('INTERNAL', `layer ${layer.name} already trains (${layer.training.kind}); score before attaching a method`);
    }
  }
  const { perturbations: n, epsilon: eps, seed } = ctx.options;
  const columnNames = new Set((ctx.columnLayers ?? []).filter(hasColumns).map((l) => l.name));
  const rows = new Map(ctx.layers.map((l) => [l.name, new Float64Array(l.dOut)]));
  const rowSquares = new Map(ctx.layers.map((l) => [l.name, new Float64Array(l.dOut)]));
  const columns = new Map(ctx.layers.filter((l) => columnNames.has(l.name)).map((l) => [l.name, new Float64Array(columnCount(l))]));
  let estimates = 0;
  let set = 0;
  for (const batch of ctx.batches()) {
    for (let j = 0; j < n; j++) {
      const z = perturbationSeed(seed, set, j);
      const dots = new Map<string, LayerDots>(ctx.layers.map((l) => [l.name, {
        rows: new Float64Array(l.dOut), columns: columnNames.has(l.name) ? new Float64Array(columns.get(l.name)!.length) : undefined, done: false,
      }]));
      const plus = perturbedLoss(ctx, batch, z, eps, dots);
      const minus = perturbedLoss(ctx, batch, z, -eps);
      const proj = (plus - minus) / (2 * eps);
      for (const [name, d] of dots) {
        const acc = rows.get(name)!;
        const sq = rowSquares.get(name)!;
        for (let i = 0; i < acc.length; i++) {
          const e = proj * d.rows[i];
          acc[i] += e;
          sq[i] += e * e;
        }
        const cAcc = columns.get(name);
        if (cAcc && d.columns) for (let i = 0; i < cAcc.length; i++) cAcc[i] += proj * d.columns[i];
      }
      estimates += 1;
      await Promise.resolve();
    }
    set += 1;
  }
  if (estimates === 0) throw new SpruftError('DATA_INVALID', 'zo-taylor: no calibration set (the training data is empty)');
  for (const acc of [...rows.values(), ...rowSquares.values(), ...columns.values()]) for (let i = 0; i < acc.length; i++) acc[i] /= estimates;
  return { rows, rowSquares, columns, estimates };
}

/**
 * Signal-to-noise of one layer's estimate. Per row, t_i = |mean| / standard error of the
 * mean of the N = n k estimates theta_i^T g^_i (sample variance, N - 1). Noise alone gives
 * E[t_i^2] = (N - 1) / (N - 3) (Student's t with N - 1 degrees of freedom), and a true value
 * mu_i adds (mu_i / se_i)^2, so sqrt(mean_i t_i^2 - (N - 1) / (N - 3)) estimates the root
 * mean square over the layer's rows of mu_i / se_i: how many standard errors the scores
 * stand from zero. Below 1 the rows' ranking is mostly noise (paper 4.2.2, eq. 9). (The
 * median of t_i would not do: where most rows carry no signal it stays at the median of
 * |Z|, 0.67, whatever N.) NaN with 3 estimates or fewer.
 */
export function layerSnr(mean: Float64Array, meanSquare: Float64Array, estimates: number): number {
  const N = estimates;
  if (N <= 3 || mean.length === 0) return NaN;
  let sum = 0;
  let rows = 0;
  mean.forEach((m, i) => {
    const variance = Math.max(0, (meanSquare[i] - m * m) * N / (N - 1));
    if (variance === 0) return;
    sum += (m * m) / (variance / N);
    rows += 1;
  });
  if (rows === 0) return 0;
  return Math.sqrt(Math.max(0, sum / rows - (N - 1) / (N - 3)));
}

const magnitude = (v: Float64Array): Float32Array => Float32Array.from(v, Math.abs);

export const zoTaylorImportance: ImportanceMetric = async (ctx) => {
  const p = await zoProjections(ctx);
  const snr = new Map([...p.rows].map(([name, v]) => [name, layerSnr(v, p.rowSquares.get(name)!, p.estimates)]));
  const low = [...snr].filter(([, s]) => !(s >= 1));
  const { perturbations: n, calibrationSets: k } = ctx.options;
  const warnings = low.length === 0 ? [] : [
    `zo-taylor: the estimate is below its noise (SNR < 1: root mean square over rows of |mean| / standard error, net of noise, over the n k = ${p.estimates} estimates) in ${low.length} of ${snr.size} layers ` +
    `(${low.slice(0, 4).map(([name, s]) => `${name} ${s.toFixed(2)}`).join(', ')}${low.length > 4 ? ', ...' : ''}); ` +
    `its rows are ranked mostly by noise: raise spruft.importance.perturbations (now ${n}) or calibrationSets (now ${k}) (paper 4.2.2)`,
  ];
  return {
    rows: new Map([...p.rows].map(([name, v]) => [name, magnitude(v)])),
    columns: new Map([...p.columns].map(([name, v]) => [name, magnitude(v)])),
    snr,
    warnings,
  };
};
