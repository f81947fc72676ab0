/**
 * Fingerprints of every method's numbers, to show that a refactor of the method modules
 * (runner/src/engine/methods/) changed no result: run it before and after and diff the
 * output (it must be identical, line for line).
 *
 *   npx tsx scripts/check-methods-identical.ts > /tmp/before.txt
 *   ... change the code ...
 *   npx tsx scripts/check-methods-identical.ts > /tmp/after.txt && diff /tmp/before.txt /tmp/after.txt
 *
 * Two parts:
 *  - the main job (examples/mnist-mobilenet.spruft.yaml: MobileNetV2 on MNIST, conv2d
 *    targets) cut to a few steps on a few hundred images, every method trained in one
 *    process (`compare`), then one more SPruFT run over every conv, depthwise and
 *    batchnorm layer: per method the loss of each step, the evaluation, the measured
 *    memory, the sha256 of the adapter's tensors, and of the model `spruft merge` writes;
 *  - the bench decoder (run/bench.ts DECODER_SHAPE, random weights): spruft (also with
 *    freezeAttention, and over linear + rmsnorm layers with dependency groups), lora
 *    (also FA) and full, three Adam steps each with dropout: the losses, the trained
 *    tensors' bytes, the model FLOPs per step and the memory estimate, the adapter's
 *    bytes, the logits after applying the adapter to a fresh model, and after merging it.
 * Minutes on a 2-core machine (wasm backend, with the native BLAS kernels when built).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveRunConfig, type ResolvedRunConfig, type RunConfigFile } from '../protocol/config';
import type { MethodName, RunResult } from '../protocol/results';
import { RUN_FILES } from '../protocol/runFolder';
import { startTrain } from '../runner/src/app';
import { estimateTrainingMemory } from '../runner/src/config/memoryEstimate';
import { selectTargetLayers } from '../runner/src/config/targets';
import { applyAdapter, exportModel, mergeTraining, writeAdapter } from '../runner/src/engine/adapterIO';
import { makeBatch } from '../runner/src/engine/batches';
import { trainingStepFlops, tracePositions } from '../runner/src/engine/flops';
import { attachMethod, detachMethod } from '../runner/src/engine/methods';
import { scoreRows } from '../runner/src/engine/score';
import { StepRunner } from '../runner/src/engine/step';
import { inferenceContext } from '../runner/src/models/layer';
import { initLlama } from '../runner/src/models/init';
import { inspectConfig } from '../runner/src/models/inspect';
import { LlamaModel } from '../runner/src/models/llama';
import { DECODER_SHAPE } from '../runner/src/run/bench';
import { ensureBackend, readResolved } from '../runner/src/run/session';
import { loadModel } from '../runner/src/models/load';
import { configDir } from '../runner/src/io/npmPackage';
import { Rng } from '../runner/src/tensor/rng';
import { tf } from '../runner/src/tensor/tf';

const sha = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex').slice(0, 16);
const out = (line: string): void => void process.stdout.write(line + '\n');

/**
 * sha256 over a folder's files (sorted by name): `tensors` over the binary files (the
 * adapter's or merged model's weights), `records` over the JSON files without the keys
 * that hold times (the resolved config a record copies changes when config defaults do).
 */
function folderHash(dir: string): string {
  const tensors = createHash('sha256');
  const records = createHash('sha256');
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) continue;
    if (name.endsWith('.json')) records.update(name).update(JSON.stringify(JSON.parse(readFileSync(path, 'utf8'), (k, v) => (k === 'createdAt' ? undefined : v))));
    else tensors.update(name).update(readFileSync(path));
  }
  return `tensors ${tensors.digest('hex').slice(0, 16)} records ${records.digest('hex').slice(0, 16)}`;
}

async function mainJob(tmp: string, name: string, edit: (yaml: string) => string): Promise<void> {
  const configPath = join(import.meta.dirname, '..', 'examples', 'mnist-mobilenet.spruft.yaml');
  const text = edit(readFileSync(configPath, 'utf8')
    .replace(/trainLimit: \d+/, 'trainLimit: 160').replace(/evalLimit: \d+/, 'evalLimit: 64')
    .replace(/dir: \.\.\/runs/, `dir: ${join(tmp, name)}`));
  const losses = new Map<string, number[]>();
  const started = await startTrain({ configPath, text, overrides: { maxSteps: 3 } }, {
    // Steps 1 and the last always report (the others as time allows).
    onProgress: (e) => { if (e.loss !== undefined && e.phase === 'training' && (e.step === 1 || e.step === e.totalSteps)) losses.set(e.method, [...(losses.get(e.method) ?? []), e.loss]); },
  });
  const result = await started.done;
  for (const r of [result, ...(result.compared ?? [])] as RunResult[]) {
    const p = `${name} ${r.method}`;
    out(`${p} trainable ${r.trainableParams} of ${r.totalParams}`);
    out(`${p} losses ${(losses.get(r.method) ?? []).join(' ')}`);
    out(`${p} metrics ${JSON.stringify(r.metrics, (k, v) => (k === 'confusion' ? undefined : v))}`);
    out(`${p} mem ${JSON.stringify(r.mem)}`);
    out(`${p} adapter ${folderHash(join(r.runDir, RUN_FILES.adapterDir))}`);
    // What `spruft merge` does, for compared methods too (their folders are no run folders).
    const c = readResolved(result.runDir);
    const model = loadModel(c.model.path, { format: c.model.format, cutAt: c.model.cutAt, seed: c.training.seed, from: configDir(c) });
    applyAdapter(join(r.runDir, RUN_FILES.adapterDir), model);
    const layers = mergeTraining(model);
    const merged = join(tmp, `${name}-${r.method}-merged`);
    exportModel(model, merged);
    model.dispose();
    out(`${p} merged ${layers} layers ${folderHash(merged)}`);
  }
}

