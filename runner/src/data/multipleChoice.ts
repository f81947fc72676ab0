/**
 * Zero-shot multiple-choice tasks as the EleutherAI LM evaluation harness poses them
 * (paper 5.1, table 3): readers for the public JSONL layouts of ARC-Easy/Challenge,
 * BoolQ, PIQA, HellaSwag, WinoGrande, OpenBookQA, SocialIQA and RTE, each record turned
 * into the harness's prompt and choices. Scoring (evaluate.ts) compares the
 * log-likelihood of each choice's continuation given its context.
 */
import { basename, extname } from 'node:path';
import { SpruftError } from '../errors';
import { readJsonRecords } from './instruct';

export const MC_LAYOUTS = ['arc', 'boolq', 'piqa', 'hellaswag', 'winogrande', 'openbookqa', 'siqa', 'rte', 'generic'] as const;
export type McLayout = (typeof MC_LAYOUTS)[number];

/** Task names (as the harness and the paper write them) and the layout each is read in. */
const TASK_ALIASES: Record<string, McLayout> = {
  arc: 'arc', arc_easy: 'arc', arc_challenge: 'arc', 'arc-e': 'arc', 'arc-c': 'arc', arce: 'arc', arcc: 'arc',
  boolq: 'boolq', piqa: 'piqa', hellaswag: 'hellaswag', hs: 'hellaswag', winogrande: 'winogrande', wg: 'winogrande',
  openbookqa: 'openbookqa', obqa: 'openbookqa', siqa: 'siqa', social_iqa: 'siqa', socialiqa: 'siqa', rte: 'rte', generic: 'generic',
};

/**
 * One question: for each choice a context and a continuation (whose log-likelihood is
 * scored), the choice's text (its length in characters normalises `acc_norm`, as in the
 * harness), and the index of the right one.
 */
export interface McQuestion {
  contexts: string[];
  continuations: string[];
  choiceTexts: string[];
  gold: number;
}

export interface McTask {
  name: string;
  layout: McLayout;
  path: string;
  questions: McQuestion[];
}

type Rec = Record<string, unknown>;

class RecordReader {
  constructor(readonly r: Rec, readonly at: string, readonly layout: string) {}

  fail(message: string): never {
    throw new SpruftError('DATA_INVALID', `${message} (${this.layout} layout; this record's fields: ${Object.keys(this.r).join(', ') || 'none'})`, this.at);
  }

  get(path: string): unknown {
    let cur: unknown = this.r;
    for (const part of path.split('.')) {
      if (typeof cur !== 'object' || cur === null || !(part in (cur as Rec))) return undefined;
      cur = (cur as Rec)[part];
    }
    return cur;
  }

  str(path: string): string {
    const v = this.get(path);
    if (typeof v !== 'string') this.fail(v === undefined ? `no "${path}" field` : `"${path}" must be a string`);
    return v;
  }

  strings(path: string): string[] {
    const v = this.get(path);
    if (!Array.isArray(v) || v.length < 2 || v.some((x) => typeof x !== 'string')) this.fail(`"${path}" must be a list of at least two strings`);
    return v as string[];
  }

  /** An integer label, written as a number or a string of digits. */
  index(path: string, base = 0): number {
    const v = this.get(path);
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
    if (!Number.isInteger(n)) this.fail(v === undefined ? `no "${path}" field` : `"${path}" must be an integer label, got ${JSON.stringify(v)}`);
    return n - base;
  }

  /** A choice list as `{text: [...], label: [...]}` (Hugging Face) or `[{text, label}]` (the original files). */
  labelledChoices(path: string): { texts: string[]; labels: string[] } {
    const v = this.get(path);
    if (Array.isArray(v)) {
      const list = v as Rec[];
      if (list.length < 2 || list.some((c) => typeof c?.text !== 'string' || typeof c?.label !== 'string')) this.fail(`"${path}" must be a list of {text, label}`);
      return { texts: list.map((c) => c.text as string), labels: list.map((c) => c.label as string) };
    }
    const texts = this.strings(`${path}.text`);
    const labels = this.strings(`${path}.label`);
    if (labels.length !== texts.length) this.fail(`"${path}.text" and "${path}.label" differ in length`);
    return { texts, labels };
  }

