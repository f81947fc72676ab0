/**
 * The JSON-RPC server against an in-process double of the application layer: protocol
 * behaviour only (ordering, busy, cancel, errors, malformed input). The same protocol
 * against the real engine in a spawned runner is test/e2e/runner.e2e.test.ts.
 */
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  ErrorCodes,
  ResponseError,
  StreamMessageReader,
  StreamMessageWriter,
  createMessageConnection,
  type MessageConnection,
} from 'vscode-jsonrpc/node';
import type { ConfigDiagnostic } from '../../../protocol/diagnostics';
import { METHODS } from '../../../protocol/methods';
import {
  CancelRequest,
  CheckConfigRequest,
  EvaluateRequest,
  FinishedNotification,
  InitializeRequest,
  InspectModelRequest,
  LogNotification,
  MergeRequest,
  ProgressNotification,
  RunnerErrorCode,
  PredictRequest,
  ScoreRequest,
  ShutdownRequest,
  TrainRequest,
  type PredictParams,
  type PredictResult,
  type FinishedEvent,
  type RunnerErrorData,
} from '../../../protocol/rpc';
import type { BackendChoice, BackendInfo, InspectResult, RunResult } from '../../../protocol/results';
import type { RunHooks, RunRequest, StartedRun } from '../run/request';
import { SpruftError } from '../errors';
import { serve, type RunnerApp } from './serve';

const backend: BackendInfo = { name: 'cpu', requested: 'cpu', reason: 'test double', projectKernels: [] };

/**
 * A training loop of `maxSteps` steps, one per macrotask, emitting what the engine
 * emits, checking its signal once per step like the engine. `stepGate` lets a test
 * hold the loop between steps.
 */
class FakeApp implements RunnerApp {
  runs = 0;
  stepsAfterAbort = 0;
  stepGate: (() => Promise<void>) | undefined;
  failAtStep: number | undefined;

