/**
 * The paper's image claims, small but fair (issue 13; paper 5.2-5.3, 6.2, tables 5 and 6):
 * the pretrained MobileNetV2 of npm `nsfwjs` (ImageNet lineage, cut at `out_relu`, a new
 * 10-way head) on two tasks new to it, MNIST and Fashion-MNIST, with
 *
 *   spruft-taylor   SPruFT, 5% of the rows of every (non-depthwise) conv, Taylor importance
 *   spruft-random   the same rows budget, random rows (table 6's baseline)
 *   lora            LoRA on the same layers, its rank chosen so that its trainable
 *                   parameters are the closest to SPruFT's (alpha 16, dropout 0.1: 5.3)
 *   full            every weight
 *   head            the new classifier only
 *
 * Every method gets its own learning rate from a sweep (seed 0; the grid is extended once
 * at an edge), chosen on a validation half of the held-out images; the other half (the
 * test half) is what the tables report, over `--seeds` seeds at the chosen rate, with a
 * 95% t interval and a paired test of taylor vs random (same seed: same head init, same
 * batch order). Extra runs on MNIST (seed 0) isolate the main job's differences: the bias
 * rows (`trainBias`), the depthwise rows, LoRA's rank, the learning rate and the steps.
 *
 * One JSON per run under `--runs` (default docs/fidelity/runs): an interrupted experiment
 * keeps what it did and a rerun skips what exists. `--report` writes the tables into
 * docs/fidelity.md from whatever runs exist.
 *
 *   nice -n 10 npx tsx scripts/experiments/fidelity-image.ts --datasets mnist
 *   nice -n 10 npx tsx scripts/experiments/fidelity-image.ts --datasets fashion
 *   npx tsx scripts/experiments/fidelity-image.ts --report --write docs/fidelity.md
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { resolveRunConfig, type ImportanceMetric, type ResolvedRunConfig, type RunConfigFile } from '../../protocol/config';
import type { ClassificationMetrics, MethodName, QuantileSummary } from '../../protocol/results';
import { initBackend } from '../../runner/src/engine/backend';
import type { ImageExamples, TaskData } from '../../runner/src/engine/batches';
import { evaluateClassifier } from '../../runner/src/engine/evaluate';
import { attachMethod, detachMethod } from '../../runner/src/engine/methods';
import { Rng } from '../../runner/src/tensor/rng';
import { scoreRows } from '../../runner/src/engine/score';
import { loadTaskData } from '../../runner/src/engine/taskData';
import { trainLoop } from '../../runner/src/engine/train';
import { loadModel } from '../../runner/src/models/load';
import type { Model } from '../../runner/src/models/model';
import { replaceSection } from './docSections';
import { meanInterval, pairedTTest, signFlipTest } from './stats';

const { values } = parseArgs({
  options: {
    datasets: { type: 'string', default: 'mnist,fashion' },
    phases: { type: 'string', default: 'sweep,seeds,extras' },
    /** Sweep and seed only these variants (several processes can share the work: runs in progress are locked). */
    variants: { type: 'string', default: 'spruft-taylor,spruft-random,lora,full,head' },
    seeds: { type: 'string', default: '5' },
    epochs: { type: 'string', default: '3' },
    'train-limit': { type: 'string', default: '800' },
    'eval-limit': { type: 'string', default: '1000' },
    runs: { type: 'string', default: 'docs/fidelity/runs' },
    report: { type: 'boolean', default: false },
    write: { type: 'string' },
    quick: { type: 'boolean', default: false },
  },
});

const root = resolve(new URL('../..', import.meta.url).pathname);
const quick = values.quick!;
const runsDir = resolve(root, quick ? 'runs/fidelity-quick' : values.runs!);
const SEEDS = quick ? 2 : Number(values.seeds);
const EPOCHS = Number(values.epochs);
const TRAIN_LIMIT = quick ? 64 : Number(values['train-limit']);
const EVAL_LIMIT = quick ? 40 : Number(values['eval-limit']);
const BATCH = 32;
const RATIO = 0.05;

const DATASETS: Record<string, { title: string; data: Partial<RunConfigFile['data']> }> = {
  mnist: { title: 'MNIST digits (npm mnist)', data: { dataset: 'mnist' } },
  fashion: { title: 'Fashion-MNIST, 10 classes (Debian dataset-fashion-mnist)', data: { dataset: 'fashion-mnist' } },
};