  answerKey(labels: string[]): number {
    const key = this.str('answerKey').trim();
    const gold = labels.indexOf(key);
    if (gold < 0) this.fail(`answerKey "${key}" is not one of the choice labels (${labels.join(', ')})`);
    return gold;
  }
}

/** The harness's continuation: a space, then the choice (its default `target_delimiter`). */
function question(context: string, choices: string[], gold: number, reader: RecordReader): McQuestion {
  if (gold < 0 || gold >= choices.length) reader.fail(`the answer index ${gold} is outside the ${choices.length} choices`);
  return { contexts: choices.map(() => context), continuations: choices.map((c) => ` ${c}`), choiceTexts: choices, gold };
}

/** HellaSwag's cleanup of WikiHow text (the harness's `preprocess`). */
function hellaswagText(text: string): string {
  return text.trim().replace(/ \[title\]/g, '. ').replace(/\[.*?\]/g, '').replace(/ {2}/g, ' ');
}

/** Python's str.capitalize(): first character upper case, the rest lower case. */
function capitalize(s: string): string {
  return s.length === 0 ? s : s[0].toUpperCase() + s.slice(1).toLowerCase();
}

const READERS: Record<McLayout, (r: RecordReader) => McQuestion> = {
  // "Question: {question}\nAnswer:" (ARC's harness prompt); the original files nest the question as {stem, choices}.
  arc(r) {
    const nested = typeof r.get('question') === 'object';
    const { texts, labels } = r.labelledChoices(nested ? 'question.choices' : 'choices');
    return question(`Question: ${r.str(nested ? 'question.stem' : 'question')}\nAnswer:`, texts, r.answerKey(labels), r);
  },
  // "{passage}\nQuestion: {question}?\nAnswer:", choices no/yes; label 0/1 (SuperGLUE) or answer false/true (the original).
  boolq(r) {
    const answer = r.get('answer');
    const gold = typeof answer === 'boolean' ? Number(answer) : r.index('label');
    return question(`${r.str('passage')}\nQuestion: ${r.str('question')}?\nAnswer:`, ['no', 'yes'], gold, r);
  },
  piqa(r) {
    return question(`Question: ${r.str('goal')}\nAnswer:`, [r.str('sol1'), r.str('sol2')], r.index('label'), r);
  },
  // activity_label: ctx_a + " " + capitalize(ctx_b), WikiHow markup removed.
  hellaswag(r) {
    const ctx = r.get('ctx_a') !== undefined ? `${r.str('ctx_a')} ${capitalize(r.str('ctx_b'))}` : r.str('ctx');
    return question(hellaswagText(`${r.str('activity_label')}: ${ctx}`), r.strings('endings').map(hellaswagText), r.index('label'), r);
  },
  // Partial scoring: each option fills the blank in its own context; the same rest of the
  // sentence is scored after each. acc_norm (not reported by the harness) divides by the context's length.
  winogrande(r) {
    const sentence = r.str('sentence');
    const blank = sentence.indexOf('_');
    if (blank < 0) r.fail('"sentence" has no "_" blank');
    const options = [r.str('option1'), r.str('option2')];
    const contexts = options.map((o) => sentence.slice(0, blank) + o);
    const rest = ` ${sentence.slice(blank + 1).trim()}`;
    const gold = r.index('answer', 1);
    if (gold < 0 || gold > 1) r.fail(`"answer" must be "1" or "2"`);
    return { contexts, continuations: contexts.map(() => rest), choiceTexts: contexts, gold };
  },
  // "{question_stem}" (Hugging Face) or the original {question: {stem, choices}}.
  openbookqa(r) {
    const nested = typeof r.get('question') === 'object';
    const { texts, labels } = r.labelledChoices(nested ? 'question.choices' : 'choices');
    return question(r.str(nested ? 'question.stem' : 'question_stem'), texts, r.answerKey(labels), r);
  },
  // "Q: {context} {question}\nA:", label "1".."3".
  siqa(r) {
    return question(`Q: ${r.str('context')} ${r.str('question')}\nA:`, [r.str('answerA'), r.str('answerB'), r.str('answerC')], r.index('label', 1), r);
  },
  // GLUE RTE: "{sentence1}\nQuestion: {sentence2} True or False?\nAnswer:", label 0 = entailment = True.
  rte(r) {
    return question(`${r.str('sentence1')}\nQuestion: ${r.str('sentence2')} True or False?\nAnswer:`, ['True', 'False'], r.index('label'), r);
  },
  // Any task: {context (or query), choices: [...], label (or gold)}, scored after a space.
  generic(r) {
    const context = r.get('context') !== undefined ? r.str('context') : r.str('query');
    return question(context, r.strings('choices'), r.index(r.get('label') !== undefined ? 'label' : 'gold'), r);
  },
};

