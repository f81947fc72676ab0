/**
 * Debian's Chromium through playwright-core (Playwright's own browsers cannot be
 * downloaded here). test/e2e/setup-tools.sh installs it; SPRUFT_CHROMIUM overrides the
 * path. The flags keep a headless run quiet and offline.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

export const repoRoot = join(__dirname, '..', '..');
export const artifactsDir = join(repoRoot, 'test-artifacts');

export function chromiumPath(): string {
  const path = process.env.SPRUFT_CHROMIUM ?? '/usr/bin/chromium';
  if (!existsSync(path)) {
    throw new Error(`Chromium not found at ${path}: run test/e2e/setup-tools.sh (installs Debian's chromium) or set SPRUFT_CHROMIUM.`);
  }
  return path;
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
      // Chromium 14x+ asks before a public page talks to 127.0.0.1 (code-server).
      '--disable-features=LocalNetworkAccessChecks',
    ],
  });
}

/** Where a test saves screenshots (git-ignored; CI keeps them as artifacts). */
export function artifactPath(name: string): string {
  mkdirSync(artifactsDir, { recursive: true });
  return join(artifactsDir, name);
}

export function requireBuilt(relativePath: string): string {
  const path = join(repoRoot, relativePath);
  if (!existsSync(path)) throw new Error(`${relativePath} is missing: run \`npm run build\` first (npm test does).`);
  return path;
}
