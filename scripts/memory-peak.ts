/**
 * Where a training step's memory peak is, and what is alive there: one measured step of
 * the bench decoder (run/bench.ts `DECODER_SHAPE`, batch 4 x 128, or `--model
 * decoder-125m`) per method, with every data buffer the step allocates tagged with the
 * source line that made it. At the step's peak it prints the live buffers beyond the
 * frozen weights grouped by shape and origin, and the same for the inference pass that
 * mem_M measures (paper C.3: "mem" = the training peak minus that one), so that the
 * component that dominates "mem" can be named with its bytes.
 *
 *   npx tsx scripts/memory-peak.ts [--model decoder|decoder-125m] [--checkpointing none|blocks] [--methods spruft,lora] [--warmup 0]
 */
import { parseArgs } from 'node:util';
import { resolveRunConfig } from '../protocol/config';
import { initBackend } from '../runner/src/engine/backend';
import { makeBatch, type Examples } from '../runner/src/engine/batches';
import { attachMethod, detachMethod } from '../runner/src/engine/methods';
import { scoreRows } from '../runner/src/engine/score';
import { inferencePeakBytes, StepRunner } from '../runner/src/engine/step';
import { initLlama } from '../runner/src/models/init';
import { inferenceContext } from '../runner/src/models/layer';
import { LlamaModel } from '../runner/src/models/llama';
import { DECODER_125M_SHAPE, DECODER_SHAPE } from '../runner/src/run/bench';
import { liveBufferBytes } from '../runner/src/tensor/memory';
import { Rng } from '../runner/src/tensor/rng';
import { tf } from '../runner/src/tensor/tf';

Error.stackTraceLimit = 60;

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'decoder' },
    checkpointing: { type: 'string', default: 'blocks' },
    methods: { type: 'string', default: 'spruft,lora' },
    top: { type: 'string', default: '14' },
    warmup: { type: 'string', default: '0' },
  },
});

interface Tag { bytes: number; shape: string; where: string }
const live = new Map<object, Tag>();
let liveBytes = 0;
let peak = 0;
let atPeak: Tag[] = [];
let recording = false;

/** The first stack frame inside runner/src that is not the memory meter or tfjs glue. */
function origin(): string {
  const lines = (new Error().stack ?? '').split('\n').slice(2);
  const ours = lines.filter((l) => l.includes('/runner/src/') && !l.includes('/tensor/memory.ts') && !l.includes('/tensor/tf.ts'));
  const pick = ours.slice(0, 2).map((l) => (/runner\/src\/(.*?:\d+)/.exec(l)?.[1] ?? l.trim()));
  return pick.join(' < ') || 'tfjs';
}

(function install(): void {
  const engine = tf.engine() as unknown as {
    state: { tensorInfo: WeakMap<object, unknown> };
    trackTensor(a: tf.Tensor, backend: unknown): void;
    disposeTensor(a: tf.Tensor): void;
  };
  const track = engine.trackTensor.bind(engine);
  const dispose = engine.disposeTensor.bind(engine);
  engine.trackTensor = (a, backend) => {
    const fresh = !engine.state.tensorInfo.has(a.dataId);
    track(a, backend);
    if (!fresh || !recording) return;
    const bytes = a.size * (a.dtype === 'int32' || a.dtype === 'float32' ? 4 : 1);
    live.set(a.dataId, { bytes, shape: `${a.dtype}[${a.shape.join(',')}]`, where: origin() });
    liveBytes += bytes;
    if (liveBytes > peak) {
      peak = liveBytes;
      atPeak = [...live.values()];
    }
  };
  engine.disposeTensor = (a) => {
    dispose(a);
    const tag = live.get(a.dataId);
    if (tag && !engine.state.tensorInfo.has(a.dataId)) {
      live.delete(a.dataId);
      liveBytes -= tag.bytes;
    }
  };
})();

function record(f: () => void): { peak: number; tags: Tag[] } {
  start();
  try {
    f();
  } finally {
    recording = false;
  }
  return finish();
}

async function recordAsync(f: () => Promise<void>): Promise<{ peak: number; tags: Tag[] }> {
  start();
  try {
    await f();
  } finally {
    recording = false;
  }
  return finish();
}

