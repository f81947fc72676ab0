/**
 * Hugging Face tokenizers from a model folder, through `@huggingface/tokenizers` (pure
 * JavaScript, no native binary: it runs wherever the extension does). Reads
 * `tokenizer.json` (or builds it from a slow tokenizer's vocab files), with
 * `tokenizer_config.json` and `special_tokens_map.json` for the special tokens, the
 * BOS/EOS rules, padding and truncation sides and the chat template.
 *
 * Special tokens around a text: Llama-family configs state `add_bos_token` /
 * `add_eos_token` (transformers rebuilds the post-processor from them), and those win;
 * otherwise the tokenizer.json's post-processor decides (`[CLS] .. [SEP]` for BERT,
 * `<s> .. </s>` for RoBERTa, nothing for GPT-2 and Qwen2).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { SpruftError } from '../../errors';
import { readJsonFile } from '../../io/jsonText';
import type { DecodeOptions, PairTemplate, Side, TextTokenizer, TokenizerDescription } from './types';
import { tokenizerJsonFromVocabFiles, type TokenizerJson } from './vocabFiles';

export const TOKENIZER_FILES = { json: 'tokenizer.json', config: 'tokenizer_config.json', specialTokensMap: 'special_tokens_map.json' } as const;

type Json = Record<string, unknown>;

function readObject(path: string, what: string): Json {
  const value = readJsonFile(path, 'MODEL_INVALID', what);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new SpruftError('MODEL_INVALID', `${what} must be a JSON object`, path);
  return value as Json;
}

/** A special token as configs write it: a string, or an AddedToken object `{content, ...}`. */
function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as Json).content === 'string') return (value as Json).content as string;
  return undefined;
}

/** `chat_template`: a string, or a list of `{name, template}` (the `default` one is used). */
function chatTemplateOf(config: Json, where: string): string | undefined {
  const t = config.chat_template;
  if (t === undefined || t === null) return undefined;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t as Array<{ name?: unknown; template?: unknown }>;
    const pick = named.find((x) => x.name === 'default') ?? named[0];
    if (pick && typeof pick.template === 'string') return pick.template;
  }
  throw new SpruftError('MODEL_INVALID', 'chat_template must be a string or a list of {name, template}', where);
}

function sideOf(value: unknown, key: string, where: string): Side {
  if (value === undefined || value === null) return 'right';
  if (value === 'left' || value === 'right') return value;
  throw new SpruftError('MODEL_INVALID', `${key} must be "left" or "right", got ${JSON.stringify(value)}`, where);
}

/** Where `body` sits inside `whole` (the ids of a text with and without special tokens). */
function splitAround(whole: number[], body: number[]): { prefix: number[]; suffix: number[] } | undefined {
  for (let start = 0; start + body.length <= whole.length; start++) {
    if (body.every((id, i) => whole[start + i] === id)) return { prefix: whole.slice(0, start), suffix: whole.slice(start + body.length) };
  }
  return undefined;
}

/**
 * The special tokens a post-processor puts around and between a pair (`[CLS] a [SEP] b
 * [SEP]`, RoBERTa's `<s> a </s></s> b </s>`), read off one probe pair; undefined when
 * the tokenizer has no pair template (GPT-2's ByteLevel adds nothing, so a pair would run
 * together).
 */
