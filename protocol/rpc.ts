/**
 * The JSON-RPC 2.0 contract between the extension (client) and `spruft serve` (the
 * runner, on stdio with vscode-jsonrpc framing). Every method is declared once here as
 * a typed RequestType / NotificationType; no method string appears anywhere else
 * (STYLE.md point 2). Requests come from the client; notifications from the runner.
 *
 * A run (`run/score`, `run/train`, `run/evaluate`) is accepted at once with its id
 * and folder; the runner then streams notifications for that id and ends with exactly
 * one `run/finished`. One run at a time: another start while one runs gets the
 * `busy` error.
 *
 * Each request's params are a TypeBox schema (`*ParamsSchema`), their TypeScript type is
 * derived from it, and the runner checks what it receives against it (serve.ts), so a
 * malformed request is answered InvalidParams naming the field. Every schema node says in
 * `description` what a value must be: that is the message's wording.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { NotificationType, RequestType, RequestType0 } from 'vscode-jsonrpc';
import { BACKENDS, METHODS } from './config';
import type { ConfigDiagnostic } from './diagnostics';
import type {
  BackendInfo,
  InspectResult,
  LayerSelection,
  MemoryMeasurement,
  MethodName,
  ProgressEvent,
  QuantileSummary,
  RunResult,
  ScoreResult,
} from './results';

export const PROTOCOL_VERSION = 1;

/** JSON-RPC error codes of the runner (server-defined range -32000..-32099). */
export const RunnerErrorCode = {
  /** A run is already going; wait for `run/finished` or send `run/cancel`. */
  busy: -32001,
  /** The run config has errors; `data.diagnostics` lists them. */
  invalidConfig: -32002,
  /** A path in the request does not exist. */
  notFound: -32003,
  /** A model, adapter or data file could not be read. */
  invalidInput: -32004,
  /** The backend asked for cannot start here. */
  backendUnavailable: -32005,
  /** No run with that id is going. */
  noSuchRun: -32006,
  /** Anything else; the message says what failed. */
  internal: -32099,
} as const;

/** `data` of every runner error: the engine's error code and where it happened. */
export interface RunnerErrorData {
  code: string;
  where?: string;
  diagnostics?: ConfigDiagnostic[];
}

// ---- params schemas ---------------------------------------------------------------

const nonEmptyString = () => Type.String({ minLength: 1, description: 'a non-empty string' });
const positiveInteger = () => Type.Integer({ minimum: 1, description: 'a positive integer' });
function oneOf<const V extends readonly string[]>(values: V) {
  return Type.Union(values.map((v) => Type.Literal(v)) as never, { description: `one of ${values.join(', ')}` }) as unknown as TSchema & { static: V[number] };
}
/** Named parameters: an object (other keys are ignored, for clients newer than this runner). */
const params = <P extends Parameters<typeof Type.Object>[0]>(properties: P) => Type.Object(properties, { description: 'an object with named parameters' });

// ---- initialize -----------------------------------------------------------------

export const InitializeParamsSchema = params({
  clientName: Type.Optional(Type.String({ description: 'a string' })),
  clientVersion: Type.Optional(Type.String({ description: 'a string' })),
  /** Backend the client's settings ask for; `auto` when unset. */
  backend: Type.Optional(oneOf(BACKENDS)),
});
export type InitializeParams = Static<typeof InitializeParamsSchema>;

export interface InitializeResult {
  protocolVersion: number;
  runnerVersion: string;
  tfjsVersion: string;
  nodeVersion: string;
  backend: BackendInfo;
}

/** Client -> runner, first message: versions and the backend that started. */
export const InitializeRequest = new RequestType<InitializeParams, InitializeResult, RunnerErrorData>('initialize');

/** Client -> runner: stop runs, flush, and get ready to exit (then the client ends stdin). */
export const ShutdownRequest = new RequestType0<void, RunnerErrorData>('shutdown');

// ---- model, config ---------------------------------------------------------------

export const InspectParamsSchema = params({
  /** HF folder, model.json, or `npm:` model reference. */
  path: nonEmptyString(),
});
export type InspectParams = Static<typeof InspectParamsSchema>;

/** Client -> runner: layers, shapes, parameter counts of a model (no training). */
export const InspectModelRequest = new RequestType<InspectParams, InspectResult, RunnerErrorData>('model/inspect');

export const CheckParamsSchema = params({
  configPath: nonEmptyString(),
  /** Unsaved editor text; the file on disk when absent. */
  text: Type.Optional(Type.String({ description: 'a string' })),
});
export type CheckParams = Static<typeof CheckParamsSchema>;

export interface CheckResult {
  diagnostics: ConfigDiagnostic[];
}