type VariantKey = 'spruft-taylor' | 'spruft-random' | 'lora' | 'full' | 'head';
const VARIANTS: VariantKey[] = ['spruft-taylor', 'spruft-random', 'lora', 'full', 'head'];

/** Learning-rate grids; a sweep whose best rate is at an edge goes one step (x3) further, up to twice. */
const GRIDS: Record<VariantKey, number[]> = {
  'spruft-taylor': [3e-4, 1e-3, 3e-3],
  'spruft-random': [3e-4, 1e-3, 3e-3],
  lora: [3e-4, 1e-3, 3e-3],
  full: [3e-5, 1e-4, 3e-4],
  head: [1e-3, 3e-3, 1e-2],
};

/** One run: a variant at a rate and seed, plus the ablation switches of the extra runs. */
interface Spec {
  dataset: string;
  variant: VariantKey;
  lr: number;
  seed: number;
  epochs: number;
  /** SPruFT: also train the bias entries of the selected rows (the engine's old default). */
  trainBias?: boolean;
  /** Also adapt the depthwise convs (SPruFT only: LoRA cannot; the main job's old targets). */
  depthwise?: boolean;
  /** LoRA rank; default: matched to SPruFT's trainable parameters. */
  loraRank?: number;
  /** Linear warmup fraction (the main job's old 0.1). */
  warmup?: number;
  /** Which phase asked for it. */
  phase: string;
}

interface RunRecord extends Spec {
  key: string;
  trainableParams: number;
  percent: number;
  loraRankUsed?: number;
  val: { loss: number; accuracy: number };
  test: { loss: number; accuracy: number; perLabelStats: QuantileSummary; perLabel: Record<string, number> };
  steps: number;
  trainMs: number;
  scoreMs?: number;
  /** Training loss per step (the convergence curve). */
  lossCurve: number[];
  loadAverage: number;
  finishedAt: string;
}

const lrText = (lr: number) => lr.toExponential(0).replace('e-', 'e-');
function keyOf(s: Spec): string {
  const extra = [
    s.trainBias ? 'bias' : '', s.depthwise ? 'dw' : '', s.loraRank !== undefined ? `r${s.loraRank}` : '', s.warmup ? `wu${s.warmup}` : '',
  ].filter(Boolean).join('-');
  return `${s.dataset}__${s.variant}__lr${lrText(s.lr)}__s${s.seed}__e${s.epochs}${extra ? `__${extra}` : ''}`;
}

function runConfig(s: Spec, loraRank: number): ResolvedRunConfig {
  const method: MethodName = s.variant.startsWith('spruft') ? 'spruft' : (s.variant as MethodName);
  const metric: ImportanceMetric = s.variant === 'spruft-random' ? 'random' : 'taylor';
  const file: RunConfigFile = {
    model: { path: 'npm:nsfwjs/mobilenet_v2', cutAt: 'out_relu' },
    task: 'image-classification',
    data: { ...DATASETS[s.dataset].data, trainLimit: TRAIN_LIMIT, evalLimit: EVAL_LIMIT, image: { size: 32, channels: 3, normalize: 'minus-one' } } as RunConfigFile['data'],
    method,
    // LoRA adapts conv2d layers only; SPruFT the same ones unless `depthwise`.
    targets: { layerTypes: ['conv2d'], ...(s.depthwise ? {} : { exclude: ['*depthwise*'] }) },
    spruft: { ratio: RATIO, trainBias: s.trainBias ?? false, importance: { metric, calibrationBatches: 8, seed: s.seed } },
    lora: { rank: loraRank, alpha: 16, dropout: 0.1 },
    head: { train: true, replace: true },
    training: {
      optimizer: 'adam', lr: s.lr, schedule: 'cosine', minLr: 1e-9, warmup: s.warmup ?? 0, epochs: s.epochs, batchSize: BATCH, evalBatchSize: 250, seed: s.seed,
      ...(quick ? { maxSteps: 3 } : {}),
    },
    backend: 'wasm',
  } as RunConfigFile;
  return resolveRunConfig(file, { baseDir: root, resolvePath: (base, p) => resolve(base, p) });
}