function pairTemplate(tokenizer: Tokenizer): PairTemplate | undefined {
  const a = tokenizer.encode('a', { add_special_tokens: false }).ids;
  const b = tokenizer.encode('b', { add_special_tokens: false }).ids;
  const encoded = tokenizer.encode('a', { text_pair: 'b', add_special_tokens: true, return_token_type_ids: true });
  const whole = encoded.ids;
  // A tokenizer without a post-processor states no types (and has no pair template either).
  const types = encoded.token_type_ids ?? whole.map(() => 0);
  const firstAt = whole.findIndex((_, i) => a.every((id, k) => whole[i + k] === id));
  if (firstAt < 0) return undefined;
  const rest = whole.slice(firstAt + a.length);
  const secondAt = rest.findIndex((_, i) => b.every((id, k) => rest[i + k] === id));
  if (secondAt < 0) return undefined;
  const middleAt = firstAt + a.length;
  const secondStart = middleAt + secondAt;
  const suffixAt = secondStart + b.length;
  const pair: PairTemplate = {
    prefix: whole.slice(0, firstAt), middle: whole.slice(middleAt, secondStart), suffix: whole.slice(suffixAt),
    // The template's type ids (`$A:0 [SEP]:0 $B:1 [SEP]:1` for BERT), part by part.
    types: { prefix: types.slice(0, firstAt), first: types[firstAt], middle: types.slice(middleAt, secondStart), second: types[secondStart], suffix: types.slice(suffixAt) },
  };
  return pair.prefix.length + pair.middle.length + pair.suffix.length > 0 ? pair : undefined;
}

export interface HfTokenizerFiles {
  /** The tokenizer.json document. */
  json: TokenizerJson;
  /** tokenizer_config.json merged over special_tokens_map.json (either may be empty). */
  config: Json;
  /** Folder they came from, for messages. */
  path: string;
}

export class HfTokenizer implements TextTokenizer {
  readonly kind = 'hf' as const;
  readonly vocabSize: number;
  readonly padId: number;
  readonly bosId?: number;
  readonly eosId?: number;
  readonly bosToken?: string;
  readonly eosToken?: string;
  readonly paddingSide: Side;
  readonly truncationSide: Side;
  readonly modelMaxLength?: number;
  readonly chatTemplate?: string;
  readonly prefixIds: readonly number[];
  readonly suffixIds: readonly number[];
  readonly pairIds?: PairTemplate;
  /** Tokens the config names (bos, eos, pad, unk...), for templates and messages. */
  readonly specialTokens: Record<string, string>;
  readonly modelType: string;
  private readonly tokenizer: Tokenizer;
  private readonly path: string;