interface DecoderVariant { label: string; method: MethodName; file: Partial<RunConfigFile> }

async function decoder(tmp: string): Promise<void> {
  const c = { ...DECODER_SHAPE, num_hidden_layers: 2 };
  const batch = 2, length = 24;
  const rng = new Rng(1);
  const examples = { kind: 'tokens' as const, n: batch, length, ids: Int32Array.from({ length: batch * length }, () => rng.int(c.vocab_size)), mask: new Uint8Array(batch * length).fill(1) };
  const base: RunConfigFile = { model: { path: 'bench' }, task: 'causal-lm', data: { dataset: 'text', text: { maxLength: length } }, lora: { rank: 16, alpha: 16, dropout: 0.1 }, spruft: { rank: 32, importance: { metric: 'l2' } } };
  const linear = (fa: boolean): Partial<RunConfigFile> => ({ targets: { layerTypes: ['linear'], freezeAttention: fa } });
  const variants: DecoderVariant[] = [
    { label: 'spruft', method: 'spruft', file: linear(false) },
    { label: 'spruft-fa', method: 'spruft', file: linear(true) },
    { label: 'spruft-dep-norms', method: 'spruft', file: { targets: { layerTypes: ['linear', 'norm'] }, spruft: { rank: 8, trainBias: true, dependency: true, importance: { metric: 'l2' } } } },
    { label: 'lora', method: 'lora', file: linear(false) },
    { label: 'lora-fa', method: 'lora', file: linear(true) },
    { label: 'full', method: 'full', file: {} },
  ];
  const inspected = inspectConfig('bench', { ...c }, 'bench');
  const fresh = (): LlamaModel => new LlamaModel('bench', '', c, initLlama(c, 0));
  const model = fresh();
  const fingerprint = model.fingerprint();
  const newBatch = () => makeBatch(examples, Int32Array.from({ length: batch }, (_, i) => i));
  const x = newBatch();
  const logits = (m: LlamaModel): string => {
    const y = tf.tidy(() => m.forward(x.x, inferenceContext()));
    const h = sha(new Uint8Array((y.dataSync() as Float32Array).buffer));
    y.dispose();
    return h;
  };
  for (const v of variants) {
    const config: ResolvedRunConfig = resolveRunConfig({ ...base, ...v.file, method: v.method, training: { batchSize: batch, seed: 0 } }, { baseDir: '/', resolvePath: (_b, p) => p });
    const selection = v.method === 'spruft' ? (await scoreRows(model, config, examples)).layers : undefined;
    const attached = attachMethod(model, { method: v.method, config, selection, trainHead: false, seed: 0 });
    const p = `decoder ${v.label}`;
    out(`${p} variant "${attached.variant}" trainable ${attached.trainableParams} of ${attached.totalParams} names ${sha(attached.trainables.map((t) => `${t.name.replace(/#\d+$/, '')}:${t.variable.shape}`).join(','))}`);
    const estimate = estimateTrainingMemory(inspected, config, v.method, selectTargetLayers(inspected, config.targets).layers);
    out(`${p} estimate ${JSON.stringify(estimate)}`);
    out(`${p} flops ${trainingStepFlops(tracePositions(model, x), { blocks: c.num_hidden_layers, batch, length, width: c.hidden_size })}`);
    const runner = new StepRunner(model, attached, { kind: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 });
    const dropoutRng = new Rng(3);
    const losses: number[] = [];
    for (let i = 0; i < 3; i++) losses.push(runner.run(newBatch, 1, 1e-3, { training: true, dropoutRng, dropoutMaskBytes: 0 }));
    out(`${p} losses ${losses.join(' ')}`);
    const h = createHash('sha256');
    for (const t of attached.trainables) h.update(new Uint8Array((t.variable.dataSync() as Float32Array).buffer));
    out(`${p} trained ${h.digest('hex').slice(0, 16)}`);
    out(`${p} logits ${logits(model)}`);
    const dir = join(tmp, `decoder-${v.label}`);
    writeAdapter(dir, model, attached, { config, fingerprint, metric: selection ? 'l2' : undefined });
    out(`${p} adapter ${folderHash(dir)}`);
    const other = fresh();
    applyAdapter(dir, other);
    out(`${p} applied ${logits(other)}`);
    mergeTraining(other);
    out(`${p} merged ${logits(other)}`);
    other.dispose();
    detachMethod(model);
  }
  out(`decoder tensors after ${tf.memory().numTensors}`);
  model.dispose();
}

async function main(): Promise<void> {
  await ensureBackend('wasm');
  const tmp = mkdtempSync(join(tmpdir(), 'methods-identical-'));
  try {
    await decoder(tmp);
    await mainJob(tmp, 'main', (y) => y.replace('compare: [lora, full]', 'compare: [lora, full, head]'));
    await mainJob(tmp, 'main-all-layers', (y) => y
      .replace('compare: [lora, full]', 'compare: []')
      .replace('layerTypes: [conv2d]', 'layerTypes: [conv2d, norm]')
      .replace(/exclude: .*$/m, 'exclude: []'));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
