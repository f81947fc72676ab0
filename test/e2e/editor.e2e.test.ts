/**
 * The packaged extension inside a real VS Code (code-server 4.100.3 = VS Code 1.100.3),
 * with the real runner:
 *   1. the in-editor mocha suite (extension/test/) runs in the extension host, loading
 *      the unpacked .vsix as the extension under test; its exit code is this test's;
 *   2. a person's path through the UI: open a config and see the language server's
 *      diagnostic, run "SPruFT: Fine-tune model" from the command palette, see progress,
 *      see the dashboard draw selected rows, memory bars and per-label accuracy, find the
 *      run in the Runs view, stop a run with "SPruFT: Stop run", read why it stopped in
 *      its dashboard and resume it from there. Screenshots go to test-artifacts/.
 * Needs test/e2e/setup-tools.sh (Chromium, code-server) and a build (npm test builds).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { EditorWorkspace } from '../../extension/test/workspace';
import { artifactPath, launchChromium, requireBuilt } from './browser';
import { installExtension, makeCodeServerHome, startCodeServer, type CodeServer } from './codeServer';
import { packageExtension, type PackagedExtension } from './packageExtension';
import { makeTinyWorkspace, TINY_MODEL } from './tinyWorkspace';
import { notification, openWorkbench, quickOpen, runCommand, runInEditorSuite, webviewFrame } from './vscodeDriver';

describe('packaged extension in code-server', () => {
  let packaged: PackagedExtension;
  let server: CodeServer;
  let browser: Browser;
  const workspaces: string[] = [];

  before(async () => {
    packaged = packageExtension();
    const home = makeCodeServerHome();
    installExtension(home, packaged.vsix);
    server = await startCodeServer(home);
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    for (const dir of workspaces) rmSync(dir, { recursive: true, force: true });
  });

  it('passes the in-editor suite in the extension host', async () => {
    const folder = makeTinyWorkspace(mkdtempSync(join(tmpdir(), 'spruft-suite-ws-')));
    workspaces.push(folder);
    const suite = requireBuilt('dist/test/suite.js').replace(/\.js$/, '');
    const run = await runInEditorSuite(browser, server.url, packaged.unpacked, suite, folder, 150_000);
    const report = run.output.join('\n');
    process.stdout.write(report.split('\n').map((l) => `    [editor] ${l}`).join('\n') + '\n');
    assert.equal(run.exitCode, 0, `in-editor suite failed:\n${report}\n--- code-server ---\n${server.log().slice(-3000)}`);
    assert.match(report, /passing/);
  });

  it('works through the UI: diagnostic, Fine-tune from the palette, progress, dashboard, Stop run', async () => {
    const folder = makeTinyWorkspace(mkdtempSync(join(tmpdir(), 'spruft-ui-ws-')));
    workspaces.push(folder);
    const page: Page = await openWorkbench(browser, server.url, folder);
    try {
      // The language server's diagnostic on the broken config.
      await quickOpen(page, EditorWorkspace.brokenConfig);
      await page.locator('.monaco-editor .squiggly-error').first().waitFor();

      // Fine-tune the quick config from the palette; the code lens offers the same.
      await quickOpen(page, EditorWorkspace.quickConfig);
      await page.locator('.monaco-editor .codelens-decoration', { hasText: 'Fine-tune with this config' }).first().waitFor();
      await runCommand(page, 'SPruFT: Fine-tune model');
      const done = notification(page, /SPruFT: fine-tune quick completed: accuracy/);
      await done.waitFor({ timeout: 60_000 });

      // The dashboard draws what the run reported.
      const dashboard = await webviewFrame(page, '[data-view="status"][data-status="completed"]');
      await dashboard.waitForSelector('figure[data-view="labels"][data-drawn-labels="10"]', { state: 'attached' });
      const drawn = async (view: string, key: string) => Number(await dashboard.locator(`figure[data-view="${view}"]`).getAttribute(`data-drawn-${key}`));
      assert.ok((await drawn('selection', 'layers')) >= TINY_MODEL.hidden.length, 'one heatmap line per adapted layer');
      assert.ok((await drawn('selection', 'cells')) > 0, 'selected rows drawn');
      assert.equal(await drawn('memory', 'methods'), 2, 'a memory bar for SPruFT and one for LoRA');
      assert.ok((await drawn('memory', 'bars')) >= 2 * 4, 'stacked components');
      assert.equal(await drawn('labels', 'bars'), 2 * TINY_MODEL.labels, 'per-label accuracy bars of both methods');
      assert.equal(await dashboard.locator('table[data-view="label-table"] tbody tr').count(), 2, 'min/Q1/median/Q3/max of both');
      assert.equal(await drawn('evaluation', 'points'), 2 * 2, 'evaluation loss at steps 6 and 12 of both methods');
      assert.equal(await drawn('memory', 'legend-cut'), 0, 'the memory legend fits the side column');
      await page.screenshot({ path: artifactPath('editor-dashboard.png') });

      // The Runs view in the SPruFT sidebar lists it, with status and accuracy.
      await page.locator('.activitybar .action-item a[aria-label="SPruFT"]').click();
      const runRow = page.locator('.monaco-list-row', { hasText: /quick/ }).filter({ hasText: /completed · spruft \d+\.\d% · lora \d+\.\d%/ });
      await runRow.first().waitFor();
      await page.screenshot({ path: artifactPath('editor-runs-view.png') });

      // A long run: progress with step and ETA, then "SPruFT: Stop run".
      await quickOpen(page, EditorWorkspace.longConfig);
      await runCommand(page, 'SPruFT: Fine-tune model');
      const progress = notification(page, /SPruFT: fine-tune long.*step \d+\/5000.*ETA/s);
      await progress.waitFor({ timeout: 60_000 });
      await page.screenshot({ path: artifactPath('editor-progress.png') });
      await runCommand(page, 'SPruFT: Stop run');
      await notification(page, /SPruFT: fine-tune long cancelled/).waitFor({ timeout: 60_000 });
      await progress.waitFor({ state: 'detached' });
      await page.screenshot({ path: artifactPath('editor-stopped.png') });

      // Its dashboard says it was cancelled and where; its Resume button continues it.
      const stopped = await webviewFrame(page, '[data-view="status"][data-status="cancelled"]');
      await stopped.locator('[data-view="outcome-where"]', { hasText: /Last progress report: spruft: training, step \d+ of 5000/ }).waitFor();
      await page.screenshot({ path: artifactPath('editor-cancelled-dashboard.png') });
      await stopped.locator('[data-action="resume"]').click();
      const resumed = notification(page, /SPruFT: resume long.*step \d+\/5000/s);
      await resumed.waitFor({ timeout: 60_000 });
      await runCommand(page, 'SPruFT: Stop run');
      await notification(page, /SPruFT: resume long.* cancelled/).waitFor({ timeout: 60_000 });
    } catch (err) {
      await page.screenshot({ path: artifactPath('editor-failure.png') }).catch(() => undefined);
      throw err;
    } finally {
      await page.close();
    }
  });
});
