/**
 * Runs: a config (or a run folder to resume) becomes a run folder, with the model, the
 * data, scoring, each method trained and evaluated on the same frozen model in turn
 * (`method` first, then `compare`), adapters and metrics written as they finish.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { configForMethod, type ResolvedRunConfig } from '../../../protocol/config';
import type { EvaluationEvent, RunOverrides } from '../../../protocol/rpc';
import type { BackendChoice, BackendInfo, LanguageModelMetrics, LayerSelection, MemoryMeasurement, MethodName, MultipleChoiceScore, RunResult, ScoreResult } from '../../../protocol/results';
import { RUN_FILES, type RunStatusFile } from '../../../protocol/runFolder';
import type { RunHooks, RunRequest, StartedRun } from './request';
import { loadRunConfig, RunConfigError } from '../config/load';
import { errorMessage, SpruftError } from '../errors';
import { formatDuration } from '../../../protocol/format';
import { removeStaleTemps } from '../io/atomicWrite';
import { applyAdapter, readAdapterConfig, writeAdapter } from '../engine/adapterIO';
import { initBackend } from '../engine/backend';
import { disposeBatch, makeBatch, prepareExamples, type TaskData } from '../engine/batches';
import { hasCheckpoint, readCheckpoint, removeStaleCheckpointFiles } from '../engine/checkpoint';
import { evaluateClassifier, evaluateLanguageModel, evaluateRegression, scoreMultipleChoice } from '../engine/evaluate';
import { readMultipleChoiceTask, type McTask } from '../data/multipleChoice';
import type { TextTokenizer } from '../data/tokenizers';
import { attachMethod, detachMethod, methodInfo } from '../engine/methods';
import { Rng } from '../tensor/rng';
import { scoreRows } from '../engine/score';
import { inferencePeakBytes } from '../engine/step';
import { rankZeroShare } from '../engine/parallel/shares';
import { configDir } from '../io/npmPackage';
import { loadTaskData, taskTokenizer } from '../engine/taskData';
import { trainLoop } from '../engine/train';
import { inferenceContext } from '../models/layer';
import { loadModel } from '../models/load';
import type { Model } from '../models/model';
import { currentOwner } from './owner';
import { MethodFolder, readRunFile, readRunState, RunLock, RunStatusKeeper, writeJson } from './runFolder';

let backend: BackendInfo | undefined;

/** Start the backend a run asks for (once per process unless another is asked for). */
export async function ensureBackend(choice: BackendChoice): Promise<BackendInfo> {
  if (backend && (choice === 'auto' || choice === backend.name)) return backend;
  // The wasm runtime's glue (emscripten) adds process handlers that rethrow every uncaught
  // error and unhandled rejection, which kills the process (exit 7) with the glue's source as
  // its message. The runner handles its own errors (`spruft serve` logs them and keeps
  // serving), so the handlers the backend adds are removed again.
  const before = { uncaughtException: process.listeners('uncaughtException'), unhandledRejection: process.listeners('unhandledRejection') };
  try {
    backend = await initBackend(choice);
  } finally {
    for (const l of process.listeners('uncaughtException')) if (!before.uncaughtException.includes(l)) process.removeListener('uncaughtException', l);
    for (const l of process.listeners('unhandledRejection')) if (!before.unhandledRejection.includes(l)) process.removeListener('unhandledRejection', l);
  }
  return backend;
}

function isClassification(c: ResolvedRunConfig): boolean {
  return c.task === 'image-classification' || c.task === 'text-classification';
}

function applyOverrides(c: ResolvedRunConfig, o: RunOverrides | undefined): ResolvedRunConfig {
  if (!o) return c;
  const method = o.method ?? c.method;
  const compare = (o.compare ?? c.compare).filter((m) => m !== method);
  return {
    ...c, method, compare, backend: o.backend ?? c.backend,
    training: { ...c.training, maxSteps: o.maxSteps ?? c.training.maxSteps },
  };
}

