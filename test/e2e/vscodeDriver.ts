/**
 * Driving code-server's workbench from Debian's Chromium (playwright-core):
 *   - runInEditorSuite: load a window whose extension host runs the mocha suite
 *     (extensionDevelopmentPath + extensionTestsPath) and return the suite's exit code;
 *   - openWorkbench / quickOpen / runCommand / notification / webviewFrame: what a person
 *     does, through the command palette and the UI.
 */
import { format } from 'node:util';
import type { Browser, Frame, Locator, Page } from 'playwright-core';

export interface SuiteRun {
  exitCode: number | 'timeout';
  output: string[];
}

/**
 * VS Code's built workbench honours extensionDevelopmentPath/TestsPath only with the
 * smoke-test driver enabled in its developmentOptions, so that flag is added to the page.
 */
export async function runInEditorSuite(browser: Browser, baseUrl: string, extensionDir: string, testsModule: string, folder: string, timeoutMs: number): Promise<SuiteRun> {
  const host = new URL(baseUrl).host;
  const payload = [
    ['extensionDevelopmentPath', `vscode-remote://${host}${extensionDir}`],
    ['extensionTestsPath', `vscode-remote://${host}${testsModule}`],
    ['skipWelcome', 'true'],
  ];
  const page = await browser.newPage();
  const output: string[] = [];
  try {
    const exit = new Promise<number>((resolve) => void page.exposeFunction('codeAutomationExit', (code: number) => resolve(code)));
    await page.exposeFunction('codeAutomationLog', (_type: string, args: unknown[]) => output.push(format(...args)));
    await page.route(
      (u) => u.pathname === '/' && u.searchParams.has('payload'),
      async (route) => {
        const response = await route.fetch();
        const body = (await response.text()).replace('developmentOptions&quot;:{', 'developmentOptions&quot;:{&quot;enableSmokeTestDriver&quot;:true,');
        await route.fulfill({ response, body });
      },
    );
    await page.goto(`${baseUrl}?folder=${encodeURIComponent(folder)}&payload=${encodeURIComponent(JSON.stringify(payload))}`);
    let timer: NodeJS.Timeout | undefined;
    const exitCode = await Promise.race([exit, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)))]);
    clearTimeout(timer);
    return { exitCode, output };
  } finally {
    await page.close();
  }
}

export async function openWorkbench(browser: Browser, baseUrl: string, folder: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  page.setDefaultTimeout(60_000);
  await page.goto(`${baseUrl}?folder=${encodeURIComponent(folder)}`);
  await page.locator('.monaco-workbench').waitFor();
  await page.locator('.explorer-folders-view .monaco-list-row').first().waitFor();
  return page;
}

async function quickInput(page: Page, key: string, text: string, rowText: string | RegExp): Promise<void> {
  await page.keyboard.press(key);
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible' });
  await input.fill(text);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: rowText }).first().waitFor();
  await page.keyboard.press('Enter');
  await page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
}

/** Open a workspace file through Quick Open (Ctrl+P), as a person would. */
export async function quickOpen(page: Page, fileName: string): Promise<void> {
  await quickInput(page, 'Control+P', fileName, fileName);
  await page.locator(`.tab.active[data-resource-name="${fileName}"]`).waitFor();
}

/** Run a command from the command palette (F1) by its title. */
export async function runCommand(page: Page, title: string): Promise<void> {
  await quickInput(page, 'F1', `>${title}`, title);
}

export function notification(page: Page, text: string | RegExp): Locator {
  return page.locator('.notifications-toasts .notification-toast', { hasText: text });
}

/**
 * The frame of a webview whose page has an element matching `selector`: every frame
 * (webviews nest theirs two deep) is watched as it attaches, and the first match wins.
 */
export function webviewFrame(page: Page, selector: string, timeoutMs = 60_000): Promise<Frame> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer);
      page.off('frameattached', watch);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no webview showed ${selector} within ${timeoutMs} ms`));
    }, timeoutMs);
    function watch(frame: Frame): void {
      if (frame === page.mainFrame()) return;
      frame.waitForSelector(selector, { state: 'attached', timeout: timeoutMs }).then(
        () => {
          cleanup();
          resolve(frame);
        },
        () => undefined, // detached or timed out: another frame may still match
      );
    }
    page.on('frameattached', watch);
    for (const frame of page.frames()) watch(frame);
  });
}
