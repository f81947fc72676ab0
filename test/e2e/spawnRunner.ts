/**
 * `node dist/runner.js serve` spawned for real, with a JSON-RPC client on its stdio, a
 * tap that checks stdout holds nothing but Content-Length frames, and every
 * notification recorded in arrival order.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { PassThrough } from 'node:stream';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import { requireBuilt } from './browser';

/** Event name of `events` for answers to raw writes (ids `raw-*` or null). */
export const RAW_ANSWER = '$rawAnswer';

export interface RecordedNotification {
  method: string;
  params: unknown;
}

export interface SpawnedRunner {
  child: ChildProcessWithoutNullStreams;
  client: MessageConnection;
  notifications: RecordedNotification[];
  /** Emits each notification by method name. */
  events: EventEmitter;
  stderr: () => string;
  /** Problems with stdout's framing (bytes that are no frame); must stay empty. */
  stdoutProblems: string[];
  /** Write raw bytes to the runner's stdin (malformed-input tests). */
  writeRaw: (text: string) => void;
  /** Raw frames the client did not ask for (answers to raw writes), by id. */
  rawAnswers: Array<Record<string, unknown>>;
  stop: () => Promise<number | null>;
}

/** Checks the byte stream is `Content-Length: n\r\n\r\n<n bytes>` repeated, nothing else. */
function frameChecker(problems: string[], onFrame: (body: Record<string, unknown>) => void): (chunk: Buffer) => void {
  let buffer = Buffer.alloc(0);
  return (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const headerEnd = buffer.indexOf('\r\n\r\n');
      if (headerEnd < 0) {
        // An incomplete header may still be on its way; anything else is a stray write.
        const head = buffer.subarray(0, 16).toString();
        if (!'Content-Length: '.startsWith(head) && !head.startsWith('Content-Length: ')) {
          problems.push(`stray bytes on stdout: ${JSON.stringify(buffer.subarray(0, 80).toString())}`);
          buffer = Buffer.alloc(0);
        }
        return;
      }
      const header = buffer.subarray(0, headerEnd).toString();
      const match = /^Content-Length: (\d+)$/i.exec(header);
      if (!match) {
        problems.push(`not a frame header on stdout: ${JSON.stringify(header.slice(0, 80))}`);
        buffer = buffer.subarray(headerEnd + 4);
        continue;
      }
      const length = Number(match[1]);
      if (buffer.length < headerEnd + 4 + length) return;
      const body = buffer.subarray(headerEnd + 4, headerEnd + 4 + length).toString();
      buffer = buffer.subarray(headerEnd + 4 + length);
      try {
        onFrame(JSON.parse(body) as Record<string, unknown>);
      } catch {
        problems.push(`frame body is not JSON: ${JSON.stringify(body.slice(0, 80))}`);
      }
    }
  };
}

export function spawnRunner(cwd: string): SpawnedRunner {
  const runner = requireBuilt('dist/runner.js');
  const child = spawn(process.execPath, [runner, 'serve'], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  const stdoutProblems: string[] = [];
  const rawAnswers: Array<Record<string, unknown>> = [];
  const toClient = new PassThrough();
  const events = new EventEmitter();
  events.setMaxListeners(50);
  const check = frameChecker(stdoutProblems, (body) => {
    if ('id' in body && !('method' in body) && (body.id === null || (typeof body.id === 'string' && body.id.startsWith('raw-')))) {
      rawAnswers.push(body);
      events.emit(RAW_ANSWER, body);
    }
  });
  child.stdout.on('data', (chunk: Buffer) => {
    check(chunk);
    toClient.write(chunk);
  });
  child.stdout.on('end', () => toClient.end());
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const client = createMessageConnection(new StreamMessageReader(toClient), new StreamMessageWriter(child.stdin));
  const notifications: RecordedNotification[] = [];
  client.onNotification((method: string, params: unknown) => {
    notifications.push({ method, params });
    events.emit(method, params);
  });
  client.listen();
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return {
    child,
    client,
    notifications,
    events,
    stderr: () => stderr,
    stdoutProblems,
    writeRaw: (text) => child.stdin.write(text),
    rawAnswers,
    stop: async () => {
      if (child.exitCode === null) {
        client.dispose();
        child.stdin.end();
      }
      return exited;
    },
  };
}

/** The first notification of `method` whose params pass `accept`. */
export function nextNotification<T>(runner: SpawnedRunner, method: string, accept: (params: T) => boolean = () => true): Promise<T> {
  return new Promise((resolve) => {
    const listener = (params: T) => {
      if (!accept(params)) return;
      runner.events.off(method, listener);
      resolve(params);
    };
    runner.events.on(method, listener);
  });
}

/** Resolves once `count` raw answers have arrived. */
export async function rawAnswers(runner: SpawnedRunner, count: number): Promise<Array<Record<string, unknown>>> {
  while (runner.rawAnswers.length < count) await once(runner.events, RAW_ANSWER);
  return runner.rawAnswers;
}
