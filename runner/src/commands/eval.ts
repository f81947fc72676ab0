/** `spruft eval <run-folder|config> [--tasks <file>...]`: metrics incl. per-label accuracy and zero-shot multiple choice. */
import { isAbsolute, resolve } from 'node:path';
import { startEvaluate } from '../app';
import { SpruftError } from '../errors';
import { formatRunReport, parseCommandArgs, printJson, stderrHooks } from './output';

const USAGE = `usage: spruft eval <run-folder|run.spruft.yaml> [--tasks <file|name=file>...] [--json]
Evaluates a run folder's adapter on its evaluation data (or a config's base model).
--tasks scores zero-shot multiple-choice tasks (JSONL in the layouts of ARC, BoolQ, PIQA,
HellaSwag, WinoGrande, OpenBookQA, SIQA, RTE) as the LM evaluation harness does: acc and
acc_norm per task; on a run folder, before and after its adapter side by side.`;

/** Task files named after `--tasks` (until the next option), relative to the working folder. */
function takeTasks(args: string[]): { rest: string[]; tasks: string[] } {
  const rest: string[] = [];
  const tasks: string[] = [];
  let inTasks = false;
  for (const arg of args) {
    if (arg === '--tasks') {
      inTasks = true;
    } else if (arg.startsWith('--tasks=')) {
      tasks.push(arg.slice('--tasks='.length));
    } else if (inTasks && !arg.startsWith('-')) {
      tasks.push(arg);
    } else {
      inTasks = false;
      rest.push(arg);
    }
  }
  if (args.includes('--tasks') && tasks.length === 0) throw new SpruftError('CONFIG_INVALID', `spruft eval: --tasks needs at least one task file\n${USAGE}`);
  const absolute = (p: string): string => (isAbsolute(p) ? p : resolve(p));
  return {
    rest,
    tasks: tasks.map((t) => {
      const eq = t.indexOf('=');
      return eq > 0 && !/[\\/]/.test(t.slice(0, eq)) ? `${t.slice(0, eq + 1)}${absolute(t.slice(eq + 1))}` : absolute(t);
    }),
  };
}

export async function run(args: string[]): Promise<number> {
  const { rest, tasks } = takeTasks(args);
  const { values, positionals } = parseCommandArgs('eval', USAGE, rest, { json: { type: 'boolean' } });
  // The target is the one positional; task files follow --tasks.
  if (positionals.length !== 1) throw new SpruftError('CONFIG_INVALID', `spruft eval: give one run folder or config (task files go after --tasks)\n${USAGE}`);
  const result = await (await startEvaluate(positionals[0], stderrHooks(), tasks)).done;
  if (values.json) printJson(result);
  else process.stdout.write(formatRunReport(result) + '\n');
  return 0;
}
