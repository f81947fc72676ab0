/**
 * `spruft serve`: the runner as a JSON-RPC 2.0 server on stdio (vscode-jsonrpc framing),
 * implementing protocol/rpc.ts for the extension. stdout carries only the JSON-RPC
 * stream; logs go to stderr and, as `log` notifications, to the client.
 *
 * One run at a time: a run request answers at once with the run's id and folder, its
 * hooks stream notifications, and exactly one `run/finished` ends it. Another start
 * while one runs is answered with the `busy` error; `run/cancel` aborts the run's
 * signal, which the engine honours within one step. Malformed input (bad framing,
 * invalid JSON, messages that are no JSON-RPC message, wrong params, unknown methods)
 * is answered with JSON-RPC errors; the server keeps serving, reading on from the next
 * Content-Length header. When the client goes away (stdin ends, even mid-message), the run
 * in progress is cancelled (status `cancelled`, checkpoint kept) and the process exits.
 */
import {
  AbstractMessageReader,
  Disposable,
  ErrorCodes,
  Message,
  ResponseError,
  StreamMessageWriter,
  createMessageConnection,
  type DataCallback,
  type MessageConnection,
  type MessageReader,
  type MessageWriter,
  type ResponseMessage,
} from 'vscode-jsonrpc/node';
import { Value } from '@sinclair/typebox/value';
import type { Static, TSchema } from '@sinclair/typebox';
import type { ConfigDiagnostic } from '../../../protocol/diagnostics';
import {
  CancelParamsSchema,
  CancelRequest,
  CheckConfigRequest,
  CheckParamsSchema,
  EvaluateParamsSchema,
  EvaluateRequest,
  EvaluationNotification,
  FinishedNotification,
  InitializeParamsSchema,
  InitializeRequest,
  InspectModelRequest,
  InspectParamsSchema,
  LabelAccuracyNotification,
  LogNotification,
  MemoryNotification,
  MergeParamsSchema,
  MergeRequest,
  PredictParamsSchema,
  PredictRequest,
  RunParamsSchema,
  type PredictParams,
  type PredictResult,
  PROTOCOL_VERSION,
  ProgressNotification,
  RunnerErrorCode,
  ScoreRequest,
  SelectionNotification,
  ShutdownRequest,
  TrainRequest,
  type FinishedEvent,
  type InitializeResult,
  type LogEvent,
  type MergeResult,
  type RunParams,
  type RunStarted,
  type RunnerErrorData,
} from '../../../protocol/rpc';
import type { BackendChoice, BackendInfo, InspectResult, RunResult, ScoreResult } from '../../../protocol/results';
import type { RunHooks, RunRequest, StartedRun } from '../run/request';
import { errorMessage, SpruftError } from '../errors';
import { version as runnerVersion } from '../../../package.json';

/**
 * The application layer the server drives (runner/src/app.ts). Declared here so the
 * protocol can be tested against an in-process double.
 */
export interface RunnerApp {
  initRunner(backend: BackendChoice): Promise<BackendInfo>;
  inspectModel(path: string): Promise<InspectResult>;
  checkConfig(configPath: string, text?: string): Promise<ConfigDiagnostic[]>;
  startTrain(req: RunRequest, hooks: RunHooks): Promise<StartedRun<RunResult>>;
  startScore(req: RunRequest, hooks: RunHooks): Promise<StartedRun<ScoreResult>>;
  startEvaluate(target: string, hooks: RunHooks, tasks?: string[]): Promise<StartedRun<RunResult>>;
  mergeRun(runDir: string, outDir: string, force?: boolean, maxShardSize?: number | string): Promise<MergeResult>;
  predictRun(params: PredictParams): Promise<PredictResult>;
}

type Level = LogEvent['level'];
type RunKind = FinishedEvent['kind'];

// ---- malformed input -----------------------------------------------------------------

/** A message that cannot be handed to the connection, with the JSON-RPC error it gets. */
class MalformedMessage extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly id: number | string | null = null,
  ) {
    super(message);
  }
}

