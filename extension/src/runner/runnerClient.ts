/**
 * The runner process and its JSON-RPC connection (STYLE.md point 8). The extension
 * spawns `node dist/runner.js serve`, speaks protocol/rpc.ts over stdio, and owns:
 *   - the runner's own disposal list (process, connection, listeners): a restart
 *     disposes only that list, never the extension's;
 *   - exit reasons: an exit is recorded and every pending request fails at once with it;
 *   - a timeout and a cancellation token on every request;
 *   - shutdown: `shutdown` request, then end stdin, then kill if it lingers.
 * State changes are pushed to listeners (status bar, context keys), never polled.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as readline from 'node:readline';
import * as vscode from 'vscode';
import {
  CancellationTokenSource,
  createMessageConnection,
  ResponseError,
  StreamMessageReader,
  StreamMessageWriter,
  type MessageConnection,
  type RequestType,
  type RequestType0,
} from 'vscode-jsonrpc/node';
import {
  FinishedNotification,
  InitializeRequest,
  LabelAccuracyNotification,
  EvaluationNotification,
  LogNotification,
  MemoryNotification,
  ProgressNotification,
  SelectionNotification,
  ShutdownRequest,
  type FinishedEvent,
  type InitializeResult,
  type EvaluationEvent,
  type LabelAccuracyEvent,
  type MemoryEvent,
  type RunnerErrorData,
  type SelectionEvent,
} from '../../../protocol/rpc';
import type { ProgressEvent } from '../../../protocol/results';
import { settings } from '../config';

export type RunnerState =
  | { kind: 'stopped' }
  | { kind: 'starting' }
  | { kind: 'ready'; info: InitializeResult }
  | { kind: 'failed'; reason: string };

/** Why a request failed without a runner answer. */
export class RunnerUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunnerUnavailableError';
  }
}

export class RequestTimeoutError extends Error {
  constructor(method: string, ms: number) {
    super(`The runner did not answer ${method} within ${Math.round(ms / 1000)} s. See "SPruFT: Show runner log"; "SPruFT: Restart runner" starts a fresh one.`);
    this.name = 'RequestTimeoutError';
  }
}

export class RequestCancelledError extends Error {
  constructor(method: string) {
    super(`${method} was cancelled.`);
    this.name = 'RequestCancelledError';
  }
}

