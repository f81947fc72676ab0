/** `spruft merge <run-folder>... --out <dir>`: merged model in the input format. */
import { mergeRuns } from '../app';
import { SpruftError } from '../errors';
import { parseCommandArgs, printJson } from './output';

const USAGE = `usage: spruft merge <run-folder> [<run-folder> ...] --out <dir> [--max-shard-size 5GB] [--force] [--json]
Folds each run's adapter into the base model (SPruFT: W[idx] += W_f; LoRA: W += (alpha/r) B A;
VeRA: W += Lambda_b B Lambda_d A; DoRA: W = m V / ||V||_c with V = W + (alpha/r) B A)
and writes the merged model in the base model's format. Several adapters must share one base.
A Hugging Face model larger than --max-shard-size (default: the run config's output.maxShardSize,
else 5GB, as transformers) is written as model-0000k-of-0000n.safetensors + model.safetensors.index.json.
An --out that is, holds or lies inside the base model's folder is refused unless --force.`;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('merge', USAGE, args, { json: { type: 'boolean' }, out: { type: 'string' }, force: { type: 'boolean' }, 'max-shard-size': { type: 'string' } });
  if (positionals.length === 0 || !values.out) throw new SpruftError('CONFIG_INVALID', `spruft merge: give run folders and --out\n${USAGE}`);
  const result = await mergeRuns(positionals, values.out as string, { force: values.force === true, maxShardSize: values['max-shard-size'] as string | undefined });
  if (values.json) printJson(result);
  else process.stdout.write(`merged ${result.mergedLayers} layers into ${result.outDir} (${result.format})\n`);
  return 0;
}