async function loadConfig(req: RunRequest): Promise<ResolvedRunConfig> {
  const loaded = await loadRunConfig(req.configPath, req.text);
  if (!loaded.resolved || loaded.diagnostics.some((d) => d.severity === 'error')) throw new RunConfigError(req.configPath, loaded.diagnostics);
  return applyOverrides(loaded.resolved, req.overrides);
}

function timestamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-').replace('T', '_').slice(0, 19);
}

function newRunDir(c: ResolvedRunConfig): string {
  const name = c.output.name ?? `${c.name}-${c.method}-${timestamp()}`;
  // The schema allows only plain names; a run folder never lands outside output.dir.
  if (name !== basename(name) || name === '.' || name === '..' || name.includes('\\')) {
    throw new SpruftError('CONFIG_INVALID', `output.name ${JSON.stringify(name)} must be a plain folder name inside output.dir (not . or .., no slashes)`);
  }
  let dir = join(c.output.dir, name);
  for (let i = 2; existsSync(dir); i++) dir = join(c.output.dir, `${name}-${i}`);
  return dir;
}

/** A run folder's resolved config; a corrupt one is named at file:line:col. */
export function readResolved(runDir: string): ResolvedRunConfig {
  const path = join(runDir, RUN_FILES.config);
  if (!existsSync(path)) throw new SpruftError('FILE_NOT_FOUND', `not a run folder (no ${RUN_FILES.config})`, runDir);
  const c = readRunFile<ResolvedRunConfig>(path, RUN_FILES.config)!;
  const missing = (['name', 'task', 'method', 'backend'] as const).filter((k) => typeof c[k] !== 'string');
  if (typeof c.model?.path !== 'string') missing.push('model.path' as never);
  if (typeof c.training !== 'object' || c.training === null) missing.push('training' as never);
  if (!Array.isArray(c.compare)) missing.push('compare' as never);
  if (missing.length) {
    throw new SpruftError('RUN_FOLDER_INVALID', `lacks ${missing.join(', ')}; the file is corrupt or was edited (start a new run from the config)`, path);
  }
  return c;
}

/** Multiple-choice tasks of a causal LM (`evaluation.tasks`), read once with the model's tokenizer. */
interface McSuite {
  tasks: McTask[];
  tokenizer: TextTokenizer;
}

/** The model and data of a run, the head sized to the task's labels. */
export async function prepare(c: ResolvedRunConfig, log: RunHooks['onLog']): Promise<{ model: Model; data: TaskData; mc?: McSuite }> {
  const model = loadModel(c.model.path, { format: c.model.format, cutAt: c.model.cutAt, seed: c.training.seed, from: configDir(c) });
  const data = await loadTaskData(c, model);
  log?.('info', data.description);
  let mc: McSuite | undefined;
  if (c.evaluation?.tasks.length) {
    if (c.task !== 'causal-lm') throw new SpruftError('CONFIG_INVALID', `evaluation.tasks (zero-shot multiple choice) needs task: causal-lm, not ${c.task}`);
    const tasks = c.evaluation.tasks.map((spec) => readMultipleChoiceTask(spec, c.evaluation!.limit));
    mc = { tasks, tokenizer: taskTokenizer(model, c) };
    log?.('info', `multiple choice: ${tasks.map((t) => `${t.name} (${t.layout}, ${t.questions.length} questions)`).join(', ')}`);
  }
  if (isClassification(c) && data.labelNames) {
    const labels = data.labelNames.length;
    if (model.numLabels !== labels) {
      if (!c.head.replace) {
        throw new SpruftError('CONFIG_INVALID', `the model's head has ${model.numLabels} outputs but the data has ${labels} labels; set head.replace: true`);
      }
      model.replaceHead(labels, Rng.derive(c.training.seed, 'head-init'));
    }
    model.labelNames = data.labelNames;
    model.problemType = c.head.problemType;
  }
  return { model, data, ...(mc ? { mc } : {}) };
}

