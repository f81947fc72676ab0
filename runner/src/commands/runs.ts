/**
 * `spruft runs [<folder>...]`: the run folders under each folder (default `runs/`), or the
 * named run folders themselves, with the status every reader shows: a run whose runner
 * was killed or crashed reads `interrupted` (protocol/runFolder.ts runStateOf), with the
 * command that resumes it.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ResolvedRunConfig } from '../../../protocol/config';
import type { RunResult } from '../../../protocol/results';
import { RUN_FILES, type RunState } from '../../../protocol/runFolder';
import { errorMessage } from '../errors';
import { readRunFile, readRunState } from '../run/runFolder';
import { parseCommandArgs, printJson } from './output';

const USAGE = `usage: spruft runs [<folder-of-runs|run-folder> ...] [--json]
Lists run folders (default: runs/) with their status; an interrupted run (its runner was
killed or crashed) is continued with spruft train --resume <run-folder>.`;

export interface RunListing {
  runDir: string;
  name?: string;
  status: RunState | 'unreadable';
  methods: Array<{ method: string; status?: string; accuracy?: number; perplexity?: number; pearson?: number }>;
  startedAt?: string;
  error?: string;
  resume?: string;
}

function isRunFolder(dir: string): boolean {
  return existsSync(join(dir, RUN_FILES.status));
}

function runFoldersIn(path: string): string[] {
  if (isRunFolder(path)) return [path];
  if (!existsSync(path) || !statSync(path).isDirectory()) return [];
  return readdirSync(path).map((name) => join(path, name)).filter((p) => statSync(p).isDirectory() && isRunFolder(p)).sort();
}

export function listRun(runDir: string): RunListing {
  try {
    const run = readRunState(runDir)!;
    const config = readRunFile<Partial<ResolvedRunConfig>>(join(runDir, RUN_FILES.config), RUN_FILES.config);
    const metrics = readRunFile<RunResult>(join(runDir, RUN_FILES.metrics), RUN_FILES.metrics);
    const results = new Map([metrics, ...(metrics?.compared ?? [])].filter((r): r is RunResult => r !== undefined).map((r) => [r.method, r]));
    const names = [run.status.method, ...(config?.compare ?? [])];
    const methods = names.map((method) => {
      const m = results.get(method)?.metrics;
      return {
        method, status: run.status.methods?.[method],
        ...(m && 'accuracy' in m ? { accuracy: m.accuracy } : {}), ...(m && 'perplexity' in m ? { perplexity: m.perplexity } : {}),
        ...(m && 'pearson' in m ? { pearson: m.pearson } : {}),
      };
    });
    return {
      runDir, name: config?.name, status: run.state, methods, startedAt: run.status.startedAt,
      ...(run.status.error ? { error: run.status.error } : {}),
      ...(run.state === 'interrupted' || run.state === 'cancelled' ? { resume: `spruft train --resume ${runDir}` } : {}),
    };
  } catch (err) {
    return { runDir, status: 'unreadable', methods: [], error: errorMessage(err) };
  }
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('runs', USAGE, args, { json: { type: 'boolean' } });
  const listings = (positionals.length ? positionals : ['runs']).flatMap(runFoldersIn).map(listRun);
  if (values.json) {
    printJson({ runs: listings });
    return 0;
  }
  if (listings.length === 0) process.stderr.write(`no run folders in ${positionals.join(', ') || 'runs/'}\n`);
  for (const l of listings) {
    const methods = l.methods
      .map((m) => `${m.method}${m.accuracy !== undefined ? ` ${(100 * m.accuracy).toFixed(2)}%` : m.perplexity !== undefined ? ` ppl ${m.perplexity.toFixed(2)}` : m.pearson !== undefined ? ` pearson ${m.pearson.toFixed(3)}` : ''}${m.status && m.status !== l.status ? ` (${m.status})` : ''}`)
      .join(', ');
    process.stdout.write(`${l.status.padEnd(12)} ${l.runDir}  ${methods}${l.startedAt ? `  ${l.startedAt.slice(0, 16).replace('T', ' ')}` : ''}\n`);
    if (l.error) process.stdout.write(`${''.padEnd(12)} ${l.error.split('\n')[0]}\n`);
    if (l.resume) process.stdout.write(`${''.padEnd(12)} resume: ${l.resume}\n`);
  }
  return 0;
}
