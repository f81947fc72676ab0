/**
 * The Hugging Face language architectures (GPT-2, BERT, RoBERTa, Llama, Mistral, Qwen2):
 * logits against independent float64 references (reference64.ts), causal masks, padding,
 * the config-vs-weights check, sharded and half-precision checkpoints, and merges that
 * come back in the same layout and dtypes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolveRunConfig } from '../../../protocol/config';
import type { MethodName } from '../../../protocol/results';
import { valueAndGrads } from '../tensor/autodiff';
import { exportModel, mergeTraining } from '../engine/adapterIO';
import { makeBatch, type Examples } from '../engine/batches';
import { taskLoss } from '../engine/loss';
import { attachMethod, detachMethod } from '../engine/methods';
import { assertClose, useBackend } from '../tensor/ops/testing';
import { Rng } from '../tensor/rng';
import { tf } from '../tensor/tf';
import { SpruftError } from '../errors';
import { readHfFolder, readHfHeader, writeHfFolder } from '../io/hfFolder';
import { checkGroups } from '../engine/dependency/groups';
import { initFromSpec } from './init';
import { inferenceContext, type ForwardContext } from './layer';
import { buildHfModel, loadModel } from './load';
import type { Model, RawWeights } from './model';
import { inspectModelHeader } from './inspect';
import { bertLogits64, gpt2Logits64, llamaLogits64 } from './reference64';
import { languageModelSpec } from './specs';
import { packTokenTypes } from './tokenTypes';

interface Case {
  name: string;
  config: Record<string, unknown>;
  /** Logits of one sequence, float64. */
  reference: (raw: RawWeights, ids: number[]) => Float64Array;
  decoder: boolean;
  pad?: number;
}

const llamaBase = { vocab_size: 13, hidden_size: 8, intermediate_size: 12, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 16, rms_norm_eps: 1e-6 };
const CASES: Case[] = [
  { name: 'GPT-2', decoder: true, config: { model_type: 'gpt2', vocab_size: 13, n_positions: 16, n_embd: 8, n_layer: 2, n_head: 2, n_inner: null, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5 }, reference: (r, ids) => gpt2Logits64(CASES[0].config as never, r, ids) },
  { name: 'BERT', decoder: false, pad: 0, config: { model_type: 'bert', vocab_size: 13, hidden_size: 8, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 12, max_position_embeddings: 16, type_vocab_size: 2, layer_norm_eps: 1e-12, pad_token_id: 0, num_labels: 3 }, reference: (r, ids) => bertLogits64(CASES[1].config, r, ids) },
  { name: 'RoBERTa', decoder: false, pad: 1, config: { model_type: 'roberta', vocab_size: 13, hidden_size: 8, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 12, max_position_embeddings: 18, type_vocab_size: 1, layer_norm_eps: 1e-5, pad_token_id: 1, num_labels: 3 }, reference: (r, ids) => bertLogits64(CASES[2].config, r, ids) },
  { name: 'Qwen2 (q/k/v biases)', decoder: true, config: { model_type: 'qwen2', ...llamaBase, tie_word_embeddings: false }, reference: (r, ids) => llamaLogits64(CASES[3].config as never, r, ids) },
  { name: 'Mistral (sliding window 3)', decoder: true, config: { model_type: 'mistral', ...llamaBase, sliding_window: 3, tie_word_embeddings: false }, reference: (r, ids) => llamaLogits64(CASES[4].config as never, r, ids) },
  { name: 'Llama (tied, head_dim 4 of 2 heads)', decoder: true, config: { model_type: 'llama', ...llamaBase, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 4, tie_word_embeddings: true }, reference: (r, ids) => llamaLogits64(CASES[5].config as never, r, ids) },
];

/** Random weights with random biases and norm parameters, so every path carries a signal. */
function weightsOf(c: Case, seed: number): RawWeights {
  return initFromSpec(languageModelSpec(c.config)!, seed, { std: 0.5, biasStd: 0.3, normStd: 0.2 });
}

function build(c: Case, raw: RawWeights): Model {
  return buildHfModel(c.name, '', structuredClone(c.config), raw);
}

function logits(model: Model, ids: number[][]): Float32Array {
  return tf.tidy(() => model.forward(tf.tensor2d(ids, [ids.length, ids[0].length], 'int32'), inferenceContext()).dataSync() as Float32Array);
}

const SEQS = [[2, 7, 3, 11, 5, 9], [4, 4, 12, 6, 8, 10]];