  async initRunner(choice: BackendChoice): Promise<BackendInfo> {
    return { ...backend, requested: choice };
  }
  async inspectModel(path: string): Promise<InspectResult> {
    if (path === 'explode') throw new TypeError('cannot read shape of undefined');
    throw new SpruftError('FILE_NOT_FOUND', 'no such model folder; check model.path', path);
  }
  async checkConfig(configPath: string): Promise<ConfigDiagnostic[]> {
    if (!configPath.includes('bad')) return [];
    return [{ severity: 'error', code: 'out-of-range', message: 'training.lr must be > 0', range: { start: { line: 3, character: 6 }, end: { line: 3, character: 8 } }, path: ['training', 'lr'] }];
  }
  lastTrain: RunRequest | undefined;
  async startTrain(req: RunRequest, hooks: RunHooks): Promise<StartedRun<RunResult>> {
    this.lastTrain = req;
    if (req.configPath.includes('bad')) throw new SpruftError('CONFIG_INVALID', '1 error in the run config', req.configPath);
    const runId = `run-${++this.runs}`;
    const runDir = `/runs/${runId}`;
    const total = req.overrides?.maxSteps ?? 5;
    // The engine may report before it returns: the server must hold this back.
    hooks.onProgress?.({ runId, method: 'spruft', phase: 'loading', step: 0, totalSteps: total, epoch: 1, totalEpochs: 1, elapsedMs: 0 });
    const done = (async (): Promise<RunResult> => {
      hooks.onSelection?.({ runId, method: 'spruft', metric: 'l2', layers: [{ name: 'fc1', kind: 'linear', rows: [3, 1], scores: [2, 1], dOut: 8, dIn: 4 }] });
      for (let step = 1; step <= total; step++) {
        if (hooks.signal?.aborted) throw new SpruftError('RUN_CANCELLED', `run ${runId} cancelled at step ${step - 1}`);
        await new Promise((r) => setImmediate(r));
        await this.stepGate?.();
        if (hooks.signal?.aborted) this.stepsAfterAbort++;
        if (step === this.failAtStep) throw new SpruftError('DATA_INVALID', 'label 11 is out of range', 'train-labels.idx');
        hooks.onProgress?.({ runId, method: 'spruft', phase: 'training', step, totalSteps: total, epoch: 1, totalEpochs: 1, loss: 2 / step, lr: 1e-3, elapsedMs: step * 10, etaMs: (total - step) * 10 });
        if (step === 1) {
          const breakdown = { total: 10, params: 2, grads: 2, optimizer: 4, cache: 1, dropout: 0, other: 1 };
          hooks.onMemory?.({ runId, method: 'spruft', variant: 'spruft r=2', trainableParams: 10, measurement: { breakdown, peakTrain: 30, peakInference: 20, modelBytes: 16, source: 'test' } });
        }
      }
      hooks.onLog?.('info', 'evaluating');
      const stats = { min: 0.5, q1: 0.6, median: 0.7, q3: 0.8, max: 0.9 };
      hooks.onLabelAccuracy?.({ runId, method: 'spruft', labels: ['a', 'b'], perLabel: { a: 0.5, b: 0.9 }, perLabelStats: stats, accuracy: 0.7 });
      return {
        backend,
        method: 'spruft',
        metrics: { loss: 0.4, accuracy: 0.7, perLabel: { a: 0.5, b: 0.9 }, perLabelStats: stats, confusion: [[1, 1], [0, 2]], labels: ['a', 'b'], examples: 4 },
        runDir,
        trainableParams: 10,
        totalParams: 100,
        percent: 10,
        steps: total,
      };
    })();
    return { runId, runDir, done };
  }
  startScore(): Promise<never> {
    return Promise.reject(new SpruftError('UNSUPPORTED', 'not in the double'));
  }
  /** What each `run/evaluate` asked for. */
  evaluated: Array<{ target: string; tasks?: string[] }> = [];
  startEvaluate(target: string, _hooks: RunHooks, tasks?: string[]): Promise<never> {
    this.evaluated.push({ target, tasks });
    return Promise.reject(new SpruftError('UNSUPPORTED', 'not in the double'));
  }
  async mergeRun(): Promise<never> {
    throw new SpruftError('ADAPTER_INVALID', 'adapter_config.json is missing');
  }
  async predictRun(params: PredictParams): Promise<PredictResult> {
    const top = [{ label: 'a', probability: 1 }];
    return { task: 'image-classification', method: 'spruft', input: { index: params.input.kind === 'example' ? params.input.index : -1 }, examples: 4, base: { top }, tuned: { top }, ms: 1 };
  }
}

interface Harness {
  app: FakeApp;
  client: MessageConnection;
  toServer: PassThrough;
  fromServer: PassThrough;
  /** Every notification, in arrival order (vscode-jsonrpc keeps one handler per method). */
  events: Array<{ method: string; runId?: string; step?: number; status?: string }>;
  notifications: EventEmitter;
  closed: Promise<void>;
}

function start(app = new FakeApp()): Harness {
  const toServer = new PassThrough();
  const fromServer = new PassThrough();
  const { closed } = serve(toServer, fromServer, app, { shutdownGraceMs: 2000 });
  const client = createMessageConnection(new StreamMessageReader(fromServer), new StreamMessageWriter(toServer));
  const events: Harness['events'] = [];
  const notifications = new EventEmitter();
  client.onNotification((method: string, params: unknown) => {
    const e = params as { runId?: string; step?: number; status?: string };
    if (method !== LogNotification.method) events.push({ method, runId: e.runId, step: e.step, status: e.status });
    notifications.emit(method, params);
  });
  client.listen();
  return { app, client, toServer, fromServer, events, notifications, closed };
}

function finished(h: Harness, runId: string): Promise<FinishedEvent> {
  return new Promise((resolve) => {
    const listener = (e: FinishedEvent) => {
      if (e.runId !== runId) return;
      h.notifications.off(FinishedNotification.method, listener);
      resolve(e);
    };
    h.notifications.on(FinishedNotification.method, listener);
  });
}

