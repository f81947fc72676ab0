/**
 * Entry of the in-editor suite (VS Code's extensionTestsPath contract: `run()`), the
 * same under code-server (test/e2e/editor.e2e.test.ts) and under @vscode/test-electron
 * (test/e2e/run-electron-tests.mjs): one suite, two hosts. The suites are bundled into
 * dist/test/suite.js, so they are loaded after mocha has put its globals in place.
 */
import Mocha from 'mocha';

export async function run(): Promise<void> {
  const timeoutMs = Number(process.env.SPRUFT_EDITOR_TEST_TIMEOUT_MS ?? 60_000);
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: timeoutMs, reporter: 'spec' });
  mocha.suite.emit('pre-require', globalThis, 'editor.suite', mocha);
  await import('./editor.suite');
  const failures = await new Promise<number>((resolve) => mocha.run(resolve));
  if (failures > 0) throw new Error(`${failures} in-editor test${failures > 1 ? 's' : ''} failed`);
}