/** A message a person can act on, from whatever a request threw. */
export function describeError(err: unknown): string {
  if (err instanceof ResponseError) {
    const data = err.data as RunnerErrorData | undefined;
    const diagnostics = data?.diagnostics?.map((d) => `line ${d.range.start.line + 1}: ${d.message}`).join('; ');
    return diagnostics ? `${err.message} (${diagnostics})` : err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

export interface RequestOptions {
  token?: vscode.CancellationToken;
  timeoutMs?: number;
}

interface RunnerProcess {
  child: ChildProcess;
  connection: MessageConnection;
  /** Set once the process has exited. */
  exit?: string;
  stopping: boolean;
  exited: Promise<void>;
  rejectPending: Set<(error: Error) => void>;
}

export interface RunnerEnvironment {
  /** dist/runner.js of this extension. */
  runnerScript: string;
  output: vscode.LogOutputChannel;
  clientVersion: string;
}

/** Last lines of the runner's stderr, quoted in exit reasons. */
const STDERR_TAIL = 20;

export class RunnerClient implements vscode.Disposable {
  private runner: RunnerProcess | undefined;
  private starting: Promise<RunnerProcess> | undefined;
  /** The runner's disposal list: emptied by every stop and restart. */
  private runnerDisposables: vscode.Disposable[] = [];
  private currentState: RunnerState = { kind: 'stopped' };
  private readonly stderrTail: string[] = [];

  private readonly stateEmitter = new vscode.EventEmitter<RunnerState>();
  private readonly progressEmitter = new vscode.EventEmitter<ProgressEvent>();
  private readonly selectionEmitter = new vscode.EventEmitter<SelectionEvent>();
  private readonly memoryEmitter = new vscode.EventEmitter<MemoryEvent>();
  private readonly labelAccuracyEmitter = new vscode.EventEmitter<LabelAccuracyEvent>();
  private readonly evaluationEmitter = new vscode.EventEmitter<EvaluationEvent>();
  private readonly finishedEmitter = new vscode.EventEmitter<FinishedEvent>();

  readonly onDidChangeState = this.stateEmitter.event;
  readonly onProgress = this.progressEmitter.event;
  readonly onSelection = this.selectionEmitter.event;
  readonly onMemory = this.memoryEmitter.event;
  readonly onLabelAccuracy = this.labelAccuracyEmitter.event;
  readonly onEvaluation = this.evaluationEmitter.event;
  readonly onFinished = this.finishedEmitter.event;

  constructor(private readonly env: RunnerEnvironment) {}

  get state(): RunnerState {
    return this.currentState;
  }

  private setState(state: RunnerState): void {
    this.currentState = state;
    this.stateEmitter.fire(state);
  }

  /** The running runner, started (and initialized) on first use. */
  private async ensureStarted(): Promise<RunnerProcess> {
    if (this.runner && !this.runner.exit && !this.runner.stopping) return this.runner;
    this.starting ??= this.start().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async start(): Promise<RunnerProcess> {
    const out = this.env.output;
    const configured = settings.nodeExecutable();
    const command = configured || process.execPath;
    const args = [this.env.runnerScript, 'serve', ...settings.runnerArgs()];
    // Without a configured Node, the editor's own runtime runs the runner; under the
    // desktop editor that is Electron, which acts as Node with ELECTRON_RUN_AS_NODE.
    const env = { ...process.env, ...(configured ? {} : { ELECTRON_RUN_AS_NODE: '1' }) };
    for (const d of this.runnerDisposables.splice(0)) d.dispose();
    this.setState({ kind: 'starting' });
    this.stderrTail.length = 0;
    out.info(`starting runner: ${command} ${args.join(' ')}`);
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env, windowsHide: true });
    const connection = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
    let markExited!: () => void;
    const runner: RunnerProcess = { child, connection, stopping: false, exited: new Promise((r) => (markExited = r)), rejectPending: new Set() };
    this.runner = runner;

    const recordExit = (reason: string) => {
      if (runner.exit) return;
      runner.exit = reason;
      const tail = this.stderrTail.length ? `\n${this.stderrTail.join('\n')}` : '';
      const error = new RunnerUnavailableError(runner.stopping ? 'The runner was stopped.' : `The runner ${reason}.${tail}`);
      for (const reject of runner.rejectPending) reject(error);
      runner.rejectPending.clear();
      markExited();
      if (this.runner === runner) {
        this.runner = undefined;
        if (runner.stopping) {
          out.info(`runner ${reason}`);
          this.setState({ kind: 'stopped' });
        } else {
          out.error(`runner ${reason}`);
          this.setState({ kind: 'failed', reason: `The runner ${reason}.` });
        }
      }
    };
    child.on('error', (err) => recordExit(`could not be started (${err.message}); check the setting spruft.runner.nodeExecutable ("${command}")`));
    child.on('exit', (code, signal) => recordExit(signal ? `was killed by ${signal}` : `exited with code ${code}`));

    const stderr = readline.createInterface({ input: child.stderr! });
    stderr.on('line', (line) => {
      this.stderrTail.push(line);
      if (this.stderrTail.length > STDERR_TAIL) this.stderrTail.shift();
      // Log lines also arrive as `log` notifications; anything else on stderr (a crash,
      // a library's warning) is shown as it is.
      if (/^\[(debug|info|warn|error)\] /.test(line)) out.trace(`[runner stderr] ${line}`);
      else out.warn(`[runner stderr] ${line}`);
    });
    this.runnerDisposables.push(
      { dispose: () => stderr.close() },
      connection.onNotification(ProgressNotification, (e) => this.progressEmitter.fire(e)),
      connection.onNotification(SelectionNotification, (e) => this.selectionEmitter.fire(e)),
      connection.onNotification(MemoryNotification, (e) => this.memoryEmitter.fire(e)),
      connection.onNotification(LabelAccuracyNotification, (e) => this.labelAccuracyEmitter.fire(e)),
      connection.onNotification(EvaluationNotification, (e) => this.evaluationEmitter.fire(e)),
      connection.onNotification(FinishedNotification, (e) => this.finishedEmitter.fire(e)),
      connection.onNotification(LogNotification, (e) => out[e.level](e.message)),
      connection.onClose(() => recordExit('closed its connection')),
      { dispose: () => connection.dispose() },
    );
    connection.listen();

    try {
      const info = await this.send(runner, InitializeRequest, { clientName: 'SPruFT Studio', clientVersion: this.env.clientVersion, backend: settings.backend() }, {});
      out.info(`runner ${info.runnerVersion} ready: protocol ${info.protocolVersion}, TensorFlow.js ${info.tfjsVersion}, Node ${info.nodeVersion}, backend ${info.backend.name} (${info.backend.reason})`);
      if (this.runner === runner) this.setState({ kind: 'ready', info });
      return runner;
    } catch (err) {
      const reason = describeError(err);
      out.error(`runner failed to initialize: ${reason}`);
      await this.stopProcess(runner);
      this.setState({ kind: 'failed', reason });
      throw err;
    }
  }

  /** Send a request with a timeout and a cancellation token; fails at once if the runner exits. */
  private send<P, R>(runner: RunnerProcess, type: RequestType<P, R, RunnerErrorData> | RequestType0<R, RunnerErrorData>, params: P | undefined, options: RequestOptions): Promise<R> {
    if (runner.exit) return Promise.reject(new RunnerUnavailableError(`The runner ${runner.exit}.`));
    const timeoutMs = options.timeoutMs ?? settings.requestTimeoutMs();
    const source = new CancellationTokenSource();
    return new Promise<R>((resolve, reject) => {
      let done = false;
      const finish = (settle: () => void) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        cancelListener?.dispose();
        runner.rejectPending.delete(fail);
        source.dispose();
        settle();
      };
      const fail = (error: Error) => finish(() => reject(error));
      const timer = setTimeout(() => {
        source.cancel();
        fail(new RequestTimeoutError(type.method, timeoutMs));
      }, timeoutMs);
      const cancelListener = options.token?.onCancellationRequested(() => {
        source.cancel();
        fail(new RequestCancelledError(type.method));
      });
      runner.rejectPending.add(fail);
      const sent =
        params === undefined
          ? runner.connection.sendRequest(type as RequestType0<R, RunnerErrorData>, source.token)
          : // `params` is P; vscode-jsonrpc's conditional param type cannot see that for a generic P.
            runner.connection.sendRequest(type as RequestType<P, R, RunnerErrorData>, params as never, source.token);
      sent.then(
        (result) => finish(() => resolve(result)),
        (err: unknown) => fail(err instanceof Error ? err : new Error(String(err))),
      );
    });
  }

  async request<P, R>(type: RequestType<P, R, RunnerErrorData>, params: P, options: RequestOptions = {}): Promise<R> {
    const runner = await this.ensureStarted();
    return this.send(runner, type, params, options);
  }

  /** Start the runner now (status bar shows it), without sending anything else. */
  async warmUp(): Promise<void> {
    await this.ensureStarted();
  }

  private async stopProcess(runner: RunnerProcess): Promise<void> {
    if (runner.exit) return;
    runner.stopping = true;
    try {
      await this.send(runner, ShutdownRequest, undefined, { timeoutMs: 5000 });
    } catch (err) {
      this.env.output.warn(`shutdown request: ${describeError(err)}`);
    }
    // Ending stdin closes the server's connection; the process then exits by itself.
    runner.child.stdin?.end();
    const killTimer = setTimeout(() => {
      if (!runner.exit) {
        this.env.output.warn('runner still running 3 s after shutdown: killing it');
        runner.child.kill('SIGKILL');
      }
    }, 3000);
    await runner.exited;
    clearTimeout(killTimer);
  }

  /** Stop the runner and dispose what belongs to it; the extension's own list is untouched. */
  async stop(): Promise<void> {
    await this.starting?.catch(() => undefined);
    const runner = this.runner;
    if (runner) await this.stopProcess(runner);
    for (const d of this.runnerDisposables.splice(0)) d.dispose();
    if (this.currentState.kind !== 'failed') this.setState({ kind: 'stopped' });
  }

  async restart(): Promise<void> {
    this.env.output.info('restarting runner');
    await this.stop();
    await this.ensureStarted();
  }

  dispose(): void {
    void this.stop();
    this.stateEmitter.dispose();
    this.progressEmitter.dispose();
    this.selectionEmitter.dispose();
    this.memoryEmitter.dispose();
    this.labelAccuracyEmitter.dispose();
    this.evaluationEmitter.dispose();
    this.finishedEmitter.dispose();
  }
}