/** Client -> runner: validate a run config exactly as a run would, without running. */
export const CheckConfigRequest = new RequestType<CheckParams, CheckResult, RunnerErrorData>('run/check');

// ---- runs -------------------------------------------------------------------------

export const RunOverridesSchema = Type.Object({
  /** Replace the config's `method`. */
  method: Type.Optional(oneOf(METHODS)),
  /** Replace the config's `compare` list (e.g. ["lora"] for "Compare with LoRA"). */
  compare: Type.Optional(Type.Array(oneOf(METHODS), { description: `a list of ${METHODS.join(', ')}` })),
  /** Cap optimizer steps (smoke runs, tests). */
  maxSteps: Type.Optional(positiveInteger()),
  backend: Type.Optional(oneOf(BACKENDS)),
}, { description: 'an object' });
export type RunOverrides = Static<typeof RunOverridesSchema>;

export const RunParamsSchema = params({
  /** The run config; ignored (may be '' or absent) with `resumeDir`, else required and non-empty (serve.ts). */
  configPath: Type.Optional(Type.String({ description: 'a string' })),
  /**
   * `run/train` only: continue this run folder from its checkpoint (a cancelled,
   * interrupted or failed run), as `spruft train --resume <folder>` does.
   */
  resumeDir: Type.Optional(Type.String({ description: 'a string' })),
  overrides: Type.Optional(RunOverridesSchema),
});
export type RunParams = Omit<Static<typeof RunParamsSchema>, 'configPath'> & { configPath: string };

export const EvaluateParamsSchema = params({
  /** A run folder (evaluates its adapter) or a config path (evaluates the base model). */
  target: nonEmptyString(),
  /**
   * Causal LM: zero-shot multiple-choice task files (absolute paths, or `name=path`) scored
   * besides the config's `evaluation.tasks`; on a run folder before and after its adapter.
   */
  tasks: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'a list of non-empty strings' })),
});
export type EvaluateParams = Static<typeof EvaluateParamsSchema>;

export interface RunStarted {
  runId: string;
  /** Folder that receives the run's files (absent for scoring without output). */
  runDir?: string;
}

/** Client -> runner: importance scores and selected rows per layer; ends with `run/finished`. */
export const ScoreRequest = new RequestType<RunParams, RunStarted, RunnerErrorData>('run/score');

/** Client -> runner: score, train, evaluate, write the run folder; ends with `run/finished`. */
export const TrainRequest = new RequestType<RunParams, RunStarted, RunnerErrorData>('run/train');

/** Client -> runner: metrics of a run folder's adapter or of a base model. */
export const EvaluateRequest = new RequestType<EvaluateParams, RunStarted, RunnerErrorData>('run/evaluate');

export const CancelParamsSchema = params({ runId: nonEmptyString() });
export type CancelParams = Static<typeof CancelParamsSchema>;

export interface CancelResult {
  /** False when the run had already finished. */
  cancelled: boolean;
}

/** Client -> runner: stop the run within one training step; the folder stays consistent. */
export const CancelRequest = new RequestType<CancelParams, CancelResult, RunnerErrorData>('run/cancel');

export const MergeParamsSchema = params({
  runDir: nonEmptyString(),
  outDir: nonEmptyString(),
  /** Write even where the output is, holds or lies inside the base model's folder (refused otherwise). */
  force: Type.Optional(Type.Boolean({ description: 'true or false' })),
  /** Largest safetensors shard: bytes or "5GB"/"2GiB" (default: the run config's output.maxShardSize, else 5GB). */
  maxShardSize: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.String({ minLength: 1 })], { description: 'bytes, or a size such as "5GB"' })),
});
export type MergeParams = Static<typeof MergeParamsSchema>;

export interface MergeResult {
  outDir: string;
  format: 'hf' | 'tfjs-layers';
  mergedLayers: number;
}

/** Client -> runner: merge a run's adapter into its base model (W[idx] += W_f) and export. */
export const MergeRequest = new RequestType<MergeParams, MergeResult, RunnerErrorData>('adapter/merge');

// ---- playground ---------------------------------------------------------------------

/** What the playground feeds both models: an evaluation example of the run's data, or a text. */
export const PredictInputSchema = Type.Union([
  /** The run's evaluation example #index (an image, a text, or a passage whose start is the prompt). */
  Type.Object({ kind: Type.Literal('example'), index: Type.Integer({ minimum: 0 }) }),
  /**
   * A text to classify (text-classification) or a prompt to continue (causal-lm); `pair`,
   * the second text, for a run on text pairs (its `data.columns.textPair`), and only there.
   */
  Type.Object({ kind: Type.Literal('text'), text: Type.String(), pair: Type.Optional(Type.String()) }),
  /** An image file (JPEG, PNG, WebP) to classify, brought to the model's input as the run's images were. */
  Type.Object({ kind: Type.Literal('image'), path: Type.String({ minLength: 1 }) }),
], { description: '{"kind": "example", "index": n >= 0}, {"kind": "text", "text": "...", "pair"?: "..."} or {"kind": "image", "path": "..."}' });
export type PredictInput = Static<typeof PredictInputSchema>;

