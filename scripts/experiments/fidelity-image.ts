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
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { resolveRunConfig, type ImportanceMetric, type ResolvedRunConfig, type RunConfigFile } from '../../protocol/config';
import type { MethodName } from '../../protocol/results';
import { initBackend } from '../../runner/src/engine/backend';
import type { ImageExamples, TaskData } from '../../runner/src/engine/batches';
import { Rng } from '../../runner/src/tensor/rng';
import { loadTaskData } from '../../runner/src/engine/taskData';
import { loadModel } from '../../runner/src/models/load';
import type { Model } from '../../runner/src/models/model';
import {
  alternateHalves, type BaseRecord, type BaseSpec, chosenRate, classifierRun, curvesSvg, loadRecords, lockedRun, lrText, matchedLoraRank, pairedLine, pct, type ReportShape,
  better, inPhase, resultTable, runWindow, sweepRates, sweepTable, windowLoss, writeSections,
} from './fidelity-common';

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
    /**
     * Phase `finer`: `dataset:variant:lr,...`, each the chosen rate of a x3 sweep; runs
     * lr / sqrt(3), lr and lr * sqrt(3) at seed 0 (a sqrt(3) grid around the optimum; lr
     * again, to check that it reproduces), then `--seeds` seeds at the best of the three.
     */
    finer: { type: 'string', default: '' },
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
interface Spec extends BaseSpec {
  variant: VariantKey;
  /** SPruFT: also train the bias entries of the selected rows (the engine's old default). */
  trainBias?: boolean;
  /** Also adapt the depthwise convs (SPruFT only: LoRA cannot; the main job's old targets). */
  depthwise?: boolean;
  /** LoRA rank; default: matched to SPruFT's trainable parameters. */
  loraRank?: number;
  /** Linear warmup fraction (the main job's old 0.1). */
  warmup?: number;
}

type RunRecord = BaseRecord & Spec;

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
  const pick = (idx: number[]): ImageExamples => {
    const inputs = new Float32Array(idx.length * per);
    idx.forEach((i, k) => inputs.set(ex.inputs.subarray(i * per, (i + 1) * per), k * per));
    return { kind: 'images', n: idx.length, shape: ex.shape, inputs, labels: Int32Array.from(idx, (i) => ex.labels[i]) };
  };
  const { val, test } = alternateHalves(ex.n);
  return { val: pick(val), test: pick(test) };
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
  const base = { dataset, lr: 1e-3, seed: 0, epochs: 1, phase: 'prepare' };
  const m = await matchedLoraRank(model, data.train, {
    spruft: runConfig({ ...base, variant: 'spruft-random' }, 8), lora: (rank) => runConfig({ ...base, variant: 'lora' }, rank),
  });
  process.stderr.write(`${dataset}: SPruFT ${m.spruftParams} trainable parameters; LoRA rank ${m.rank} gives ${m.loraParams}\n`);
  const p = { model, data, val, test, loraRank: m.rank };
  prepared.set(dataset, p);
  return p;
}

/** Run `s` unless its JSON exists (runs another process holds are waited for: fidelity-common's lockedRun). */
async function run(s: Spec): Promise<RunRecord> {
  const key = keyOf(s);
  return lockedRun<RunRecord>(runsDir, key, s.phase, () => runUnlocked(s, key));
}

async function runUnlocked(s: Spec, key: string): Promise<Omit<RunRecord, 'phases'>> {
  const p = await prepare(s.dataset);
  const loraRank = s.loraRank ?? p.loraRank;
  const r = await classifierRun(p.model, p.data, p, runConfig(s, loraRank), { seed: s.seed, key, evalBatch: 250, loraRank });
  const { valMetrics: _v, testMetrics: _t, ...common } = r;
  return { ...s, ...common };
}