  constructor(files: HfTokenizerFiles) {
    const { json, config, path } = files;
    this.path = path;
    const where = join(path, TOKENIZER_FILES.json);
    try {
      this.tokenizer = new Tokenizer(json, config);
    } catch (err) {
      throw new SpruftError('MODEL_INVALID', `the tokenizer could not be built: ${(err as Error).message}`, where);
    }
    const model = (json.model ?? {}) as Json;
    this.modelType = typeof model.type === 'string' ? model.type : 'BPE';
    const vocab = this.tokenizer.get_vocab(true);
    let maxId = -1;
    for (const id of vocab.values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;

    const idOf = (token: string | undefined, key: string): number | undefined => {
      if (token === undefined) return undefined;
      const id = this.tokenizer.token_to_id(token);
      if (id === undefined) throw new SpruftError('MODEL_INVALID', `${key} "${token}" is not in the tokenizer's vocabulary`, join(path, TOKENIZER_FILES.config));
      return id;
    };
    this.specialTokens = {};
    for (const key of ['bos_token', 'eos_token', 'pad_token', 'unk_token', 'cls_token', 'sep_token', 'mask_token']) {
      const content = tokenContent(config[key]);
      if (content !== undefined) this.specialTokens[key] = content;
    }
    this.bosToken = this.specialTokens.bos_token;
    this.eosToken = this.specialTokens.eos_token;
    this.bosId = idOf(this.bosToken, 'bos_token');
    this.eosId = idOf(this.eosToken, 'eos_token');
    // No pad token (GPT-2, Llama): pad with EOS, as fine-tuning scripts set it; padded
    // positions carry no loss and no attention, so which id fills them does not matter.
    this.padId = idOf(this.specialTokens.pad_token, 'pad_token') ?? this.eosId ?? idOf(this.specialTokens.unk_token, 'unk_token') ?? 0;
    const configWhere = join(path, TOKENIZER_FILES.config);
    this.paddingSide = sideOf(config.padding_side, 'padding_side', configWhere);
    this.truncationSide = sideOf(config.truncation_side, 'truncation_side', configWhere);
    const maxLen = config.model_max_length;
    // transformers writes a huge sentinel (1e30) for "no limit".
    this.modelMaxLength = typeof maxLen === 'number' && maxLen > 0 && maxLen < 1e9 ? maxLen : undefined;
    this.chatTemplate = chatTemplateOf(config, configWhere);

    if (typeof config.add_bos_token === 'boolean' || typeof config.add_eos_token === 'boolean') {
      if (config.add_bos_token === true && this.bosId === undefined) throw new SpruftError('MODEL_INVALID', 'add_bos_token is true but no bos_token is named', configWhere);
      if (config.add_eos_token === true && this.eosId === undefined) throw new SpruftError('MODEL_INVALID', 'add_eos_token is true but no eos_token is named', configWhere);
      this.prefixIds = config.add_bos_token === true ? [this.bosId!] : [];
      this.suffixIds = config.add_eos_token === true ? [this.eosId!] : [];
    } else {
      // What the post-processor puts around a single text, read off one probe text.
      const probe = 'a b';
      const whole = this.tokenizer.encode(probe, { add_special_tokens: true }).ids;
      const body = this.tokenizer.encode(probe, { add_special_tokens: false }).ids;
      const around = splitAround(whole, body);
      if (!around) throw new SpruftError('UNSUPPORTED', 'the post-processor changes the text\'s own tokens; only special tokens around a text are supported', where);
      this.prefixIds = around.prefix;
      this.suffixIds = around.suffix;
    }
    this.pairIds = pairTemplate(this.tokenizer);
  }

  encodeText(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  /** Token strings of a text (no special tokens added), for tests and messages. */
  tokenize(text: string): string[] {
    return this.tokenizer.tokenize(text, { add_special_tokens: false });
  }

  tokenToId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    return this.tokenizer.decode(Array.from(ids), {
      skip_special_tokens: options.skipSpecialTokens ?? true,
      ...(options.cleanUpSpaces !== undefined ? { clean_up_tokenization_spaces: options.cleanUpSpaces } : {}),
    });
  }

  describe(): TokenizerDescription {
    return { kind: 'hf', path: this.path, model: this.modelType, vocabSize: this.vocabSize, bos: this.bosId, eos: this.eosId, pad: this.padId };
  }
}

/** Whether a folder holds tokenizer files this module reads. */
export function hasHfTokenizer(dir: string): boolean {
  return ['tokenizer.json', 'vocab.txt'].some((f) => existsSync(join(dir, f))) || (existsSync(join(dir, 'vocab.json')) && existsSync(join(dir, 'merges.txt')));
}

/** The tokenizer of a model folder, or undefined when it has no tokenizer files. */
export function readHfTokenizer(dir: string): HfTokenizer | undefined {
  const configPath = join(dir, TOKENIZER_FILES.config);
  const mapPath = join(dir, TOKENIZER_FILES.specialTokensMap);
  const config: Json = {
    ...(existsSync(mapPath) ? readObject(mapPath, 'special_tokens_map.json') : {}),
    ...(existsSync(configPath) ? readObject(configPath, 'tokenizer_config.json') : {}),
  };
  const jsonPath = join(dir, TOKENIZER_FILES.json);
  let json: TokenizerJson | undefined;
  if (existsSync(jsonPath)) {
    json = readObject(jsonPath, 'tokenizer.json');
    if (typeof json.model !== 'object' || json.model === null) throw new SpruftError('MODEL_INVALID', 'tokenizer.json has no "model" object; is it a Hugging Face tokenizers file?', jsonPath);
  } else {
    json = tokenizerJsonFromVocabFiles(dir, config);
  }
  return json && new HfTokenizer({ json, config, path: dir });
}