/** mem_M (paper C.3): peak of inference with the frozen model on one training batch. */
async function inferencePeak(model: Model, data: TaskData, batchSize: number): Promise<number> {
  const indices = Int32Array.from({ length: Math.min(batchSize, data.train.n) }, (_, i) => i);
  await prepareExamples(data.train, indices);
  const batch = makeBatch(data.train, indices);
  try {
    return await inferencePeakBytes(model, batch, inferenceContext());
  } finally {
    disposeBatch(batch);
  }
}

async function evaluate(model: Model, c: ResolvedRunConfig, data: TaskData, mc?: McSuite, log?: RunHooks['onLog']): Promise<RunResult['metrics']> {
  if (c.head.problemType === 'regression') return evaluateRegression(model, data.eval, { batchSize: c.training.evalBatchSize });
  if (isClassification(c)) return evaluateClassifier(model, data.eval, { batchSize: c.training.evalBatchSize, labelNames: data.labelNames ?? [] });
  if (data.eval.kind !== 'tokens') throw new SpruftError('INTERNAL', 'causal LM evaluation needs token data');
  const metrics: LanguageModelMetrics = await evaluateLanguageModel(model, data.eval, c.training.evalBatchSize);
  if (mc) {
    const maxLength = model.input.kind === 'tokens' ? model.input.maxLength : 0;
    const scores: Record<string, MultipleChoiceScore> = {};
    for (const task of mc.tasks) {
      scores[task.name] = await scoreMultipleChoice(model, mc.tokenizer, task, { batchSize: c.training.evalBatchSize, maxLength });
      log?.('info', `${task.name}: acc ${(100 * scores[task.name].acc).toFixed(2)}%, acc_norm ${(100 * scores[task.name].accNorm).toFixed(2)}% (${task.questions.length} questions)`);
    }
    metrics.multipleChoice = scores;
  }
  return metrics;
}

interface MethodRunContext {
  runId: string;
  config: ResolvedRunConfig;
  model: Model;
  data: TaskData;
  mc?: McSuite;
  /** The frozen model's metrics, when multiple-choice tasks are scored before tuning. */
  before?: LanguageModelMetrics;
  backend: BackendInfo;
  hooks: RunHooks;
  memM: number;
  fingerprint: string;
  resume: boolean;
  keeper: RunStatusKeeper;
}

function endStatusOf(err: unknown): 'cancelled' | 'failed' {
  return err instanceof SpruftError && err.code === 'RUN_CANCELLED' ? 'cancelled' : 'failed';
}

/** Before a resume, under the lock: temporaries and step folders a killed write left behind. */
function removeStaleFiles(runDir: string, methods: MethodName[], primary: MethodName, log: RunHooks['onLog']): void {
  const removed: string[] = [];
  for (const method of methods) {
    const dir = method === primary ? runDir : join(runDir, RUN_FILES.compareDir, method);
    removed.push(...removeStaleTemps(dir), ...removeStaleCheckpointFiles(join(dir, RUN_FILES.checkpointDir)));
  }
  if (removed.length) log?.('info', `removed ${removed.length} stale file(s) a killed run left: ${removed.slice(0, 5).join(', ')}${removed.length > 5 ? ', ...' : ''}`);
}

