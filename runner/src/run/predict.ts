/**
 * The playground's `model/predict`: one input through the pretrained model as the run
 * started from it, then through the same model with the run's adapter attached (SPruFT:
 * W[idx] + W_f on the selected rows, paper eq. 3; LoRA: W + (alpha/r) B A), side by side.
 * Classifiers answer with their ranked labels (softmax), decoders with a greedy
 * continuation of the prompt (argmax of the next-byte distribution, one byte at a time).
 * The model and data are loaded as the run loaded them (session.ts `prepare`), so the
 * base answer is the run's own starting point; nothing is written to the run folder.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { LabelScore, ModelAnswer, PredictParams, PredictResult } from '../../../protocol/rpc';
import { RUN_FILES } from '../../../protocol/runFolder';
import { SpruftError } from '../errors';
import { applyAdapter } from '../engine/adapterIO';
import { imageValues, prepareExamples, type Examples, type ImageExamples, type TokenExamples } from '../engine/batches';
import { decodeImage } from '../data/imageDecode';
import { detachMethod } from '../engine/methods';
import { tf } from '../tensor/tf';
import type { TextTokenizer } from '../data/tokenizers';
import { encodeForModel, sequenceLength, taskTokenizer } from '../engine/taskData';
import { inferenceContext } from '../models/layer';
import type { Model } from '../models/model';
import { tokenIdsOf } from '../models/tokenTypes';
import { ensureBackend, prepare, readResolved } from './session';

const DEFAULT_TOP_K = 3;
const DEFAULT_NEW_TOKENS = 48;
const MAX_NEW_TOKENS = 512;
const MAX_TEXT_CHARS = 100_000;

/** An image as the model sees it, for a person: each value's range stretched to 0..255. */
function imageForDisplay(shape: [number, number, number], values: Float32Array): NonNullable<PredictResult['input']['image']> {
  const [height, width, channels] = shape;
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const scale = hi > lo ? 255 / (hi - lo) : 0;
  return { width, height, channels, pixels: Array.from(values, (v) => Math.round((v - lo) * scale)) };
}