/** The held-out images split in two halves (even / odd positions): validation picks rates, test is reported. */
function halves(ex: ImageExamples): { val: ImageExamples; test: ImageExamples } {
  const per = ex.shape[0] * ex.shape[1] * ex.shape[2];
  const pick = (parity: number): ImageExamples => {
    const idx = Array.from({ length: ex.n }, (_, i) => i).filter((i) => i % 2 === parity);
    const inputs = new Float32Array(idx.length * per);
    idx.forEach((i, k) => inputs.set(ex.inputs.subarray(i * per, (i + 1) * per), k * per));
    return { kind: 'images', n: idx.length, shape: ex.shape, inputs, labels: Int32Array.from(idx, (i) => ex.labels[i]) };
  };
  return { val: pick(0), test: pick(1) };
}

interface Prepared { model: Model; data: TaskData; val: ImageExamples; test: ImageExamples; loraRank: number }

const prepared = new Map<string, Prepared>();
async function prepare(dataset: string): Promise<Prepared> {
  const have = prepared.get(dataset);
  if (have) return have;
  const c = runConfig({ dataset, variant: 'head', lr: 1e-3, seed: 0, epochs: 1, phase: 'prepare' }, 8);
  const model = loadModel(c.model.path, { format: c.model.format, cutAt: c.model.cutAt, seed: 0 });
  const data = await loadTaskData(c, model);
  process.stderr.write(`${data.description}\n`);
  const { val, test } = halves(data.eval as ImageExamples);
  model.replaceHead(data.labelNames!.length, Rng.derive(0, 'head-init'));
  model.labelNames = data.labelNames;
  // LoRA's rank: the one whose trainable parameters come closest to SPruFT's (5% rows, no bias).
  const loraParams = (rank: number): number => {
    const cfg = runConfig({ dataset, variant: 'lora', lr: 1e-3, seed: 0, epochs: 1, phase: 'prepare' }, rank);
    const a = attachMethod(model, { method: 'lora', config: cfg, trainHead: true, seed: 0 });
    detachMethod(model);
    return a.trainableParams;
  };
  const scored = await scoreRows(model, runConfig({ dataset, variant: 'spruft-random', lr: 1e-3, seed: 0, epochs: 1, phase: 'prepare' }, 8), data.train);
  const spruftParams = scored.trainableParams + model.head!.weight.size + (model.head!.bias?.size ?? 0);
  let loraRank = 1;
  let best = Infinity;
  for (let r = 1; r <= 16; r++) {
    const d = Math.abs(loraParams(r) - spruftParams);
    if (d < best) { best = d; loraRank = r; }
  }
  process.stderr.write(`${dataset}: SPruFT ${spruftParams} trainable parameters; LoRA rank ${loraRank} gives ${loraParams(loraRank)}\n`);
  const p = { model, data, val, test, loraRank };
  prepared.set(dataset, p);
  return p;
}

const alive = (pid: number): boolean => {
  try { process.kill(pid, 0); return true; } catch { return false; }
};

/**
 * Run `s` unless its JSON exists; a run another process has locked (`<key>.lock` holding
 * its pid) is waited for, and taken over if that process is gone.
 */
async function run(s: Spec): Promise<RunRecord> {
  mkdirSync(runsDir, { recursive: true });
  const key = keyOf(s);
  const file = join(runsDir, `${key}.json`);
  const lock = join(runsDir, `${key}.lock`);
  for (;;) {
    if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as RunRecord;
    try {
      closeSync(openSync(lock, 'wx'));
      writeFileSync(lock, String(process.pid));
      break;
    } catch {
      const owner = Number(readFileSync(lock, 'utf8') || '0');
      if (owner && !alive(owner)) { rmSync(lock, { force: true }); continue; }
      await new Promise((r) => setTimeout(r, 10_000));
    }
  }
  try {
    return await runUnlocked(s, key, file);
  } finally {
    rmSync(lock, { force: true });
  }
}