async function selectionFor(ctx: MethodRunContext, folder: MethodFolder): Promise<{ layers: LayerSelection[]; metric: string }> {
  const c = ctx.config;
  const byName = new Map(ctx.model.layers.map((l) => [l.name, l]));
  if (ctx.resume && hasCheckpoint(folder.checkpointDir)) {
    const state = readCheckpoint(folder.checkpointDir).state;
    return {
      metric: c.spruft.importance.metric,
      layers: (state.selection ?? []).map((s) => {
        const l = byName.get(s.name)!;
        return { name: s.name, kind: l.kind, rows: s.rows, scores: s.scores, dOut: l.dOut, dIn: l.dIn, ...(s.columns ? { columns: s.columns } : {}) };
      }),
    };
  }
  if (c.spruft.selectionFrom) {
    // Score once, train many: the rows an earlier run chose (its adapter_config.json).
    const from = c.spruft.selectionFrom;
    const stored = readAdapterConfig(existsSync(join(from, RUN_FILES.adapterDir)) ? join(from, RUN_FILES.adapterDir) : from);
    if (stored.method !== 'spruft') {
      throw new SpruftError('ADAPTER_INVALID', `spruft.selectionFrom: this adapter was trained with method "${stored.method}"; name the run folder of a spruft run`, from);
    }
    return {
      metric: stored.metric ?? 'stored',
      layers: stored.layers.flatMap((s) => {
        const l = byName.get(s.name);
        if (!l) throw new SpruftError('ADAPTER_INVALID', `the stored selection names layer "${s.name}", which this model does not have`, from);
        const rows = s.rows ?? [];
        if (rows.some((r) => r >= l.dOut)) throw new SpruftError('ADAPTER_INVALID', `the stored selection has rows beyond layer "${s.name}"'s ${l.dOut}; was it made for another model?`, from);
        return [{ name: s.name, kind: l.kind, rows, scores: s.scores ?? [], dOut: l.dOut, dIn: l.dIn, ...(s.columns ? { columns: s.columns } : {}) }];
      }),
    };
  }
  ctx.hooks.onProgress?.({ runId: ctx.runId, method: 'spruft', phase: 'scoring', step: 0, totalSteps: 0, epoch: 0, totalEpochs: 0, elapsedMs: 0 });
  const scored = await scoreRows(ctx.model, c, ctx.data.train);
  ctx.hooks.onLog?.('info', `scored ${scored.layers.length} layers with ${scored.metric} in ${formatDuration(scored.ms)}`);
  for (const w of scored.warnings) ctx.hooks.onLog?.('warn', w);
  return { layers: scored.layers, metric: scored.metric };
}

async function runMethod(ctx: MethodRunContext, method: MethodName, folder: MethodFolder, primary: boolean): Promise<RunResult> {
  const c = configForMethod(ctx.config, method);
  // The main method's own status is in the run's status.json (`methods`); a compared one's in its folder.
  const previous = primary ? ctx.keeper.methods[method] : folder.readStatus()?.status;
  if (ctx.resume && previous === 'completed') {
    const done = folder.readMetrics();
    if (done) return done;
  }
  const owner = currentOwner();
  const started: RunStatusFile = { status: 'running', runId: ctx.runId, method, startedAt: new Date().toISOString(), pid: owner.pid, owner };
  const setStatus = (s: RunStatusFile): void => {
    ctx.keeper.setMethod(method, s.status);
    if (!primary) folder.writeStatus(s);
  };
  setStatus(started);
  let selection: { layers: LayerSelection[]; metric: string } | undefined;
  if (methodInfo(method).scoresRows) {
    selection = await selectionFor(ctx, folder);
    const event = { runId: ctx.runId, method, metric: selection.metric, layers: selection.layers };
    folder.writeSelection(event);
    ctx.hooks.onSelection?.(event);
  }
  const attached = attachMethod(ctx.model, {
    method, config: c, selection: selection?.layers, trainHead: isClassification(c) && c.head.train, seed: c.training.seed,
  });
  ctx.hooks.onLog?.('info', `${attached.variant}: ${attached.trainableParams.toLocaleString('en')} trainable parameters (${attached.percent.toFixed(2)}%)`);
  try {
    let mem: MemoryMeasurement | undefined;
    const outcome = await trainLoop({
      model: ctx.model, attached, train: ctx.data.train, config: c, runId: ctx.runId, method,
      checkpointDir: folder.checkpointDir,
      resume: ctx.resume && hasCheckpoint(folder.checkpointDir),
      inferencePeak: ctx.memM,
      signal: ctx.hooks.signal,
      onProgress: (e) => {
        folder.appendProgress(e);
        ctx.hooks.onProgress?.(e);
      },
      evalEvery: c.training.evalEvery,
      onEvaluate: async (step, totalSteps) => {
        const event = evaluationEvent(ctx.runId, method, step, totalSteps, await evaluate(ctx.model, c, ctx.data));
        folder.appendEvaluation(event);
        ctx.hooks.onEvaluation?.(event);
      },
      onMemory: (m) => {
        mem = m;
        const event = { runId: ctx.runId, method, variant: attached.variant, trainableParams: attached.trainableParams, measurement: m };
        folder.writeMemory(event);
        ctx.hooks.onMemory?.(event);
      },
    });
    ctx.hooks.onProgress?.({
      runId: ctx.runId, method, phase: 'evaluating', step: outcome.steps, totalSteps: outcome.steps, epoch: 0, totalEpochs: 0, elapsedMs: outcome.trainMs,
    });
    const metrics = await evaluate(ctx.model, c, ctx.data, ctx.mc, ctx.hooks.onLog);
    const finalEvaluation = evaluationEvent(ctx.runId, method, outcome.steps, outcome.steps, metrics);
    folder.appendEvaluation(finalEvaluation);
    ctx.hooks.onEvaluation?.(finalEvaluation);
    if ('perLabel' in metrics) {
      const event = { runId: ctx.runId, method, labels: metrics.labels, perLabel: metrics.perLabel, perLabelStats: metrics.perLabelStats, accuracy: metrics.accuracy };
      folder.writeLabels(event);
      ctx.hooks.onLabelAccuracy?.(event);
    }
    writeAdapter(folder.adapterDir, ctx.model, attached, { metric: selection?.metric, config: c, fingerprint: ctx.fingerprint });
    const result: RunResult = {
      backend: ctx.backend, method, trainableParams: attached.trainableParams, totalParams: attached.totalParams,
      percent: attached.percent, metrics, mem: mem?.breakdown, memory: mem, runDir: folder.dir, trainMs: outcome.trainMs, steps: outcome.steps,
      ...(ctx.before ? { before: ctx.before } : {}),
    };
    folder.writeMetrics(result);
    setStatus({ ...started, status: 'completed', endedAt: new Date().toISOString() });
    return result;
  } catch (err) {
    setStatus({ ...started, status: endStatusOf(err), endedAt: new Date().toISOString(), error: errorMessage(err) });
    throw err;
  } finally {
    detachMethod(ctx.model);
  }
}

