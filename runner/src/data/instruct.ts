/**
 * Instruction tuning data (paper 5.1: Llama on Stanford Alpaca): Alpaca records
 * (`instruction`, `input`, `output`) or chat records (`messages: [{role, content}]`), from
 * a JSON array (as `alpaca_data.json` is) or JSONL. Each example becomes one token
 * sequence whose loss mask covers the response tokens only: the model learns to answer,
 * not to repeat the prompt (as Stanford Alpaca's training code masks the source).
 */
import { existsSync, readFileSync } from 'node:fs';
import { SpruftError } from '../errors';
import { locateJsonError, parseJsonText } from '../io/jsonText';
import type { TokenExamples } from '../engine/batches';
import type { ChatTemplate } from './tokenizers/chatTemplate';
import type { ChatMessage, TextTokenizer } from './tokenizers/types';

export interface AlpacaRecord {
  instruction: string;
  input: string;
  output: string;
}

/** A record and where it is (`file:line` or `file[index]`), for messages about it. */
export type InstructRecord = ({ kind: 'alpaca'; alpaca: AlpacaRecord } | { kind: 'chat'; messages: ChatMessage[] }) & { at?: string };

/** Stanford Alpaca's prompts (with and without an input), the response follows them. */
export function alpacaPrompt(r: Pick<AlpacaRecord, 'instruction' | 'input'>): string {
  return r.input.trim() !== ''
    ? 'Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n'
      + `### Instruction:\n${r.instruction}\n\n### Input:\n${r.input}\n\n### Response:\n`
    : 'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n'
      + `### Instruction:\n${r.instruction}\n\n### Response:\n`;
}

/** JSON objects of a file: a JSON array of objects, or one object per line (JSONL). */
export function readJsonRecords(path: string): Array<{ record: Record<string, unknown>; at: string }> {
  if (!existsSync(path)) throw new SpruftError('FILE_NOT_FOUND', 'data file not found; check data.path', path);
  let content = readFileSync(path, 'utf8');
  if (content.charCodeAt(0) === 0xfeff) content = content.slice(1);
  const out: Array<{ record: Record<string, unknown>; at: string }> = [];
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (content.trimStart().startsWith('[')) {
    const value = parseJsonText(content, path, 'DATA_INVALID', 'data file') as unknown[];
    value.forEach((v, i) => {
      if (!isObject(v)) throw new SpruftError('DATA_INVALID', `element ${i} of the array is not a JSON object`, `${path}[${i}]`);
      out.push({ record: v, at: `${path}[${i}]` });
    });
    return out;
  }
  content.split('\n').forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    const at = `${path}:${i + 1}`;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      const found = locateJsonError(line);
      throw new SpruftError('DATA_INVALID', `line ${i + 1} is not valid JSON${found ? `: ${found.reason}` : ''}; each line must be one JSON object`, found ? `${at}:${found.offset + 1}` : at);
    }
    if (!isObject(v)) throw new SpruftError('DATA_INVALID', `line ${i + 1} is not a JSON object`, at);
    out.push({ record: v, at });
  });
  return out;
}

function fieldsOf(r: Record<string, unknown>): string {
  return Object.keys(r).join(', ') || 'none';
}

/** Alpaca records: `instruction` and `output` strings, `input` optional (may be ""). */
export function readAlpaca(path: string): InstructRecord[] {
  return readJsonRecords(path).map(({ record, at }) => {
    const str = (key: string, required: boolean): string => {
      const v = record[key];
      if (v === undefined || v === null) {
        if (!required) return '';
        throw new SpruftError('DATA_INVALID', `this record has no "${key}" (its fields: ${fieldsOf(record)}); Alpaca records hold instruction, input and output`, at);
      }
      if (typeof v !== 'string') throw new SpruftError('DATA_INVALID', `"${key}" must be a string, got ${JSON.stringify(v).slice(0, 40)}`, at);
      return v;
    };
    return { kind: 'alpaca', alpaca: { instruction: str('instruction', true), input: str('input', false), output: str('output', true) }, at };
  });
}

/** Chat records: `messages` (or `conversations`) as a list of `{role, content}` with at least one assistant reply. */
export function readChat(path: string): InstructRecord[] {
  return readJsonRecords(path).map(({ record, at }) => {
    const list = record.messages ?? record.conversations;
    if (!Array.isArray(list)) throw new SpruftError('DATA_INVALID', `this record has no "messages" list (its fields: ${fieldsOf(record)})`, at);
    const messages = list.map((m, k): ChatMessage => {
      const o = m as Record<string, unknown>;
      if (typeof o !== 'object' || o === null || typeof o.role !== 'string' || typeof o.content !== 'string') {
        throw new SpruftError('DATA_INVALID', `message ${k + 1} must be {"role": string, "content": string}`, at);
      }
      return { role: o.role, content: o.content };
    });
    if (!messages.some((m) => m.role === 'assistant')) throw new SpruftError('DATA_INVALID', 'this conversation has no assistant message: there is nothing to learn from it', at);
    return { kind: 'chat', messages, at };
  });
}

