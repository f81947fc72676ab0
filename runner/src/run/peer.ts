/**
 * The bench's peer (issue 11): the same decoder, batch and methods in PyTorch
 * (scripts/peer/decoder_bench.py), run by Debian's python3 with python3-torch, on the
 * same cores. The bench alternates its own steps with the peer's, one by one, so that
 * both see the same load on a shared machine and `ratios.stepOverPeer` compares like
 * with like.
 *
 * The interpreter is named explicitly (`SPRUFT_PEER_PYTHON`, else /usr/bin/python3),
 * never the first python3 on PATH, which may be another install without torch.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { MethodName } from '../../../protocol/results';
import { SpruftError } from '../errors';
import type { LlamaConfig } from '../models/llama';

export const PEER_SCRIPT = join('scripts', 'peer', 'decoder_bench.py');

/** scripts/peer/decoder_bench.py in the first folder above this file that has it. */
export function peerScript(): string | undefined {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, PEER_SCRIPT);
    if (existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

export interface PeerPython {
  python?: string;
  torch?: string;
  /** Why there is no peer here (when `python` is undefined). */
  why: string;
}

/** The python that runs the peer, with torch's version; or why there is none. */
export function findPeerPython(): PeerPython {
  const python = process.env.SPRUFT_PEER_PYTHON || '/usr/bin/python3';
  if (!existsSync(python)) return { why: `${python} not found (Debian: apt-get install python3 python3-torch; or set SPRUFT_PEER_PYTHON)` };
  const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) return { why: `${python} cannot import torch (Debian: apt-get install python3-torch)` };
  return { python, torch: r.stdout.trim(), why: `${python} with torch ${r.stdout.trim()}` };
}

export interface PeerOptions {
  config: LlamaConfig;
  batch: number;
  sequence: number;
  threads: number;
  spruftRank: number;
  loraRank: number;
  loraAlpha: number;
  loraDropout: number;
}

export interface PeerDescription {
  peer: 'torch';
  version: string;
  threads: number;
  python: string;
  /** OpenMP's wait policy the peer ran with. */
  ompWaitPolicy: string;
}

type Reply = Record<string, unknown>;

/** The peer process, answering one JSON line per command. */
/** The methods the PyTorch peer implements (scripts/peer/). */
export const TORCH_PEER_METHODS: readonly MethodName[] = ['spruft', 'lora', 'full'];

export class TorchPeer {
  private readonly replies: Array<(r: Reply | Error) => void> = [];
  private stderr = '';
  private exited: Error | undefined;

  private constructor(private readonly child: ChildProcessWithoutNullStreams, readonly python: string) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      let reply: Reply | Error;
      try {
        reply = JSON.parse(line) as Reply;
      } catch {
        reply = new SpruftError('INTERNAL', `the torch peer printed something that is not JSON: ${line.slice(0, 200)}`);
      }
      this.replies.shift()?.(reply);
    });
    child.stderr.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-4000); });
    child.on('exit', (code, signal) => {
      this.exited = new SpruftError('INTERNAL', `the torch peer exited (${signal ?? `code ${code}`}): ${this.stderr.trim().split('\n').slice(-3).join(' | ')}`);
      for (const r of this.replies.splice(0)) r(this.exited);
    });
  }

  static start(o: PeerOptions): TorchPeer {
    const found = findPeerPython();
    if (found.python == null) throw new SpruftError('BACKEND_UNAVAILABLE', `--peer torch: ${found.why}`);
    const script = peerScript();
    if (script == null) throw new SpruftError('FILE_NOT_FOUND', `--peer torch: ${PEER_SCRIPT} is not in this checkout`);
    const args = [
      script, '--serve', '--config', JSON.stringify(o.config), '--batch', String(o.batch), '--seq', String(o.sequence),
      '--threads', String(o.threads), '--spruft-rank', String(o.spruftRank), '--lora-rank', String(o.loraRank),
      '--lora-alpha', String(o.loraAlpha), '--lora-dropout', String(o.loraDropout),
    ];
    // OpenMP's idle threads spin for the next parallel region by default; on a shared
    // machine whose cores are oversubscribed that made the peer's step 5-8x slower
    // (10.2 s vs 1.2 s for the same SPruFT step at load average 15), so the peer runs
    // with passive waiting unless the caller chose otherwise: its better figure.
    const env = { ...process.env, OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE' };
    return new TorchPeer(spawn(found.python, args, { stdio: ['pipe', 'pipe', 'pipe'], env }), found.python);
  }

  private async request(msg: Record<string, unknown>): Promise<Reply> {
    if (this.exited) throw this.exited;
    const reply = await new Promise<Reply | Error>((resolve) => {
      this.replies.push(resolve);
      this.child.stdin.write(JSON.stringify(msg) + '\n');
    });
    if (reply instanceof Error) throw reply;
    if (typeof reply.error === 'string') throw new SpruftError('INTERNAL', `the torch peer failed on ${String(msg.cmd)}: ${reply.error}`);
    return reply;
  }

  async describe(): Promise<PeerDescription> {
    const r = await this.request({ cmd: 'hello' });
    return { peer: 'torch', version: String(r.version), threads: Number(r.threads), python: this.python, ompWaitPolicy: process.env.OMP_WAIT_POLICY ?? 'PASSIVE' };
  }

  async gemmGflops(reps = 4): Promise<number> {
    return Number((await this.request({ cmd: 'gemm', reps })).gemmGflops);
  }

  /** Build the peer's model with `method` (one of TORCH_PEER_METHODS) ("spruft", "lora", "-fa" variants, "full") and take its warm-up step. */
  async attach(method: string, freezeAttention: boolean): Promise<{ variant: string; trainableParams: number }> {
    const r = await this.request({ cmd: 'attach', method: freezeAttention ? `${method}-fa` : method });
    return { variant: String(r.variant), trainableParams: Number(r.trainableParams) };
  }

  /** One timed training step (ms). */
  async step(): Promise<number> {
    return Number((await this.request({ cmd: 'step' })).ms);
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin.end();
    await done;
  }
}