/** The point an evaluation adds to the dashboard's "evaluation over the run". */
function evaluationEvent(runId: string, method: MethodName, step: number, totalSteps: number, metrics: RunResult['metrics']): EvaluationEvent {
  return {
    runId, method, step, totalSteps, loss: metrics.loss,
    ...(metrics.accuracy !== undefined ? { accuracy: metrics.accuracy } : {}),
    ...('perplexity' in metrics ? { perplexity: metrics.perplexity } : {}),
  };
}

let runCounter = 0;

function newRunId(runDir: string): string {
  runCounter += 1;
  return `${basename(runDir)}#${runCounter}`;
}

export async function startTrain(req: RunRequest, hooks: RunHooks): Promise<StartedRun<RunResult>> {
  const resume = req.resumeDir !== undefined;
  if (resume && !existsSync(req.resumeDir!)) throw new SpruftError('FILE_NOT_FOUND', 'run folder not found; give the folder that spruft train printed', req.resumeDir);
  const config = resume ? applyOverrides(readResolved(req.resumeDir!), req.overrides) : await loadConfig(req);
  const runDir = resume ? req.resumeDir! : newRunDir(config);
  mkdirSync(runDir, { recursive: true });
  // From here on this process owns the folder: a second resume of it is refused.
  const lock = RunLock.acquire(runDir);
  const methods = [config.method, ...config.compare];
  const top = new MethodFolder(runDir, config.method);
  let keeper: RunStatusKeeper | undefined;
  try {
    let previousMethods: RunStatusFile['methods'];
    if (resume) {
      const previous = top.readStatus();
      // Runs written before status.json held `methods`: a completed main method shows in `status`.
      previousMethods = previous?.methods ?? (previous?.status === 'completed' ? { [previous.method]: 'completed' } : undefined);
      removeStaleFiles(runDir, methods, config.method, hooks.onLog);
    } else {
      writeJson(join(runDir, RUN_FILES.config), config);
    }
    const runId = newRunId(runDir);
    keeper = new RunStatusKeeper(top, { runId, method: config.method, methods: previousMethods });
    keeper.start();
    const info = await ensureBackend(config.backend);
    hooks.onLog?.('info', `backend ${info.name} (${info.reason})`);
    const workers = config.training.workers;
    if (workers > 1) hooks.onLog?.('info', `data-parallel: ${workers} ranks (this thread and ${workers - 1} worker thread(s), each with its own ${info.name} backend and a share of every batch); memory figures are rank 0's`);
    const running = keeper;
    const done = (async (): Promise<RunResult> => {
      try {
        hooks.onProgress?.({ runId, method: config.method, phase: 'loading', step: 0, totalSteps: 0, epoch: 0, totalEpochs: 0, elapsedMs: 0 });
        const result = await trainMethods(runId, runDir, config, methods, { backend: info, hooks, resume, keeper: running });
        running.finish('completed');
        return result;
      } catch (err) {
        // Stopped (or failed) in any method, the whole run is: a compared method's Ctrl-C included.
        running.finish(endStatusOf(err), errorMessage(err));
        throw err;
      } finally {
        lock.release();
      }
    })();
    return { runId, runDir, done };
  } catch (err) {
    keeper?.finish(endStatusOf(err), errorMessage(err));
    lock.release();
    throw err;
  }
}

