/**
 * The worker threads of data-parallel training (ranks 1..W-1; rank 0 is the calling
 * thread). Each thread starts its own backend and builds rank 0's model; a failure in
 * any of them (its error reply, an uncaught exception, the thread ending) rejects the
 * request in flight and every later one with a SpruftError that carries the worker's
 * message, so a run fails instead of waiting. `close()` terminates every thread and
 * waits until each has exited.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { threadId, Worker } from 'node:worker_threads';
import type { BackendName } from '../../../../protocol/results';
import { SpruftError } from '../../errors';
import type { Model } from '../../models/model';
import { gemmRate } from '../gemm';
import { defaultBlasThreads, setBlasThreads } from '../../kernels/nativeBlas';
import { tf } from '../../tensor/tf';
import type { FromWorker, MethodSpec, SharePass, ToWorker, WorkerFault } from './messages';
import { recipeOf, type ModelRecipe } from './recipe';

/** The worker's bundle, written by esbuild.mjs beside dist/runner.js. */
export const WORKER_BUNDLE = 'dataParallelWorker.js';

let liveThreads = 0;

/** Worker threads started and not yet exited (tests check none outlive a run). */
export function liveWorkerThreads(): number {
  return liveThreads;
}

let developmentBundle: Promise<string> | undefined;

/**
 * Development and tests (the runner's TypeScript under tsx): the worker entry bundled
 * once per process with esbuild (a devDependency), as esbuild.mjs bundles it. Loading
 * the sources through tsx in every thread instead takes seconds per thread (tfjs-core's
 * ES modules), and Node 20 does not apply `--import tsx` to a worker's entry anyway.
 * The file goes to node_modules/.cache/spruft/, named by its content, so that the
 * bundle resolves the wasm binaries from node_modules and concurrent test processes
 * share it.
 */
function bundleForDevelopment(source: string): Promise<string> {
  developmentBundle ??= (async () => {
    const require = createRequire(__filename);
    let esbuild: typeof import('esbuild');
    try {
      esbuild = require('esbuild') as typeof import('esbuild');
    } catch {
      throw new SpruftError('INTERNAL', `the data-parallel worker is missing (no ${WORKER_BUNDLE} beside the runner); rebuild the runner with npm run build`);
    }
    const built = await esbuild.build({
      entryPoints: [source], bundle: true, write: false, platform: 'node', format: 'cjs', target: 'node20',
      mainFields: ['module', 'main'], external: ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'], logLevel: 'silent',
    });
    const code = built.outputFiles[0].contents;
    const dir = join(dirname(require.resolve('esbuild/package.json')), '..', '.cache', 'spruft');
    const file = join(dir, `${WORKER_BUNDLE.replace(/\.js$/, '')}-${createHash('sha256').update(code).digest('hex').slice(0, 16)}.js`);
    if (!existsSync(file)) {
      mkdirSync(dir, { recursive: true });
      const partial = `${file}.${process.pid}.${threadId}.tmp`;
      writeFileSync(partial, code);
      renameSync(partial, file);
      // Bundles of older sources: a day unused is long enough for any run still using one.
      const stem = WORKER_BUNDLE.replace(/\.js$/, '-');
      for (const name of readdirSync(dir)) {
        const old = join(dir, name);
        if (name.startsWith(stem) && old !== file && Date.now() - statSync(old).mtimeMs > 86_400_000) rmSync(old, { force: true });
      }
    } else {
      const now = new Date();
      utimesSync(file, now, now);
    }
    return file;
  })();
  return developmentBundle;
}

/** The worker's entry: the bundle beside dist/runner.js, or one built from the sources. */
async function workerEntry(): Promise<string> {
  const bundled = join(__dirname, WORKER_BUNDLE);
  if (existsSync(bundled)) return bundled;
  const source = join(__dirname, 'worker.ts');
  if (!existsSync(source)) throw new SpruftError('INTERNAL', `the data-parallel worker is missing (no ${bundled}); rebuild the runner with npm run build`);
  return bundleForDevelopment(source);
}

type Reply<T extends FromWorker['type']> = Extract<FromWorker, { type: T }>;

class WorkerThread {
  private readonly worker: Worker;
  private pending: { expect: FromWorker['type']; resolve: (m: FromWorker) => void; reject: (e: Error) => void } | undefined;
  private failure: SpruftError | undefined;
  private closing = false;
  readonly exited: Promise<void>;

  constructor(readonly rank: number, entry: string) {
    // `stdout: true`: a worker's stdout must not reach ours (the JSON-RPC channel of
    // `spruft serve`); it goes to stderr with the logs.
    this.worker = new Worker(entry, { stdout: true });
    liveThreads += 1;
    this.worker.stdout.pipe(process.stderr, { end: false });
    this.worker.on('message', (m: FromWorker) => this.settle(m));
    this.worker.on('error', (err) => this.fail(`failed: ${err.message}`));
    this.exited = new Promise((resolve) => {
      this.worker.once('exit', (code) => {
        liveThreads -= 1;
        if (!this.closing) this.fail(`stopped unexpectedly (thread exit code ${code})`);
        resolve();
      });
    });
  }