async function runUnlocked(s: Spec, key: string, file: string): Promise<RunRecord> {
  const p = await prepare(s.dataset);
  const { model, data } = p;
  const loraRank = s.loraRank ?? p.loraRank;
  const c = runConfig(s, loraRank);
  const labels = data.labelNames!;
  // A new classifier, the same for every method of this seed (paper 5.2: backbone + new head).
  model.replaceHead(labels.length, Rng.derive(s.seed, 'head-init'));
  model.labelNames = labels;
  const method = c.method;
  let scoreMs: number | undefined;
  let selection;
  if (method === 'spruft') {
    const scored = await scoreRows(model, c, data.train);
    scoreMs = scored.ms;
    selection = scored.layers;
  }
  const attached = attachMethod(model, { method, config: c, selection, trainHead: true, seed: s.seed });
  try {
    const outcome = await trainLoop({ model, attached, train: data.train, config: c, runId: key, method });
    const evalOf = async (ex: ImageExamples) => await evaluateClassifier(model, ex, { batchSize: 250, labelNames: labels }) as ClassificationMetrics;
    const v = await evalOf(p.val);
    const t = await evalOf(p.test);
    const record: RunRecord = {
      ...s, key, trainableParams: attached.trainableParams, percent: attached.percent,
      ...(method === 'lora' ? { loraRankUsed: loraRank } : {}),
      val: { loss: v.loss, accuracy: v.accuracy },
      test: { loss: t.loss, accuracy: t.accuracy, perLabelStats: t.perLabelStats, perLabel: t.perLabel },
      steps: outcome.steps, trainMs: outcome.trainMs, scoreMs,
      lossCurve: outcome.lossCurve.map((e) => Number(e.loss.toFixed(5))),
      loadAverage: loadavg()[0], finishedAt: new Date().toISOString(),
    };
    writeFileSync(`${file}.tmp`, `${JSON.stringify(record)}\n`);
    renameSync(`${file}.tmp`, file);
    process.stderr.write(`${key}: val ${(100 * v.accuracy).toFixed(1)}% test ${(100 * t.accuracy).toFixed(1)}% (${outcome.steps} steps, ${((outcome.trainMs + (scoreMs ?? 0)) / 1000).toFixed(0)} s, load ${loadavg()[0].toFixed(1)})\n`);
    return record;
  } finally {
    detachMethod(model);
  }
}

/** Higher validation accuracy, then lower validation loss. */
const better = (a: RunRecord, b: RunRecord) => (a.val.accuracy !== b.val.accuracy ? a.val.accuracy > b.val.accuracy : a.val.loss < b.val.loss);

/** Seed-0 sweep over the grid, extended once past an edge that wins; returns the chosen rate. */
async function sweep(dataset: string, variant: VariantKey): Promise<number> {
  const grid = [...GRIDS[variant]];
  const results = new Map<number, RunRecord>();
  for (let round = 0; round < 3; round++) {
    for (const lr of grid) if (!results.has(lr)) results.set(lr, await run({ dataset, variant, lr, seed: 0, epochs: EPOCHS, phase: 'sweep' }));
    let best = grid[0];
    for (const lr of grid) if (better(results.get(lr)!, results.get(best)!)) best = lr;
    if (best === grid[0] && round < 2) grid.unshift(Number((grid[0] / 3).toPrecision(1)));
    else if (best === grid[grid.length - 1] && round < 2) grid.push(Number((grid[grid.length - 1] * 3).toPrecision(1)));
    else return best;
  }
  return [...results.values()].reduce((a, b) => (better(a, b) ? a : b)).lr;
}

/** The chosen rate of a variant from the runs on disk (the sweep's rule). */
function chosenRate(records: RunRecord[], dataset: string, variant: VariantKey): number | undefined {
  const rs = records.filter((r) => r.phase === 'sweep' && r.dataset === dataset && r.variant === variant);
  if (rs.length === 0) return undefined;
  return rs.reduce((a, b) => (better(a, b) ? a : b)).lr;
}

