/**
 * `spruft <command>`: the runner's CLI (DESIGN.md "Runner CLI"). `--json` prints one
 * JSON document on stdout; logs and progress go to stderr. Each command lives in
 * runner/src/commands/<name>.ts and exports `run(args): Promise<number>` (exit code).
 */
import { errorMessage, SpruftError } from './errors';

type CommandModule = { run(args: string[]): Promise<number> };

/** Command name -> loader; loaded lazily so `spruft check` does not start TensorFlow.js. */
const commands: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  check: { summary: 'validate a run config: file:line:col messages, exit 1 on errors', load: () => import('./commands/check') },
  inspect: { summary: 'layers, shapes, parameter counts of a model', load: () => import('./commands/inspect') },
  score: { summary: 'importance scores and selected rows per layer', load: () => import('./commands/score') },
  train: { summary: 'score, train, evaluate; writes the run folder (--resume to continue)', load: () => import('./commands/train') },
  eval: { summary: 'metrics of a run folder (per-label accuracy included)', load: () => import('./commands/eval') },
  runs: { summary: 'run folders with their status (interrupted runs included) and results', load: () => import('./commands/runs') },
  merge: { summary: 'merge adapters into the base model and export it', load: () => import('./commands/merge') },
  predict: { summary: 'the base and the fine-tuned model on one input (the playground)', load: () => import('./commands/predict') },
  bench: { summary: 'memory|speed: methods side by side in one process', load: () => import('./commands/bench') },
  serve: { summary: 'JSON-RPC 2.0 server on stdio for the editor (logs on stderr)', load: () => import('./commands/serve') },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  spruft ${name.padEnd(8)} ${c.summary}`);
  return ['usage: spruft <command> [options]', '', ...lines, '', 'Add --json for one JSON document on stdout.'].join('\n');
}

async function main(argv: string[]): Promise<number> {
  // stdout carries only --json documents and the JSON-RPC stream: route console output
  // (ours and TensorFlow.js's notices) to stderr.
  console.log = console.error;
  console.info = console.error;
  const [name, ...args] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stderr.write(usage() + '\n');
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`spruft: unknown command "${name}"\n\n${usage()}\n`);
    return 2;
  }
  return (await command.load()).run(args);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // No raw stack (TensorFlow.js's included) reaches a person unless asked for.
    const known = err instanceof SpruftError;
    const debug = process.env.SPRUFT_DEBUG === '1';
    const detail = debug && err instanceof Error && err.stack ? err.stack : errorMessage(err);
    process.stderr.write(`spruft: ${known ? detail : `internal error: ${detail}${debug ? '' : '\n(run again with SPRUFT_DEBUG=1 for the stack trace, and report it)'}`}\n`);
    process.exitCode = 1;
  },
);
