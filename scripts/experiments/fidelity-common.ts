/**
 * What the fidelity experiments (fidelity-image.ts, fidelity-text.ts; issue 13) share: one
 * JSON per run with locks so that several processes can share the work, the per-method
 * learning-rate sweep and its rule for the chosen rate, and the report's tables (sweep,
 * mean with a 95% t interval per method, paired tests by seed) and loss-curve SVG.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadavg } from 'node:os';
import type { ResolvedRunConfig } from '../../protocol/config';
import type { ClassificationMetrics, QuantileSummary } from '../../protocol/results';
import type { Examples, TaskData } from '../../runner/src/engine/batches';
import { evaluateClassifier } from '../../runner/src/engine/evaluate';
import { attachMethod, detachMethod } from '../../runner/src/engine/methods';
import { scoreRows } from '../../runner/src/engine/score';
import { trainLoop } from '../../runner/src/engine/train';
import type { Model } from '../../runner/src/models/model';
import { Rng } from '../../runner/src/tensor/rng';
import { replaceSection } from './docSections';
import { meanInterval, pairedTTest, signFlipTest } from './stats';

/** What every run is: a variant (method and options) at a rate and seed, for a dataset. */
export interface BaseSpec {
  dataset: string;
  variant: string;
  lr: number;
  seed: number;
  epochs: number;
  /** Which phase asks for it (sweep, seeds, extras, ...). */
  phase: string;
}