async function rejection(promise: Promise<unknown>): Promise<ResponseError<RunnerErrorData>> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ResponseError, `expected a ResponseError, got ${String(err)}`);
    return err as ResponseError<RunnerErrorData>;
  }
  assert.fail('expected the request to fail');
}

describe('spruft serve (in-process double)', () => {
  let h: Harness;
  beforeEach(() => {
    h = start();
  });
  afterEach(async () => {
    h.client.dispose();
    h.toServer.end();
    await h.closed;
  });

  it('initializes with versions and the backend that started', async () => {
    const result = await h.client.sendRequest(InitializeRequest, { clientName: 'test', clientVersion: '0', backend: 'cpu' });
    assert.equal(result.protocolVersion, 1);
    assert.match(result.runnerVersion, /^\d+\.\d+\.\d+/);
    assert.match(result.tfjsVersion, /^4\./);
    assert.equal(result.backend.requested, 'cpu');
  });

  it('streams a run: response first, then progress, selection, memory, label accuracy, finished last', async () => {
    let responded = false;
    const early: string[] = [];
    h.notifications.on(ProgressNotification.method, () => {
      if (!responded) early.push('progress before response');
    });
    const started = await h.client.sendRequest(TrainRequest, { configPath: '/cfg/run.spruft.yaml', overrides: { maxSteps: 4 } });
    responded = true;
    const end = await finished(h, started.runId);
    assert.deepEqual(early, []);
    assert.equal(started.runDir, `/runs/${started.runId}`);
    assert.equal(end.status, 'completed');
    assert.equal(end.kind, 'train');
    assert.equal((end.result as RunResult).metrics.accuracy, 0.7);
    const order = h.events.filter((e) => e.runId === started.runId).map((e) => e.method);
    assert.equal(order[0], 'run/progress', 'the loading progress the engine sent before returning comes first');
    assert.deepEqual([...new Set(order)], ['run/progress', 'run/selection', 'run/memory', 'run/labelAccuracy', 'run/finished']);
    assert.equal(order.filter((m) => m === 'run/finished').length, 1);
    const steps = h.events.filter((e) => e.method === 'run/progress' && e.step! > 0).map((e) => e.step);
    assert.deepEqual(steps, [1, 2, 3, 4]);
  });

  it('answers a second start while a run goes with the busy error, and accepts one after it ends', async () => {
    const first = await h.client.sendRequest(TrainRequest, { configPath: '/cfg/a.spruft.yaml', overrides: { maxSteps: 50 } });
    const err = await rejection(h.client.sendRequest(TrainRequest, { configPath: '/cfg/b.spruft.yaml' }));
    assert.equal(err.code, RunnerErrorCode.busy);
    assert.equal(err.data?.code, 'RUN_BUSY');
    assert.match(err.message, new RegExp(`busy with run ${first.runId}.*run/cancel`));
    await finished(h, first.runId);
    const second = await h.client.sendRequest(TrainRequest, { configPath: '/cfg/b.spruft.yaml', overrides: { maxSteps: 1 } });
    assert.notEqual(second.runId, first.runId);
    await finished(h, second.runId);
  });

  it('busy also holds for two starts sent in the same tick', async () => {
    const a = h.client.sendRequest(TrainRequest, { configPath: '/cfg/a.spruft.yaml', overrides: { maxSteps: 2 } });
    const b = h.client.sendRequest(TrainRequest, { configPath: '/cfg/b.spruft.yaml', overrides: { maxSteps: 2 } });
    const [ra, rb] = await Promise.allSettled([a, b]);
    assert.equal([ra, rb].filter((r) => r.status === 'fulfilled').length, 1);
    const rejected = [ra, rb].find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.equal((rejected.reason as ResponseError<unknown>).code, RunnerErrorCode.busy);
    await finished(h, (ra.status === 'fulfilled' ? ra : (rb as PromiseFulfilledResult<{ runId: string }>)).value.runId);
  });

  it('cancels within one step: finished says cancelled, a late cancel says false', async () => {
    let release!: () => void;
    let reachedStep3!: () => void;
    const atStep3 = new Promise<void>((r) => (reachedStep3 = r));
    let stepsSeen = 0;
    h.app.stepGate = () => {
      if (++stepsSeen < 3) return Promise.resolve();
      reachedStep3();
      return new Promise((r) => (release = r));
    };
    const started = await h.client.sendRequest(TrainRequest, { configPath: '/cfg/a.spruft.yaml', overrides: { maxSteps: 100 } });
    const end = finished(h, started.runId);
    await atStep3;
    const reply = await h.client.sendRequest(CancelRequest, { runId: started.runId });
    assert.deepEqual(reply, { cancelled: true });
    release();
    const event = await end;
    assert.equal(event.status, 'cancelled');
    assert.equal(event.error?.code, 'RUN_CANCELLED');
    assert.ok(h.app.stepsAfterAbort <= 1, `steps after cancel: ${h.app.stepsAfterAbort}`);
    assert.deepEqual(await h.client.sendRequest(CancelRequest, { runId: started.runId }), { cancelled: false });
    const unknown = await rejection(h.client.sendRequest(CancelRequest, { runId: 'nope' }));
    assert.equal(unknown.code, RunnerErrorCode.noSuchRun);
  });

  it('reports an engine failure mid-run as finished/failed with the engine code, and stays usable', async () => {
    h.app.failAtStep = 2;
    const started = await h.client.sendRequest(TrainRequest, { configPath: '/cfg/a.spruft.yaml', overrides: { maxSteps: 5 } });
    const event = await finished(h, started.runId);
    assert.equal(event.status, 'failed');
    assert.deepEqual(event.error, { message: 'train-labels.idx: label 11 is out of range', code: 'DATA_INVALID', where: 'train-labels.idx' });
    h.app.failAtStep = undefined;
    const next = await h.client.sendRequest(TrainRequest, { configPath: '/cfg/a.spruft.yaml', overrides: { maxSteps: 1 } });
    assert.equal((await finished(h, next.runId)).status, 'completed');
  });

  it('maps engine errors to runner error codes, with diagnostics for an invalid config', async () => {
    const invalid = await rejection(h.client.sendRequest(TrainRequest, { configPath: '/cfg/bad.spruft.yaml' }));
    assert.equal(invalid.code, RunnerErrorCode.invalidConfig);
    assert.equal(invalid.data?.code, 'CONFIG_INVALID');
    assert.equal(invalid.data?.diagnostics?.[0]?.code, 'out-of-range');
    const missing = await rejection(h.client.sendRequest(InspectModelRequest, { path: '/models/none' }));
    assert.equal(missing.code, RunnerErrorCode.notFound);
    assert.equal(missing.data?.where, '/models/none');
    const internal = await rejection(h.client.sendRequest(InspectModelRequest, { path: 'explode' }));
    assert.equal(internal.code, RunnerErrorCode.internal);
    assert.match(internal.message, /cannot read shape/);
    const checked = await h.client.sendRequest(CheckConfigRequest, { configPath: '/cfg/bad.spruft.yaml', text: 'x: 1' });
    assert.equal(checked.diagnostics.length, 1);
  });

  it('resumes a run folder without a config path, and answers the playground unless a run goes', async () => {
    const resumed = await h.client.sendRequest(TrainRequest, { configPath: '', resumeDir: '/runs/old', overrides: { maxSteps: 1 } });
    await finished(h, resumed.runId);
    assert.equal(h.app.lastTrain?.resumeDir, '/runs/old');
    const answer = await h.client.sendRequest(PredictRequest, { runDir: '/runs/old', input: { kind: 'example', index: 2 } });
    assert.equal(answer.input.index, 2);
    const badInput = await rejection(h.client.sendRequest(PredictRequest, { runDir: '/runs/old', input: { kind: 'image' } } as never));
    assert.equal(badInput.code, ErrorCodes.InvalidParams);
    const run = await h.client.sendRequest(TrainRequest, { configPath: '/cfg/a.spruft.yaml', overrides: { maxSteps: 50 } });
    const busy = await rejection(h.client.sendRequest(PredictRequest, { runDir: '/runs/old', input: { kind: 'text', text: 'hi' } }));
    assert.equal(busy.code, RunnerErrorCode.busy);
    await finished(h, run.runId);
  });

  it('answers wrong params with InvalidParams and unknown methods with MethodNotFound', async () => {
    const noPath = await rejection(h.client.sendRequest(TrainRequest, {} as never));
    assert.equal(noPath.code, ErrorCodes.InvalidParams);
    assert.match(noPath.message, /configPath/);
    const badMethod = await rejection(h.client.sendRequest(TrainRequest, { configPath: '/c', overrides: { method: 'qlora' } } as never));
    assert.equal(badMethod.code, ErrorCodes.InvalidParams);
    const badSteps = await rejection(h.client.sendRequest(TrainRequest, { configPath: '/c', overrides: { maxSteps: -1 } }));
    assert.equal(badSteps.code, ErrorCodes.InvalidParams);
    const unknown = await rejection(h.client.sendRequest('run/fly', { to: 'moon' }));
    assert.equal(unknown.code, ErrorCodes.MethodNotFound);
  });

  it('checks every request\'s params against its schema (protocol/rpc.ts), naming the bad field', async () => {
    const cases: Array<[string, unknown, RegExp]> = [
      [InitializeRequest.method, { clientName: 'test', clientVersion: '0', backend: 'tpu' }, /"backend" must be one of auto, tensorflow, webgpu, wasm, cpu\./],
      [InspectModelRequest.method, { path: 7 }, /"path" must be a non-empty string\./],
      [InspectModelRequest.method, ['/models/x'], /"params" must be an object with named parameters\./],
      [CheckConfigRequest.method, { configPath: '/c', text: 42 }, /"text" must be a string\./],
      [TrainRequest.method, { configPath: '', overrides: {} }, /"configPath" must be a non-empty string\./],
      [TrainRequest.method, { configPath: '/c', overrides: { compare: ['lora', 'qlora'] } }, new RegExp(`"overrides\\.compare\\.1" must be one of ${METHODS.join(', ')}\\.`)],
      [TrainRequest.method, { configPath: '/c', overrides: { maxSteps: 1.5 } }, /"overrides\.maxSteps" must be a positive integer\./],
      [ScoreRequest.method, { configPath: '/c', overrides: 'fast' }, /"overrides" must be an object\./],
      [EvaluateRequest.method, { tasks: ['/mc/piqa.jsonl'] }, /"target" must be a non-empty string\./],
      [CancelRequest.method, { runId: '' }, /"runId" must be a non-empty string\./],
      [MergeRequest.method, { runDir: '/runs/r', outDir: '/out', force: 'yes' }, /"force" must be true or false\./],
      [MergeRequest.method, { runDir: '/runs/r' }, /"outDir" must be a non-empty string\./],
      [PredictRequest.method, { runDir: '/runs/r', input: { kind: 'example', index: -1 } }, /"input" must be \{"kind": "example"/],
      [PredictRequest.method, { runDir: '/runs/r', input: { kind: 'text', text: 'hi' }, topK: 0 }, /"topK" must be a positive integer\./],
    ];
    for (const [method, params, message] of cases) {
      const err = await rejection(h.client.sendRequest(method, params));
      assert.equal(err.code, ErrorCodes.InvalidParams, `${method} ${JSON.stringify(params)}`);
      assert.match(err.message, message, `${method} ${JSON.stringify(params)}`);
      assert.equal(err.data?.code, 'INVALID_PARAMS');
    }
    assert.equal(h.app.lastTrain, undefined, 'no run was started');
    assert.deepEqual(h.app.evaluated, []);
  });

  it('run/evaluate passes multiple-choice task files on, and refuses tasks that are not a list of strings', async () => {
    await rejection(h.client.sendRequest(EvaluateRequest, { target: '/runs/r', tasks: ['/mc/piqa.jsonl', 'arc_easy=/mc/arc.jsonl'] }));
    await rejection(h.client.sendRequest(EvaluateRequest, { target: '/runs/r' }));
    assert.deepEqual(h.app.evaluated, [{ target: '/runs/r', tasks: ['/mc/piqa.jsonl', 'arc_easy=/mc/arc.jsonl'] }, { target: '/runs/r', tasks: undefined }]);
    const bad = await rejection(h.client.sendRequest(EvaluateRequest, { target: '/runs/r', tasks: 'piqa.jsonl' } as never));
    assert.equal(bad.code, ErrorCodes.InvalidParams);
    assert.match(bad.message, /"tasks" must be a list of non-empty strings/);
    assert.equal(h.app.evaluated.length, 2);
  });

  it('initialize cannot switch the backend under a live run: busy; the same backend is answered', async () => {
    await h.client.sendRequest(InitializeRequest, { clientName: 'test', clientVersion: '0', backend: 'cpu' });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    h.app.stepGate = () => gate;
    const started = await h.client.sendRequest(TrainRequest, { configPath: '/cfg/a.spruft.yaml', overrides: { maxSteps: 3 } });
    const end = finished(h, started.runId);
    const refused = await rejection(h.client.sendRequest(InitializeRequest, { clientName: 'test', clientVersion: '0', backend: 'wasm' }));
    assert.equal(refused.code, RunnerErrorCode.busy);
    assert.match(refused.message, /cannot switch to wasm until the run ends/);
    assert.equal((await h.client.sendRequest(InitializeRequest, { clientName: 'test', clientVersion: '0', backend: 'cpu' })).backend.name, 'cpu', 'the running backend is answered');
    release();
    assert.equal((await end).status, 'completed');
    assert.equal((await h.client.sendRequest(InitializeRequest, { clientName: 'test', clientVersion: '0', backend: 'wasm' })).backend.requested, 'wasm', 'after the run, it may switch');
  });

  it('shutdown stops a running run before it answers', async () => {
    const started = await h.client.sendRequest(TrainRequest, { configPath: '/cfg/a.spruft.yaml', overrides: { maxSteps: 10_000 } });
    const end = finished(h, started.runId);
    await h.client.sendRequest(ShutdownRequest);
    assert.equal((await end).status, 'cancelled');
    const refused = await rejection(h.client.sendRequest(TrainRequest, { configPath: '/cfg/a.spruft.yaml' }));
    assert.equal(refused.code, RunnerErrorCode.busy);
  });
});

/** Frames from the server, parsed by hand: the malformed cases bypass any client library. */
function frames(stream: PassThrough): () => Promise<{ id: unknown; error?: { code: number; message: string }; result?: unknown }> {
  let buffer = Buffer.alloc(0);
  const queue: Array<Record<string, unknown>> = [];
  stream.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const headerEnd = buffer.indexOf('\r\n\r\n');
      if (headerEnd < 0) return;
      const length = Number(/Content-Length: (\d+)/i.exec(buffer.subarray(0, headerEnd).toString())?.[1]);
      if (buffer.length < headerEnd + 4 + length) return;
      queue.push(JSON.parse(buffer.subarray(headerEnd + 4, headerEnd + 4 + length).toString()));
      buffer = buffer.subarray(headerEnd + 4 + length);
      stream.emit('frame');
    }
  });
  return async () => {
    for (;;) {
      const i = queue.findIndex((m) => 'id' in m);
      if (i >= 0) return queue.splice(i, 1)[0] as { id: unknown };
      await once(stream, 'frame');
    }
  };
}

