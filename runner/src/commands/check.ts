/**
 * `spruft check <run.spruft.yaml>...`: every problem of each file as
 * `file:line:col: severity: message` on stdout (1-based, as compilers print), a summary on
 * stderr, exit 1 when any file has an error. The same findings as the language server and
 * as a run's own check (runner/src/config/load.ts). Starts no TensorFlow.js.
 *
 *   --json               one JSON document: { files: [{ path, diagnostics, estimates }], errors, warnings }
 *   --no-semantic        schema only: no files, model or memory are looked at
 *   --memory-limit-gb N  compare the memory estimate with N GB instead of this machine's memory
 */
import type { ConfigDiagnostic } from '../../../protocol/diagnostics';
import { formatConfigDiagnostic, loadRunConfig } from '../config/load';
import { formatBytes } from '../../../protocol/format';
import type { TrainingMemoryEstimate } from '../config/memoryEstimate';
import { SpruftError } from '../errors';

interface CheckArgs {
  files: string[];
  json: boolean;
  semantic: boolean;
  memoryLimitBytes?: number;
}

const USAGE = 'usage: spruft check <file.spruft.yaml>... [--json] [--no-semantic] [--memory-limit-gb <n>]';

function parseArgs(args: string[]): CheckArgs {
  const out: CheckArgs = { files: [], json: false, semantic: true };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--json') out.json = true;
    else if (arg === '--no-semantic') out.semantic = false;
    else if (arg === '--memory-limit-gb' || arg.startsWith('--memory-limit-gb=')) {
      const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : args[++i];
      const gb = Number(value);
      if (!value || !Number.isFinite(gb) || gb <= 0) throw new SpruftError('CONFIG_INVALID', `--memory-limit-gb needs a positive number of GB\n${USAGE}`);
      out.memoryLimitBytes = gb * 1024 ** 3;
    } else if (arg.startsWith('--')) throw new SpruftError('CONFIG_INVALID', `unknown option ${arg}\n${USAGE}`);
    else out.files.push(arg);
  }
  if (out.files.length === 0) throw new SpruftError('CONFIG_INVALID', `no file to check\n${USAGE}`);
  return out;
}

function count(diagnostics: ConfigDiagnostic[], severity: ConfigDiagnostic['severity']): number {
  return diagnostics.filter((d) => d.severity === severity).length;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function estimateLine(file: string, e: TrainingMemoryEstimate): string {
  return `${file}: note: estimated training memory for ${e.method}: ${formatBytes(e.peakBytes)} (weights ${formatBytes(e.modelBytes)} + ${formatBytes(e.breakdown.total)} for training; an estimate from layer shapes)`;
}

export async function run(args: string[]): Promise<number> {
  const options = parseArgs(args);
  const reports: Array<{ path: string; diagnostics: ConfigDiagnostic[]; estimates: TrainingMemoryEstimate[] }> = [];
  for (const file of options.files) {
    const loaded = await loadRunConfig(file, undefined, { semantic: options.semantic, memoryLimitBytes: options.memoryLimitBytes });
    reports.push({ path: file, diagnostics: loaded.diagnostics, estimates: loaded.estimates });
  }
  const all = reports.flatMap((r) => r.diagnostics);
  const errors = count(all, 'error');
  const warnings = count(all, 'warning');
  if (options.json) {
    process.stdout.write(JSON.stringify({ files: reports, errors, warnings }, null, 2) + '\n');
  } else {
    for (const report of reports) {
      for (const d of report.diagnostics) process.stdout.write(formatConfigDiagnostic(report.path, d) + '\n');
      for (const e of report.estimates) process.stderr.write(estimateLine(report.path, e) + '\n');
    }
    const summary = errors + warnings === 0 ? 'no problems' : `${plural(errors, 'error')}, ${plural(warnings, 'warning')}`;
    process.stderr.write(`spruft check: ${summary} in ${plural(reports.length, 'file')}\n`);
  }
  return errors > 0 ? 1 : 0;
}
