/**
 * Pretrain the project's small ViT foundation model with the project's own engine
 * (full training from Hugging Face style initial weights), then save it as a Hugging
 * Face style folder. No ViT weights ship in any package reachable here (DATA.md), so
 * the project makes its own: pretrained on Fashion-MNIST classes 0-4 (T-shirt/top,
 * Trouser, Pullover, Dress, Coat), it is fine-tuned in the examples and experiments on
 * other tasks (Fashion-MNIST classes 5-9, MNIST digits).
 *
 *   npx tsx scripts/pretrain-vit.ts --out models/vit-fashion-tiny
 *
 * Needs Debian's `dataset-fashion-mnist`. Deterministic for a seed on one backend.
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { resolveRunConfig } from '../protocol/config';
import { exportModel, mergeTraining } from '../runner/src/engine/adapterIO';
import { initBackend } from '../runner/src/engine/backend';
import { evaluateClassifier } from '../runner/src/engine/evaluate';
import { attachMethod, commitExtras } from '../runner/src/engine/methods';
import { loadTaskData } from '../runner/src/engine/taskData';
import { trainLoop } from '../runner/src/engine/train';
import { initVit } from '../runner/src/models/init';
import { VitModel, type VitConfig } from '../runner/src/models/vit';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'models/vit-fashion-tiny' },
    epochs: { type: 'string', default: '4' },
    seed: { type: 'string', default: '0' },
    'train-limit': { type: 'string' },
  },
});

async function main(): Promise<void> {
  const out = resolve(values.out!);
  const seed = Number(values.seed);
  const backend = await initBackend('wasm');
  const config: VitConfig = {
    model_type: 'vit', hidden_size: 64, num_hidden_layers: 4, num_attention_heads: 4, intermediate_size: 128,
    image_size: 28, patch_size: 4, num_channels: 1, layer_norm_eps: 1e-6, qkv_bias: true, num_labels: 5,
  };
  const model = new VitModel('vit-fashion-tiny', out, config, initVit(config, seed));
  const run = resolveRunConfig({
    model: { path: out }, task: 'image-classification',
    data: { dataset: 'fashion-mnist', classes: [0, 1, 2, 3, 4], image: { normalize: 'unit' }, ...(values['train-limit'] ? { trainLimit: Number(values['train-limit']) } : {}) },
    method: 'full',
    training: { optimizer: 'adamw', lr: 2e-3, weightDecay: 0.05, schedule: 'cosine', minLr: 1e-5, warmup: 0.05, epochs: Number(values.epochs), batchSize: 64, seed },
  }, { baseDir: process.cwd(), resolvePath: (b, p) => resolve(b, p) });
  const data = await loadTaskData(run, model);
  model.labelNames = data.labelNames;
  process.stderr.write(`${data.description}\nbackend: ${backend.name}\n`);
  const attached = attachMethod(model, { method: 'full', config: run, trainHead: true, seed });
  const started = Date.now();
  const outcome = await trainLoop({
    model, attached, train: data.train, config: run, runId: 'pretrain', method: 'full',
    onProgress: (e) => {
      if (e.step % 50 === 0 || e.step === e.totalSteps) {
        process.stderr.write(`step ${e.step}/${e.totalSteps} epoch ${e.epoch} loss ${e.loss?.toFixed(4)} lr ${e.lr?.toExponential(2)} ${e.samplesPerSec?.toFixed(0)}/s\n`);
      }
    },
  });
  mergeTraining(model);
  commitExtras(model);
  const metrics = await evaluateClassifier(model, data.eval, { batchSize: 256, labelNames: data.labelNames ?? [] });
  exportModel(model, out);
  const minutes = ((Date.now() - started) / 60000).toFixed(1);
  const report = [
    '# vit-fashion-tiny',
    '',
    'A small Vision Transformer (Hugging Face ViTForImageClassification layout) pretrained by this',
    'project, because no transformer weights ship in any package reachable offline (see DATA.md).',
    '',
    `- architecture: ${config.num_hidden_layers} layers, hidden ${config.hidden_size}, ${config.num_attention_heads} heads, MLP ${config.intermediate_size}, patch ${config.patch_size} on ${config.image_size}x${config.image_size}x${config.num_channels}; ${model.totalParams.toLocaleString('en')} parameters`,
    `- pretraining data: Fashion-MNIST training images of classes 0-4 (${data.labelNames?.join(', ')}), ${data.train.n} images, ${run.training.epochs} epochs, AdamW lr ${run.training.lr}, cosine schedule, batch ${run.training.batchSize}, seed ${seed}`,
    `- result: ${(100 * metrics.accuracy).toFixed(2)}% accuracy on the ${metrics.examples} Fashion-MNIST test images of those classes (loss ${metrics.loss.toFixed(4)}); ${outcome.steps} steps in ${minutes} min on the ${backend.name} backend`,
    '',
    'Made with:',
    '',
    '```',
    `npx tsx scripts/pretrain-vit.ts --out ${values.out} --epochs ${values.epochs} --seed ${seed}`,
    '```',
    '',
    'Fine-tuned in this project on other tasks: Fashion-MNIST classes 5-9 and MNIST digits.',
    '',
  ].join('\n');
  writeFileSync(join(out, 'README.md'), report);
  process.stderr.write(report);
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
