/** `spruft train <run.spruft.yaml>` / `spruft train --resume <run-folder>`. */
import { METHODS, BACKENDS } from '../../../protocol/config';
import type { BackendChoice, MethodName } from '../../../protocol/results';
import { startTrain } from '../app';
import { SpruftError } from '../errors';
import { formatRunReport, interruptSignal, parseCommandArgs, printJson, stderrHooks } from './output';

const USAGE = `usage: spruft train <run.spruft.yaml> [--method M] [--compare M,M] [--max-steps N] [--backend B] [--json]
       spruft train --resume <run-folder> [--json]
Scores, trains, evaluates and writes a run folder. Ctrl-C stops after the current step
and leaves a checkpoint that --resume continues from, bit for bit.`;

function oneOf<T extends string>(value: string, allowed: readonly T[], what: string): T {
  if (!(allowed as readonly string[]).includes(value)) throw new SpruftError('CONFIG_INVALID', `--${what} must be one of ${allowed.join(', ')} (got "${value}")`);
  return value as T;
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('train', USAGE, args, {
    json: { type: 'boolean' }, resume: { type: 'string' }, method: { type: 'string' }, compare: { type: 'string' },
    'max-steps': { type: 'string' }, backend: { type: 'string' },
  });
  const resumeDir = values.resume as string | undefined;
  if (!resumeDir && positionals.length !== 1) throw new SpruftError('CONFIG_INVALID', `spruft train: give one run config\n${USAGE}`);
  const maxSteps = values['max-steps'] !== undefined ? Number(values['max-steps']) : undefined;
  if (maxSteps !== undefined && !(Number.isInteger(maxSteps) && maxSteps > 0)) throw new SpruftError('CONFIG_INVALID', '--max-steps must be a positive integer');
  const started = await startTrain({
    configPath: positionals[0] ?? '',
    resumeDir,
    overrides: {
      method: values.method !== undefined ? oneOf(values.method as string, METHODS, 'method') as MethodName : undefined,
      compare: values.compare !== undefined ? (values.compare as string).split(',').filter(Boolean).map((m) => oneOf(m, METHODS, 'compare') as MethodName) : undefined,
      maxSteps,
      backend: values.backend !== undefined ? oneOf(values.backend as string, BACKENDS, 'backend') as BackendChoice : undefined,
    },
  }, stderrHooks(interruptSignal()));
  process.stderr.write(`run folder: ${started.runDir}\n`);
  const result = await started.done;
  if (values.json) printJson(result);
  else process.stdout.write(formatRunReport(result) + '\n');
  return 0;
}
