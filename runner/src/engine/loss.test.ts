/**
 * The fused, chunked LM-head loss (`lmHeadCrossEntropy`, `modelLoss`): its value and
 * gradients (hidden state, and the head's weight and bias when they train) against
 * float64 finite differences of an independent reference, against the unchunked loss over
 * all logits (`lmCrossEntropy`) for every chunking, and on a Llama under SPruFT, LoRA and
 * full against the model's logits and `taskLoss`; the forward keeps less than the logits.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { resolveRunConfig, type RunConfigFile } from '../../../protocol/config';
import type { LayerSelection, MethodName } from '../../../protocol/results';
import { makeBatch, type Examples } from './batches';
import { topRows } from './importance/selection';
import { lmCrossEntropy, lmHeadChunkRows, lmHeadCrossEntropy, modelLoss, taskLoss } from './loss';
import { tracePositions } from './flops';
import { attachMethod, detachMethod } from './methods';
import { inferencePeakBytes } from './step';
import { initLlama } from '../models/init';
import type { ForwardContext } from '../models/layer';
import { LlamaModel, type LlamaConfig } from '../models/llama';
import { valueAndGrads } from '../tensor/autodiff';
import { fullLinear } from '../tensor/ops/linear';
import { reshape } from '../tensor/ops/grad';
import { assertClose, gradCheck, input, useBackend } from '../tensor/ops/testing';
import { Rng } from '../tensor/rng';
import { tf } from '../tensor/tf';

/** float64 reference: sum_n w_n (logsumexp(z_n) - z_n[t_n]) / max(sum w, 1), z_n = W h_n + b. */
function reference64(h: Float64Array, w: Float64Array, b: Float64Array | undefined, t: number[], wt: number[], d: number, v: number): number {
  let total = 0;
  let wsum = 0;
  for (let n = 0; n < t.length; n++) {
    const z = new Float64Array(v);
    for (let k = 0; k < v; k++) {
      let s = b ? b[k] : 0;
      for (let j = 0; j < d; j++) s += w[k * d + j] * h[n * d + j];
      z[k] = s;
    }
    const m = Math.max(...z);
    let e = 0;
    for (let k = 0; k < v; k++) e += Math.exp(z[k] - m);
    total += wt[n] * (m + Math.log(e) - z[t[n]]);
    wsum += wt[n];
  }
  return total / Math.max(wsum, 1);
}

describe('fused chunked LM-head loss', () => {
  before(async () => useBackend('wasm'));

  const N = 7;
  const D = 5;
  const V = 11;
  const targets = [3, 0, 10, 7, 7, 1, 4];
  const weights = [1, 1, 0, 1, 1, 0, 1];

  for (const rows of [1, 3, 7]) {
    it(`matches float64 finite differences in h, W and b (chunks of ${rows} tokens)`, () => {
      const rng = new Rng(21);
      const t = tf.tensor1d(targets, 'int32');
      const wt = tf.tensor1d(weights);
      gradCheck(rng, {
        inputs: { h: input(rng, [N, D]), w: input(rng, [V, D], 0.7), b: input(rng, [V], 0.3) },
        wrt: ['h', 'w', 'b'],
        forward: (x) => lmHeadCrossEntropy(x.h, { weight: x.w, bias: x.b, weightTrains: true, biasTrains: true }, t, wt, rows),
        reference: (a) => Float64Array.of(reference64(a.h, a.w, a.b, targets, weights, D, V)),
        tol: 2e-4,
        what: `lmHeadCrossEntropy rows=${rows}`,
      });
      tf.dispose([t, wt]);
    });
  }

  it('equals the loss over all logits, value and gradients, on both tapes and for every chunking', () => {
    const rng = new Rng(4);
    const [b, tt, d, v] = [3, 5, 8, 37];
    const h = tf.variable(tf.tensor(input(rng, [b, tt, d]).data, [b, tt, d]));
    const w = tf.variable(tf.tensor(input(rng, [v, d], 0.5).data, [v, d]));
    const bias = tf.variable(tf.tensor(input(rng, [v], 0.2).data, [v]));
    const t = tf.tensor2d(Int32Array.from({ length: b * tt }, () => rng.int(v)), [b, tt], 'int32');
    const wt = tf.tensor2d(Float32Array.from({ length: b * tt }, (_, i) => (i % 4 === 2 ? 0 : 1)), [b, tt]);
    // All logits, through the engine's own linear op (the reference the fused loss must equal).
    const full = (): tf.Scalar => lmCrossEntropy(fullLinear(reshape(h, [b * tt, d]), w, bias, true), t, wt);
    const reference = valueAndGrads(full, [h, w, bias]);
    const before = tf.memory().numTensors;
    for (const rows of [1, 4, 6, 15, 100]) {
      for (const trains of [false, true]) {
        const vars = trains ? [h, w, bias] : [h];
        const fused = (): tf.Scalar => lmHeadCrossEntropy(h, { weight: w, bias, weightTrains: trains, biasTrains: trains }, t, wt, rows);
        const ours = valueAndGrads(fused, vars);
        assert.ok(Math.abs(ours.value - reference.value) <= 1e-6 * Math.abs(reference.value), `rows=${rows}: loss ${ours.value} vs ${reference.value}`);
        ours.grads.forEach((g, i) => assertClose(g.dataSync(), reference.grads[i].dataSync(), 1e-6, `rows=${rows} trains=${trains}: grad ${i} (engine tape)`));
        // Under tfjs's own tape (one customGrad node), as the importance metrics run it.
        const tfjs = tf.variableGrads(fused, vars);
        vars.forEach((x, i) => assertClose(tfjs.grads[x.name].dataSync(), reference.grads[i].dataSync(), 1e-6, `rows=${rows} trains=${trains}: grad ${i} (tfjs tape)`));
        tf.dispose([...ours.grads, tfjs.value, ...Object.values(tfjs.grads)]);
      }
    }
    assert.equal(tf.memory().numTensors, before, 'tensors leaked');
    tf.dispose([h, w, bias, t, wt, ...reference.grads]);
  });

  it('chunks by about 2^18 logits, never fewer than 16 tokens', () => {
    assert.equal(lmHeadChunkRows(2048), 128);
    assert.equal(lmHeadChunkRows(32000), 16);
    assert.equal(lmHeadChunkRows(10), 26214);
  });
});