function start(): void {
  live.clear();
  liveBytes = 0;
  peak = 0;
  atPeak = [];
  recording = true;
}

function finish(): { peak: number; tags: Tag[] } {
  const tags = atPeak;
  live.clear();
  return { peak, tags };
}

const mib = (b: number): string => (b / 2 ** 20).toFixed(2).padStart(7);

function report(title: string, r: { peak: number; tags: Tag[] }, top: number): void {
  const groups = new Map<string, { bytes: number; n: number }>();
  for (const t of r.tags) {
    const key = `${t.shape.padEnd(22)} ${t.where}`;
    const g = groups.get(key) ?? { bytes: 0, n: 0 };
    g.bytes += t.bytes;
    g.n += 1;
    groups.set(key, g);
  }
  console.log(`\n${title}: ${mib(r.peak)} MiB allocated by it alive at its peak (weights and what existed before excluded)`);
  for (const [k, g] of [...groups].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, top)) console.log(`  ${mib(g.bytes)} MiB  x${String(g.n).padEnd(3)} ${k}`);
}

async function main(): Promise<void> {
  await initBackend('wasm');
  const c = values.model === 'decoder-125m' ? DECODER_125M_SHAPE : DECODER_SHAPE;
  const [b, t] = values.model === 'decoder-125m' ? [2, 128] : [4, 128];
  const model = new LlamaModel('peak', '', { ...c }, initLlama({ ...c }, 0));
  const rng = new Rng(1);
  const examples: Examples = { kind: 'tokens', n: b, length: t, ids: Int32Array.from({ length: b * t }, () => rng.int(c.vocab_size)), mask: new Uint8Array(b * t).fill(1) };
  const all = Int32Array.from({ length: b }, (_, i) => i);
  const top = Number(values.top);
  const probe = makeBatch(examples, all);
  const memM = await inferencePeakBytes(model, probe, inferenceContext());
  report('inference (mem_M)', record(() => tf.tidy(() => { model.forward(probe.x, inferenceContext()); })), top);
  tf.dispose([probe.x, probe.targets!, probe.weights!]);
  for (const method of values.methods.split(',') as Array<'spruft' | 'lora' | 'full'>) {
    const config = resolveRunConfig({
      model: { path: 'bench' }, task: 'causal-lm', data: { dataset: 'text', text: { maxLength: t } }, method,
      lora: { rank: 16, alpha: 16, dropout: 0.1 }, spruft: { rank: 32, importance: { metric: 'l2' } },
      targets: { layerTypes: ['linear'] }, training: { batchSize: b, seed: 0, checkpointing: values.checkpointing as 'none' | 'blocks' },
    }, { baseDir: '/', resolvePath: (_b, p) => p });
    const selection = method === 'spruft' ? (await scoreRows(model, config, examples)).layers : undefined;
    const attached = attachMethod(model, { method, config, selection, trainHead: false, seed: 0 });
    const runner = new StepRunner(model, attached, { kind: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 });
    const ctx = { training: true, dropoutRng: new Rng(3), dropoutMaskBytes: 0, checkpointBlocks: values.checkpointing === 'blocks' };
    for (let i = 0; i < Number(values.warmup); i++) runner.run(() => makeBatch(examples, all), 1, 1e-5, { ...ctx, dropoutRng: new Rng(3) });
    const before = liveBufferBytes();
    // The step recorded is the one measured (as the bench measures its first step).
    let memory: Awaited<ReturnType<StepRunner['measured']>>['memory'] | undefined;
    const r = await recordAsync(async () => { memory = (await runner.measured(() => makeBatch(examples, all), 1, 1e-5, { ...ctx, dropoutRng: new Rng(3) }, memM)).memory; });
    console.log(`\n== ${attached.variant} (checkpointing ${values.checkpointing}): mem ${mib(memory!.breakdown.total)} MiB; trainable state alive before the step ${mib(before - model.weightBytes)} MiB`);
    report('training step', r, top);
    runner.dispose();
    detachMethod(model);
  }
}

void main();
