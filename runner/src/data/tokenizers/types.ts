/**
 * One tokenizer contract for every model: the project's byte tokenizer (its own small
 * models) and Hugging Face `tokenizer.json` tokenizers (GPT-2, Llama, Qwen2, Mistral, BERT)
 * stand behind it, so data loading, instruction tuning and multiple-choice scoring never
 * ask which one they have.
 */
import { SpruftError } from '../../errors';

export type Side = 'left' | 'right';

/** A chat message as chat templates and `data.format: chat` records hold it. */
export interface ChatMessage {
  role: string;
  content: string;
}

export interface TextTokenizer {
  /** `byte` (the project's own) or `hf` (from a model folder's tokenizer files). */
  readonly kind: 'byte' | 'hf';
  /** Ids 0..vocabSize-1 can come out of `encode` (added tokens included). */
  readonly vocabSize: number;
  readonly padId: number;
  readonly bosId?: number;
  readonly eosId?: number;
  readonly bosToken?: string;
  readonly eosToken?: string;
  /** Where padding goes in `encodeBatch` (tokenizer_config.json `padding_side`). */
  readonly paddingSide: Side;
  /** Which end `encodeBatch` cuts when a text is too long (`truncation_side`). */
  readonly truncationSide: Side;
  /** The tokenizer's own length limit (`model_max_length`), when it states one. */
  readonly modelMaxLength?: number;
  /** Special tokens by config key (`bos_token`, `eos_token`, ...): what chat templates are given. */
  readonly specialTokens?: Readonly<Record<string, string>>;
  /** The Jinja chat template of tokenizer_config.json, when the model has one. */
  readonly chatTemplate?: string;
  /** Special-token ids added around a single text (`[CLS] .. [SEP]`, `<s> ..`). */
  readonly prefixIds: readonly number[];
  readonly suffixIds: readonly number[];
  /**
   * Special-token ids around and between the two texts of a pair (`[CLS] a [SEP] b [SEP]`:
   * [[CLS]], [[SEP]], [[SEP]]), when the tokenizer has a pair template; else pairs are
   * joined as one text with a blank line between them. `types` are the token type ids
   * (segment ids) the template gives each part: BERT's 0 up to the first [SEP], 1 after.
   */
  readonly pairIds?: PairTemplate;
  /** Ids of the text alone: no special tokens added (special tokens written in the text are still recognised). */
  encodeText(text: string): number[];
  /**
   * Text from ids; `skipSpecialTokens` (default true) drops BOS/EOS/PAD and the like;
   * `cleanUpSpaces` (default: the tokenizer config's `clean_up_tokenization_spaces`) joins
   * " ." and " 's" as transformers does.
   */
  decode(ids: ArrayLike<number>, options?: DecodeOptions): string;
  /** What to store beside a run so that the text is tokenized the same way later. */
  describe(): TokenizerDescription;
}

/** The special tokens of a pair template and the token type of each part. */
export interface PairTemplate {
  prefix: readonly number[];
  middle: readonly number[];
  suffix: readonly number[];
  types: { prefix: readonly number[]; first: number; middle: readonly number[]; second: number; suffix: readonly number[] };
}

export interface DecodeOptions {
  skipSpecialTokens?: boolean;
  cleanUpSpaces?: boolean;
}

export interface TokenizerDescription {
  kind: 'byte' | 'hf';
  /** Folder the tokenizer files came from (hf). */
  path?: string;
  /** BPE, WordPiece, Unigram, byte. */
  model: string;
  vocabSize: number;
  bos?: number;
  eos?: number;
  pad: number;
}

export interface BatchEncoding {
  /** n x maxLength, row-major. */
  ids: Int32Array;
  /** 1 for real tokens (special tokens included), 0 for padding. */
  attentionMask: Int32Array;
  /** Real tokens per row. */
  lengths: Int32Array;
  /** Pairs only: n x maxLength token type ids from the pair template (0 on padding, as transformers pads them). */
  typeIds?: Int32Array;
  /** Rows whose text was cut to fit. */
  truncated: number;
  shape: [number, number];
}