async function experiment(): Promise<void> {
  await initBackend('wasm');
  const phases = values.phases!.split(',');
  const mine = VARIANTS.filter((v) => values.variants!.split(',').includes(v));
  for (const dataset of values.datasets!.split(',')) {
    const rates = new Map<VariantKey, number>();
    if (phases.includes('sweep') || phases.includes('seeds')) {
      for (const v of mine) rates.set(v, await sweep(dataset, v));
      process.stderr.write(`${dataset}: rates ${JSON.stringify(Object.fromEntries(rates))}\n`);
    }
    if (phases.includes('seeds')) {
      for (let seed = 1; seed < SEEDS; seed++) {
        for (const v of mine) await run({ dataset, variant: v, lr: rates.get(v)!, seed, epochs: EPOCHS, phase: 'seeds' });
      }
    }
    if (phases.includes('extras') && dataset === 'mnist') {
      // The other processes' sweeps: waited for (locks), run here if nobody runs them.
      for (const v of ['spruft-taylor', 'lora'] as const) if (!rates.has(v)) rates.set(v, await sweep(dataset, v));
      const t = rates.get('spruft-taylor')!;
      // The main job's differences, one at a time, at SPruFT's chosen rate (seed 0).
      await run({ dataset, variant: 'spruft-taylor', lr: t, seed: 0, epochs: EPOCHS, trainBias: true, phase: 'extras' });
      await run({ dataset, variant: 'spruft-taylor', lr: t, seed: 0, epochs: EPOCHS, depthwise: true, phase: 'extras' });
      await run({ dataset, variant: 'lora', lr: rates.get('lora')!, seed: 0, epochs: EPOCHS, loraRank: 8, phase: 'extras' });
      // Twice the steps at SPruFT's and LoRA's chosen rates: have they converged? (Full's doubled run did not fit the budget.)
      await run({ dataset, variant: 'spruft-taylor', lr: rates.get('spruft-taylor')!, seed: 0, epochs: 2 * EPOCHS, phase: 'extras' });
      await run({ dataset, variant: 'lora', lr: rates.get('lora')!, seed: 0, epochs: 2 * EPOCHS, phase: 'extras' });
    }
  }
  for (const p of prepared.values()) p.model.dispose();
}

// ---------------------------------------------------------------- report

const pct = (x: number) => (100 * x).toFixed(1);
const LABEL: Record<VariantKey, string> = {
  'spruft-taylor': 'SPruFT taylor', 'spruft-random': 'SPruFT random', lora: 'LoRA', full: 'full', head: 'head only',
};

function loadRecords(): RunRecord[] {
  if (!existsSync(runsDir)) return [];
  return readdirSync(runsDir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(runsDir, f), 'utf8')) as RunRecord);
}

const plain = (r: RunRecord) => !r.trainBias && !r.depthwise && r.loraRank === undefined && !r.warmup;

