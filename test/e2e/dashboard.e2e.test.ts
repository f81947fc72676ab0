/**
 * The dashboard page in Debian's Chromium (playwright-core), served exactly as the
 * extension serves it (dashboardHtml: CSP, nonce, built assets), with a stand-in for
 * VS Code's webview API. Fed run messages, it must draw what they say: layers and
 * selected rows, memory bars per method, per-label bars and their summary; hover must
 * name a row and its score; the CSP must hold. Screenshots go to test-artifacts/.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { dashboardHtml, makeNonce } from '../../extension/src/dashboard/dashboardHtml';
import type { DashboardSnapshot } from '../../protocol/runFolder';
import { peakStack } from '../../protocol/results';
import type { HostToWebview, WebviewToHost } from '../../protocol/webview';
import { FASHION_LABELS, syntheticRun } from '../fixtures/syntheticRun';
import { artifactPath, launchChromium, requireBuilt } from './browser';

const ORIGIN = 'https://spruft-dashboard.test';

interface PageGlobals {
  __posted: WebviewToHost[];
  __state: DashboardSnapshot | undefined;
  __csp: string[];
  __inline?: number;
}

function webviewStandIn(initialState: DashboardSnapshot | undefined): string {
  const theme = {
    '--vscode-foreground': '#cccccc',
    '--vscode-editor-background': '#1e1e1e',
    '--vscode-charts-blue': '#3794ff',
    '--vscode-charts-orange': '#d18616',
    '--vscode-charts-lines': 'rgba(204, 204, 204, 0.5)',
    '--vscode-font-family': 'sans-serif',
    '--vscode-font-size': '13px',
  };
  return `
    window.__posted = [];
    window.__state = ${JSON.stringify(initialState ?? null)} ?? undefined;
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
    window.acquireVsCodeApi = () => {
      // VS Code has put the theme on the page before its scripts run; so does this.
      for (const [k, v] of Object.entries(${JSON.stringify(theme)})) document.documentElement.style.setProperty(k, v);
      document.body.classList.add('vscode-dark');
      return {
        postMessage: (m) => window.__posted.push(m),
        getState: () => window.__state,
        setState: (s) => { window.__state = s; },
      };
    };
  `;
}

async function openDashboard(browser: Browser, initialState?: DashboardSnapshot, viewport = { width: 1280, height: 900 }): Promise<Page> {
  const script = readFileSync(requireBuilt('dist/webview/dashboard.js'));
  const style = readFileSync(requireBuilt('dist/webview/dashboard.css'));
  const nonce = makeNonce((n) => randomBytes(n));
  const html = dashboardHtml({ cspSource: ORIGIN, nonce, scriptUri: `${ORIGIN}/dashboard.js`, styleUri: `${ORIGIN}/dashboard.css`, title: 'SPruFT dashboard' });
  const page = await browser.newPage({ viewport });
  page.setDefaultTimeout(15_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().includes('Content Security Policy')) errors.push(m.text());
  });
  (page as Page & { spruftErrors: string[] }).spruftErrors = errors;
  await page.route(`${ORIGIN}/**`, async (route) => {
    const path = new URL(route.request().url()).pathname;
    if (path === '/dashboard.js') return route.fulfill({ body: script, contentType: 'text/javascript' });
    if (path === '/dashboard.css') return route.fulfill({ body: style, contentType: 'text/css' });
    if (path === '/') return route.fulfill({ body: html, contentType: 'text/html' });
    return route.fulfill({ status: 404, body: 'not found' });
  });
  // VS Code's webview API and theme, as the webview gets them: a stand-in records what the
  // page posts and stores; theme variables go on <html>, the theme class on <body>. A
  // string, not a function: tsx's transpiled functions reference helpers the page lacks.
  await page.addInitScript(webviewStandIn(initialState));
  await page.goto(`${ORIGIN}/`);
  await page.waitForFunction(() => (window as unknown as PageGlobals).__posted.some((m) => m.type === 'ready'));
  return page;
}

async function feed(page: Page, messages: HostToWebview[]): Promise<void> {
  await page.evaluate((ms) => {
    for (const m of ms) window.postMessage(m, '*');
  }, messages);
}

function drawn(page: Page, view: string, key: string): Promise<string | null> {
  return page.locator(`figure[data-view="${view}"]`).getAttribute(`data-drawn-${key}`);
}

async function tableRows(page: Page, view: string): Promise<string[][]> {
  return page.locator(`table[data-view="${view}"] tbody tr`).evaluateAll((rows) =>
    rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent ?? '')),
  );
}

/** Pixels of the heatmap canvas that carry the cell colour (blue, not the grey bands). */
async function heatmapCellPixels(page: Page): Promise<Array<{ x: number; y: number }>> {
  return page.locator('figure[data-view="selection"] canvas').evaluate((node) => {
    const canvas = node as HTMLCanvasElement;
    const ctx = canvas.getContext('2d')!;
    const { data, width, height } = ctx.getImageData(0, 0, canvas.width, canvas.height);
    const scale = canvas.width / canvas.getBoundingClientRect().width;
    const found: Array<{ x: number; y: number }> = [];
    for (let y = 0; y < height; y += 2) {
      for (let x = 0; x < width; x++) {
        const i = (y * width + x) * 4;
        const [r, g, b, a] = [data[i]!, data[i + 1]!, data[i + 2]!, data[i + 3]!];
        if (a > 200 && b > r + 80 && b > g + 20) found.push({ x: x / scale, y: y / scale });
      }
    }
    return found;
  });
}