/** Longest header block and message the server accepts (a run/check may carry a 16 MiB config text). */
const MAX_HEADER_BYTES = 8 * 1024;
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
const HEADER_START = /content-length[ \t]*:/i;
/**
 * A Content-Length header inside what should be a message body: raw CR LF cannot occur
 * inside a JSON string and `Content-Length:` is no JSON token, so a body holding this is
 * never valid JSON; its declared length was wrong and the next message starts here.
 */
const HEADER_IN_BODY = /content-length[ \t]*:[ \t]*\d+\r\n(?:[^\r\n:]+:[^\r\n]*\r\n)*\r\n/i;

function idOf(value: unknown): number | string | null {
  if (typeof value !== 'object' || value === null || !('id' in value)) return null;
  const id = (value as { id: unknown }).id;
  return typeof id === 'number' || typeof id === 'string' ? id : null;
}

/**
 * The stdio reader: Content-Length framing (as LSP), checked. Bad framing, invalid JSON
 * and JSON that is no JSON-RPC message are reported to `onMalformed` (the server answers
 * each with a JSON-RPC error), and reading recovers at the next `Content-Length` header,
 * so that one malformed frame (a wrong length included) does not leave every later request
 * unanswered. Input that ends in the middle of a message is logged and closes the reader
 * (and so the server), rather than leaving the process waiting for ever.
 */
export class CheckedMessageReader extends AbstractMessageReader implements MessageReader {
  private buffer = Buffer.alloc(0);
  /** Discarding input up to the next header after a malformed frame. */
  private skipping = false;
  private closed = false;
  private callback: DataCallback | undefined;

  constructor(
    private readonly input: NodeJS.ReadableStream,
    private readonly onMalformed: (error: MalformedMessage) => void,
    private readonly log: (level: Level, message: string) => void = () => undefined,
  ) {
    super();
  }

  listen(callback: DataCallback): Disposable {
    this.callback = callback;
    const onData = (chunk: Buffer | string): void => {
      this.buffer = Buffer.concat([this.buffer, typeof chunk === 'string' ? Buffer.from(chunk) : chunk]);
      this.drain();
    };
    const onEnd = (): void => this.end();
    const onError = (error: Error): void => this.fireError(error);
    this.input.on('data', onData);
    this.input.on('end', onEnd);
    this.input.on('close', onEnd);
    this.input.on('error', onError);
    return Disposable.create(() => {
      this.input.off('data', onData);
      this.input.off('end', onEnd);
      this.input.off('close', onEnd);
      this.input.off('error', onError);
    });
  }

  private end(): void {
    if (this.closed) return;
    this.closed = true;
    const pending = this.skipping ? '' : this.buffer.toString('latin1').trim();
    if (pending) {
      const header = /content-length[ \t]*:[ \t]*(\d+)\r\n(?:[^\r\n]*\r\n)*?\r\n/i.exec(pending);
      const got = header ? Buffer.byteLength(pending, 'latin1') - header[0].length - header.index : 0;
      this.log('error', `the input ended in the middle of a message${header ? ` (${got} of ${header[1]} bytes)` : ' (no complete header)'}; the client went away: stopping`);
    }
    this.fireClose();
  }

  /** Report a malformed frame and skip to the next header at or after `from`. */
  private malformed(message: string, from: number): void {
    this.onMalformed(new MalformedMessage(ErrorCodes.ParseError, `Parse error: ${message}; reading resumes at the next Content-Length header.`));
    this.buffer = this.buffer.subarray(Math.min(from, this.buffer.length));
    this.skipping = true;
  }

