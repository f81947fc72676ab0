/** `spruft inspect <model>`: layers, shapes, parameter counts (from the headers). */
import { inspectModel } from '../app';
import { SpruftError } from '../errors';
import { parseCommandArgs, printJson } from './output';

const USAGE = `usage: spruft inspect <model-folder|model.json|npm:package/model> [--json]`;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('inspect', USAGE, args, { json: { type: 'boolean' } });
  if (positionals.length !== 1) throw new SpruftError('CONFIG_INVALID', `spruft inspect: give one model\n${USAGE}`);
  const result = await inspectModel(positionals[0]);
  if (values.json) {
    printJson(result);
    return 0;
  }
  const source = result.fromConfigOnly ? ' (laid out from config.json alone: no weights here)' : '';
  process.stdout.write(`${result.name}: ${result.architecture} (${result.format}), ${result.params.toLocaleString('en')} parameters${source}\n\n`);
  for (const l of result.layers) {
    const rows = l.dOut !== undefined ? `${l.dOut} rows x ${l.dIn}` : '';
    const tags = [l.attention ? 'attention' : '', l.head ? 'head' : ''].filter(Boolean).join(', ');
    process.stdout.write(`${l.name.padEnd(52)} ${l.kind.padEnd(17)} [${l.shape.join(', ')}]`.padEnd(100) + ` ${rows}${tags ? `  (${tags})` : ''}\n`);
  }
  return 0;
}