export const PredictParamsSchema = params({
  /** A run folder that holds an adapter. */
  runDir: nonEmptyString(),
  input: PredictInputSchema,
  /** Labels listed per model (classification); default 3. */
  topK: Type.Optional(positiveInteger()),
  /** Bytes a decoder adds to the prompt, greedily; default 48. */
  maxNewTokens: Type.Optional(positiveInteger()),
});
export type PredictParams = Static<typeof PredictParamsSchema>;

export interface LabelScore {
  label: string;
  probability: number;
}

/** One model's answer: ranked labels (classification) or a greedy continuation (causal-lm). */
export interface ModelAnswer {
  top?: LabelScore[];
  continuation?: string;
  /** A regression head's prediction (`head.problemType: regression`). */
  value?: number;
}

export interface PredictResult {
  task: 'image-classification' | 'text-classification' | 'causal-lm';
  method: MethodName;
  /** What both models were given. Images as the model sees them, rescaled to 0..255, HWC. */
  input: {
    text?: string;
    /** The second text of a typed pair. */
    pair?: string;
    image?: { width: number; height: number; channels: number; pixels: number[] };
    /** The example's true label (classification examples). */
    label?: string;
    index?: number;
  };
  /** How many evaluation examples there are to pick from. */
  examples: number;
  /** The pretrained model as the run started from it (a replaced head as initialised). */
  base: ModelAnswer;
  /** The same model with the run's adapter. */
  tuned: ModelAnswer;
  ms: number;
}

/** Client -> runner: the base model and the fine-tuned one (base + adapter) on one input. Refused (`busy`) while a run goes. */
export const PredictRequest = new RequestType<PredictParams, PredictResult, RunnerErrorData>('model/predict');

// ---- notifications (runner -> client) ---------------------------------------------

/** Runner -> client, a few times a second during a run: phase, step, loss, lr, speed, ETA. */
export const ProgressNotification = new NotificationType<ProgressEvent>('run/progress');

export interface SelectionEvent {
  runId: string;
  method: MethodName;
  /** The importance metric that chose the rows, or `stored` for rows reused from an adapter that does not name one. */
  metric: string;
  layers: LayerSelection[];
}

/** Runner -> client, once scoring is done: the rows chosen in each layer and their scores. */
export const SelectionNotification = new NotificationType<SelectionEvent>('run/selection');

export interface MemoryEvent {
  runId: string;
  method: MethodName;
  variant: string;
  trainableParams: number;
  measurement: MemoryMeasurement;
}

/** Runner -> client, after the first measured training step of each method. */
export const MemoryNotification = new NotificationType<MemoryEvent>('run/memory');

export interface LabelAccuracyEvent {
  runId: string;
  method: MethodName;
  labels: string[];
  perLabel: Record<string, number>;
  perLabelStats: QuantileSummary;
  accuracy: number;
}

/** Runner -> client, after each evaluation: accuracy per label and its spread. */
export const LabelAccuracyNotification = new NotificationType<LabelAccuracyEvent>('run/labelAccuracy');

export interface EvaluationEvent {
  runId: string;
  method: MethodName;
  /** Optimizer steps done when it was evaluated (the last one: after training). */
  step: number;
  totalSteps: number;
  loss: number;
  /** Classification. */
  accuracy?: number;
  /** Causal LM. */
  perplexity?: number;
}

/** Runner -> client, after each evaluation of a method: every `training.evalEvery` steps and once training ends. */
export const EvaluationNotification = new NotificationType<EvaluationEvent>('run/evaluation');

export type RunStatus = 'completed' | 'cancelled' | 'failed';

export interface FinishedEvent {
  runId: string;
  status: RunStatus;
  kind: 'score' | 'train' | 'evaluate';
  result?: RunResult | ScoreResult;
  error?: { message: string; code: string; where?: string };
  runDir?: string;
}

/** Runner -> client, exactly once per run, last. */
export const FinishedNotification = new NotificationType<FinishedEvent>('run/finished');

export interface LogEvent {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
}

/** Runner -> client: log lines (also written to the runner's stderr). */
export const LogNotification = new NotificationType<LogEvent>('log');