describe('HF language architectures', () => {
  before(() => useBackend('wasm'));

  for (const c of CASES) {
    it(`${c.name}: logits equal an independent float64 reference`, () => {
      const raw = weightsOf(c, 1);
      const model = build(c, raw);
      logits(model, SEQS); // the first pass caches the causal mask of this length
      const before = tf.memory().numTensors;
      const ours = logits(model, SEQS);
      assert.equal(tf.memory().numTensors, before, 'forward leaked tensors');
      const expected = SEQS.flatMap((s) => Array.from(c.reference(raw, s)));
      assert.equal(ours.length, expected.length);
      assertClose(ours, expected, 1e-4, `${c.name} logits`);
      model.dispose();
    });

    it(`${c.name}: dependency groups (appendix B) are consistent with the layers`, () => {
      const model = build(c, weightsOf(c, 1));
      const groups = model.dependencies()!;
      checkGroups(model, groups);
      assert.ok(groups.some((g) => g.name === 'residual stream' && g.rows.length > 4) && groups.some((g) => /mlp/.test(g.name)));
      model.dispose();
    });

    if (c.decoder) {
      it(`${c.name}: a future token cannot change a past logit`, () => {
        const model = build(c, weightsOf(c, 2));
        const a = logits(model, [[2, 7, 3, 11, 5, 9]]);
        const b = logits(model, [[2, 7, 3, 11, 5, 1]]);
        const v = a.length / 6;
        assert.deepEqual(Array.from(a.subarray(0, 5 * v)), Array.from(b.subarray(0, 5 * v)), 'positions 0-4 unchanged');
        assert.ok(a.subarray(5 * v).some((x, i) => Math.abs(x - b[5 * v + i]) > 1e-4), 'the changed position itself changes');
        model.dispose();
      });
    } else {
      it(`${c.name}: padding changes nothing`, () => {
        const model = build(c, weightsOf(c, 3));
        const pad = c.pad!;
        const short = logits(model, [[2, 7, 3, 11]]);
        const padded = logits(model, [[2, 7, 3, 11, pad, pad, pad]]);
        assertClose(padded, short, 1e-5, `${c.name} padded logits`);
        model.dispose();
      });
    }
  }

  it('BERT token types (a text pair\'s segment ids, packed into the ids) against the float64 reference; RoBERTa reads one type', () => {
    const c = CASES[1];
    const raw = weightsOf(c, 6);
    const model = build(c, raw);
    assert.deepEqual(model.input, { kind: 'tokens', vocabSize: 13, maxLength: 16, tokenTypes: 2 });
    // [CLS] a [SEP] b [SEP] pad: types 0 0 0 1 1 0.
    const seqs = [[2, 7, 3, 11, 3, 0], [2, 4, 12, 3, 8, 3]];
    const types = [[0, 0, 0, 1, 1, 0], [0, 0, 0, 0, 1, 1]];
    const packed = seqs.map((s, i) => Array.from(packTokenTypes(Int32Array.from(s), Int32Array.from(types[i]), 13, 2)));
    assert.deepEqual(packed[0], [2, 7, 3, 24, 16, 0]);
    logits(model, packed);
    const before = tf.memory().numTensors;
    const ours = logits(model, packed);
    assert.equal(tf.memory().numTensors, before, 'forward leaked tensors');
    assertClose(ours, seqs.flatMap((s, i) => Array.from(bertLogits64(c.config, raw, s, types[i]))), 1e-4, 'BERT logits with token types');
    // The types matter: the same ids as one segment give other logits.
    const single = seqs.flatMap((s) => Array.from(bertLogits64(c.config, raw, s)));
    assert.ok(ours.some((v, i) => Math.abs(v - single[i]) > 1e-3), 'type-1 tokens change the logits');
    assertClose(logits(model, seqs), single, 1e-4, 'plain ids are type 0');
    assert.throws(() => packTokenTypes(Int32Array.from([2]), Int32Array.from([2]), 13, 2), /token type 2 is outside the model's 2 token types/);
    model.dispose();
    const roberta = build(CASES[2], weightsOf(CASES[2], 6));
    assert.equal((roberta.input as { tokenTypes?: number }).tokenTypes, undefined);
    roberta.dispose();
  });

  it('Mistral sliding window: a token beyond the window no longer reaches a position', () => {
    const c = CASES[4];
    const model = build(c, weightsOf(c, 4));
    const v = 13;
    // With window 3 and 2 layers, position 5 sees positions >= 1 (two hops): position 0 cannot reach it.
    const a = logits(model, [[2, 7, 3, 11, 5, 9]]);
    const b = logits(model, [[8, 7, 3, 11, 5, 9]]);
    assertClose(a.subarray(5 * v), b.subarray(5 * v), 1e-6, 'position 5');
    assert.ok(a.subarray(2 * v, 3 * v).some((x, i) => Math.abs(x - b[2 * v + i]) > 1e-4), 'position 2 sees position 0');
    model.dispose();
  });

  describe('engine tape equals tfjs autograd on every method (incl. dependency groups)', () => {
    for (const c of CASES) {
      for (const method of ['spruft', 'lora', 'full'] as MethodName[]) {
        it(`${c.name}, ${method}`, () => {
          const model = build(c, weightsOf(c, 5));
          const task = c.decoder ? 'causal-lm' : 'text-classification';
          const config = resolveRunConfig({
            model: { path: 'x' }, task, data: { dataset: c.decoder ? 'text' : 'jsonl' },
            targets: { layerTypes: ['linear', 'norm'] }, lora: { rank: 2, dropout: 0 },
          }, { baseDir: '/', resolvePath: (_b, p) => p });
          const rng = new Rng(9);
          const selection = model.layers.filter((l) => !l.head).map((l) => {
            const rows = [...new Set([0, rng.int(l.dOut), l.dOut - 1])].sort((a, b) => a - b);
            // SPruFT with dependent input columns too (appendix B's W_f,dep) on the linears.
            const columns = method === 'spruft' && l.kind === 'linear' ? [1, l.dIn - 2] : undefined;
            return { name: l.name, kind: l.kind, rows, scores: rows.map(() => 1), dOut: l.dOut, dIn: l.dIn, columns };
          });
          const attached = attachMethod(model, { method, config, selection, trainHead: !c.decoder, seed: 1 });
          tf.tidy(() => attached.trainables.forEach((t, i) => t.variable.assign(tf.add(t.variable, tf.mul(tf.randomNormal(t.variable.shape, 0, 1, 'float32', 10 + i), 0.05)))));
          // BERT reads token types: positions 3-4 of each row are the second text of a pair (type 1, packed).
          const types = model.input.kind === 'tokens' && (model.input.tokenTypes ?? 1) > 1 ? 13 : 0;
          const ids = Int32Array.from(SEQS.flat().map((x, i) => (!c.decoder && i % 6 === 5 ? c.pad! : x + (i % 6 === 3 || i % 6 === 4 ? types : 0))));
          const data: Examples = c.decoder
            ? { kind: 'tokens', n: 2, length: 6, ids, mask: new Uint8Array(12).fill(1) }
            : { kind: 'tokens', n: 2, length: 6, ids, mask: new Uint8Array(12).fill(1), labels: Int32Array.of(0, 2) };
          const batch = makeBatch(data, Int32Array.of(0, 1));
          const ctx = (): ForwardContext => ({ training: true, dropoutRng: new Rng(3), dropoutMaskBytes: 0 });
          const vars = attached.trainables.map((t) => t.variable);
          const ours = valueAndGrads(() => taskLoss(model.forward(batch.x, ctx()), batch), vars);
          const reference = tf.variableGrads(() => taskLoss(model.forward(batch.x, ctx()), batch), vars);
          assert.ok(Math.abs(ours.value - reference.value.dataSync()[0]) < 1e-4 * Math.max(1, Math.abs(ours.value)), 'same loss');
          attached.trainables.forEach((t, i) => {
            assertClose(ours.grads[i].dataSync(), reference.grads[t.variable.name].dataSync(), 3e-4, `${c.name} ${method} d${t.name}`);
          });
          assert.ok(ours.grads.every((g) => tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]) > 0), 'every trainable gets a gradient');
          tf.dispose([...ours.grads, reference.value, ...Object.values(reference.grads), batch.x, ...(batch.labels ? [batch.labels] : []), ...(batch.targets ? [batch.targets, batch.weights!] : [])]);
          detachMethod(model);
          model.dispose();
        });
      }
    }
  });

  describe('checkpoints on disk', () => {
    const dir = mkdtempSync(join(tmpdir(), 'spruft-hfarch-'));
    after(() => rmSync(dir, { recursive: true, force: true }));

    function expectInvalid(f: () => unknown, ...patterns: RegExp[]): void {
      assert.throws(f, (e: unknown) => {
        assert.ok(e instanceof SpruftError && e.code === 'MODEL_INVALID', `MODEL_INVALID expected, got ${String(e)}`);
        for (const p of patterns) assert.match(e.message, p);
        return true;
      });
    }

    it('a missing, an extra and a mis-shaped tensor, and a config that disagrees, are errors naming the tensor and both shapes', () => {
      const c = CASES[0];
      const raw = weightsOf(c, 6);
      const broken = new Map(raw);
      broken.delete('transformer.h.1.mlp.c_fc.bias');
      broken.set('transformer.h.0.attn.c_proj.weight', { shape: [8, 7], data: new Float32Array(56) });
      broken.set('transformer.h.0.attn.rotary', { shape: [3], data: new Float32Array(3) });
      expectInvalid(
        () => build(c, broken),
        /tensor "transformer\.h\.1\.mlp\.c_fc\.bias" is missing \(config\.json gives shape \[4 x n_embd = 32\]\)/,
        /"n_embd" disagrees with the weights: tensor "transformer\.h\.0\.attn\.c_proj\.weight" has shape \[8, 7\], config\.json gives \[n_embd = 8, n_embd = 8\]/,
        /tensor "transformer\.h\.0\.attn\.rotary" \(shape \[3\]\) is not part of a gpt2 model/,
      );
      // config.json says 3 layers, the weights have 2; and a wider MLP than the weights.
      expectInvalid(() => buildHfModel('g', '', { ...c.config, n_layer: 3 }, raw), /"n_layer" gives 3 layers, but the weights hold no tensor of layer 2 \(tensor "transformer\.h\.2\.ln_1\.weight", shape \[n_embd = 8\], is missing\)/);
      expectInvalid(() => buildHfModel('g', '', { ...c.config, n_inner: 16 }, raw), /"n_inner" disagrees with the weights: tensor "transformer\.h\.0\.mlp\.c_fc\.weight" has shape \[8, 32\], config\.json gives \[n_embd = 8, n_inner = 16\]/);
      // Qwen2 without its q bias; BERT with a hidden size the weights do not have.
      const q = new Map(weightsOf(CASES[3], 6));
      q.delete('model.layers.0.self_attn.q_proj.bias');
      expectInvalid(() => build(CASES[3], q), /tensor "model\.layers\.0\.self_attn\.q_proj\.bias" is missing \(config\.json gives shape \[num_attention_heads x [a-z_ /]+ = 8\]\)/);
      expectInvalid(() => buildHfModel('b', '', { ...CASES[1].config, intermediate_size: 10 }, weightsOf(CASES[1], 6)), /"intermediate_size" disagrees with the weights: tensor "bert\.encoder\.layer\.0\.intermediate\.dense\.weight" has shape \[12, 8\], config\.json gives \[intermediate_size = 10, hidden_size = 8\]/);
    });

    it('the same error from the header alone (spruft inspect / check), and GPT-2 layers with [d_out, d_in] rows', () => {
      const c = CASES[0];
      const folder = join(dir, 'gpt2-header');
      writeHfFolder(folder, { config: c.config, tensors: weightsOf(c, 7) });
      const inspected = inspectModelHeader(folder);
      const attn = inspected.layers.find((l) => l.name === 'transformer.h.0.attn.c_attn')!;
      assert.deepEqual([attn.shape, attn.dOut, attn.dIn, attn.attention], [[24, 8], 24, 8, true]);
      assert.equal(inspected.layers.find((l) => l.name === 'lm_head')?.head, true);
      // Only tensors the checkpoint holds are listed besides the layers (no absent optional score head).
      const qwen = join(dir, 'qwen2-header');
      writeHfFolder(qwen, { config: CASES[3].config, tensors: weightsOf(CASES[3], 7) });
      const q = inspectModelHeader(qwen);
      assert.deepEqual(q.layers.filter((l) => l.kind === 'embedding' || l.kind === 'other').map((l) => l.name), ['model.embed_tokens.weight']);
      assert.equal(q.layers.find((l) => l.name === 'model.layers.0.self_attn.q_proj')?.params, 8 * 8 + 8, 'q_proj with its bias');
      writeHfFolder(folder, { config: { ...c.config, n_embd: 16 }, tensors: weightsOf(c, 7) });
      expectInvalid(() => inspectModelHeader(folder), /"n_embd", "3 x n_embd" disagree with the weights: tensor "transformer\.h\.0\.attn\.c_attn\.weight" has shape \[8, 24\], config\.json gives \[n_embd = 16, 3 x n_embd = 48\]/, /and 20 more/);
    });

    it('bare base-model checkpoints (no task prefix, old buffers, pretraining heads) load as transformers loads them', () => {
      // GPT2Model as the hub's gpt2 is saved: h.0..., wte, with attn.bias buffers.
      const g = CASES[0];
      const raw = weightsOf(g, 8);
      const bare: RawWeights = new Map([...raw].map(([n, w]) => [n.replace(/^transformer\./, ''), w]));
      bare.set('h.0.attn.bias', { shape: [1, 1, 16, 16], data: new Float32Array(256) });
      assertClose(logits(build(g, bare), SEQS), logits(build(g, raw), SEQS), 0, 'GPT-2 without prefix');
      // BertModel + MLM head, no classifier and no pooler: new ones, initialised, and a warning-free load.
      const b = CASES[1];
      const braw = new Map([...weightsOf(b, 8)].filter(([n]) => !/^(classifier|bert\.pooler)\./.test(n)).map(([n, w]) => [n.replace(/^bert\./, ''), w] as const));
      braw.set('cls.predictions.bias', { shape: [13], data: new Float32Array(13) });
      const model = build(b, braw) as Model & { initialised: string[] };
      assert.deepEqual(model.initialised.sort(), ['bert.pooler.dense.bias', 'bert.pooler.dense.weight', 'classifier.bias', 'classifier.weight']);
      assert.equal(model.numLabels, 3);
    });

    it('sharded, fp16 and bf16 checkpoints load (widened to fp32) and give the reference logits of the stored values', () => {
      for (const [c, dtype] of [[CASES[0], 'F16'], [CASES[3], 'BF16'], [CASES[2], 'F16']] as const) {
        const folder = join(dir, `${c.config.model_type}-${dtype}`);
        writeHfFolder(folder, { config: c.config, tensors: weightsOf(c, 9), dtype, maxShardBytes: 600 });
        const header = readHfHeader(folder);
        assert.ok(header.files.length > 2, `sharded into ${header.files.length} files`);
        assert.ok(header.tensors.every((t) => t.dtype === dtype));
        const model = loadModel(folder);
        // The reference reads the stored (rounded) values through the same reader.
        const stored: RawWeights = new Map();
        for (const [n, t] of readHfFolder(folder).tensors) stored.set(n, { shape: t.shape, data: t.data });
        const ours = logits(model, SEQS);
        assertClose(ours, SEQS.flatMap((s) => Array.from(c.reference(stored, s))), 1e-4, `${c.name} ${dtype}`);
        model.dispose();
      }
    });

    it('a merged model, written in the same layout and dtypes, re-reads with the adapted outputs', () => {
      for (const c of [CASES[0], CASES[1], CASES[3]]) {
        const folder = join(dir, `${c.config.model_type}-merge-src`);
        writeHfFolder(folder, { config: c.config, tensors: weightsOf(c, 10), dtype: c.name === 'BERT' ? 'BF16' : 'F16' });
        const model = loadModel(folder);
        const config = resolveRunConfig({ model: { path: folder }, task: c.decoder ? 'causal-lm' : 'text-classification', data: { dataset: c.decoder ? 'text' : 'jsonl' }, targets: { layerTypes: ['linear', 'norm'] } }, { baseDir: '/', resolvePath: (_b, p) => p });
        const selection = model.layers.filter((l) => !l.head).map((l) => ({ name: l.name, kind: l.kind, rows: [0, l.dOut - 1], scores: [1, 1], dOut: l.dOut, dIn: l.dIn }));
        const attached = attachMethod(model, { method: 'spruft', config, selection, trainHead: false, seed: 1 });
        tf.tidy(() => attached.trainables.forEach((t, i) => t.variable.assign(tf.mul(tf.randomNormal(t.variable.shape, 0, 1, 'float32', 20 + i), 0.3))));
        const adapted = logits(model, SEQS);
        const base = (() => { const m = loadModel(folder); const l = logits(m, SEQS); m.dispose(); return l; })();
        assert.ok(adapted.some((x, i) => Math.abs(x - base[i]) > 1e-2), 'the adapter changes the outputs');
        assert.ok(mergeTraining(model) > 0);
        const out = join(dir, `${c.config.model_type}-merged`);
        exportModel(model, out);
        model.dispose();
        const src = readHfHeader(folder), merged = readHfHeader(out);
        assert.deepEqual(
          merged.tensors.map((t) => [t.name, t.dtype, t.shape.join('x')]).sort(),
          src.tensors.map((t) => [t.name, t.dtype, t.shape.join('x')]).sort(),
          'same names, dtypes and shapes',
        );
        assert.equal(merged.config.architectures?.toString(), { gpt2: 'GPT2LMHeadModel', bert: 'BertForSequenceClassification', qwen2: 'Qwen2ForCausalLM' }[c.config.model_type as string]);
        const reread = loadModel(out);
        // Merged weights are rounded to the stored half precision once more.
        assertClose(logits(reread, SEQS), adapted, 2e-2, `${c.name} merged`);
        reread.dispose();
      }
    });
  });
});