  private drain(): void {
    while (this.buffer.length > 0) {
      // Line breaks between messages are tolerated.
      let blank = 0;
      while (blank < this.buffer.length && (this.buffer[blank] === 0x0d || this.buffer[blank] === 0x0a)) blank++;
      if (blank > 0) {
        this.buffer = this.buffer.subarray(blank);
        continue;
      }
      if (this.skipping) {
        const text = this.buffer.toString('latin1');
        const at = text.search(HEADER_START);
        if (at < 0) {
          // Keep a tail that may be the start of a header cut in two.
          this.buffer = this.buffer.subarray(Math.max(0, this.buffer.length - 16));
          return;
        }
        this.buffer = this.buffer.subarray(at);
        this.skipping = false;
      }
      const headerEnd = this.buffer.indexOf('\r\n\r\n');
      if (headerEnd < 0) {
        if (this.buffer.length > MAX_HEADER_BYTES) this.malformed(`no end of header within ${MAX_HEADER_BYTES} bytes (a header is "Content-Length: <n>\\r\\n\\r\\n")`, 1);
        // A header starts with a name; JSON sent without a header (or other junk) cannot.
        else if (!/^[A-Za-z]/.test(this.buffer.toString('latin1', 0, 1))) this.malformed('expected a "Content-Length: <n>" header before the message', 1);
        return;
      }
      const lines = this.buffer.subarray(0, headerEnd).toString('latin1').split('\r\n');
      let length: number | undefined;
      let problem: string | undefined;
      for (const line of lines) {
        const colon = line.indexOf(':');
        if (colon <= 0 || !/^[A-Za-z][A-Za-z0-9-]*$/.test(line.slice(0, colon).trim())) {
          problem = `the header line ${JSON.stringify(line.slice(0, 40))} is not "Name: value"`;
          break;
        }
        if (line.slice(0, colon).trim().toLowerCase() === 'content-length') {
          const value = line.slice(colon + 1).trim();
          length = /^\d+$/.test(value) ? Number(value) : NaN;
          if (!Number.isSafeInteger(length) || length > MAX_MESSAGE_BYTES) problem = `Content-Length ${JSON.stringify(value)} is not a length of at most ${MAX_MESSAGE_BYTES} bytes`;
        }
      }
      if (!problem && length === undefined) problem = 'the header has no Content-Length';
      if (problem) {
        // From the next header on, wherever it is (the block may have swallowed its start).
        this.malformed(problem, 1);
        continue;
      }
      const bodyStart = headerEnd + 4;
      const available = this.buffer.subarray(bodyStart, bodyStart + length!);
      const next = HEADER_IN_BODY.exec(available.toString('latin1'));
      if (next) {
        this.malformed(`a message ended before its Content-Length of ${length} bytes (a new header came after ${next.index} bytes)`, bodyStart + next.index);
        continue;
      }
      if (available.length < length!) return;
      this.buffer = this.buffer.subarray(bodyStart + length!);
      this.deliver(available);
    }
  }

  private deliver(body: Buffer): void {
    let message: unknown;
    try {
      message = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
    } catch (err) {
      this.onMalformed(new MalformedMessage(ErrorCodes.ParseError, `Parse error: the message is not valid JSON (${errorMessage(err)}).`));
      // Its length may have been wrong too: whatever follows is read from the next header on.
      this.skipping = true;
      return;
    }
    if (Array.isArray(message)) {
      this.onMalformed(new MalformedMessage(ErrorCodes.InvalidRequest, 'Invalid Request: batches are not supported; send one message at a time.'));
    } else if (typeof message !== 'object' || message === null || (message as { jsonrpc?: unknown }).jsonrpc !== '2.0') {
      this.onMalformed(new MalformedMessage(ErrorCodes.InvalidRequest, 'Invalid Request: expected a JSON-RPC 2.0 object with "jsonrpc": "2.0".', idOf(message)));
    } else if (!Message.isRequest(message as Message) && !Message.isNotification(message as Message) && !Message.isResponse(message as Message)) {
      this.onMalformed(new MalformedMessage(ErrorCodes.InvalidRequest, 'Invalid Request: a request needs a string "method" and a number or string "id".', idOf(message)));
    } else {
      this.callback?.(message as Message);
    }
  }
}

// ---- errors ---------------------------------------------------------------------------

