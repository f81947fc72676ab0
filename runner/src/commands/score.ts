/** `spruft score <run.spruft.yaml>`: importance scores and the rows chosen per layer. */
import { startScore } from '../app';
import { SpruftError } from '../errors';
import { formatBytes, formatDuration } from '../../../protocol/format';
import { parseCommandArgs, printJson, stderrHooks } from './output';

const USAGE = `usage: spruft score <run.spruft.yaml> [--json]
Scores every row of the target layers with spruft.importance.metric and prints the
selected rows, the time taken and the peak memory next to plain inference's.`;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('score', USAGE, args, { json: { type: 'boolean' } });
  if (positionals.length !== 1) throw new SpruftError('CONFIG_INVALID', `spruft score: give one run config\n${USAGE}`);
  const result = await (await startScore({ configPath: positionals[0] }, stderrHooks())).done;
  if (values.json) {
    printJson(result);
    return 0;
  }
  for (const l of result.layers) {
    process.stdout.write(`${l.name.padEnd(48)} ${String(l.rows.length).padStart(5)}/${String(l.dOut).padEnd(5)} rows: ${l.rows.slice(0, 12).join(' ')}${l.rows.length > 12 ? ' ...' : ''}\n`);
  }
  process.stdout.write(`\n${result.metric}: ${result.trainableParams.toLocaleString('en')} parameters selected in ${formatDuration(result.ms)}; peak ${formatBytes(result.peakBytes)} (inference peak ${formatBytes(result.inferencePeakBytes)})\n`);
  return 0;
}