function frame(body: string): string {
  return `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

describe('spruft serve: malformed input', () => {
  it('answers each malformed message with a JSON-RPC error and keeps serving', async () => {
    const toServer = new PassThrough();
    const fromServer = new PassThrough();
    const { closed } = serve(toServer, fromServer, new FakeApp());
    const next = frames(fromServer);

    toServer.write(frame('{"jsonrpc":"2.0","id":1,"method":'));
    const parse = await next();
    assert.equal(parse.id, null);
    assert.equal(parse.error?.code, ErrorCodes.ParseError);

    toServer.write(frame('{"id":2,"method":"initialize","params":{}}'));
    const noVersion = await next();
    assert.equal(noVersion.id, 2);
    assert.equal(noVersion.error?.code, ErrorCodes.InvalidRequest);

    toServer.write(frame('{"jsonrpc":"2.0","id":3,"params":{}}'));
    const noMethod = await next();
    assert.equal(noMethod.id, 3);
    assert.equal(noMethod.error?.code, ErrorCodes.InvalidRequest);

    toServer.write(frame('[{"jsonrpc":"2.0","id":4,"method":"initialize"}]'));
    const batch = await next();
    assert.equal(batch.id, null);
    assert.equal(batch.error?.code, ErrorCodes.InvalidRequest);

    toServer.write(frame('"just a string"'));
    assert.equal((await next()).error?.code, ErrorCodes.InvalidRequest);

    toServer.write(frame('{"jsonrpc":"2.0","id":"x","method":"run/unknown"}'));
    const unknown = await next();
    assert.equal(unknown.id, 'x');
    assert.equal(unknown.error?.code, ErrorCodes.MethodNotFound);

    toServer.write(frame('{"jsonrpc":"2.0","id":5,"method":"run/check","params":{"configPath":"/x/ok.spruft.yaml"}}'));
    const ok = await next();
    assert.equal(ok.id, 5);
    assert.deepEqual(ok.result, { diagnostics: [] }, 'still serving after six malformed messages');
    toServer.end();
    await closed;
  });

  it('recovers at the next header after bad framing, a wrong Content-Length included', { timeout: 10_000 }, async () => {
    const toServer = new PassThrough();
    const fromServer = new PassThrough();
    const { closed } = serve(toServer, fromServer, new FakeApp());
    const next = frames(fromServer);
    const check = (id: number) => frame(`{"jsonrpc":"2.0","id":${id},"method":"run/check","params":{"configPath":"/x/ok.spruft.yaml"}}`);
    const answered = async (id: number, label: string) => {
      const error = await next();
      assert.equal(error.id, null, label);
      assert.equal(error.error?.code, ErrorCodes.ParseError, label);
      const ok = await next();
      assert.equal(ok.id, id, `${label}: the next request is answered`);
      assert.deepEqual(ok.result, { diagnostics: [] }, label);
    };
    const body = '{"jsonrpc":"2.0","id":99,"method":"run/check","params":{"configPath":"/x/lost.spruft.yaml"}}';

    // A length longer than the body: the next message used to be swallowed as its tail.
    toServer.write(`Content-Length: 500\r\n\r\n${body}` + check(1));
    await answered(1, 'length too long');
    // A length shorter than the body: the rest used to be read as a header.
    toServer.write(`Content-Length: 10\r\n\r\n${body}` + check(2));
    await answered(2, 'length too short');
    toServer.write(`Content-Type: application/json\r\n\r\n${body}` + check(3));
    await answered(3, 'no Content-Length');
    toServer.write(`Content-Length: lots\r\n\r\n${body}` + check(4));
    await answered(4, 'not a number');
    toServer.write(`garbage line\r\n\r\n${body}` + check(5));
    await answered(5, 'not a header');
    toServer.write(body + check(6));
    await answered(6, 'no header at all');
    // A frame split across writes still reads whole.
    const split = check(7);
    toServer.write(split.slice(0, 20));
    toServer.write(split.slice(20));
    assert.equal((await next()).id, 7);
    toServer.end();
    await closed;
  });
});
