/**
 * What the CLI shows: argument parsing with clear errors, a progress line on stderr,
 * and the human-readable reports (stdout) of the commands. `--json` replaces the
 * reports by one JSON document on stdout.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { ClassificationMetrics, MemoryBreakdown, MultipleChoiceScore, ProgressEvent, RunResult } from '../../../protocol/results';
import { formatBytes, formatDuration } from '../../../protocol/format';
import type { RunHooks } from '../run/request';
import { SpruftError } from '../errors';

export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(
  command: string, usage: string, args: string[], options: T,
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  try {
    const parsed = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    if ((parsed.values as Record<string, unknown>).help) {
      process.stderr.write(`${usage}\n`);
      process.exit(0);
    }
    return parsed as { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] };
  } catch (err) {
    throw new SpruftError('CONFIG_INVALID', `spruft ${command}: ${(err as Error).message}\n${usage}`);
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** Hooks that draw a progress bar and log lines on stderr. */
export function stderrHooks(signal?: AbortSignal): RunHooks {
  const tty = process.stderr.isTTY === true;
  let lastLine = 0;
  let open = false;
  const endLine = (): void => {
    if (open) process.stderr.write('\n');
    open = false;
  };
  return {
    signal,
    onLog: (level, message) => {
      endLine();
      process.stderr.write(`${level === 'info' ? '' : `${level}: `}${message}\n`);
    },
    onProgress: (e: ProgressEvent) => {
      if (e.phase !== 'training') {
        endLine();
        if (e.phase !== 'done') process.stderr.write(`[${e.method}] ${e.phase}...\n`);
        return;
      }
      const now = Date.now();
      if (!tty && now - lastLine < 2000 && e.step !== e.totalSteps && e.step !== 1) return;
      lastLine = now;
      const width = 24;
      const filled = Math.round((width * e.step) / Math.max(1, e.totalSteps));
      const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
      const parts = [
        `[${e.method}] ${bar} ${e.step}/${e.totalSteps}`,
        `epoch ${e.epoch}/${e.totalEpochs}`,
        e.loss !== undefined ? `loss ${e.loss.toFixed(4)}` : '',
        e.lr !== undefined ? `lr ${e.lr.toExponential(1)}` : '',
        e.samplesPerSec !== undefined ? `${e.samplesPerSec.toFixed(0)} samples/s` : '',
        e.etaMs !== undefined ? `ETA ${formatDuration(e.etaMs)}` : '',
      ].filter(Boolean);
      const line = parts.join('  ');
      if (tty) {
        process.stderr.write(`\r${line}\x1b[K`);
        open = true;
        if (e.step === e.totalSteps) endLine();
      } else {
        process.stderr.write(line + '\n');
      }
    },
  };
}

function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

function memCell(m: MemoryBreakdown | undefined): string {
  if (!m) return 'n/a';
  return `${formatBytes(m.total)} (params ${formatBytes(m.params)}, grads ${formatBytes(m.grads)}, optimizer ${formatBytes(m.optimizer)}, cache ${formatBytes(m.cache)}, dropout ${formatBytes(m.dropout)}, other ${formatBytes(m.other)})`;
}

/** Zero-shot multiple choice per task, after tuning and (when scored) before it. */
export function formatMultipleChoice(after: Record<string, MultipleChoiceScore>, before?: Record<string, MultipleChoiceScore>): string[] {
  const names = Object.keys(after);
  const width = Math.max(4, ...names.map((n) => n.length));
  const w = before ? 24 : 8;
  const cell = (b: number | undefined, a: number): string => (b === undefined ? pct(a) : `${pct(b)} -> ${pct(a)}`).padStart(w);
  const lines = [`  multiple choice       ${'task'.padEnd(width)}  ${(before ? 'acc before -> after' : 'acc').padStart(w)}  ${(before ? 'acc_norm before -> after' : 'acc_norm').padStart(w)}  questions`];
  for (const name of names) {
    const a = after[name];
    const b = before?.[name];
    lines.push(`                        ${name.padEnd(width)}  ${cell(b?.acc, a.acc)}  ${cell(b?.accNorm, a.accNorm)}  ${a.n}`);
  }
  return lines;
}

/** Side-by-side report of a training run and its compared methods. */
export function formatRunReport(result: RunResult): string {
  const all = [result, ...(result.compared ?? [])];
  const lines: string[] = [];
  lines.push(`backend: ${result.backend.name} (${result.backend.reason})`);
  lines.push('');
  for (const r of all) {
    const m = r.metrics;
    lines.push(`${r.method.toUpperCase()}`);
    lines.push(`  trainable parameters  ${r.trainableParams.toLocaleString('en')} of ${r.totalParams.toLocaleString('en')} (${r.percent.toFixed(2)}%)`);
    if ('perLabelStats' in m) {
      const c = m as ClassificationMetrics;
      const s = c.perLabelStats;
      lines.push(`  accuracy              ${pct(c.accuracy)}   loss ${c.loss.toFixed(4)}   (${c.examples} evaluation examples)`);
      if (c.mcc !== undefined && c.f1 !== undefined) lines.push(`  F1 ${c.f1Average === 'macro' ? '(macro) ' : ''}${c.f1.toFixed(4)}   MCC ${c.mcc.toFixed(4)}`);
      lines.push(`  per-label accuracy    min ${pct(s.min)}  Q1 ${pct(s.q1)}  median ${pct(s.median)}  Q3 ${pct(s.q3)}  max ${pct(s.max)}`);
    } else if ('pearson' in m) {
      lines.push(`  MSE ${m.mse.toFixed(4)}   Pearson ${m.pearson.toFixed(4)}   Spearman ${m.spearman.toFixed(4)}   (${m.examples} evaluation examples)`);
    } else {
      const before = r.before ? `   (before tuning: loss ${r.before.loss.toFixed(4)}, perplexity ${r.before.perplexity.toFixed(2)})` : '';
      lines.push(`  loss ${m.loss.toFixed(4)}   perplexity ${'perplexity' in m ? m.perplexity.toFixed(2) : 'n/a'}${before}`);
      if ('multipleChoice' in m && m.multipleChoice) lines.push(...formatMultipleChoice(m.multipleChoice, r.before?.multipleChoice));
    }
    lines.push(`  memory ("mem")        ${memCell(r.mem)}`);
    if (r.trainMs !== undefined) lines.push(`  training time         ${formatDuration(r.trainMs)} (${r.steps} steps)`);
    lines.push('');
  }
  lines.push(`run folder: ${result.runDir}`);
  return lines.join('\n');
}

/**
 * Abort on Ctrl-C, SIGTERM or SIGHUP (a closed terminal): the run stops after its current
 * step, leaves a checkpoint and is recorded `cancelled`. A second signal kills at once
 * (the run then reads `interrupted`).
 */
export function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  const stop = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) process.exit(signal === 'SIGINT' ? 130 : 143);
    try {
      process.stderr.write(`\nstopping after the current step (${signal === 'SIGINT' ? 'Ctrl-C' : signal} again to kill)...\n`);
    } catch {
      // A closed terminal (SIGHUP) cannot be written to; stop all the same.
    }
    controller.abort();
  };
  for (const s of signals) process.on(s, stop);
  return controller.signal;
}