const errorCodeOf: Record<string, number> = {
  CONFIG_INVALID: RunnerErrorCode.invalidConfig,
  FILE_NOT_FOUND: RunnerErrorCode.notFound,
  MODEL_INVALID: RunnerErrorCode.invalidInput,
  SAFETENSORS_INVALID: RunnerErrorCode.invalidInput,
  DATA_INVALID: RunnerErrorCode.invalidInput,
  ADAPTER_INVALID: RunnerErrorCode.invalidInput,
  RUN_FOLDER_INVALID: RunnerErrorCode.invalidInput,
  BACKEND_UNAVAILABLE: RunnerErrorCode.backendUnavailable,
  RUN_BUSY: RunnerErrorCode.busy,
};

function engineCode(err: unknown): string {
  if (err instanceof SpruftError) return err.code;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z_]+$/.test(code) ? code : 'INTERNAL';
}

/** The diagnostics an invalid-config error carries (RunConfigError has them). */
function diagnosticsOf(err: unknown): ConfigDiagnostic[] | undefined {
  const diagnostics = (err as { diagnostics?: unknown } | null)?.diagnostics;
  return Array.isArray(diagnostics) ? (diagnostics as ConfigDiagnostic[]) : undefined;
}

function toResponseError(err: unknown, diagnostics?: ConfigDiagnostic[]): ResponseError<RunnerErrorData> {
  if (err instanceof ResponseError) return err as ResponseError<RunnerErrorData>;
  const code = engineCode(err);
  const data: RunnerErrorData = { code };
  if (err instanceof SpruftError && err.where) data.where = err.where;
  if (diagnostics) data.diagnostics = diagnostics;
  return new ResponseError(errorCodeOf[code] ?? RunnerErrorCode.internal, errorMessage(err), data);
}

function invalidParams(message: string): ResponseError<RunnerErrorData> {
  return new ResponseError(ErrorCodes.InvalidParams, `Invalid params: ${message}`, { code: 'INVALID_PARAMS' });
}

// ---- params ---------------------------------------------------------------------------

/** "/overrides/method" -> "overrides.method"; the whole params object: "params". */
function fieldOf(path: string): string {
  return path ? path.slice(1).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~')).join('.') : 'params';
}

/**
 * The request's params checked against their schema in protocol/rpc.ts: the first
 * problem is answered InvalidParams, naming the field and what it must be (the schema
 * node's `description`).
 */
function checked<S extends TSchema>(schema: S, params: unknown): Static<S> {
  const value = params ?? {};
  if (Value.Check(schema, value)) return value as Static<S>;
  const errors = [...Value.Errors(schema, value)];
  // A missing key is reported at the key; an inner union's branches report deeper paths: the shallowest first.
  const first = errors.sort((a, b) => a.path.split('/').length - b.path.split('/').length)[0]!;
  const description = (first.schema as { description?: string }).description;
  throw invalidParams(`"${fieldOf(first.path)}" must be ${description ?? first.message.replace(/^Expected /, '')}.`);
}

function runParams(params: unknown): RunParams {
  const p = checked(RunParamsSchema, params);
  if (p.resumeDir === undefined && !p.configPath) throw invalidParams('"configPath" must be a non-empty string.');
  return { ...p, configPath: p.configPath ?? '' };
}

function busyError(why: string): ResponseError<RunnerErrorData> {
  return new ResponseError(RunnerErrorCode.busy, `The runner is busy: ${why}.`, { code: 'RUN_BUSY' });
}

// ---- the server -----------------------------------------------------------------------

interface ActiveRun {
  /** Undefined while the engine is still accepting the run. */
  runId?: string;
  kind: RunKind;
  controller: AbortController;
  settled: Promise<void>;
}

export interface ServerOptions {
  /** Where log lines go besides the `log` notification (stderr in `spruft serve`). */
  writeLog?: (line: string) => void;
  /** Longest wait for a cancelled run to end on shutdown. */
  shutdownGraceMs?: number;
}

export class RunnerServer {
  private active: ActiveRun | undefined;
  /** The backend the last initialize started (runs may start another through their config). */
  private backend: BackendInfo | undefined;
  /** Runs that ended, so a late `run/cancel` gets `cancelled: false`, not an error. */
  private readonly finishedRuns = new Set<string>();
  private shuttingDown = false;

  constructor(
    private readonly connection: MessageConnection,
    private readonly app: RunnerApp,
    private readonly options: ServerOptions = {},
  ) {}

