/**
 * code-server (a real VS Code, from npm, installed into tools/ by setup-tools.sh) for
 * the in-editor tests: the packaged .vsix is installed into a fresh extensions folder,
 * the server listens on a free port of 127.0.0.1 without auth, in its own process group
 * so that stopping it also ends the extension host and the runner it spawned.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as readline from 'node:readline';
import { repoRoot } from './browser';

export function codeServerBin(): string {
  const bin = join(process.env.SPRUFT_TOOLS_DIR ?? join(repoRoot, 'tools'), 'node_modules', '.bin', 'code-server');
  if (!existsSync(bin)) throw new Error(`code-server not found at ${bin}: run test/e2e/setup-tools.sh first.`);
  return bin;
}

export interface CodeServer {
  url: string;
  /** Everything code-server printed (for failure messages). */
  log: () => string;
  extensionsDir: string;
  stop: () => Promise<void>;
}

function baseArgs(home: string): string[] {
  return ['--config', join(home, 'config.yaml'), '--user-data-dir', join(home, 'user-data'), '--extensions-dir', join(home, 'extensions')];
}

/** Install a .vsix the way a user would (`code-server --install-extension`). */
export function installExtension(home: string, vsix: string): string {
  const result = spawnSync(codeServerBin(), [...baseArgs(home), '--install-extension', vsix], { encoding: 'utf8', env: { ...process.env, XDG_DATA_HOME: join(home, 'xdg') } });
  if (result.status !== 0 || !/successfully installed/i.test(result.stdout)) {
    throw new Error(`installing ${vsix} failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
  }
  return result.stdout.trim();
}

export function makeCodeServerHome(): string {
  const home = mkdtempSync(join(tmpdir(), 'spruft-code-server-'));
  mkdirSync(join(home, 'extensions'), { recursive: true });
  writeFileSync(join(home, 'config.yaml'), 'bind-addr: 127.0.0.1:0\nauth: none\ncert: false\n');
  // Settings of the test profile: no welcome page, no trust prompt, no telemetry.
  mkdirSync(join(home, 'user-data', 'User'), { recursive: true });
  writeFileSync(
    join(home, 'user-data', 'User', 'settings.json'),
    JSON.stringify({ 'workbench.startupEditor': 'none', 'telemetry.telemetryLevel': 'off', 'security.workspace.trust.enabled': false, 'workbench.tips.enabled': false, 'extensions.ignoreRecommendations': true, 'update.mode': 'none' }, null, 1),
  );
  return home;
}

/** Start code-server and resolve once it prints the address it listens on. */
export async function startCodeServer(home: string): Promise<CodeServer> {
  const child: ChildProcess = spawn(
    codeServerBin(),
    [...baseArgs(home), '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override'],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, XDG_DATA_HOME: join(home, 'xdg') } },
  );
  let log = '';
  const listening = new Promise<string>((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      log += line + '\n';
      const match = /HTTP server listening on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(line);
      if (match) resolve(match[1]!);
    });
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    child.once('exit', (code) => reject(new Error(`code-server exited (${code}) before listening:\n${log}`)));
  });
  const exited = once(child, 'exit');
  const url = await listening;
  return {
    url,
    log: () => log,
    extensionsDir: join(home, 'extensions'),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        // The whole group: code-server, its extension host, and the runner under it.
        try {
          process.kill(-child.pid!, 'SIGTERM');
        } catch {
          // already gone
        }
        await exited;
      }
      rmSync(home, { recursive: true, force: true });
    },
  };
}