async function trainMethods(
  runId: string, runDir: string, config: ResolvedRunConfig, methods: MethodName[],
  o: { backend: BackendInfo; hooks: RunHooks; resume: boolean; keeper: RunStatusKeeper },
): Promise<RunResult> {
  const { model, data, mc } = await prepare(config, o.hooks.onLog);
  try {
    let before: LanguageModelMetrics | undefined;
    if (mc) {
      o.hooks.onProgress?.({ runId, method: config.method, phase: 'evaluating', step: 0, totalSteps: 0, epoch: 0, totalEpochs: 0, elapsedMs: 0 });
      o.hooks.onLog?.('info', 'scoring the frozen model before tuning');
      before = (await evaluate(model, config, data, mc, o.hooks.onLog)) as LanguageModelMetrics;
    }
    const ctx: MethodRunContext = {
      runId, config, model, data, mc, before, backend: o.backend, hooks: o.hooks, resume: o.resume, keeper: o.keeper,
      // With training.workers > 1 this thread computes only its share of each batch.
      memM: await inferencePeak(model, data, rankZeroShare(config.training.batchSize, config.training.workers)),
      fingerprint: model.fingerprint(),
    };
    const results: RunResult[] = [];
    for (const [i, method] of methods.entries()) {
      const folder = new MethodFolder(i === 0 ? runDir : join(runDir, RUN_FILES.compareDir, method), method);
      results.push(await runMethod(ctx, method, folder, i === 0));
    }
    const [primary, ...compared] = results;
    const result: RunResult = { ...primary, runDir, ...(compared.length ? { compared } : {}) };
    new MethodFolder(runDir, config.method).writeMetrics(result);
    o.hooks.onProgress?.({ runId, method: config.method, phase: 'done', step: primary.steps ?? 0, totalSteps: primary.steps ?? 0, epoch: 0, totalEpochs: 0, elapsedMs: primary.trainMs ?? 0 });
    return result;
  } finally {
    model.dispose();
  }
}