/**
 * Ids of one text with the tokenizer's special tokens, cut to `maxLength` at the
 * tokenizer's truncation side without losing the special tokens (as transformers
 * truncates: the text's tokens are cut, never the `[CLS]`/`[SEP]`/BOS/EOS).
 */
export function encodeWithSpecials(tok: TextTokenizer, text: string, maxLength: number): { ids: number[]; truncated: boolean } {
  const specials = tok.prefixIds.length + tok.suffixIds.length;
  const budget = maxLength - specials;
  if (!Number.isInteger(maxLength) || budget < 0) {
    throw new SpruftError('CONFIG_INVALID', `maxLength ${maxLength} is too small: it must hold the ${specials} special tokens`);
  }
  let body = tok.encodeText(text);
  const truncated = body.length > budget;
  if (truncated) body = tok.truncationSide === 'left' ? body.slice(body.length - budget) : body.slice(0, budget);
  return { ids: [...tok.prefixIds, ...body, ...tok.suffixIds], truncated };
}

/**
 * Ids of a text pair with the tokenizer's pair template, cut to `maxLength` as transformers'
 * `longest_first` truncation does: a token at a time from the longer of the two texts.
 * A tokenizer without a pair template reads the pair as one text, `a` and `b` joined by a
 * blank line.
 */
export function encodePairWithSpecials(tok: TextTokenizer, a: string, b: string, maxLength: number): { ids: number[]; typeIds: number[]; truncated: boolean } {
  const t = tok.pairIds;
  if (!t) {
    const joined = encodeWithSpecials(tok, `${a}\n\n${b}`, maxLength);
    return { ...joined, typeIds: joined.ids.map(() => 0) };
  }
  const specials = t.prefix.length + t.middle.length + t.suffix.length;
  const budget = maxLength - specials;
  if (!Number.isInteger(maxLength) || budget < 0) {
    throw new SpruftError('CONFIG_INVALID', `maxLength ${maxLength} is too small: it must hold the ${specials} special tokens of a text pair`);
  }
  const first = tok.encodeText(a);
  const second = tok.encodeText(b);
  const truncated = first.length + second.length > budget;
  const fromLeft = tok.truncationSide === 'left';
  while (first.length + second.length > budget) {
    const longer = first.length > second.length ? first : second;
    if (fromLeft) longer.shift();
    else longer.pop();
  }
  const y = t.types;
  return {
    ids: [...t.prefix, ...first, ...t.middle, ...second, ...t.suffix],
    typeIds: [...y.prefix, ...first.map(() => y.first), ...y.middle, ...second.map(() => y.second), ...y.suffix],
    truncated,
  };
}

/**
 * Texts (or text pairs, with `pairs`) as a padded n x maxLength batch, padding at the
 * tokenizer's padding side.
 */
export function encodeBatch(tok: TextTokenizer, texts: string[], maxLength: number, paddingSide: Side = tok.paddingSide, pairs?: string[]): BatchEncoding {
  const n = texts.length;
  const ids = new Int32Array(n * maxLength).fill(tok.padId);
  const attentionMask = new Int32Array(n * maxLength);
  const lengths = new Int32Array(n);
  const typeIds = pairs ? new Int32Array(n * maxLength) : undefined;
  let truncated = 0;
  texts.forEach((text, i) => {
    const pair = pairs ? encodePairWithSpecials(tok, text, pairs[i], maxLength) : undefined;
    const e = pair ?? encodeWithSpecials(tok, text, maxLength);
    if (e.truncated) truncated++;
    const start = i * maxLength + (paddingSide === 'left' ? maxLength - e.ids.length : 0);
    ids.set(e.ids, start);
    if (typeIds && pair) typeIds.set(pair.typeIds, start);
    attentionMask.fill(1, start, start + e.ids.length);
    lengths[i] = e.ids.length;
  });
  return { ids, attentionMask, lengths, truncated, shape: [n, maxLength], ...(typeIds ? { typeIds } : {}) };
}
