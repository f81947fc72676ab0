/** `spruft predict <run-folder>`: the editor's playground from a terminal. */
import type { ModelAnswer, PredictInput } from '../../../protocol/rpc';
import { formatPercent, formatScore } from '../../../protocol/format';
import { predictRun } from '../app';
import { SpruftError } from '../errors';
import { parseCommandArgs, printJson } from './output';

const USAGE = `usage: spruft predict <run-folder> (--example N | --text T [--pair T2] | --image FILE) [--top K] [--tokens N] [--json]
The base model and the fine-tuned one (base + the run's adapter) on one input: an
evaluation example, a text (classified, or continued greedily by a decoder; with --pair, the
second text of a run on text pairs) or an image file.`;

function positiveInteger(value: unknown, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < (flag === 'example' ? 0 : 1)) throw new SpruftError('CONFIG_INVALID', `--${flag} must be an integer${flag === 'example' ? ' >= 0' : ' > 0'} (got "${String(value)}")`);
  return n;
}

function describeAnswer(answer: ModelAnswer): string {
  if (answer.continuation !== undefined) return JSON.stringify(answer.continuation);
  // A regression head's number.
  if (answer.value !== undefined) return `predicted ${formatScore(answer.value)}`;
  return (answer.top ?? []).map((t) => `${t.label} ${formatPercent(t.probability)}`).join(' · ');
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('predict', USAGE, args, {
    json: { type: 'boolean' }, example: { type: 'string' }, text: { type: 'string' }, pair: { type: 'string' }, image: { type: 'string' }, top: { type: 'string' }, tokens: { type: 'string' },
  });
  const given = (['example', 'text', 'image'] as const).filter((k) => values[k] !== undefined);
  if (positionals.length !== 1 || given.length !== 1) throw new SpruftError('CONFIG_INVALID', `spruft predict: give one run folder and one of --example, --text, --image\n${USAGE}`);
  if (values.pair !== undefined && given[0] !== 'text') throw new SpruftError('CONFIG_INVALID', `spruft predict: --pair is the second text of --text\n${USAGE}`);
  const input: PredictInput =
    given[0] === 'example' ? { kind: 'example', index: positiveInteger(values.example, 'example')! }
      : given[0] === 'text' ? { kind: 'text', text: String(values.text), ...(values.pair !== undefined ? { pair: String(values.pair) } : {}) }
        : { kind: 'image', path: String(values.image) };
  const topK = positiveInteger(values.top, 'top');
  const maxNewTokens = positiveInteger(values.tokens, 'tokens');
  const result = await predictRun({ runDir: positionals[0]!, input, ...(topK ? { topK } : {}), ...(maxNewTokens ? { maxNewTokens } : {}) });
  if (values.json) {
    printJson(result);
    return 0;
  }
  const shown = [
    result.input.index !== undefined ? `example ${result.input.index}` : '', result.input.label !== undefined ? `true label ${result.input.label}` : '',
    result.input.text !== undefined ? JSON.stringify(result.input.text) : '', result.input.pair !== undefined ? JSON.stringify(result.input.pair) : '',
  ].filter(Boolean);
  process.stdout.write(`${result.task}, ${shown.join(', ') || 'input'}\n  base        ${describeAnswer(result.base)}\n  fine-tuned  ${describeAnswer(result.tuned)} (${result.method})\n`);
  return 0;
}