export async function startScore(req: RunRequest, hooks: RunHooks): Promise<StartedRun<ScoreResult>> {
  const config = await loadConfig(req);
  const info = await ensureBackend(config.backend);
  const runId = `score-${config.name}#${++runCounter}`;
  const done = (async (): Promise<ScoreResult> => {
    const { model, data } = await prepare(config, hooks.onLog);
    try {
      const memM = await inferencePeak(model, data, config.training.batchSize);
      const scored = await scoreRows(model, config, data.train);
      hooks.onSelection?.({ runId, method: 'spruft', metric: scored.metric, layers: scored.layers });
      const snr = scored.scores.snr;
      const layers = scored.layers.map((l) => ({
        ...l, rowScores: Array.from(scored.scores.rows.get(l.name) ?? []), ...(snr?.has(l.name) ? { snr: snr.get(l.name) } : {}),
      }));
      for (const w of scored.warnings) hooks.onLog?.('warn', w);
      return {
        backend: info, metric: scored.metric, layers, warnings: scored.warnings,
        trainableParams: scored.trainableParams,
        peakBytes: scored.peakBytes, inferencePeakBytes: memM, ms: scored.ms,
      };
    } finally {
      model.dispose();
    }
  })();
  return { runId, done };
}

/**
 * Evaluate a run folder's adapter on its evaluation data (or a config's base model).
 * `tasks`: multiple-choice task files scored besides the config's own; on a run folder
 * they are scored on the frozen model too (`before`), side by side with the tuned one.
 */
export async function startEvaluate(target: string, hooks: RunHooks, tasks: string[] = []): Promise<StartedRun<RunResult>> {
  const isRun = existsSync(join(target, RUN_FILES.config));
  const loaded = isRun ? readResolved(target) : await loadConfig({ configPath: target });
  const config: ResolvedRunConfig = tasks.length
    ? { ...loaded, evaluation: { tasks: [...(loaded.evaluation?.tasks ?? []), ...tasks], limit: loaded.evaluation?.limit } }
    : loaded;
  if (isRun) {
    const run = readRunState(target);
    if (!existsSync(join(target, RUN_FILES.adapterDir))) {
      const resume = `spruft train --resume ${target}`;
      const why = run?.state === 'running' ? 'it is still running (its first method has not finished)'
        : run?.state === 'interrupted' ? `it was interrupted (its runner stopped without finishing); resume it with \`${resume}\``
        : `it ended ${run?.state ?? 'before training'}${run?.status.error ? ` (${run.status.error})` : ''}; resume it with \`${resume}\``;
      throw new SpruftError('FILE_NOT_FOUND', `this run has no adapter to evaluate yet: ${why}`, target);
    }
    if (run && run.state !== 'completed') hooks.onLog?.('warn', `the run is ${run.state}; evaluating the adapter of its first method, which finished`);
  }
  const info = await ensureBackend(config.backend);
  const runId = `eval-${config.name}#${++runCounter}`;
  const done = (async (): Promise<RunResult> => {
    const { model, data, mc } = await prepare(config, hooks.onLog);
    try {
      let method: MethodName = 'head';
      let trainable = 0;
      let before: LanguageModelMetrics | undefined;
      if (isRun && mc) {
        hooks.onLog?.('info', 'scoring the frozen model before the adapter');
        before = (await evaluate(model, config, data, mc, hooks.onLog)) as LanguageModelMetrics;
      }
      if (isRun) {
        // Strict: an adapter applied to a base whose weights changed (a merge written over
        // it) would count its rows twice; the message names both bases.
        const adapter = applyAdapter(join(target, RUN_FILES.adapterDir), model);
        method = adapter.method;
        trainable = model.layers.flatMap((l) => l.trainables()).reduce((s, t) => s + t.variable.size, 0)
          + (adapter.fullTensors.length > 0 && model.head ? model.head.params : 0);
      }
      const metrics = await evaluate(model, config, data, mc, hooks.onLog);
      if ('perLabel' in metrics) {
        hooks.onLabelAccuracy?.({ runId, method, labels: metrics.labels, perLabel: metrics.perLabel, perLabelStats: metrics.perLabelStats, accuracy: metrics.accuracy });
      }
      return {
        backend: info, method, trainableParams: trainable, totalParams: model.totalParams,
        percent: (100 * trainable) / model.totalParams, metrics, runDir: isRun ? target : '',
        ...(before ? { before } : {}),
      };
    } finally {
      detachMethod(model);
      model.dispose();
    }
  })();
  return { runId, runDir: isRun ? target : undefined, done };
}