describe('modelLoss on a causal LM', () => {
  before(async () => useBackend('wasm'));

  const CONFIG: LlamaConfig = {
    model_type: 'llama', vocab_size: 300, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2,
    num_attention_heads: 2, num_key_value_heads: 2, max_position_embeddings: 16, tie_word_embeddings: false,
  };
  const rng = new Rng(8);
  const examples: Examples = { kind: 'tokens', n: 3, length: 12, ids: Int32Array.from({ length: 36 }, () => rng.int(CONFIG.vocab_size)), mask: new Uint8Array(36).fill(1) };
  const file: RunConfigFile = { model: { path: 'm' }, task: 'causal-lm', data: { dataset: 'text' } };

  function selectionOf(model: LlamaModel): LayerSelection[] {
    const r = new Rng(9);
    return model.layers.filter((l) => !l.head).map((l) => {
      const scores = r.fillUniform(new Float32Array(l.dOut), 0, 1);
      return { name: l.name, kind: l.kind, rows: topRows(scores, Math.min(4, l.dOut)), scores: Array.from(scores), dOut: l.dOut, dIn: l.dIn };
    });
  }

  it('mem_M and the FLOP trace leave no logits behind (else they count in every training peak)', async () => {
    const model = new LlamaModel('llama-loss', '', { ...CONFIG }, initLlama(CONFIG, 3));
    const batch = makeBatch(examples, Int32Array.from([0, 1, 2]));
    tf.tidy(() => { model.forward(batch.x, { training: false, dropoutMaskBytes: 0 }); }); // the causal mask's cache
    const before = tf.memory().numTensors;
    assert.ok((await inferencePeakBytes(model, batch, { training: false, dropoutMaskBytes: 0 })) > 0);
    assert.ok(tracePositions(model, batch).length > 0);
    assert.equal(tf.memory().numTensors, before, 'tensors leaked');
    tf.dispose([batch.x, batch.targets!, batch.weights!]);
    model.dispose();
  });

  for (const method of ['spruft', 'lora', 'full'] as MethodName[]) {
    it(`${method}: the fused loss and its gradients equal taskLoss over the logits, and its forward keeps less`, () => {
      const model = new LlamaModel('llama-loss', '', { ...CONFIG }, initLlama(CONFIG, 3));
      const config = resolveRunConfig({ ...file, method, lora: { rank: 3, alpha: 8, dropout: 0 }, spruft: { rank: 4 }, targets: { layerTypes: ['linear', 'norm'] } }, { baseDir: '/', resolvePath: (_b, p) => p });
      const attached = attachMethod(model, { method, config, selection: method === 'spruft' ? selectionOf(model) : undefined, trainHead: false, seed: 0 });
      const init = new Rng(11);
      tf.tidy(() => attached.trainables.forEach((t) => t.variable.assign(tf.add(t.variable, tf.tensor(init.fillNormal(new Float32Array(t.variable.size), 0.05), t.variable.shape)))));
      const vars = attached.trainables.map((t) => t.variable);
      const batch = makeBatch(examples, Int32Array.from([0, 1, 2]));
      const ctx = (): ForwardContext => ({ training: true, dropoutMaskBytes: 0 });
      tf.tidy(() => { model.forward(batch.x, ctx()); }); // the causal mask's cache, made once
      const before = tf.memory().numTensors;
      let keptFused = 0;
      let keptLogits = 0;
      const fused = valueAndGrads(() => modelLoss(model, batch, ctx()), vars, (bytes) => { keptFused = bytes; });
      const plain = valueAndGrads(() => taskLoss(model.forward(batch.x, ctx()), batch), vars, (bytes) => { keptLogits = bytes; });
      assert.ok(Math.abs(fused.value - plain.value) <= 1e-6 * plain.value, `loss ${fused.value} vs ${plain.value}`);
      fused.grads.forEach((g, i) => assertClose(g.dataSync(), plain.grads[i].dataSync(), 1e-5, `${method}: ${attached.trainables[i].name}`));
      // The softmax over 36 tokens x 300 words (43 KB) is not kept; the head's input (2.3 KB) is.
      const logitsBytes = 36 * CONFIG.vocab_size * 4;
      assert.ok(keptLogits - keptFused >= logitsBytes - 36 * (CONFIG.hidden_size + 1) * 4, `kept ${keptFused} B fused vs ${keptLogits} B over the logits`);
      tf.dispose([...fused.grads, ...plain.grads]);
      assert.equal(tf.memory().numTensors, before, 'tensors leaked');
      tf.dispose([batch.x, batch.targets!, batch.weights!]);
      detachMethod(model);
      model.dispose();
    });
  }
});
