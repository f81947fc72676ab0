/**
 * The in-editor suite on the other host: the desktop VS Code that @vscode/test-electron
 * downloads (it cannot here: no download site is reachable; run it where one is). Same
 * suite (dist/test/suite.js), same workspace, same packaged extension as the code-server
 * run in editor.e2e.test.ts: one suite, two hosts.
 *
 *   npm run test:electron          (builds, packages, downloads VS Code 1.100.3, runs)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTests } from '@vscode/test-electron';
import { requireBuilt } from './browser';
import { packageExtension } from './packageExtension';
import { makeTinyWorkspace } from './tinyWorkspace';

async function main(): Promise<number> {
  const packaged = packageExtension();
  const folder = makeTinyWorkspace(mkdtempSync(join(tmpdir(), 'spruft-electron-ws-')));
  const userData = mkdtempSync(join(tmpdir(), 'spruft-electron-user-'));
  try {
    return await runTests({
      version: process.env.SPRUFT_VSCODE_VERSION ?? '1.100.3',
      extensionDevelopmentPath: packaged.unpacked,
      extensionTestsPath: requireBuilt('dist/test/suite.js'),
      launchArgs: [folder, '--disable-workspace-trust', '--skip-welcome', '--skip-release-notes', '--disable-extensions', `--user-data-dir=${userData}`],
    });
  } finally {
    rmSync(folder, { recursive: true, force: true });
    rmSync(userData, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`in-editor suite under @vscode/test-electron failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