describe('dashboard page in Chromium', () => {
  let browser: Browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  it('draws a recorded real run: every layer, selected row, memory component and label it reported', async () => {
    const recording = JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'recorded-run.json'), 'utf8')) as { messages: HostToWebview[] };
    const messages = recording.messages;
    const selection = messages.find((m): m is Extract<HostToWebview, { type: 'selection' }> => m.type === 'selection')!.event;
    const memory = messages.filter((m): m is Extract<HostToWebview, { type: 'memory' }> => m.type === 'memory').map((m) => m.event);
    const labels = messages.filter((m): m is Extract<HostToWebview, { type: 'labelAccuracy' }> => m.type === 'labelAccuracy').map((m) => m.event);
    const page = await openDashboard(browser);
    await feed(page, messages);
    await page.locator('[data-view="status"][data-status="completed"]').waitFor();
    await page.waitForFunction((n) => document.querySelector('figure[data-view="labels"]')?.getAttribute('data-drawn-labels') === String(n), labels[0]!.labels.length);

    assert.equal(await drawn(page, 'selection', 'layers'), String(selection.layers.length));
    assert.equal(await drawn(page, 'selection', 'cells'), String(selection.layers.reduce((n, l) => n + l.rows.length, 0)));
    assert.ok((await heatmapCellPixels(page)).length > 0, 'selected rows are painted');
    assert.equal(await drawn(page, 'memory', 'methods'), String(memory.length));
    const components = memory.reduce((n, m) => n + Object.values(peakStack(m.measurement)).filter((v) => v !== 0).length, 0);
    assert.equal(await drawn(page, 'memory', 'bars'), String(components), 'one stacked segment per non-zero component');
    assert.equal(await drawn(page, 'labels', 'bars'), String(labels.length * labels[0]!.labels.length));
    const worst = labels[0]!.labels.slice().sort((a, b) => labels[0]!.perLabel[a]! - labels[0]!.perLabel[b]! || a.localeCompare(b))[0];
    assert.equal(await drawn(page, 'labels', 'worst'), worst);
    const labelRows = await tableRows(page, 'label-table');
    assert.deepEqual(labelRows.map((r) => r[0]), labels.map((l) => l.method));
    assert.deepEqual(await page.evaluate(() => (window as unknown as PageGlobals).__csp), []);
    assert.deepEqual((page as Page & { spruftErrors: string[] }).spruftErrors, []);
    await page.screenshot({ path: artifactPath('dashboard-recorded-run.png'), fullPage: true });
    await page.close();
  });

  it('draws a 42-layer SPruFT-vs-LoRA run: hover names a row and its score; curves and tables', async () => {
    const messages = syntheticRun();
    const page = await openDashboard(browser);
    await feed(page, messages);
    await page.locator('[data-view="status"][data-status="completed"]').waitFor();
    await page.waitForFunction(() => document.querySelector('figure[data-view="labels"]')?.getAttribute('data-drawn-labels') === '10');

    // Selection heatmap: 6 blocks x 7 projections, 8 rows each.
    assert.equal(await drawn(page, 'selection', 'layers'), '42');
    assert.equal(await drawn(page, 'selection', 'cells'), String(42 * 8));
    const cellPixels = await heatmapCellPixels(page);
    assert.ok(cellPixels.length > 42 * 8, `heatmap cells are painted (${cellPixels.length} blue pixels)`);

    // Hover over a painted cell: the tooltip names the layer, the row index and its score.
    const canvasBox = (await page.locator('figure[data-view="selection"] canvas').boundingBox())!;
    const target = cellPixels[Math.floor(cellPixels.length / 2)]!;
    await page.mouse.move(canvasBox.x + target.x, canvasBox.y + target.y);
    const tooltip = page.locator('[data-view="tooltip"]');
    await tooltip.waitFor({ state: 'visible' });
    const tip = await tooltip.innerText();
    assert.match(tip, /model\.layers\.\d\.(self_attn|mlp)\.\w+_proj/);
    assert.match(tip, /row \d+ · score [\d.e+-]+ · rank \d of 8/);

    // Memory: one stacked bar per method (spruft, lora); every non-zero component drawn.
    assert.equal(await drawn(page, 'memory', 'methods'), '2');
    assert.equal(await drawn(page, 'memory', 'bars'), String(6 + 7), 'spruft has no dropout masks; lora has all 7 parts');
    const memoryRows = await tableRows(page, 'memory-table');
    assert.deepEqual(memoryRows.map((r) => r[0]), ['spruft r=8', 'lora r=8']);
    for (const row of memoryRows) assert.match(row[2]!, /^\d+(\.\d+)? (KiB|MiB)$/, 'the paper\'s "mem" total');

    // Per-label accuracy: 10 labels x 2 methods, worst first, with the quantile table.
    assert.equal(await drawn(page, 'labels', 'labels'), '10');
    assert.equal(await drawn(page, 'labels', 'bars'), '20');
    assert.equal(await drawn(page, 'labels', 'worst'), 'Shirt');
    const labelRows = await tableRows(page, 'label-table');
    assert.equal(labelRows.length, 2);
    for (const row of labelRows) {
      const [, , min, q1, median, q3, max] = row.map((c) => Number.parseFloat(c));
      assert.ok(min! <= q1! && q1! <= median! && median! <= q3! && q3! <= max!, `quantiles ordered: ${row.join(' ')}`);
    }

    // Curves: loss and learning rate for both methods, 60 steps each.
    assert.equal(await drawn(page, 'curves', 'lines'), '4');
    assert.equal(await drawn(page, 'curves', 'points'), '120');
    const progressLines = await page.locator('[data-view="progress"] li').allInnerTexts();
    // Once the run ended, each method's line says how it ended, not its last live phase.
    assert.ok(progressLines.some((l) => /^spruft: done · 60 steps · trained in \d+ s · accuracy \d+\.\d%$/.test(l)), progressLines.join('\n'));
    assert.ok(progressLines.every((l) => !/ETA|evaluating|saving/.test(l)), progressLines.join('\n'));
    assert.equal(await page.locator('[data-action="stop"]').isHidden(), true, 'no Stop button once the run ended');

    const globals = await page.evaluate(() => ({ csp: (window as unknown as PageGlobals).__csp, state: (window as unknown as PageGlobals).__state }));
    assert.deepEqual(globals.csp, [], 'no CSP violations');
    assert.equal(globals.state?.status, 'completed', 'the snapshot is kept with setState');
    assert.deepEqual((page as Page & { spruftErrors: string[] }).spruftErrors, []);
    await page.screenshot({ path: artifactPath('dashboard-run.png'), fullPage: true });
    await page.close();
  });

  it('stays readable with 200 layers and 200 labels', async () => {
    const labels = Array.from({ length: 200 }, (_, i) => `${FASHION_LABELS[i % 10]} #${Math.floor(i / 10)}`);
    const messages = syntheticRun({ blocks: 29, labels, steps: 400, rank: 16 }); // 203 layers
    const page = await openDashboard(browser);
    await feed(page, messages);
    await page.locator('[data-view="status"][data-status="completed"]').waitFor();
    await page.waitForFunction(() => document.querySelector('figure[data-view="labels"]')?.getAttribute('data-drawn-labels') === '200');
    assert.equal(await drawn(page, 'selection', 'layers'), '203', 'every layer gets its own named line');
    assert.equal(await drawn(page, 'selection', 'cells'), String(203 * 16));
    assert.equal(await drawn(page, 'labels', 'bars'), '400');
    // Each layer line and label bar gets at least 10 px, so names stay legible.
    const selectionHeight = (await page.locator('figure[data-view="selection"] canvas').boundingBox())!.height;
    assert.ok(selectionHeight / 203 >= 10, `heatmap ${selectionHeight}px for 203 layers`);
    const labelsHeight = (await page.locator('figure[data-view="labels"] canvas').boundingBox())!.height;
    assert.ok(labelsHeight / 200 >= 10, `label chart ${labelsHeight}px for 200 labels`);
    assert.deepEqual(await page.evaluate(() => (window as unknown as PageGlobals).__csp), []);
    await page.screenshot({ path: artifactPath('dashboard-large.png'), fullPage: true });
    await page.close();
  });

  it('fits the editor\'s side column: nothing cut, legends inside their charts, tooltips formatted, quartiles of every method', async () => {
    const messages = syntheticRun();
    const runId = messages[0]!.type === 'snapshot' ? messages[0]!.snapshot.runId : '';
    // Evaluations every 20 steps (training.evalEvery), before the run's end.
    const evaluations: HostToWebview[] = (['spruft', 'lora'] as const).flatMap((method, m) =>
      [20, 40, 60].map((step, i) => ({ type: 'evaluation' as const, event: { runId, method, step, totalSteps: 60, loss: 1.2 - 0.3 * i - 0.05 * m, accuracy: 0.55 + 0.1 * i - 0.02 * m } })),
    );
    // A dashboard opened beside a config starts near half a 1000 px editor.
    const page = await openDashboard(browser, undefined, { width: 520, height: 900 });
    await feed(page, [...messages.slice(0, -1), ...evaluations, messages[messages.length - 1]!]);
    await page.locator('[data-view="status"][data-status="completed"]').waitFor();
    await page.waitForFunction(() => document.querySelector('figure[data-view="labels"]')?.getAttribute('data-drawn-labels') === '10');
    const overflow = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
    assert.ok(overflow.scroll <= overflow.client, `no sideways scrolling at 520 px (${overflow.scroll} > ${overflow.client})`);
    assert.equal(await drawn(page, 'evaluation', 'lines'), '4', 'evaluation loss and accuracy of both methods');
    assert.equal(await drawn(page, 'evaluation', 'points'), '6');
    for (const view of ['memory', 'curves', 'labels', 'evaluation']) {
      assert.equal(await drawn(page, view, 'legend-cut'), '0', `${view}: every legend entry inside the chart`);
    }
    assert.equal(await drawn(page, 'labels', 'quartile-lines'), '6', 'Q1, median and Q3 of both methods');
    // The learning rate (1e-3 at most) reads as such, not as 0.
    const curve = (await page.locator('figure[data-view="curves"] canvas').boundingBox())!;
    const tooltip = page.locator('[data-view="tooltip"]');
    await page.locator('figure[data-view="curves"]').scrollIntoViewIfNeeded();
    const box = (await page.locator('figure[data-view="curves"] canvas').boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.5);
    await tooltip.waitFor({ state: 'visible' });
    const tip = await tooltip.innerText();
    assert.ok(curve.width > 0);
    assert.match(tip, /^step \d+/);
    assert.match(tip, /learning rate: \d\.\de-\d/);
    assert.match(tip, /loss: \d+\.\d{4}/);
    await page.screenshot({ path: artifactPath('dashboard-narrow.png'), fullPage: true });
    await page.close();
  });

  it('says why a failed run stopped, where, and what to do; leaves no waiting panels or ETA', async () => {
    const messages = syntheticRun().filter((m) => m.type !== 'finished' && m.type !== 'labelAccuracy' && !(m.type === 'progress' && m.event.method === 'lora'));
    const runId = messages[0]!.type === 'snapshot' ? messages[0]!.snapshot.runId : '';
    const page = await openDashboard(browser);
    await feed(page, [...messages.slice(0, 30), { type: 'finished', event: { runId, status: 'failed', kind: 'train', error: { message: 'label 11 is out of range', code: 'DATA_INVALID', where: 'train-labels.idx' } } }]);
    const outcome = page.locator('[data-view="outcome"]');
    await outcome.waitFor({ state: 'visible' });
    assert.equal(await page.locator('[data-view="outcome-title"]').innerText(), 'Failed');
    assert.equal(await page.locator('[data-view="outcome-reason"]').innerText(), 'label 11 is out of range (train-labels.idx)');
    assert.match(await page.locator('[data-view="outcome-where"]').innerText(), /^Last progress report: spruft: training, step \d+ of 60, after/);
    assert.match(await page.locator('[data-view="outcome-advice"]').innerText(), /Fix or replace the file/);
    assert.equal(await page.locator('[data-action="resume"]').isVisible(), false, 'a data error is not fixed by resuming');
    assert.equal(await page.locator('[data-action="open-config"]').isVisible(), true);
    const visibleText = await page.locator('main').innerText();
    assert.doesNotMatch(visibleText, /Waiting for/, 'no waiting panel once the run ended');
    assert.doesNotMatch(await page.locator('[data-view="progress"]').innerText(), /ETA|evaluating/);
    assert.equal(await page.locator('[data-section="labels"]').isVisible(), false, 'no evaluation happened');
    assert.equal(await page.locator('[data-action="stop"]').isVisible(), false);
    await page.locator('[data-action="rerun"]').click();
    await page.waitForFunction(() => (window as unknown as PageGlobals).__posted.some((m) => m.type === 'runAction' && m.action === 'rerun'));
    await page.screenshot({ path: artifactPath('dashboard-failed.png'), fullPage: true });
    await page.close();
  });

  it('offers Resume for a cancelled compare and shows one ETA over both methods while it ran', async () => {
    const all = syntheticRun();
    const runId = all[0]!.type === 'snapshot' ? all[0]!.snapshot.runId : '';
    const snapshot = all[0]!.type === 'snapshot' ? { ...all[0]!.snapshot, plannedMethods: ['spruft', 'lora'] as Array<'spruft' | 'lora'>, kind: 'train' as const } : undefined;
    const spruftTraining = all.filter((m) => m.type === 'progress' && m.event.method === 'spruft' && m.event.phase === 'training').slice(0, 20);
    const page = await openDashboard(browser);
    await feed(page, [{ type: 'snapshot', snapshot: snapshot! }, ...spruftTraining]);
    const overall = page.locator('[data-view="overall"]');
    await overall.waitFor();
    assert.match(await overall.innerText(), /^whole run: method 1 of 2 · \d+% · ETA /);
    assert.match(await page.locator('[data-view="progress"] li[data-method="lora"]').innerText(), /lora: waiting for its turn/);
    await feed(page, [{ type: 'finished', event: { runId, status: 'cancelled', kind: 'train' } }]);
    await page.locator('[data-view="outcome"]').waitFor({ state: 'visible' });
    assert.equal(await page.locator('[data-view="outcome-title"]').innerText(), 'Cancelled');
    assert.equal(await overall.count(), 0, 'no ETA after the run');
    assert.match(await page.locator('[data-view="progress"] li[data-method="spruft"]').innerText(), /^spruft: cancelled at step 20\/60/);
    await page.locator('[data-action="resume"]').click();
    await page.waitForFunction(() => (window as unknown as PageGlobals).__posted.some((m) => m.type === 'runAction' && m.action === 'resume'));
    await page.close();
  });

  it('shows only what scoring produces for a scoring run', async () => {
    const all = syntheticRun();
    const first = all[0]! as Extract<HostToWebview, { type: 'snapshot' }>;
    const selection = all.find((m) => m.type === 'selection')!;
    const page = await openDashboard(browser);
    await feed(page, [{ type: 'snapshot', snapshot: { ...first.snapshot, kind: 'score' } }, selection]);
    await page.locator('figure[data-view="selection"][data-drawn-layers="42"]').waitFor();
    await feed(page, [{ type: 'finished', event: { runId: first.snapshot.runId, status: 'completed', kind: 'score' } }]);
    await page.locator('[data-view="status"][data-status="completed"]').waitFor();
    for (const section of ['memory', 'labels', 'curves']) assert.equal(await page.locator(`[data-section="${section}"]`).isVisible(), false, `${section} hidden`);
    assert.equal(await page.locator('[data-section="selection"]').isVisible(), true);
    assert.doesNotMatch(await page.locator('main').innerText(), /Waiting for/);
    await page.close();
  });

  it('tries the fine-tuned model: asks the host, draws the image and both models\' labels', async () => {
    const messages = syntheticRun();
    const page = await openDashboard(browser);
    await feed(page, [...messages, { type: 'playground', available: true, task: 'image-classification' }]);
    const section = page.locator('[data-section="playground"]');
    await section.waitFor({ state: 'visible' });
    assert.equal(await page.locator('[data-input="text"]').isVisible(), false, 'an image model takes examples, not text');
    await page.locator('[data-input="example"]').fill('3');
    await page.locator('[data-action="predict-example"]').click();
    await page.waitForFunction(() => (window as unknown as PageGlobals).__posted.some((m) => m.type === 'predict'));
    const request = (await page.evaluate(() => (window as unknown as PageGlobals).__posted)).find((m): m is Extract<WebviewToHost, { type: 'predict' }> => m.type === 'predict')!;
    assert.deepEqual(request.input, { kind: 'example', index: 3 });
    const pixels = Array.from({ length: 8 * 8 }, (_, i) => (i % 9 === 0 ? 255 : 0));
    await feed(page, [{
      type: 'prediction',
      requestId: request.requestId,
      result: {
        task: 'image-classification', method: 'spruft', examples: 40, ms: 850,
        input: { image: { width: 8, height: 8, channels: 1, pixels }, label: 'Shirt', index: 3 },
        base: { top: [{ label: 'Bag', probability: 0.4 }, { label: 'Shirt', probability: 0.3 }, { label: 'Coat', probability: 0.1 }] },
        tuned: { top: [{ label: 'Shirt', probability: 0.9 }, { label: 'Coat', probability: 0.05 }, { label: 'Bag', probability: 0.01 }] },
      },
    }]);
    await page.locator('[data-model="tuned"] li[data-correct="true"]').waitFor();
    assert.equal(await page.locator('[data-model="tuned"] li').first().getAttribute('data-label'), 'Shirt');
    assert.equal(await page.locator('[data-model="base"] li').first().getAttribute('data-label'), 'Bag');
    assert.match(await page.locator('[data-view="playground-label"]').innerText(), /example 3 · true label: Shirt/);
    const lit = await page.locator('[data-view="playground-image"]').evaluate((node) => {
      const c = node as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i]! > 200) n++;
      return n;
    });
    assert.equal(lit, pixels.filter((p) => p === 255).length, 'the example\'s pixels are drawn');
    await section.screenshot({ path: artifactPath('dashboard-playground.png') });
    await page.close();
  });

  it('tries a run on text pairs with two texts, and shows a regression head\'s numbers', async () => {
    const page = await openDashboard(browser);
    await feed(page, [...syntheticRun(), { type: 'playground', available: true, task: 'text-classification', pairs: true }]);
    await page.locator('[data-section="playground"]').waitFor({ state: 'visible' });
    assert.equal(await page.locator('[data-input="pair"]').isVisible(), true, 'a second text box for the pair');
    await page.locator('[data-input="text"]').fill('A man is playing a guitar.');
    await page.locator('[data-action="predict-text"]').click();
    assert.match(await page.locator('[data-view="playground-status"]').innerText(), /Type both texts first/);
    await page.locator('[data-input="pair"]').fill('A man plays the guitar.');
    await page.locator('[data-action="predict-text"]').click();
    await page.waitForFunction(() => (window as unknown as PageGlobals).__posted.some((m) => m.type === 'predict'));
    const request = (await page.evaluate(() => (window as unknown as PageGlobals).__posted)).find((m): m is Extract<WebviewToHost, { type: 'predict' }> => m.type === 'predict')!;
    assert.deepEqual(request.input, { kind: 'text', text: 'A man is playing a guitar.', pair: 'A man plays the guitar.' });
    await feed(page, [{
      type: 'prediction',
      requestId: request.requestId,
      result: {
        task: 'text-classification', method: 'spruft', examples: 6, ms: 120,
        input: { text: 'A man is playing a guitar.', pair: 'A man plays the guitar.' },
        base: { value: 0.12 }, tuned: { value: 4.1 },
      },
    }]);
    await page.locator('[data-model="tuned"] [data-value]').waitFor();
    assert.equal(await page.locator('[data-view="playground-pair"]').innerText(), 'A man plays the guitar.');
    assert.equal(await page.locator('[data-model="tuned"] [data-value]').getAttribute('data-value'), '4.1');
    // A run on single texts has one box.
    await feed(page, [{ type: 'playground', available: true, task: 'text-classification' }]);
    assert.equal(await page.locator('[data-input="pair"]').isVisible(), false);
    await page.close();
  });

  it('asks the host to stop a running run and shows the reply', async () => {
    const running = syntheticRun().filter((m) => m.type !== 'finished' && m.type !== 'labelAccuracy').slice(0, 40);
    const page = await openDashboard(browser);
    await feed(page, running);
    const stop = page.locator('[data-action="stop"]');
    await stop.waitFor({ state: 'visible' });
    await stop.click();
    await page.waitForFunction(() => (window as unknown as PageGlobals).__posted.some((m) => m.type === 'stopRun'));
    const posted = await page.evaluate(() => (window as unknown as PageGlobals).__posted);
    const request = posted.find((m): m is Extract<WebviewToHost, { type: 'stopRun' }> => m.type === 'stopRun')!;
    assert.equal(request.runId, running[0]!.type === 'snapshot' ? running[0]!.snapshot.runId : '');
    await feed(page, [{ type: 'reply', requestId: request.requestId, ok: true }]);
    await page.locator('[data-view="message"]', { hasText: 'Stop requested' }).waitFor();
    await page.close();
  });

  it('redraws from its saved state before the host sends anything, and enforces its CSP', async () => {
    const messages = syntheticRun();
    const first = await openDashboard(browser);
    await feed(first, messages);
    await first.locator('[data-view="status"][data-status="completed"]').waitFor();
    const saved = await first.evaluate(() => (window as unknown as PageGlobals).__state);
    await first.close();
    assert.ok(saved);

    const page = await openDashboard(browser, saved);
    await page.waitForFunction(() => document.querySelector('figure[data-view="selection"]')?.getAttribute('data-drawn-layers') === '42');
    // An inline script without the nonce must not run, and the violation is reported.
    await page.evaluate(() => {
      const s = document.createElement('script');
      s.textContent = 'window.__inline = 1';
      document.body.append(s);
    });
    await page.waitForFunction(() => (window as unknown as PageGlobals).__csp.length > 0);
    const after = await page.evaluate(() => ({ inline: (window as unknown as PageGlobals).__inline, csp: (window as unknown as PageGlobals).__csp }));
    assert.equal(after.inline, undefined);
    assert.match(after.csp[0]!, /^script-src/);
    await page.close();
  });
});