export interface BaseRecord extends BaseSpec {
  /**
   * Every phase that asked for this run: one run (a spec) can serve several, e.g. a sweep's
   * rate that is also the centre of a finer grid. `phase` is the one that ran it. The
   * report reads membership from here (`inPhase`).
   */
  phases: string[];
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

/**
 * One run of a classifier experiment, as the paper runs it (5.2: backbone plus a new head):
 * a new head for the seed (the same for every method), rows scored for spruft, the method
 * attached, trained, evaluated on the validation and test halves, and detached again so
 * that the next run starts from the same backbone. Returns the record's common fields.
 */
export async function classifierRun(
  model: Model, data: TaskData, halves: { val: Examples; test: Examples }, c: ResolvedRunConfig,
  o: { seed: number; key: string; evalBatch: number; loraRank: number },
): Promise<Omit<BaseRecord, keyof BaseSpec | 'phases'> & { valMetrics: ClassificationMetrics; testMetrics: ClassificationMetrics }> {
  const labels = data.labelNames!;
  model.replaceHead(labels.length, Rng.derive(o.seed, 'head-init'));
  model.labelNames = labels;
  const method = c.method;
  let scoreMs: number | undefined;
  let selection;
  if (method === 'spruft') {
    const scored = await scoreRows(model, c, data.train);
    scoreMs = scored.ms;
    selection = scored.layers;
  }
  const attached = attachMethod(model, { method, config: c, selection, trainHead: true, seed: o.seed });
  try {
    const outcome = await trainLoop({ model, attached, train: data.train, config: c, runId: o.key, method });
    const evalOf = async (ex: Examples) => await evaluateClassifier(model, ex, { batchSize: o.evalBatch, labelNames: labels }) as ClassificationMetrics;
    const v = await evalOf(halves.val);
    const t = await evalOf(halves.test);
    process.stderr.write(`${o.key}: val ${pct(v.accuracy)}% test ${pct(t.accuracy)}% (${outcome.steps} steps, ${((outcome.trainMs + (scoreMs ?? 0)) / 1000).toFixed(0)} s, load ${loadavg()[0].toFixed(1)})\n`);
    return {
      key: o.key, trainableParams: attached.trainableParams, percent: attached.percent,
      ...(method === 'lora' ? { loraRankUsed: o.loraRank } : {}),
      val: { loss: v.loss, accuracy: v.accuracy },
      test: { loss: t.loss, accuracy: t.accuracy, perLabelStats: t.perLabelStats, perLabel: t.perLabel },
      steps: outcome.steps, trainMs: outcome.trainMs, scoreMs,
      lossCurve: outcome.lossCurve.map((e) => Number(e.loss.toFixed(5))),
      loadAverage: loadavg()[0], finishedAt: new Date().toISOString(),
      valMetrics: v, testMetrics: t,
    };
  } finally {
    detachMethod(model);
  }
}

/** Whether phase `p` asked for run `r`. */
export const inPhase = (r: BaseRecord, p: string): boolean => r.phases.includes(p);

/** A record as read from disk: files made before `phases` existed list only the phase that ran them. */
const normalized = <R extends BaseRecord>(r: R): R => (Array.isArray(r.phases) ? r : { ...r, phases: [r.phase] });

const writeWhole = (file: string, record: unknown): void => {
  writeFileSync(`${file}.tmp`, `${JSON.stringify(record)}\n`);
  renameSync(`${file}.tmp`, file);
};

/**
 * LoRA's rank (1..16) whose trainable parameters come closest to SPruFT's: the rows of
 * `spruft` (scored once; no bias), with the head both train. The comparison at matched
 * parameters of the paper's tables 3-4.
 */
export async function matchedLoraRank(
  model: Model, train: Examples, configs: { spruft: ResolvedRunConfig; lora: (rank: number) => ResolvedRunConfig },
): Promise<{ rank: number; spruftParams: number; loraParams: number }> {
  const loraParams = (rank: number): number => {
    const a = attachMethod(model, { method: 'lora', config: configs.lora(rank), trainHead: true, seed: 0 });
    detachMethod(model);
    return a.trainableParams;
  };
  const scored = await scoreRows(model, configs.spruft, train);
  const spruftParams = scored.trainableParams + model.head!.weight.size + (model.head!.bias?.size ?? 0);
  let rank = 1;
  let best = Infinity;
  for (let r = 1; r <= 16; r++) {
    const d = Math.abs(loraParams(r) - spruftParams);
    if (d < best) { best = d; rank = r; }
  }
  return { rank, spruftParams, loraParams: loraParams(rank) };
}

const alive = (pid: number): boolean => {
  try { process.kill(pid, 0); return true; } catch { return false; }
};

/**
 * The record in `<runsDir>/<key>.json`, made by `body` unless it exists (an existing one
 * gets `phase` added to its `phases`); a run another process has locked (`<key>.lock`
 * holding its pid) is waited for, and taken over if that process is gone. The JSON is
 * written whole (temporary file, then rename).
 */
export async function lockedRun<R extends BaseRecord>(runsDir: string, key: string, phase: string, body: () => Promise<Omit<R, 'phases'>>): Promise<R> {
  mkdirSync(runsDir, { recursive: true });
  const file = join(runsDir, `${key}.json`);
  const lock = join(runsDir, `${key}.lock`);
  for (;;) {
    if (existsSync(file)) {
      const r = normalized(JSON.parse(readFileSync(file, 'utf8')) as R);
      if (inPhase(r, phase)) return r;
      const joined = { ...r, phases: [...r.phases, phase] };
      writeWhole(file, joined);
      return joined;
    }
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
    const record = { ...await body(), phases: [phase] } as R;
    writeWhole(file, record);
    return record;
  } finally {
    rmSync(lock, { force: true });
  }
}

/** Higher validation accuracy, then lower validation loss. */
export const better = (a: BaseRecord, b: BaseRecord): boolean =>
  (a.val.accuracy !== b.val.accuracy ? a.val.accuracy > b.val.accuracy : a.val.loss < b.val.loss);

/**
 * Seed-0 sweep over `grid` (ascending, a factor of 3 apart), extended one step (x3) past an
 * edge that wins, at most `extensions` times; returns the chosen rate.
 */
export async function sweepRates(grid0: number[], runAt: (lr: number) => Promise<BaseRecord>, extensions = 2): Promise<number> {
  const grid = [...grid0];
  const results = new Map<number, BaseRecord>();
  for (let round = 0; round <= extensions; round++) {
    for (const lr of grid) if (!results.has(lr)) results.set(lr, await runAt(lr));
    let best = grid[0];
    for (const lr of grid) if (better(results.get(lr)!, results.get(best)!)) best = lr;
    if (best === grid[0] && round < extensions) grid.unshift(Number((grid[0] / 3).toPrecision(1)));
    else if (best === grid[grid.length - 1] && round < extensions) grid.push(Number((grid[grid.length - 1] * 3).toPrecision(1)));
    else return best;
  }
  return [...results.values()].reduce((a, b) => (better(a, b) ? a : b)).lr;
}

/** The chosen rate of a variant from the sweep runs on disk (the sweep's rule). */
export function chosenRate(records: BaseRecord[], dataset: string, variant: string): number | undefined {
  const rs = records.filter((r) => inPhase(r, 'sweep') && r.dataset === dataset && r.variant === variant);
  if (rs.length === 0) return undefined;
  return rs.reduce((a, b) => (better(a, b) ? a : b)).lr;
}

/**
 * Whether a sweep is conclusive: its chosen rate has a tried rate on both sides. A rate
 * at the edge of what was tried may not be the best one.
 */
export function sweepEdge(records: BaseRecord[], dataset: string, variant: string): 'low' | 'high' | undefined {
  const lrs = records.filter((r) => inPhase(r, 'sweep') && r.dataset === dataset && r.variant === variant).map((r) => r.lr);
  const chosen = chosenRate(records, dataset, variant);
  if (chosen === undefined) return undefined;
  if (chosen === Math.min(...lrs)) return 'low';
  if (chosen === Math.max(...lrs)) return 'high';
  return undefined;
}

export function loadRecords<R extends BaseRecord>(runsDir: string): R[] {
  if (!existsSync(runsDir)) return [];
  return readdirSync(runsDir).filter((f) => f.endsWith('.json')).map((f) => normalized(JSON.parse(readFileSync(join(runsDir, f), 'utf8')) as R));
}

export const pct = (x: number): string => (100 * x).toFixed(1);
/** A rate in a run's file name: one significant digit where that is exact (1e-3, 3e-4), else two (1.7e-3). */
export const lrText = (lr: number): string => (Number(lr.toExponential(0)) === lr ? lr.toExponential(0) : lr.toExponential(1));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Mean training loss over the last `k` steps ending at `end` (1-based, inclusive). */
export function windowLoss(curve: number[], end: number, k = 8): number {
  const xs = curve.slice(Math.max(0, end - k), end);
  return mean(xs);
}

/** How a report names and filters one experiment's runs. */
export interface ReportShape<R extends BaseRecord> {
  variants: string[];
  /** The method's name in the tables, given one of its runs (e.g. LoRA's rank). */
  label: (variant: string, r?: R) => string;
  /** A run of the main protocol (no ablation switch). */
  plain: (r: R) => boolean;
  /** The epochs of the main protocol. */
  epochs: number;
}

export function sweepTable<R extends BaseRecord>(records: R[], dataset: string, shape: ReportShape<R>): string {
  const lines = ['| method | lr | val accuracy (%) | val loss | test accuracy (%) | train loss (last 8 steps) | steps |', '|---|---:|---:|---:|---:|---:|---:|'];
  for (const v of shape.variants) {
    const rs = records.filter((r) => inPhase(r, 'sweep') && r.dataset === dataset && r.variant === v).sort((a, b) => a.lr - b.lr);
    const chosen = chosenRate(records, dataset, v);
    const edge = sweepEdge(records, dataset, v);
    for (const r of rs) {
      const mark = r.lr === chosen ? (edge ? ` (chosen; ${edge === 'low' ? 'lowest' : 'highest'} tried)` : ' (chosen)') : '';
      lines.push(`| ${shape.label(v)} | ${r.lr}${mark} | ${pct(r.val.accuracy)} | ${r.val.loss.toFixed(3)} | ${pct(r.test.accuracy)} | ${windowLoss(r.lossCurve, r.lossCurve.length).toFixed(3)} | ${r.steps} |`);
    }
  }
  return lines.join('\n');
}

/** The main-protocol runs of a variant at its chosen rate, by seed. */
export function seedsAt<R extends BaseRecord>(records: R[], dataset: string, v: string, shape: ReportShape<R>): R[] {
  const lr = chosenRate(records, dataset, v);
  return records.filter((r) => r.dataset === dataset && r.variant === v && r.lr === lr && r.epochs === shape.epochs && shape.plain(r)).sort((a, b) => a.seed - b.seed);
}

/** A further column of the result table: its header and its cell from a variant's seeds. */
export interface ExtraColumn<R> { header: string; cell: (rs: R[]) => string }

export function resultTable<R extends BaseRecord>(records: R[], dataset: string, shape: ReportShape<R>, extra: ExtraColumn<R>[] = []): string {
  const lines = [
    `| method | lr | trainable params (%) | seeds | test accuracy (%), mean [95% CI] | worst label (%) | median label (%) | test loss |${extra.map((c) => ` ${c.header} |`).join('')}`,
    `|---|---:|---:|---:|---|---:|---:|---:|${extra.map(() => '---|').join('')}`,
  ];
  for (const v of shape.variants) {
    const rs = seedsAt(records, dataset, v, shape);
    if (rs.length === 0) continue;
    const acc = meanInterval(rs.map((r) => 100 * r.test.accuracy));
    lines.push(`| ${shape.label(v, rs[0])} | ${rs[0].lr} | ${rs[0].trainableParams.toLocaleString('en')} (${rs[0].percent.toFixed(2)}%) | ${rs.length} | ` +
      `${acc.mean.toFixed(1)} [${acc.low.toFixed(1)}, ${acc.high.toFixed(1)}] | ${pct(mean(rs.map((r) => r.test.perLabelStats.min)))} | ${pct(mean(rs.map((r) => r.test.perLabelStats.median)))} | ${mean(rs.map((r) => r.test.loss)).toFixed(3)} |` +
      extra.map((c) => ` ${c.cell(rs)} |`).join(''));
  }
  return lines.join('\n');
}

export interface Paired { n: number; mean: number; low: number; high: number; t: number; p: number; signFlipP: number; perSeed: number[] }

/** Test accuracy of `a` minus `b` in points, paired by seed, each at its chosen rate. */
export function pairedDifference<R extends BaseRecord>(records: R[], dataset: string, a: string, b: string, shape: ReportShape<R>): Paired | undefined {
  const ra = seedsAt(records, dataset, a, shape);
  const rb = new Map(seedsAt(records, dataset, b, shape).map((r) => [r.seed, r]));
  const d = ra.filter((r) => rb.has(r.seed)).map((r) => 100 * (r.test.accuracy - rb.get(r.seed)!.test.accuracy));
  if (d.length < 2) return undefined;
  const t = pairedTTest(d);
  const ci = meanInterval(d);
  return { n: d.length, mean: ci.mean, low: ci.low, high: ci.high, t: t.t, p: t.p, signFlipP: signFlipTest(d), perSeed: d };
}

export function pairedLine<R extends BaseRecord>(records: R[], dataset: string, a: string, b: string, shape: ReportShape<R>): string {
  const p = pairedDifference(records, dataset, a, b, shape);
  const la = shape.label(a);
  const lb = shape.label(b);
  if (!p) return `${la} - ${lb}: fewer than 2 paired seeds.`;
  return `${la} - ${lb} (paired by seed, n = ${p.n}): mean difference ${p.mean.toFixed(2)} points, 95% CI [${p.low.toFixed(2)}, ${p.high.toFixed(2)}]; ` +
    `paired t = ${p.t.toFixed(2)}, two-sided p = ${p.p.toFixed(3)}; exact sign-flip p = ${p.signFlipP.toFixed(3)}; per seed: ${p.perSeed.map((x) => x.toFixed(1)).join(', ')}.`;
}

/** Training-loss curves (moving mean over 8 steps) as an SVG, one line per series. */
export function curvesSvg(series: Array<{ label: string; curve: number[] }>): string {
  const W = 640; const H = 360; const L = 50; const B = 40;
  const maxStep = Math.max(1, ...series.map((s) => s.curve.length));
  const smooth = (c: number[]) => c.map((_, i) => windowLoss(c, i + 1));
  const maxLoss = Math.max(0.1, ...series.flatMap((s) => smooth(s.curve)));
  const x = (i: number) => L + ((W - L - 10) * i) / maxStep;
  const y = (l: number) => H - B - ((H - B - 10) * l) / maxLoss;
  const colors = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2'];
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - 10}" y2="${H - B}" stroke="black"/><line x1="${L}" y1="10" x2="${L}" y2="${H - B}" stroke="black"/>`,
    `<text x="${W / 2}" y="${H - 8}" text-anchor="middle">optimizer step</text>`,
    `<text x="12" y="${H / 2}" transform="rotate(-90 12 ${H / 2})" text-anchor="middle">training loss (mean of 8 steps)</text>`,
    `<text x="${L}" y="${H - B + 14}" text-anchor="middle">0</text><text x="${x(maxStep)}" y="${H - B + 14}" text-anchor="middle">${maxStep}</text>`,
    `<text x="${L - 4}" y="${y(maxLoss) + 4}" text-anchor="end">${maxLoss.toFixed(2)}</text><text x="${L - 4}" y="${y(0) + 4}" text-anchor="end">0</text>`];
  series.forEach((s, k) => {
    const pts = smooth(s.curve).map((l, i) => `${x(i + 1).toFixed(1)},${y(l).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${colors[k % colors.length]}" stroke-width="1.5" points="${pts}"/>`);
    parts.push(`<text x="${W - 200}" y="${20 + 14 * k}" fill="${colors[k % colors.length]}">${s.label}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/**
 * Write the generated sections into the document at `path` (each between its markers), or
 * print them when no path is given.
 */
export function writeSections(path: string | undefined, sections: Array<[string, string]>): void {
  if (path) {
    const p = resolve(path);
    let doc = existsSync(p) ? readFileSync(p, 'utf8') : '';
    for (const [name, body] of sections) doc = replaceSection(doc, name, body);
    writeFileSync(p, doc);
  } else {
    process.stdout.write(`${sections.map(([name, body]) => `<!-- ${name} -->\n${body}`).join('\n\n')}\n`);
  }
}

/** The even and odd positions of 0..n-1: the validation and test halves of a held-out set. */
export function alternateHalves(n: number): { val: number[]; test: number[] } {
  const all = Array.from({ length: n }, (_, i) => i);
  return { val: all.filter((i) => i % 2 === 0), test: all.filter((i) => i % 2 === 1) };
}

/** When and under what load the runs were made, for the settings line. */
export function runWindow(records: BaseRecord[], cores: number): string {
  const times = records.map((r) => r.finishedAt).sort();
  const loads = records.map((r) => r.loadAverage);
  return `run between ${times[0]} and ${times.at(-1)}; 1-minute load average ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)} on ${cores} cores`;
}

