/** `spruft bench memory|speed`: methods side by side in one process. */
import { BACKENDS } from '../../../protocol/config';
import type { BackendChoice, BenchResult } from '../../../protocol/results';
import { BENCH_CHECKPOINTING, BENCH_METHODS, runBench } from '../run/bench';
import { SpruftError } from '../errors';
import { formatBytes } from '../../../protocol/format';
import { parseCommandArgs, printJson } from './output';

const USAGE = `usage: spruft bench <memory|speed> [--model decoder|decoder-125m|vision] [--checkpointing none|blocks|both] [--batch N] [--seq T] [--image S] [--steps K] [--workers W] [--backend B] [--peer torch] [--kernels N] [--json]
Trains one step of each method (${BENCH_METHODS.adapters.join(', ')}, their freezeAttention variants, ${BENCH_METHODS.whole.join(', ')}) on
the same model in one process: measured memory by component (paper C.3), step time,
the backend's GEMM rate and model FLOP utilisation. decoder: a Llama-shaped decoder with
random weights (14.7M parameters); decoder-125m: the same shape at GPT-2-small size
(123.7M parameters; batch 2 x 128 by default); vision: the MobileNetV2 that npm nsfwjs
ships. --checkpointing blocks|both also runs the transformer variants with
training.checkpointing: blocks (each block keeps only its input; recomputed in backward).
A variant whose estimated peak memory exceeds what the backend can address is reported
as skipped, with the estimate, before anything runs. --workers W splits each
batch across W data-parallel ranks (this thread and W-1 worker threads, each with its own
backend; memory is then rank 0's, for its share of the batch). --peer torch runs the same
decoder and methods in PyTorch (scripts/peer/, Debian's /usr/bin/python3 with
python3-torch) on the same cores, its steps alternating with ours, and reports each
step over the peer's. --kernels N: the N kernels that took most time in one profiled
step per method (default 8 for speed, 0 turns the profiled step off).`;

function intOption(v: unknown, name: string, min = 1): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new SpruftError('CONFIG_INVALID', `--${name} must be a ${min > 0 ? 'positive' : 'non-negative'} integer (got "${String(v)}")`);
  return n;
}

function peerOption(v: unknown): 'torch' | undefined {
  if (v === undefined) return undefined;
  if (v !== 'torch') throw new SpruftError('CONFIG_INVALID', `--peer must be torch (got "${String(v)}")`);
  return 'torch';
}