/** Seed-0 sweep over the grid, extended up to twice past an edge that wins; returns the chosen rate. */
const sweep = (dataset: string, variant: VariantKey): Promise<number> =>
  sweepRates(GRIDS[variant], (lr) => run({ dataset, variant, lr, seed: 0, epochs: EPOCHS, phase: 'sweep' }));

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
    if (phases.includes('finer')) {
      const chosen: Array<[VariantKey, number]> = [];
      for (const item of values.finer!.split(',').filter(Boolean)) {
        const [d, v, lr] = item.split(':');
        if (d !== dataset) continue;
        if (!VARIANTS.includes(v as VariantKey) || !(Number(lr) > 0)) throw new Error(`--finer: "${item}" is not dataset:variant:lr with a variant of ${VARIANTS.join(', ')}`);
        const grid = [1 / Math.sqrt(3), 1, Math.sqrt(3)].map((f) => Number((Number(lr) * f).toPrecision(2)));
        const rs = [];
        for (const x of grid) rs.push(await run({ dataset, variant: v as VariantKey, lr: x, seed: 0, epochs: EPOCHS, phase: 'finer' }));
        chosen.push([v as VariantKey, rs.reduce((a, b) => (better(a, b) ? a : b)).lr]);
      }
      for (let seed = 1; seed < SEEDS; seed++) {
        for (const [v, lr] of chosen) await run({ dataset, variant: v, lr, seed, epochs: EPOCHS, phase: 'finer' });
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

const LABEL: Record<VariantKey, string> = {
  'spruft-taylor': 'SPruFT taylor', 'spruft-random': 'SPruFT random', lora: 'LoRA', full: 'full', head: 'head only',
};

const plain = (r: RunRecord) => !r.trainBias && !r.depthwise && r.loraRank === undefined && !r.warmup;

const SHAPE: ReportShape<RunRecord> = {
  variants: VARIANTS,
  label: (v, r) => `${LABEL[v as VariantKey]}${v === 'lora' && r ? ` r=${r.loraRankUsed}` : ''}`,
  plain,
  epochs: EPOCHS,
};

function extrasTable(records: RunRecord[]): string {
  const rs = records.filter((r) => r.dataset === 'mnist' && r.seed === 0 && (inPhase(r, 'extras') || (inPhase(r, 'sweep') && r.lr === chosenRate(records, 'mnist', r.variant))));
  const describe = (r: RunRecord) => [
    LABEL[r.variant], r.variant === 'lora' ? `r=${r.loraRankUsed}` : '', r.trainBias ? '+ bias rows' : '', r.depthwise ? '+ depthwise rows' : '',
    r.warmup ? `warmup ${r.warmup}` : '',
  ].filter(Boolean).join(' ');
  const lines = ['| run (MNIST, seed 0) | lr | epochs (steps) | trainable params | val acc (%) | test acc (%) | test loss | train loss, last 8 steps at half / end |', '|---|---:|---:|---:|---:|---:|---:|---|'];
  const order = (r: RunRecord) => VARIANTS.indexOf(r.variant) * 1000 + (inPhase(r, 'sweep') ? 0 : 1) * 100 + r.epochs;
  for (const r of rs.sort((a, b) => order(a) - order(b))) {
    const half = Math.floor(r.lossCurve.length / 2);
    lines.push(`| ${describe(r)}${inPhase(r, 'sweep') ? ' (chosen)' : ''} | ${r.lr} | ${r.epochs} (${r.steps}) | ${r.trainableParams.toLocaleString('en')} | ${pct(r.val.accuracy)} | ${pct(r.test.accuracy)} | ${r.test.loss.toFixed(3)} | ${windowLoss(r.lossCurve, half).toFixed(3)} / ${windowLoss(r.lossCurve, r.lossCurve.length).toFixed(3)} |`);
  }
  return lines.join('\n');
}

/** Training-loss curves of the chosen runs, seed 0 (at twice the epochs where that run exists), as an SVG. */
function curves(records: RunRecord[], dataset: string): string {
  const series = VARIANTS.map((v) => ({ v, r: records.find((r) => r.dataset === dataset && r.variant === v && r.seed === 0 && plain(r) && r.epochs === 2 * EPOCHS && r.lr === chosenRate(records, dataset, v))
    ?? records.find((r) => inPhase(r, 'sweep') && r.dataset === dataset && r.variant === v && r.lr === chosenRate(records, dataset, v)) }))
    .filter((s): s is { v: VariantKey; r: RunRecord } => s.r !== undefined);
  return curvesSvg(series.map((s) => ({ label: `${LABEL[s.v]} (lr ${s.r.lr}, ${s.r.epochs} epochs)`, curve: s.r.lossCurve })));
}

/**
 * The finer grid's runs seen as a sweep (seed 0) and its seeds, so that the sweep and result
 * tables and the paired test read them with the main protocol's rule for the chosen rate.
 */
const finerView = (records: RunRecord[]): RunRecord[] =>
  records.filter((r) => inPhase(r, 'finer')).map((r) => ({ ...r, phases: [r.seed === 0 ? 'sweep' : 'seeds'] }));

function finerSection(records: RunRecord[]): string {
  const view = finerView(records);
  const parts = [
    `Generated by \`npx tsx scripts/experiments/fidelity-image.ts --report --write docs/fidelity.md\` from the ${view.length} \`finer\` runs in \`docs/fidelity/runs/\` (${runWindow(view, cpus().length)}); ` +
    'made by `--phases finer --finer dataset:variant:lr,...`: lr / sqrt(3), lr and lr * sqrt(3) around the chosen rate lr of the x3 sweep at seed 0, the best of the three on the validation half chosen, then seeds 1-4 at it; the settings above.',
  ];
  for (const d of Object.keys(DATASETS).filter((x) => view.some((r) => r.dataset === x))) {
    const shape: ReportShape<RunRecord> = { ...SHAPE, variants: VARIANTS.filter((v) => view.some((r) => r.dataset === d && r.variant === v)) };
    parts.push(`#### ${DATASETS[d].title}: the sqrt(3) grid (seed 0)\n\n${sweepTable(view, d, shape)}`);
    parts.push(`#### ${DATASETS[d].title}: at the rates chosen on the sqrt(3) grid\n\n${resultTable(view, d, shape)}`);
    const against = (['spruft-random', 'lora', 'full'] as const).filter((v) => shape.variants.includes('spruft-taylor') && shape.variants.includes(v));
    if (against.length) parts.push(against.map((v) => `* ${pairedLine(view, d, 'spruft-taylor', v, shape)}`).join('\n'));
  }
  return parts.join('\n\n');
}

function report(): void {
  // The folder also holds other experiments' runs (fidelity-text.ts): this one's datasets only.
  const records = loadRecords<RunRecord>(runsDir).filter((r) => r.dataset in DATASETS);
  if (records.length === 0) {
    // The tables in docs/fidelity.md stay as they are rather than being emptied.
    process.stderr.write(`fidelity-image: no runs in ${runsDir}: nothing to report (run the experiment first)\n`);
    process.exit(1);
  }
  const sections: Array<[string, string]> = [];
  // A section is written only from runs of its own phase, so that a partial set of runs
  // (e.g. only the finer grid) leaves the other tables as they are.
  const datasets = Object.keys(DATASETS).filter((d) => records.some((r) => r.dataset === d && inPhase(r, 'sweep')));
  const sweeps = records.filter((r) => ['sweep', 'seeds', 'extras'].some((p) => inPhase(r, p)));
  const settings = `Generated by \`npx tsx scripts/experiments/fidelity-image.ts --report --write docs/fidelity.md\` from ${records.length} runs in \`docs/fidelity/runs/\` ` +
    `(${runWindow(sweeps, cpus().length)}). ` +
    `MobileNetV2 (npm nsfwjs, cut at out_relu, new 10-way head), 32x32 inputs in [-1, 1]; ${TRAIN_LIMIT} balanced training images, ` +
    `${EVAL_LIMIT} held-out images split into a validation half (rates are chosen on it) and a test half (reported); ` +
    `Adam, batch ${BATCH}, cosine decay to 1e-9, no warmup (paper 5.3), ${EPOCHS} epochs unless said. SPruFT: ${RATIO * 100}% of the rows of every conv but the depthwise ones, no bias rows; ` +
    'LoRA on the same convs, rank matched to SPruFT\'s trainable parameters, alpha 16, dropout 0.1; every method trains the new head.';
  if (sweeps.length > 0) sections.push(['fidelity-image-settings', settings]);
  for (const d of datasets) {
    sections.push([`fidelity-sweep-${d}`, `#### ${DATASETS[d].title}: learning-rate sweep (seed 0)\n\n${sweepTable(records, d, SHAPE)}`]);
    const pairs = (['spruft-random', 'lora', 'full'] as const).map((b) => pairedLine(records, d, 'spruft-taylor', b, SHAPE));
    sections.push([`fidelity-result-${d}`, `#### ${DATASETS[d].title}: each method at its chosen rate\n\n${resultTable(records, d, SHAPE)}\n\n${pairs.map((p) => `* ${p}`).join('\n')}`]);
    mkdirSync(join(root, 'docs/fidelity'), { recursive: true });
    writeFileSync(join(root, `docs/fidelity/curves-${d}.svg`), `${curves(records, d)}\n`);
  }
  if (records.some((r) => inPhase(r, 'extras'))) sections.push(['fidelity-extras', extrasTable(records)]);
  if (records.some((r) => inPhase(r, 'finer'))) sections.push(['fidelity-image-finer', finerSection(records)]);
  writeSections(values.write, sections);
}

if (values.report) {
  report();
} else {
  experiment().catch((err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
