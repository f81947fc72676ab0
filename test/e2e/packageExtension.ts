/**
 * The .vsix as a user gets it: `npx vsce package` in the repository (its prepublish step
 * makes the production build), then unpacked, so the in-editor suite can load exactly
 * the packaged files as the extension under test.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './browser';

export interface PackagedExtension {
  vsix: string;
  /** The unpacked `extension/` folder of the .vsix. */
  unpacked: string;
  log: string;
}

export function packageExtension(): PackagedExtension {
  const out = mkdtempSync(join(tmpdir(), 'spruft-vsix-'));
  const vsix = join(out, 'spruft-studio.vsix');
  const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
  const packed = spawnSync(npx, ['vsce', 'package', '--out', vsix], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const log = `${packed.stdout}\n${packed.stderr}`;
  if (packed.status !== 0 || !existsSync(vsix)) throw new Error(`vsce package failed (${packed.status}):\n${log}`);
  const unzipped = spawnSync('unzip', ['-q', vsix, 'extension/*', '-d', join(out, 'unpacked')], { encoding: 'utf8' });
  if (unzipped.status !== 0) throw new Error(`unzip failed: ${unzipped.stderr} (setup-tools.sh installs unzip)`);
  return { vsix, unpacked: join(out, 'unpacked', 'extension'), log };
}