/** The layout a record is in, from its fields; undefined when none fits. */
export function detectLayout(r: Rec, nameHint = ''): McLayout | undefined {
  const has = (...keys: string[]): boolean => keys.every((k) => k in r);
  if (has('sentence', 'option1', 'option2')) return 'winogrande';
  if (has('goal', 'sol1', 'sol2')) return 'piqa';
  if (has('endings') && (has('ctx') || has('ctx_a'))) return 'hellaswag';
  if (has('context', 'answerA', 'answerB')) return 'siqa';
  if (has('passage', 'question')) return 'boolq';
  if (has('sentence1', 'sentence2', 'label')) return 'rte';
  if (has('question_stem', 'choices')) return 'openbookqa';
  if (has('question', 'answerKey')) return /obqa|openbook/i.test(nameHint) ? 'openbookqa' : 'arc';
  if (has('choices') && (has('context') || has('query')) && (has('label') || has('gold'))) return 'generic';
  return undefined;
}

/**
 * `--tasks` entries: `path`, or `name=path` (the name also picks the layout when it is a
 * task the harness knows: arc_easy, arc_challenge, boolq, piqa, hellaswag, winogrande,
 * openbookqa, siqa, rte). Without a known name the layout is read off the first record.
 */
export function parseTaskSpec(spec: string): { name: string; path: string; layout?: McLayout } {
  const eq = spec.indexOf('=');
  if (eq > 0 && !/[\\/]/.test(spec.slice(0, eq))) {
    const name = spec.slice(0, eq);
    return { name, path: spec.slice(eq + 1), layout: TASK_ALIASES[name.toLowerCase()] };
  }
  const name = basename(spec, extname(spec));
  return { name, path: spec, layout: TASK_ALIASES[name.toLowerCase()] };
}

export function readMultipleChoiceTask(spec: string, limit?: number): McTask {
  const { name, path, layout: named } = parseTaskSpec(spec);
  const records = readJsonRecords(path);
  if (records.length === 0) throw new SpruftError('DATA_INVALID', 'the task file holds no records', path);
  const layout = named ?? detectLayout(records[0].record, name);
  if (!layout) {
    throw new SpruftError(
      'DATA_INVALID',
      `the layout of this task is not recognised from its fields (${Object.keys(records[0].record).join(', ')}); name it: --tasks <task>=${path} with <task> one of ${Object.keys(TASK_ALIASES).join(', ')}`,
      records[0].at,
    );
  }
  const questions = records.slice(0, limit ?? records.length).map(({ record, at }) => READERS[layout](new RecordReader(record, at, layout)));
  return { name, layout, path, questions };
}