/** An Alpaca record as a user turn (instruction, then input) and the assistant's reply. */
export function alpacaMessages(r: AlpacaRecord): ChatMessage[] {
  const user = r.input.trim() !== '' ? `${r.instruction}\n\n${r.input}` : r.instruction;
  return [{ role: 'user', content: user }, { role: 'assistant', content: r.output }];
}

/** How records become text: Stanford Alpaca's prompt, or the model's chat template. */
export type PromptStyle = { kind: 'alpaca' } | { kind: 'chat-template'; template: ChatTemplate };

/** One example as pieces of text, each marked whether its tokens carry loss. */
export interface InstructPiece {
  text: string;
  train: boolean;
}

/**
 * The pieces of one record. Alpaca style: the tokenizer's BOS rule before the prompt, EOS
 * after the response (it must learn to stop). Chat templates write their own special
 * tokens, so nothing is added around them (as transformers' apply_chat_template does).
 */
export function instructPieces(r: InstructRecord, style: PromptStyle): { pieces: InstructPiece[]; addSpecials: boolean } {
  if (style.kind === 'chat-template') {
    const m = r.kind === 'chat' ? r.messages : alpacaMessages(r.alpaca);
    return { pieces: style.template.segments(m), addSpecials: false };
  }
  if (r.kind === 'chat') throw new SpruftError('CONFIG_INVALID', 'chat records need a chat template: the model has none; set data.chatTemplate or use data.format: alpaca');
  return { pieces: [{ text: alpacaPrompt(r.alpaca), train: false }, { text: r.alpaca.output, train: true }], addSpecials: true };
}

export interface InstructExamples {
  examples: TokenExamples;
  /** Records cut at maxLength, and records dropped because no response token fit. */
  truncated: number;
  dropped: number;
  promptTokens: number;
  responseTokens: number;
}

/**
 * Token sequences of `maxLength` (right-padded), one per record: each piece tokenized on
 * its own and concatenated, so the boundary between prompt and response is exact;
 * `lossMask` is 1 on response tokens. Sequences longer than `maxLength` are cut at the
 * end (paper 5.3: truncation for longer inputs, padding for shorter ones).
 */
export function tokenizeInstruct(records: InstructRecord[], tok: TextTokenizer, style: PromptStyle, maxLength: number): InstructExamples {
  const rows: Array<{ ids: number[]; loss: number[] }> = [];
  let truncated = 0;
  let dropped = 0;
  let promptTokens = 0;
  let responseTokens = 0;
  for (const r of records) {
    let made: ReturnType<typeof instructPieces>;
    try {
      made = instructPieces(r, style);
    } catch (err) {
      // Name the record the template failed on, then what it said (and where the template is from).
      if (err instanceof SpruftError && r.at) throw new SpruftError(err.code, `this record: ${err.message}`, r.at);
      throw err;
    }
    const { pieces, addSpecials } = made;
    const ids: number[] = [];
    const loss: number[] = [];
    const put = (piece: number[], train: boolean): void => {
      for (const id of piece) {
        ids.push(id);
        loss.push(train ? 1 : 0);
      }
    };
    if (addSpecials) put([...tok.prefixIds], false);
    for (const p of pieces) put(tok.encodeText(p.text), p.train);
    if (addSpecials) {
      if (tok.eosId === undefined) throw new SpruftError('CONFIG_INVALID', 'the tokenizer names no EOS token, so a response cannot be ended');
      put([tok.eosId], true);
    }
    if (ids.length > maxLength) {
      truncated++;
      ids.length = maxLength;
      loss.length = maxLength;
    }
    const trained = loss.reduce((a, b) => a + b, 0);
    // The first token is never predicted, so a response token there carries no loss either.
    if (trained - loss[0] === 0) {
      dropped++;
      continue;
    }
    promptTokens += loss.length - trained;
    responseTokens += trained;
    rows.push({ ids, loss });
  }
  const n = rows.length;
  const ids = new Int32Array(n * maxLength).fill(tok.padId);
  const mask = new Uint8Array(n * maxLength);
  const lossMask = new Uint8Array(n * maxLength);
  rows.forEach((row, i) => {
    ids.set(row.ids, i * maxLength);
    mask.fill(1, i * maxLength, i * maxLength + row.ids.length);
    lossMask.set(row.loss, i * maxLength);
  });
  return { examples: { kind: 'tokens', n, length: maxLength, ids, mask, lossMask }, truncated, dropped, promptTokens, responseTokens };
}