  request<T extends FromWorker['type']>(msg: ToWorker, expect: T): Promise<Reply<T>> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending) return Promise.reject(new SpruftError('INTERNAL', `data-parallel worker ${this.rank}: a request is already in flight`));
    return new Promise<Reply<T>>((resolve, reject) => {
      this.pending = { expect, resolve: resolve as (m: FromWorker) => void, reject };
      try {
        this.worker.postMessage(msg);
      } catch (err) {
        this.pending = undefined;
        reject(new SpruftError('INTERNAL', `data-parallel worker ${this.rank}: the request could not be sent (${err instanceof Error ? err.message : String(err)})`));
      }
    });
  }

  private settle(m: FromWorker): void {
    const p = this.pending;
    this.pending = undefined;
    if (!p) return;
    if (m.type === 'error') {
      // A worker that failed a request may be half-way through it: it takes no more.
      this.failure ??= new SpruftError(m.code, `data-parallel worker ${this.rank}: ${m.message}`);
      p.reject(this.failure);
    } else if (m.type !== p.expect) {
      p.reject(new SpruftError('INTERNAL', `data-parallel worker ${this.rank} answered "${m.type}" to a request for "${p.expect}"`));
    } else {
      p.resolve(m);
    }
  }

  private fail(what: string): void {
    this.failure ??= new SpruftError('INTERNAL', `data-parallel worker ${this.rank} ${what}`);
    const p = this.pending;
    this.pending = undefined;
    p?.reject(this.failure);
  }

  async close(): Promise<void> {
    this.closing = true;
    const p = this.pending;
    this.pending = undefined;
    p?.reject(new SpruftError('INTERNAL', `data-parallel worker ${this.rank} was closed`));
    await this.worker.terminate();
    await this.exited;
  }
}

export interface PoolOptions {
  /** Ranks in all, rank 0 (this thread) included: W >= 2 starts W - 1 threads. */
  ranks: number;
  /** Rank 0's model; each worker builds a copy of it. */
  model: Model;
  /** The run config's folder, where `npm:` model references are looked for first. */
  from?: string;
  /** Instead of `recipeOf(model)` (tests: a model that fails to load). */
  recipe?: ModelRecipe;
  fault?: WorkerFault;
}

export class WorkerPool {
  private closed = false;

  private constructor(private readonly threads: WorkerThread[]) {}

  /** Start W - 1 worker threads on this thread's backend, each with a copy of `model`. */
  static async start(o: PoolOptions): Promise<WorkerPool> {
    if (!Number.isInteger(o.ranks) || o.ranks < 2) throw new SpruftError('INTERNAL', `a worker pool needs at least 2 ranks (got ${o.ranks})`);
    const recipe = o.recipe ?? recipeOf(o.model, o.from);
    const backend = tf.getBackend() as BackendName;
    const threads: WorkerThread[] = [];
    const pool = new WorkerPool(threads);
    try {
      const entry = await workerEntry();
      for (let rank = 1; rank < o.ranks; rank++) threads.push(new WorkerThread(rank, entry));
      await pool.all(threads.map((t) => t.request({ type: 'init', rank: t.rank, backend, model: recipe, fault: o.fault }, 'ready')));
      // The ranks share the cores: a native BLAS product per rank, each on its share.
      setBlasThreads(defaultBlasThreads() / o.ranks);
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  /** Ranks in all, rank 0 included. */
  get ranks(): number {
    return this.threads.length + 1;
  }

  /** Attach on every worker the method rank 0 attached (detaching the previous one). */
  async attach(spec: MethodSpec): Promise<void> {
    await this.all(this.threads.map((t) => t.request({ type: 'attach', method: spec }, 'attached')));
  }

  /** Rank r's gradients for its passes, at rank 0's trainable values `params`. */
  step(rank: number, params: Float32Array[], passes: SharePass[], measure: boolean): Promise<Reply<'grads'>> {
    const thread = this.threads[rank - 1];
    if (!thread) return Promise.reject(new SpruftError('INTERNAL', `no data-parallel worker of rank ${rank}`));
    return thread.request({ type: 'step', params, passes, measure }, 'grads');
  }

  /**
   * Every rank's large-GEMM rate (GFLOP/s, rank 0 first), all measuring at once: their
   * sum is what the ranks can compute together on this machine's cores.
   */
  async gemmRates(n = 1024, reps = 6): Promise<number[]> {
    const replies = this.threads.map((t) => t.request({ type: 'gemm', n, reps }, 'gemm'));
    // Rank 0 measures while the workers do (the requests are already posted).
    let own: number;
    try {
      own = gemmRate(n, reps);
    } finally {
      await Promise.allSettled(replies);
    }
    return [own, ...(await this.all(replies)).map((r) => r.gflops)];
  }

  /** Terminate every thread and wait for each to exit (idempotent). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.threads.map((t) => t.close()));
    setBlasThreads(defaultBlasThreads());
  }

  /**
   * Await every worker's reply. On a failure, reject with the failure of the lowest
   * rank that failed (by rank, not by timing, so the message does not depend on races).
   */
  async all<T>(requests: Array<Promise<T>>): Promise<T[]> {
    const settled = await Promise.allSettled(requests);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
  }
}