  log(level: Level, message: string): void {
    this.options.writeLog?.(`[${level}] ${message}`);
    this.notify(LogNotification.method, { level, message });
  }

  /**
   * Send a notification, whatever the connection's state: once the client has gone,
   * vscode-jsonrpc throws synchronously, which inside a run's hooks would fail the run
   * (recorded `failed`) instead of letting the close cancel it.
   */
  notify(method: string, payload: unknown): void {
    if (this.connectionClosed) return;
    try {
      this.connection.sendNotification(method, payload).catch(() => undefined);
    } catch {
      // The connection closed between the check and the send.
    }
  }

  /** The client went away: nothing more is sent; the run in progress is cancelled by `shutdown`. */
  connectionClosed = false;

  /** Register every handler of protocol/rpc.ts; call before `connection.listen()`. */
  register(): void {
    const c = this.connection;
    c.onRequest(InitializeRequest, (params) => this.handle(() => this.initialize(params)));
    c.onRequest(ShutdownRequest, () => this.handle(() => this.shutdown()));
    c.onRequest(InspectModelRequest, (params) => this.handle(() => this.app.inspectModel(checked(InspectParamsSchema, params).path)));
    c.onRequest(CheckConfigRequest, (params) =>
      this.handle(async () => {
        const p = checked(CheckParamsSchema, params);
        return { diagnostics: await this.app.checkConfig(p.configPath, p.text) };
      }),
    );
    c.onRequest(TrainRequest, (params) => this.handle(() => this.startRun('train', params, (p, hooks) => this.app.startTrain(p, hooks))));
    c.onRequest(ScoreRequest, (params) => this.handle(() => this.startRun('score', params, (p, hooks) => this.app.startScore(p, hooks))));
    c.onRequest(EvaluateRequest, (params) =>
      this.handle(() => {
        const { target, tasks } = checked(EvaluateParamsSchema, params);
        return this.startRun('evaluate', { configPath: target }, (_p, hooks) => this.app.startEvaluate(target, hooks, tasks));
      }),
    );
    c.onRequest(CancelRequest, (params) => this.handle(async () => this.cancel(checked(CancelParamsSchema, params).runId)));
    c.onRequest(MergeRequest, (params) =>
      this.handle(() => {
        const p = checked(MergeParamsSchema, params);
        return this.app.mergeRun(p.runDir, p.outDir, p.force === true, p.maxShardSize);
      }),
    );
    c.onRequest(PredictRequest, (params) =>
      this.handle(() => {
        const p = checked(PredictParamsSchema, params);
        return this.active ? Promise.reject(busyError('a run is going; try the model once it ends')) : this.app.predictRun(p);
      }),
    );
    c.onNotification((method) => this.log('warn', `ignored unknown notification "${method}"`));
  }

  /** Every handler's errors become ResponseErrors with the engine's code; none escapes. */
  private async handle<T>(body: () => Promise<T> | T): Promise<T> {
    try {
      return await body();
    } catch (err) {
      const response = toResponseError(err);
      if (response.code === RunnerErrorCode.internal) this.log('error', err instanceof Error && err.stack ? err.stack : errorMessage(err));
      throw response;
    }
  }

  private async initialize(params: unknown): Promise<InitializeResult> {
    const backend = checked(InitializeParamsSchema, params).backend ?? 'auto';
    // Switching the backend under a live run would move its tensors' home mid-step.
    if (this.active && !(backend === 'auto' || backend === this.backend?.name)) {
      const which = this.active.runId ? `run ${this.active.runId}` : 'a run that is starting';
      throw new ResponseError(RunnerErrorCode.busy, `The runner is busy with ${which} on the ${this.backend?.name ?? 'current'} backend; it cannot switch to ${backend} until the run ends (or is stopped with run/cancel).`, {
        code: 'RUN_BUSY',
      });
    }
    const info = this.active && this.backend ? this.backend : await this.app.initRunner(backend);
    this.backend = info;
    const { version_core: tfjsVersion } = await import('@tensorflow/tfjs-core');
    this.log('info', `runner ${runnerVersion} ready: ${info.name} backend (${info.reason})`);
    return { protocolVersion: PROTOCOL_VERSION, runnerVersion, tfjsVersion, nodeVersion: process.versions.node, backend: info };
  }

