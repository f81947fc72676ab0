#!/usr/bin/env node
// The project's one test entry: node's own test runner over every *.test.ts file
// (TypeScript through tsx). `--unit` keeps the plain-Node tier and skips *.e2e.test.ts.
// Node's reporter prints the summary line (tests / pass / fail) that CI reads.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const filters = args.filter((a) => !a.startsWith('--'));
const skipDirs = new Set(['node_modules', 'dist', 'tools', '.git', 'runs', 'test-artifacts']);

function collect(dir, out) {
  for (const name of readdirSync(dir)) {
    if (skipDirs.has(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) collect(path, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, path));
  }
  return out;
}

let files = collect(root, []).sort();
if (unitOnly) files = files.filter((f) => !f.endsWith('.e2e.test.ts'));
if (filters.length) files = files.filter((f) => filters.some((p) => f.includes(p)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', ...files],
  { cwd: root, stdio: 'inherit', env: { ...process.env, SPRUFT_TEST: '1' } },
);
process.exit(result.status ?? 1);