/** Mean training loss over the last `k` steps ending at `end` (1-based, inclusive). */
function windowLoss(curve: number[], end: number, k = 8): number {
  const xs = curve.slice(Math.max(0, end - k), end);
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function sweepTable(records: RunRecord[], dataset: string): string {
  const lines = ['| method | lr | val accuracy (%) | val loss | test accuracy (%) | train loss (last 8 steps) | steps |', '|---|---:|---:|---:|---:|---:|---:|'];
  for (const v of VARIANTS) {
    const rs = records.filter((r) => r.phase === 'sweep' && r.dataset === dataset && r.variant === v).sort((a, b) => a.lr - b.lr);
    const chosen = chosenRate(records, dataset, v);
    for (const r of rs) {
      lines.push(`| ${LABEL[v]} | ${r.lr}${r.lr === chosen ? ' (chosen)' : ''} | ${pct(r.val.accuracy)} | ${r.val.loss.toFixed(3)} | ${pct(r.test.accuracy)} | ${windowLoss(r.lossCurve, r.lossCurve.length).toFixed(3)} | ${r.steps} |`);
    }
  }
  return lines.join('\n');
}

function seedsAt(records: RunRecord[], dataset: string, v: VariantKey): RunRecord[] {
  const lr = chosenRate(records, dataset, v);
  return records.filter((r) => r.dataset === dataset && r.variant === v && r.lr === lr && r.epochs === EPOCHS && plain(r)).sort((a, b) => a.seed - b.seed);
}

function resultTable(records: RunRecord[], dataset: string): string {
  const lines = [
    '| method | lr | trainable params (%) | seeds | test accuracy (%), mean [95% CI] | worst label (%) | median label (%) | test loss |',
    '|---|---:|---:|---:|---|---:|---:|---:|',
  ];
  for (const v of VARIANTS) {
    const rs = seedsAt(records, dataset, v);
    if (rs.length === 0) continue;
    const acc = meanInterval(rs.map((r) => 100 * r.test.accuracy));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    lines.push(`| ${LABEL[v]}${v === 'lora' ? ` r=${rs[0].loraRankUsed}` : ''} | ${rs[0].lr} | ${rs[0].trainableParams.toLocaleString('en')} (${rs[0].percent.toFixed(2)}%) | ${rs.length} | ` +
      `${acc.mean.toFixed(1)} [${acc.low.toFixed(1)}, ${acc.high.toFixed(1)}] | ${pct(mean(rs.map((r) => r.test.perLabelStats.min)))} | ${pct(mean(rs.map((r) => r.test.perLabelStats.median)))} | ${mean(rs.map((r) => r.test.loss)).toFixed(3)} |`);
  }
  return lines.join('\n');
}

function pairedLine(records: RunRecord[], dataset: string, a: VariantKey, b: VariantKey): string {
  const ra = seedsAt(records, dataset, a);
  const rb = new Map(seedsAt(records, dataset, b).map((r) => [r.seed, r]));
  const d = ra.filter((r) => rb.has(r.seed)).map((r) => 100 * (r.test.accuracy - rb.get(r.seed)!.test.accuracy));
  if (d.length < 2) return `${LABEL[a]} - ${LABEL[b]}: fewer than 2 paired seeds.`;
  const t = pairedTTest(d);
  const ci = meanInterval(d);
  return `${LABEL[a]} - ${LABEL[b]} (paired by seed, n = ${d.length}): mean difference ${ci.mean.toFixed(2)} points, 95% CI [${ci.low.toFixed(2)}, ${ci.high.toFixed(2)}]; ` +
    `paired t = ${t.t.toFixed(2)}, two-sided p = ${t.p.toFixed(3)}; exact sign-flip p = ${signFlipTest(d).toFixed(3)}; per seed: ${d.map((x) => x.toFixed(1)).join(', ')}.`;
}

function extrasTable(records: RunRecord[]): string {
  const rs = records.filter((r) => r.dataset === 'mnist' && r.seed === 0 && (r.phase === 'extras' || (r.phase === 'sweep' && r.lr === chosenRate(records, 'mnist', r.variant))));
  const describe = (r: RunRecord) => [
    LABEL[r.variant], r.variant === 'lora' ? `r=${r.loraRankUsed}` : '', r.trainBias ? '+ bias rows' : '', r.depthwise ? '+ depthwise rows' : '',
    r.warmup ? `warmup ${r.warmup}` : '',
  ].filter(Boolean).join(' ');
  const lines = ['| run (MNIST, seed 0) | lr | epochs (steps) | trainable params | val acc (%) | test acc (%) | test loss | train loss, last 8 steps at half / end |', '|---|---:|---:|---:|---:|---:|---:|---|'];
  const order = (r: RunRecord) => VARIANTS.indexOf(r.variant) * 1000 + (r.phase === 'sweep' ? 0 : 1) * 100 + r.epochs;
  for (const r of rs.sort((a, b) => order(a) - order(b))) {
    const half = Math.floor(r.lossCurve.length / 2);
    lines.push(`| ${describe(r)}${r.phase === 'sweep' ? ' (chosen)' : ''} | ${r.lr} | ${r.epochs} (${r.steps}) | ${r.trainableParams.toLocaleString('en')} | ${pct(r.val.accuracy)} | ${pct(r.test.accuracy)} | ${r.test.loss.toFixed(3)} | ${windowLoss(r.lossCurve, half).toFixed(3)} / ${windowLoss(r.lossCurve, r.lossCurve.length).toFixed(3)} |`);
  }
  return lines.join('\n');
}

/** Training-loss curves (moving mean over 8 steps) of the chosen runs, seed 0, as an SVG. */
function curvesSvg(records: RunRecord[], dataset: string): string {
  const series = VARIANTS.map((v) => ({ v, r: records.find((r) => r.dataset === dataset && r.variant === v && r.seed === 0 && plain(r) && r.epochs === 2 * EPOCHS && r.lr === chosenRate(records, dataset, v))
    ?? records.find((r) => r.phase === 'sweep' && r.dataset === dataset && r.variant === v && r.lr === chosenRate(records, dataset, v)) }))
    .filter((s): s is { v: VariantKey; r: RunRecord } => s.r !== undefined);
  const W = 640; const H = 360; const L = 50; const B = 40;
  const maxStep = Math.max(1, ...series.map((s) => s.r.lossCurve.length));
  const smooth = (c: number[]) => c.map((_, i) => windowLoss(c, i + 1));
  const maxLoss = Math.max(0.1, ...series.flatMap((s) => smooth(s.r.lossCurve)));
  const x = (i: number) => L + ((W - L - 10) * i) / maxStep;
  const y = (l: number) => H - B - ((H - B - 10) * l) / maxLoss;
  const colors = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd'];
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - 10}" y2="${H - B}" stroke="black"/><line x1="${L}" y1="10" x2="${L}" y2="${H - B}" stroke="black"/>`,
    `<text x="${W / 2}" y="${H - 8}" text-anchor="middle">optimizer step</text>`,
    `<text x="12" y="${H / 2}" transform="rotate(-90 12 ${H / 2})" text-anchor="middle">training loss (mean of 8 steps)</text>`,
    `<text x="${L}" y="${H - B + 14}" text-anchor="middle">0</text><text x="${x(maxStep)}" y="${H - B + 14}" text-anchor="middle">${maxStep}</text>`,
    `<text x="${L - 4}" y="${y(maxLoss) + 4}" text-anchor="end">${maxLoss.toFixed(2)}</text><text x="${L - 4}" y="${y(0) + 4}" text-anchor="end">0</text>`];
  series.forEach((s, k) => {
    const pts = smooth(s.r.lossCurve).map((l, i) => `${x(i + 1).toFixed(1)},${y(l).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${colors[k]}" stroke-width="1.5" points="${pts}"/>`);
    parts.push(`<text x="${W - 200}" y="${20 + 14 * k}" fill="${colors[k]}">${LABEL[s.v]} (lr ${s.r.lr}, ${s.r.epochs} epochs)</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

function report(): void {
  const records = loadRecords();
  const sections: Array<[string, string]> = [];
  const datasets = Object.keys(DATASETS).filter((d) => records.some((r) => r.dataset === d));
  const first = records.map((r) => r.finishedAt).sort()[0];
  const last = records.map((r) => r.finishedAt).sort().at(-1);
  const loads = records.map((r) => r.loadAverage);
  const settings = `Generated by \`npx tsx scripts/experiments/fidelity-image.ts --report --write docs/fidelity.md\` from ${records.length} runs in \`docs/fidelity/runs/\` ` +
    `(run between ${first} and ${last}; 1-minute load average ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)} on ${cpus().length} cores). ` +
    `MobileNetV2 (npm nsfwjs, cut at out_relu, new 10-way head), 32x32 inputs in [-1, 1]; ${TRAIN_LIMIT} balanced training images, ` +
    `${EVAL_LIMIT} held-out images split into a validation half (rates are chosen on it) and a test half (reported); ` +
    `Adam, batch ${BATCH}, cosine decay to 1e-9, no warmup (paper 5.3), ${EPOCHS} epochs unless said. SPruFT: ${RATIO * 100}% of the rows of every conv but the depthwise ones, no bias rows; ` +
    'LoRA on the same convs, rank matched to SPruFT\'s trainable parameters, alpha 16, dropout 0.1; every method trains the new head.';
  sections.push(['fidelity-image-settings', settings]);
  for (const d of datasets) {
    sections.push([`fidelity-sweep-${d}`, `#### ${DATASETS[d].title}: learning-rate sweep (seed 0)\n\n${sweepTable(records, d)}`]);
    const pairs = [pairedLine(records, d, 'spruft-taylor', 'spruft-random'), pairedLine(records, d, 'spruft-taylor', 'lora'), pairedLine(records, d, 'spruft-taylor', 'full')];
    sections.push([`fidelity-result-${d}`, `#### ${DATASETS[d].title}: each method at its chosen rate\n\n${resultTable(records, d)}\n\n${pairs.map((p) => `* ${p}`).join('\n')}`]);
    const svgPath = join(root, `docs/fidelity/curves-${d}.svg`);
    mkdirSync(join(root, 'docs/fidelity'), { recursive: true });
    writeFileSync(svgPath, `${curvesSvg(records, d)}\n`);
  }
  sections.push(['fidelity-extras', extrasTable(records)]);
  const text = sections.map(([name, body]) => `<!-- ${name} -->\n${body}`).join('\n\n');
  if (values.write) {
    const path = resolve(values.write);
    let doc = existsSync(path) ? readFileSync(path, 'utf8') : '';
    for (const [name, body] of sections) doc = replaceSection(doc, name, body);
    writeFileSync(path, doc);
  } else {
    process.stdout.write(`${text}\n`);
  }
}

if (values.report) {
  report();
} else {
  experiment().catch((err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
