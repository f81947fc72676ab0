#!/usr/bin/env node
// The one build script (STYLE.md point 11): four entries, `--watch`, `--production`.
//   extension        extension/src/extension.ts          -> dist/extension.js      (node, cjs, vscode external)
//   runner           runner/src/cli.ts                   -> dist/runner.js         (node, cjs, `spruft` bin)
//                    runner/src/engine/parallel/worker.ts -> dist/dataParallelWorker.js (its worker
//                    threads for `training.workers` > 1, loaded from beside runner.js)
//   language server  extension/languageServer/server.ts  -> dist/languageServer.js (node, cjs)
//   webview          webview-ui/src/main.ts              -> dist/webview/dashboard.js (browser, iife)
//                    (+ dashboard.css, from the stylesheet main.ts imports)
//   in-editor tests  extension/test/index.ts             -> dist/test/suite.js     (mocha, not packaged)
// The wasm backend's binaries are copied beside the runner (dist/wasm/), where the
// runner looks for them first, so a packaged extension works offline. With the language
// server, the run-config JSON Schema is written (dist/spruft-config.schema.json).
import * as esbuild from 'esbuild';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { writeRunConfigSchema } from './scripts/writeRunConfigSchema.mjs';

const root = dirname(new URL(import.meta.url).pathname);
const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');
const require = createRequire(import.meta.url);

const common = {
  bundle: true,
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: 'info',
  absWorkingDir: root,
  // tfjs packages publish ES modules under `module`; taking them first keeps one copy
  // of tfjs-core in the bundle (its gradients are only published as ES modules).
  mainFields: ['module', 'main'],
};

const nodeCommon = {
  ...common,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // Optional peers a user installs for the `tensorflow` backend: required at run time.
  // sharp (image decoding) loads its native libvips binary from its own package: required at run time.
  // webgpu (Dawn's binaries) and tfjs's WebGPU backend are optional installs, loaded only by backend: webgpu.
  external: ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', 'sharp', 'webgpu', '@tensorflow/tfjs-backend-webgpu'],
};

/** Rewrites the run-config JSON Schema whenever the language server (which embeds the schema) builds. */
const runConfigSchema = {
  name: 'run-config JSON Schema',
  setup(build) {
    build.onEnd(async (result) => {
      if (result.errors.length === 0) await writeRunConfigSchema(root);
    });
  },
};

const entries = [
  { name: 'extension', entry: 'extension/src/extension.ts', options: { ...nodeCommon, outfile: 'dist/extension.js', external: [...nodeCommon.external, 'vscode'] } },
  { name: 'runner', entry: 'runner/src/cli.ts', options: { ...nodeCommon, outfile: 'dist/runner.js', banner: { js: '#!/usr/bin/env node' } } },
  { name: 'runner worker', entry: 'runner/src/engine/parallel/worker.ts', options: { ...nodeCommon, outfile: 'dist/dataParallelWorker.js' } },
  { name: 'language server', entry: 'extension/languageServer/server.ts', options: { ...nodeCommon, outfile: 'dist/languageServer.js', plugins: [runConfigSchema] } },
  { name: 'webview', entry: 'webview-ui/src/main.ts', options: { ...common, platform: 'browser', format: 'iife', target: 'es2022', outfile: 'dist/webview/dashboard.js' } },
  // The in-editor test suite (mocha, run inside the extension host by test/e2e/); kept
  // out of the .vsix by .vscodeignore.
  { name: 'in-editor tests', entry: 'extension/test/index.ts', options: { ...nodeCommon, outfile: 'dist/test/suite.js', external: [...nodeCommon.external, 'vscode', 'mocha'] } },
];

function copyWasmBinaries() {
  const from = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  const to = join(root, 'dist', 'wasm');
  mkdirSync(to, { recursive: true });
  for (const name of readdirSync(from)) {
    if (name.endsWith('.wasm')) copyFileSync(join(from, name), join(to, name));
  }
}

const active = entries.filter((e) => existsSync(join(root, e.entry)));
copyWasmBinaries();
const contexts = await Promise.all(active.map((e) => esbuild.context({ entryPoints: [e.entry], ...e.options })));
if (watch) {
  await Promise.all(contexts.map((c) => c.watch()));
} else {
  await Promise.all(contexts.map((c) => c.rebuild()));
  await Promise.all(contexts.map((c) => c.dispose()));
  if (existsSync(join(root, 'dist/runner.js'))) chmodSync(join(root, 'dist/runner.js'), 0o755);
}
