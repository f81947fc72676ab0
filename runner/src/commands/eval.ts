/** `spruft eval <run-folder|config>`: metrics incl. per-label accuracy. */
import { startEvaluate } from '../app';
import { SpruftError } from '../errors';
import { formatRunReport, parseCommandArgs, printJson, stderrHooks } from './output';

const USAGE = `usage: spruft eval <run-folder|run.spruft.yaml> [--json]
Evaluates a run folder's adapter on its evaluation data (or a config's base model).`;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('eval', USAGE, args, { json: { type: 'boolean' } });
  if (positionals.length !== 1) throw new SpruftError('CONFIG_INVALID', `spruft eval: give one run folder or config\n${USAGE}`);
  const result = await (await startEvaluate(positionals[0], stderrHooks())).done;
  if (values.json) printJson(result);
  else process.stdout.write(formatRunReport(result) + '\n');
  return 0;
}
