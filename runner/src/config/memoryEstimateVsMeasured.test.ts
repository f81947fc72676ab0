/**
 * The memory estimate (from config.json alone) against training steps measured on the
 * engine (paper C.3's components, the buffer meter): small Llama and ViT models, SPruFT,
 * LoRA, VeRA, DoRA and full, with and without `training.checkpointing: blocks`. Stated tolerance:
 * trainable parameters, gradients and Adam state exact; the activation cache and the
 * dropout masks within 2% (they are counted op by op); the peak of the step (mem_TTL)
 * within 20% (the estimate does not follow every transient of backward).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolveRunConfig, type Checkpointing, type RunConfigFile } from '../../../protocol/config';
import type { MethodName } from '../../../protocol/results';
import { makeBatch, type Examples } from '../engine/batches';
import { attachMethod, detachMethod } from '../engine/methods';
import { useBackend } from '../tensor/ops/testing';
import { Rng } from '../tensor/rng';
import { scoreRows } from '../engine/score';
import { inferencePeakBytes, StepRunner } from '../engine/step';
import { tf } from '../tensor/tf';
import { initLlama, initVit } from '../models/init';
import { inspectModelHeader } from '../models/inspect';
import { inferenceContext } from '../models/layer';
import { LlamaModel, type LlamaConfig } from '../models/llama';
import type { Model } from '../models/model';
import { VitModel, type VitConfig } from '../models/vit';
import { estimateTrainingMemory } from './memoryEstimate';
import { selectTargetLayers } from './targets';

const LLAMA: LlamaConfig = {
  model_type: 'llama', vocab_size: 512, hidden_size: 128, intermediate_size: 352, num_hidden_layers: 3,
  num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 64, tie_word_embeddings: false,
};
const VIT: VitConfig = {
  model_type: 'vit', hidden_size: 96, num_hidden_layers: 3, num_attention_heads: 4, intermediate_size: 192,
  image_size: 16, patch_size: 2, num_channels: 1, num_labels: 5,
};

interface Case {
  name: string;
  config: LlamaConfig | VitConfig;
  model: () => Model;
  examples: Examples;
  file: (dir: string) => RunConfigFile;
  methods: MethodName[];
}

const rng = new Rng(4);
const CASES: Case[] = [
  {
    name: 'Llama', config: LLAMA,
    model: () => new LlamaModel('llama', '', { ...LLAMA }, initLlama(LLAMA, 0)),
    examples: { kind: 'tokens', n: 2, length: 48, ids: Int32Array.from({ length: 96 }, () => rng.int(LLAMA.vocab_size)), mask: new Uint8Array(96).fill(1) },
    file: (dir) => ({ model: { path: dir }, task: 'causal-lm', data: { dataset: 'text', text: { maxLength: 48 } } }),
    methods: ['spruft', 'lora', 'full', 'vera', 'dora'],
  },
  {
    name: 'ViT', config: VIT,
    model: () => new VitModel('vit', '', { ...VIT }, initVit(VIT, 0)),
    examples: { kind: 'images', n: 4, shape: [16, 16, 1], inputs: rng.fillNormal(new Float32Array(4 * 256)), labels: Int32Array.from([0, 1, 2, 3]) },
    file: (dir) => ({ model: { path: dir }, task: 'image-classification', data: { dataset: 'mnist', image: { size: 16, channels: 1 } } }),
    methods: ['spruft', 'lora', 'vera', 'dora'],
  },
];

describe('memory estimate vs measured steps', () => {
  const dirs: string[] = [];
  before(() => useBackend('wasm'));
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  for (const c of CASES) {
    it(`${c.name}: components within the stated tolerance, with and without checkpointing`, async () => {
      // The estimate sees only config.json, as `spruft check` does for a model without weights.
      const dir = mkdtempSync(join(tmpdir(), 'estimate-'));
      dirs.push(dir);
      writeFileSync(join(dir, 'config.json'), JSON.stringify(c.config));
      const inspected = inspectModelHeader(dir);
      assert.equal(inspected.fromConfigOnly, true);
      const model = c.model();
      assert.equal(inspected.params, model.totalParams, 'parameters counted from config.json');
      const all = Int32Array.from({ length: c.examples.n }, (_, i) => i);
      try {
        const memM = await inferencePeakBytes(model, makeBatch(c.examples, all), inferenceContext());
        const tensors = tf.memory().numTensors;
        for (const checkpointing of ['none', 'blocks'] as Checkpointing[]) {
          for (const method of c.methods) {
            const what = `${c.name} ${method}${checkpointing === 'blocks' ? ' ckpt' : ''}`;
            const config = resolveRunConfig({
              ...c.file(dir), method, lora: { rank: 8, alpha: 16, dropout: 0.1 }, vera: { rank: 8, dropout: 0.1 }, spruft: { rank: 16 },
              targets: { layerTypes: ['linear'] }, training: { batchSize: c.examples.n, checkpointing },
            }, { baseDir: '/', resolvePath: (_b, p) => p });
            const estimate = estimateTrainingMemory(inspected, config, method, selectTargetLayers(inspected, config.targets).layers);
            const selection = method === 'spruft' ? (await scoreRows(model, config, c.examples)).layers : undefined;
            const attached = attachMethod(model, { method, config, selection, trainHead: config.task !== 'causal-lm', seed: 0 });
            const runner = new StepRunner(model, attached, { kind: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 });
            try {
              const ctx = { training: true, dropoutRng: new Rng(3), dropoutMaskBytes: 0, checkpointBlocks: checkpointing === 'blocks' };
              const { memory } = await runner.measured(() => makeBatch(c.examples, all), 1, 1e-5, ctx, memM);
              const m = memory.breakdown;
              const e = estimate.breakdown;
              assert.equal(estimate.trainableParams, attached.trainableParams, `${what}: trainable parameters`);
              assert.equal(e.params, m.params, `${what}: params`);
              assert.equal(e.optimizer, m.optimizer, `${what}: Adam state`);
              const near = (est: number, meas: number, tol: number, part: string): void => {
                assert.ok(Math.abs(est - meas) <= tol * Math.max(meas, 1), `${what}: ${part} estimated ${est} B, measured ${meas} B`);
              };
              near(e.cache, m.cache, 0.02, 'cache');
              near(e.dropout, m.dropout, 0.02, 'dropout masks');
              near(estimate.peakBytes, memory.peakTrain, 0.2, 'peak of the step');
            } finally {
              runner.dispose();
              detachMethod(model);
            }
            assert.equal(tf.memory().numTensors, tensors, `${what}: no tensor leaks`);
          }
        }
      } finally {
        model.dispose();
      }
    });
  }
});