export function formatBench(r: BenchResult): string {
  const lines = [
    `${r.model.name}: ${r.model.params.toLocaleString('en')} parameters ${JSON.stringify(r.model.shape)}, batch ${JSON.stringify(r.batch)}`,
    `backend ${r.backend.name}${r.backend.native ? ` (${r.backend.native.loaded ? `native ${r.backend.native.kernels.join(', ')}: ${r.backend.native.why}` : `no native BLAS: ${r.backend.native.why}`})` : ''}; GEMM ${r.gemmGflops.toFixed(1)} GFLOP/s${r.workers > 1 ? ` (all ${r.workers} ranks at once: ${r.gemmGflopsAllRanks.toFixed(1)})` : ''}; ${r.workers} worker(s)`,
    ...(r.peer ? [`peer: torch ${r.peer.version} (${r.peer.python}), ${r.peer.threads} threads, GEMM ${r.peer.gemmGflops.toFixed(1)} GFLOP/s`] : []),
    '',
    `${'variant'.padEnd(18)}${'trainable'.padStart(12)}${'mem'.padStart(11)}${'params'.padStart(11)}${'grads'.padStart(11)}${'optim'.padStart(11)}${'cache'.padStart(11)}${'dropout'.padStart(11)}${'other'.padStart(11)}${'step ms'.padStart(10)}${'GEMM'.padStart(7)}${'MFU'.padStart(8)}${'cores'.padStart(7)}${r.peer ? `${'torch ms'.padStart(10)}${'x torch'.padStart(9)}` : ''}`,
  ];
  for (const m of r.methods) {
    const b = m.mem;
    lines.push(`${m.variant.padEnd(18)}${m.trainableParams.toLocaleString('en').padStart(12)}${[b.total, b.params, b.grads, b.optimizer, b.cache, b.dropout, b.other].map((x) => formatBytes(x).padStart(11)).join('')}${m.stepMs.toFixed(0).padStart(10)}${m.gemmGflops.toFixed(1).padStart(7)}${`${(100 * m.mfu).toFixed(1)}%`.padStart(8)}${m.cores.toFixed(2).padStart(7)}${m.peerStepMs !== undefined ? `${m.peerStepMs.toFixed(0).padStart(10)}${(m.stepOverPeer ?? NaN).toFixed(2).padStart(9)}` : ''}`);
  }
  lines.push('');
  lines.push('(GEMM: GFLOP/s timed around the method\'s steps; MFU = model FLOPs per step / (step time x that rate), median over steps)');
  for (const k of r.skipped ?? []) lines.push(`${k.variant.padEnd(18)}not run: ${k.reason}`);
  if (r.skipped?.length) lines.push('');
  if (r.ratios.memSpruftOverLoraCheckpointed !== undefined && r.pairs.checkpointed) {
    lines.push(`checkpointed: mem(SPruFT)/mem(LoRA) = ${r.ratios.memSpruftOverLoraCheckpointed.toFixed(3)}   (${r.pairs.checkpointed.spruft} vs ${r.pairs.checkpointed.lora})`);
  }
  lines.push(`mem(SPruFT)/mem(LoRA) = ${r.ratios.memSpruftOverLora.toFixed(3)}   step(SPruFT)/step(LoRA) = ${r.ratios.stepSpruftOverLora.toFixed(3)}   step(SPruFT)/step(full) = ${r.ratios.stepSpruftOverFull.toFixed(3)}   (${r.pairs.spruft} vs ${r.pairs.lora})`);
  lines.push(`at equal GEMM rate (each step time x the GEMM rate around it): step(SPruFT)/step(LoRA) = ${r.ratios.stepSpruftOverLoraAtEqualGemm.toFixed(3)}   step(SPruFT)/step(full) = ${r.ratios.stepSpruftOverFullAtEqualGemm.toFixed(3)}`);
  if (r.peer) lines.push('(torch ms: the PyTorch peer\'s median step, its steps alternating with ours; x torch = median over the steps of our step / its step right after)');
  for (const m of r.methods) {
    if (!m.kernels) continue;
    lines.push('', `${m.variant}: one profiled step ${m.kernels.totalMs.toFixed(0)} ms, of which outside kernels ${m.kernels.outsideMs.toFixed(0)} ms; top kernels (own time):`);
    for (const k of m.kernels.top) lines.push(`  ${k.kernel.padEnd(28)}${k.ms.toFixed(1).padStart(9)} ms${(100 * k.ms / m.kernels.totalMs).toFixed(1).padStart(7)}%${String(k.calls).padStart(7)} calls`);
  }
  return lines.join('\n');
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('bench', USAGE, args, {
    json: { type: 'boolean' }, model: { type: 'string' }, batch: { type: 'string' }, seq: { type: 'string' },
    image: { type: 'string' }, steps: { type: 'string' }, workers: { type: 'string' }, backend: { type: 'string' },
    checkpointing: { type: 'string' },
    peer: { type: 'string' }, kernels: { type: 'string' },
  });
  const kind = positionals[0];
  if (kind === 'accuracy') {
    throw new SpruftError('CONFIG_INVALID', 'spruft bench accuracy: accuracy needs a task and its data, so it runs from a config: '
      + '`spruft train <run.spruft.yaml>` with `compare: [lora, full, head]` trains the methods side by side and prints accuracy, per-label spread, '
      + 'trainable parameters and memory for each; scripts/experiments/image-importance.ts runs the paper\'s image experiment (metrics x seeds)');
  }
  if (kind !== 'memory' && kind !== 'speed') throw new SpruftError('CONFIG_INVALID', `spruft bench: say memory or speed\n${USAGE}`);
  const backend = (values.backend as string | undefined) ?? 'wasm';
  if (!(BACKENDS as readonly string[]).includes(backend)) throw new SpruftError('CONFIG_INVALID', `--backend must be one of ${BACKENDS.join(', ')}`);
  const checkpointing = (values.checkpointing as string | undefined) ?? 'none';
  if (!(BENCH_CHECKPOINTING as readonly string[]).includes(checkpointing)) {
    throw new SpruftError('CONFIG_INVALID', `--checkpointing must be one of ${BENCH_CHECKPOINTING.join(', ')} (got "${checkpointing}")`);
  }
  const result = await runBench({
    checkpointing: checkpointing as (typeof BENCH_CHECKPOINTING)[number],
    kind, model: (values.model as string | undefined) ?? 'decoder', backend: backend as BackendChoice,
    batch: intOption(values.batch, 'batch'), sequence: intOption(values.seq, 'seq'), image: intOption(values.image, 'image'), steps: intOption(values.steps, 'steps'),
    workers: intOption(values.workers, 'workers'),
    peer: peerOption(values.peer), topKernels: intOption(values.kernels, 'kernels', 0),
    onLog: (m) => process.stderr.write(m + '\n'),
  });
  if (values.json) printJson(result);
  else process.stdout.write(formatBench(result) + '\n');
  return 0;
}