  private async startRun<T extends RunResult | ScoreResult>(
    kind: RunKind,
    params: unknown,
    start: (request: RunRequest, hooks: RunHooks) => Promise<StartedRun<T>>,
  ): Promise<RunStarted> {
    const request: RunRequest = kind === 'evaluate' ? (params as RunRequest) : runParams(params);
    if (this.shuttingDown) throw new ResponseError(RunnerErrorCode.busy, 'The runner is shutting down; start the run after it restarts.', { code: 'RUN_BUSY' });
    if (this.active) {
      const which = this.active.runId ? `run ${this.active.runId}` : 'a run that is starting';
      throw new ResponseError(RunnerErrorCode.busy, `The runner is busy with ${which} (${this.active.kind}); wait for it to finish or stop it with run/cancel.`, {
        code: 'RUN_BUSY',
      });
    }
    // The slot is taken before the first await, so two starts in one tick cannot both run.
    let settle!: () => void;
    const slot: ActiveRun = { kind, controller: new AbortController(), settled: new Promise((r) => (settle = r)) };
    this.active = slot;
    // Notifications of this run wait until its response is out, so a client never sees
    // a run id before the request that returns it.
    const held: Array<() => void> = [];
    let holding = true;
    const send = (emit: () => void) => (holding ? held.push(emit) : emit());
    const notify = <P>(type: { method: string }, payload: P) => send(() => this.notify(type.method, payload));
    const hooks: RunHooks = {
      signal: slot.controller.signal,
      onProgress: (e) => notify(ProgressNotification, e),
      onSelection: (e) => notify(SelectionNotification, e),
      onMemory: (e) => notify(MemoryNotification, e),
      onLabelAccuracy: (e) => notify(LabelAccuracyNotification, e),
      onEvaluation: (e) => notify(EvaluationNotification, e),
      onLog: (level, message) => send(() => this.log(level, message)),
    };
    let started: StartedRun<T>;
    try {
      started = await start(request, hooks);
    } catch (err) {
      this.active = undefined;
      settle();
      const diagnostics = engineCode(err) === 'CONFIG_INVALID' ? (diagnosticsOf(err) ?? (kind !== 'evaluate' ? await this.diagnosticsFor(request.configPath) : undefined)) : undefined;
      throw toResponseError(err, diagnostics);
    }
    slot.runId = started.runId;
    const finish = (event: Omit<FinishedEvent, 'runId' | 'kind' | 'runDir'>) => {
      send(() => {
        this.finishedRuns.add(started.runId);
        if (this.active === slot) this.active = undefined;
        const finished: FinishedEvent = { runId: started.runId, kind, runDir: started.runDir, ...event };
        this.log(event.status === 'failed' ? 'error' : 'info', `run ${started.runId} ${event.status}${event.error ? `: ${event.error.message}` : ''}`);
        this.notify(FinishedNotification.method, finished);
        settle();
      });
    };
    started.done.then(
      (result) => finish({ status: 'completed', result }),
      (err: unknown) => {
        const code = engineCode(err);
        const where = err instanceof SpruftError ? err.where : undefined;
        if (code !== 'RUN_CANCELLED' && err instanceof Error && err.stack) this.log('error', err.stack);
        finish({ status: code === 'RUN_CANCELLED' ? 'cancelled' : 'failed', error: { message: errorMessage(err), code, ...(where ? { where } : {}) } });
      },
    );
    // Release the held notifications once the response has been queued for writing.
    setImmediate(() => {
      holding = false;
      for (const emit of held.splice(0)) emit();
    });
    this.log('info', `run ${started.runId} started (${kind}${started.runDir ? `, ${started.runDir}` : ''})`);
    return started.runDir ? { runId: started.runId, runDir: started.runDir } : { runId: started.runId };
  }