/** Softmax over a logits row, ranked, with the labels' names. */
function ranked(logits: Float32Array, labelNames: string[], topK: number): LabelScore[] {
  const max = Math.max(...logits);
  const exps = Array.from(logits, (l) => Math.exp(l - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps
    .map((e, i) => ({ label: labelNames[i] ?? String(i), probability: e / sum }))
    .sort((a, b) => b.probability - a.probability)
    .slice(0, topK);
}

async function classify(model: Model, x: tf.Tensor, labelNames: string[], topK: number): Promise<ModelAnswer> {
  const logits = tf.tidy(() => model.forward(x, inferenceContext()));
  try {
    // A regression head's one output is the prediction itself, not a class score.
    if (model.problemType === 'regression') return { value: (await logits.data())[0] };
    return { top: ranked((await logits.data()) as Float32Array, labelNames, topK) };
  } finally {
    logits.dispose();
  }
}

/** Greedy decoding: the prompt's last `length` tokens in, the most likely next token out, until EOS. */
async function continueText(model: Model, tok: TextTokenizer, prompt: number[], length: number, maxNew: number): Promise<ModelAnswer> {
  const tokens = prompt.slice();
  const added: number[] = [];
  for (let i = 0; i < maxNew; i++) {
    const window = tokens.slice(-length);
    const ids = new Int32Array(length).fill(tok.padId);
    ids.set(window);
    // Causal attention: the padding after the window does not change its last position.
    const next = tf.tidy(() => {
      const logits = model.forward(tf.tensor2d(ids, [1, length], 'int32'), inferenceContext());
      const v = logits.shape[logits.rank - 1]!;
      const last = tf.slice(tf.reshape(logits, [length, v]), [window.length - 1, 0], [1, v]);
      return tf.argMax(tf.reshape(last, [v]));
    });
    const id = (await next.data())[0]!;
    next.dispose();
    if (id === tok.eosId) break;
    tokens.push(id);
    added.push(id);
  }
  return { continuation: tok.decode(added) };
}

function exampleIndex(ex: Examples, index: number): number {
  if (!Number.isInteger(index) || index < 0 || index >= ex.n) {
    throw new SpruftError('CONFIG_INVALID', `example ${index} does not exist: the evaluation data has ${ex.n} (0..${ex.n - 1})`);
  }
  return index;
}

/** The playground request: base and fine-tuned answers on one input. */
export async function predictRun(params: PredictParams): Promise<PredictResult> {
  const started = Date.now();
  const { runDir, input } = params;
  const adapterDir = join(runDir, RUN_FILES.adapterDir);
  if (!existsSync(join(adapterDir, 'adapter_config.json'))) {
    throw new SpruftError('FILE_NOT_FOUND', `no adapter in this run folder (${RUN_FILES.adapterDir}/adapter_config.json): only completed training runs have one`, runDir);
  }
  const topK = Math.max(1, Math.min(params.topK ?? DEFAULT_TOP_K, 100));
  const maxNew = Math.max(1, Math.min(params.maxNewTokens ?? DEFAULT_NEW_TOKENS, MAX_NEW_TOKENS));
  if (input.kind === 'text') {
    for (const [what, t] of [['text', input.text], ['second text (pair)', input.pair ?? '']] as const) {
      if (t.length > MAX_TEXT_CHARS) throw new SpruftError('CONFIG_INVALID', `the ${what} is ${t.length} characters; at most ${MAX_TEXT_CHARS}`);
    }
  }
  const config = readResolved(runDir);
  // A run on text pairs reads two texts, any other one (a decoder's prompt included).
  const pairColumn = config.data.columns.textPair;
  if (input.kind === 'text' && pairColumn !== undefined && input.pair === undefined) {
    throw new SpruftError('CONFIG_INVALID', `this run classifies text pairs (data.columns.textPair: "${pairColumn}"): give the second text too`, runDir);
  }
  if (input.kind === 'text' && pairColumn === undefined && input.pair !== undefined) {
    throw new SpruftError('CONFIG_INVALID', 'this run reads single texts (no data.columns.textPair): a second text has nowhere to go', runDir);
  }
  await ensureBackend(config.backend);
  const { model, data } = await prepare(config, undefined);
  // Text goes through the model's own tokenizer (the byte tokenizer for the project's models).
  const tokenizer = model.input.kind === 'tokens' ? taskTokenizer(model, config) : undefined;
  const tok = (): TextTokenizer => {
    if (!tokenizer) throw new SpruftError('INTERNAL', 'an image model has no tokenizer');
    return tokenizer;
  };
  const answer = async (): Promise<{ result: ModelAnswer; shown: PredictResult['input'] }> => {
    const ex = data.eval;
    if (config.task === 'causal-lm') {
      if (ex.kind !== 'tokens') throw new SpruftError('INTERNAL', 'causal LM data must be tokens');
      const length = sequenceLength(model, config);
      let prompt: number[];
      let shown: PredictResult['input'];
      if (input.kind === 'text') {
        // The tokenizer's prefix (BOS) and the text; no EOS: the model is to go on.
        prompt = [...tok().prefixIds, ...tok().encodeText(input.text)];
        shown = { text: input.text };
      } else if (input.kind === 'example') {
        // The first half of an evaluation passage is the prompt.
        const i = exampleIndex(ex, input.index);
        const row = Array.from(ex.ids.subarray(i * ex.length, (i + 1) * ex.length)).filter((_, p) => ex.mask[i * ex.length + p] === 1);
        prompt = row.slice(0, Math.max(2, Math.floor(row.length / 2)));
        shown = { text: tok().decode(prompt), index: i };
      } else {
        throw new SpruftError('CONFIG_INVALID', 'a language model takes a prompt, not an image');
      }
      return { result: await continueText(model, tok(), prompt, length, maxNew), shown };
    }
    const labelNames = data.labelNames ?? [];
    if (input.kind === 'image') {
      if (ex.kind !== 'images') throw new SpruftError('CONFIG_INVALID', `a ${config.task} model takes text, not an image`);
      const [height, width, channels] = ex.shape;
      // The same decoding, resizing and normalization as the run's own image files.
      const values = await decodeImage({ path: input.path }, { height, width, channels: channels as 1 | 3, normalize: config.data.image.normalize, fit: config.data.image.fit });
      const x = tf.tensor(values, [1, ...ex.shape]);
      try {
        return { result: await classify(model, x, labelNames, topK), shown: { image: imageForDisplay(ex.shape, values) } };
      } finally {
        x.dispose();
      }
    }
    if (input.kind === 'example') {
      const i = exampleIndex(ex, input.index);
      const values = ex.kind === 'tokens' ? ex.values : undefined;
      const label = values ? String(values[i]) : labelNames[(ex as ImageExamples | TokenExamples).labels![i]!];
      if (ex.kind === 'images') {
        await prepareExamples(ex, [i]);
        const values = imageValues(ex, i).slice();
        const x = tf.tensor(values, [1, ...ex.shape]);
        try {
          return { result: await classify(model, x, labelNames, topK), shown: { image: imageForDisplay(ex.shape, values), ...(label ? { label } : {}), index: i } };
        } finally {
          x.dispose();
        }
      }
      const x = tf.tensor2d(ex.ids.slice(i * ex.length, (i + 1) * ex.length), [1, ex.length], 'int32');
      try {
        // A pair's ids carry their token types (models/tokenTypes.ts): the text is the ids' own.
        const text = tok().decode(model.input.kind === 'tokens' ? tokenIdsOf(ex.ids.subarray(i * ex.length, (i + 1) * ex.length), model.input.vocabSize) : []);
        return { result: await classify(model, x, labelNames, topK), shown: { text, ...(label ? { label } : {}), index: i } };
      } finally {
        x.dispose();
      }
    }
    if (ex.kind !== 'tokens') throw new SpruftError('CONFIG_INVALID', 'an image model takes images: pick an evaluation example or an image file');
    const length = sequenceLength(model, config);
    // Encoded as the run's own texts were: the same pair template and token types.
    const x = tf.tensor2d(encodeForModel(tok(), model, [input.text], length, input.pair !== undefined ? [input.pair] : undefined).ids, [1, length], 'int32');
    try {
      return { result: await classify(model, x, labelNames, topK), shown: { text: input.text, ...(input.pair !== undefined ? { pair: input.pair } : {}) } };
    } finally {
      x.dispose();
    }
  };
  try {
    const base = await answer();
    const adapter = applyAdapter(adapterDir, model, { strict: false });
    const tuned = await answer();
    return { task: config.task, method: adapter.method, input: base.shown, examples: data.eval.n, base: base.result, tuned: tuned.result, ms: Date.now() - started };
  } finally {
    detachMethod(model);
    model.dispose();
  }
}
