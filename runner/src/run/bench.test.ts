/**
 * The bench's 125M-parameter decoder (`spruft bench speed --model decoder-125m`): built
 * here without running a step (a step takes tens of seconds on two cores; the bench
 * itself is the place for that).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { tf } from '../tensor/tf';
import { useBackend } from '../tensor/ops/testing';
import { initLlama } from '../models/init';
import { inspectConfig } from '../models/inspect';
import { LlamaModel } from '../models/llama';
import { DECODER_125M_SHAPE } from './bench';

it('decoder-125m: GPT-2-small sized, 123.7M parameters, the same count from its config alone as built', async () => {
  await useBackend('wasm');
  const c = DECODER_125M_SHAPE;
  assert.deepEqual([c.num_hidden_layers, c.hidden_size, c.num_attention_heads], [12, 768, 12]);
  // Embeddings tied to the LM head: 32000 x 768, then per block 4 d^2 (attention) + 3 d I (SwiGLU) + 2 d (norms), final norm.
  const expected = 32000 * 768 + 12 * (4 * 768 * 768 + 3 * 768 * 2560 + 2 * 768) + 768;
  assert.equal(expected, 123_685_632);
  assert.equal(inspectConfig('decoder-125m', { ...c }, 'bench').params, expected);
  const tensors = tf.memory().numTensors;
  const model = new LlamaModel('decoder-125m', '', { ...c }, initLlama(c, 0));
  try {
    assert.equal(model.totalParams, expected);
    assert.equal(model.layers.length, 12 * 9 + 2, 'nine adaptable layers per block, the final norm and the LM head');
  } finally {
    model.dispose();
  }
  assert.equal(tf.memory().numTensors, tensors);
});