  private async diagnosticsFor(configPath: string): Promise<ConfigDiagnostic[] | undefined> {
    try {
      return await this.app.checkConfig(configPath);
    } catch {
      return undefined;
    }
  }

  private cancel(runId: string): { cancelled: boolean } {
    const active = this.active;
    if (active?.runId === runId) {
      if (!active.controller.signal.aborted) {
        this.log('info', `run ${runId}: cancel requested; it stops after the current step`);
        active.controller.abort();
      }
      return { cancelled: true };
    }
    if (this.finishedRuns.has(runId)) return { cancelled: false };
    throw new ResponseError(RunnerErrorCode.noSuchRun, `No run with id "${runId}" is going or has run in this runner.`, { code: 'NO_SUCH_RUN' });
  }

  get running(): boolean {
    return this.active !== undefined;
  }

  /** Stop what runs and wait (bounded) for its folder to be left consistent. */
  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    const active = this.active;
    if (!active) return;
    active.controller.abort();
    const grace = this.options.shutdownGraceMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([active.settled, new Promise<void>((r) => (timer = setTimeout(r, grace)))]);
    clearTimeout(timer);
  }
}

/** Answer a malformed message with its JSON-RPC error (id null when it had none). */
function replyMalformed(writer: MessageWriter, error: MalformedMessage, log: (level: Level, message: string) => void): void {
  log('warn', `malformed message answered with ${error.code}: ${error.message}`);
  const response: ResponseMessage = { jsonrpc: '2.0', id: error.id, error: { code: error.code, message: error.message } };
  writer.write(response).catch(() => undefined);
}

/**
 * The server on a pair of streams: stdio in `spruft serve`, in-memory pipes in tests.
 * Resolves when the input closes, after any run has been stopped.
 */
export function serve(input: NodeJS.ReadableStream, output: NodeJS.WritableStream, app: RunnerApp, options: ServerOptions = {}): { server: RunnerServer; closed: Promise<void> } {
  const writer = new StreamMessageWriter(output);
  let server: RunnerServer | undefined;
  const log = (level: Level, message: string) => (server ? server.log(level, message) : options.writeLog?.(`[${level}] ${message}`));
  const reader = new CheckedMessageReader(input, (error) => replyMalformed(writer, error, log), log);
  const connection = createMessageConnection(reader, writer, {
    error: (m) => log('error', m),
    warn: (m) => log('warn', m),
    info: (m) => log('info', m),
    log: (m) => log('debug', m),
  });
  server = new RunnerServer(connection, app, options);
  server.register();
  const closed = new Promise<void>((resolve) => {
    connection.onClose(async () => {
      // The client went away (or its input ended): cancel the run in progress, which
      // stops after its current step with a checkpoint and status `cancelled`.
      server!.connectionClosed = true;
      if (server!.running) options.writeLog?.('[info] the client closed the connection: cancelling the run in progress');
      await server!.shutdown();
      connection.dispose();
      resolve();
    });
  });
  connection.listen();
  return { server, closed };
}

async function loadApp(): Promise<RunnerApp> {
  // Loaded on first use of `serve`, so other commands do not pay for the engine.
  const app: RunnerApp = await import('../app');
  return app;
}

export async function run(args: string[]): Promise<number> {
  if (args.includes('--help')) {
    process.stderr.write('usage: spruft serve\n\nJSON-RPC 2.0 on stdin/stdout (Content-Length framing, as LSP); logs on stderr.\n');
    return 0;
  }
  const app = await loadApp();
  const writeLog = (line: string) => process.stderr.write(`${line}\n`);
  // Never die on a stray error: log it and keep serving (the client sees it as `log`).
  process.on('uncaughtException', (err) => writeLog(`[error] uncaught: ${err.stack ?? err.message}`));
  process.on('unhandledRejection', (reason) => writeLog(`[error] unhandled rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`));
  const { closed } = serve(process.stdin, process.stdout, app, { writeLog });
  await closed;
  // Nothing is left to serve: exit even if a worker thread or a timer would keep node alive.
  setTimeout(() => process.exit(0), 500).unref();
  return 0;
}

