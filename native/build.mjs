#!/usr/bin/env node
// Builds the runner's optional native BLAS addon (native/src/blas.c -> native/build/Release/
// spruft_blas.node) with node-gyp over Debian's OpenBLAS. Runs as the package's `install`
// step and never fails the install: where a compiler, OpenBLAS or Node's headers are
// missing it says what is missing and exits 0, and the runner uses the wasm backend's own
// kernels (runner/src/kernels/nativeBlas.ts records why). Offline: node-gyp is pointed at
// headers already on the machine (npm's `nodedir`, or the Node install's include/node),
// never at a download. `--strict` exits 1 when the addon cannot be built (CI checks).
//
//   node native/build.mjs            build (or say why not)
//   SPRUFT_NATIVE=0 npm install      skip the build
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const strict = process.argv.includes('--strict');
const addon = join(here, 'build', 'Release', 'spruft_blas.node');
const say = (m) => process.stderr.write(`spruft native: ${m}\n`);

function giveUp(why) {
  say(`not built: ${why}. The runner will use the wasm backend's own kernels.`);
  process.exit(strict ? 1 : 0);
}

if (process.env.SPRUFT_NATIVE === '0') giveUp('SPRUFT_NATIVE=0');
if (process.platform === 'win32') giveUp('this build script supports Linux and macOS only');

function run(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

// A C compiler and make (node-gyp's toolchain on Linux).
const cc = process.env.CC ?? 'cc';
if (run(cc, ['--version']) === undefined) giveUp(`no C compiler (${cc}); install build-essential`);
if (run('make', ['--version']) === undefined) giveUp('no make; install build-essential');

// OpenBLAS: pkg-config first, then Debian's and the usual locations.
function findOpenblas() {
  const cflags = run('pkg-config', ['--cflags-only-I', 'openblas']);
  const libs = run('pkg-config', ['--libs-only-L', 'openblas']);
  if (cflags !== undefined && libs !== undefined) {
    const inc = cflags.split(/\s+/).find((f) => f.startsWith('-I'))?.slice(2).replace(/\/$/, '');
    const lib = libs.split(/\s+/).find((f) => f.startsWith('-L'))?.slice(2).replace(/\/$/, '');
    if (inc && lib && existsSync(join(inc, 'cblas.h'))) return { inc, lib };
  }
  const arch = process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
  for (const [inc, lib] of [
    [`/usr/include/${arch}/openblas-pthread`, `/usr/lib/${arch}/openblas-pthread`],
    ['/usr/include/openblas', `/usr/lib/${arch}`],
    ['/usr/include/openblas', '/usr/lib64'],
    ['/opt/homebrew/opt/openblas/include', '/opt/homebrew/opt/openblas/lib'],
    ['/usr/local/opt/openblas/include', '/usr/local/opt/openblas/lib'],
  ]) {
    if (existsSync(join(inc, 'cblas.h')) && ['libopenblas.so', 'libopenblas.dylib'].some((f) => existsSync(join(lib, f)))) return { inc, lib };
  }
  return undefined;
}
const blas = findOpenblas();
if (!blas) giveUp('OpenBLAS not found (Debian: apt-get install libopenblas-dev)');

// Node's headers, already on this machine: npm's `nodedir` setting, else the running
// Node's own install prefix. node-gyp downloads headers only when given neither.
function findNodedir() {
  for (const dir of [process.env.npm_config_nodedir, join(dirname(process.execPath), '..')]) {
    if (dir && existsSync(join(dir, 'include', 'node', 'node_api.h')) && existsSync(join(dir, 'include', 'node', 'common.gypi'))) return dir;
  }
  return undefined;
}
const nodedir = findNodedir();
if (!nodedir) giveUp('Node\'s C headers are not installed (Debian: libnode-dev; or set npm\'s nodedir)');

// node-gyp: the one npm runs install scripts with, else the one bundled with npm.
function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  try {
    candidates.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'));
  } catch { /* not a dependency */ }
  return candidates.find((c) => c && existsSync(c));
}
const nodeGyp = findNodeGyp();
if (!nodeGyp) giveUp('node-gyp not found (it ships with npm)');

say(`building with ${nodeGyp} (headers ${nodedir}, OpenBLAS ${blas.inc})`);
rmSync(join(here, 'build'), { recursive: true, force: true });
mkdirSync(join(here, 'build'), { recursive: true });
const gyp = spawnSync(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodedir}`, '--directory', here, '--', `-Dopenblas_include=${blas.inc}`, `-Dopenblas_libdir=${blas.lib}`], {
  stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', env: { ...process.env, npm_config_nodedir: nodedir },
});
if (gyp.status !== 0 || !existsSync(addon)) {
  process.stderr.write((gyp.stdout ?? '') + (gyp.stderr ?? ''));
  giveUp(`node-gyp failed (exit ${gyp.status})`);
}

// Load it in a fresh process and check one product against plain loops.
const check = spawnSync(process.execPath, ['-e', `
  const b = require(${JSON.stringify(addon)});
  const A = Float32Array.from({ length: 6 }, (_, i) => i + 1), B = Float32Array.from({ length: 6 }, (_, i) => 6 - i);
  const C = new Float32Array(4);
  b.sgemm(false, false, 2, 2, 3, A, 0, 3, 0, B, 0, 2, 0, C, 0, 2, 0, 1);
  const want = [1*6+2*4+3*2, 1*5+2*3+3*1, 4*6+5*4+6*2, 4*5+5*3+6*1];
  if (want.some((w, i) => w !== C[i])) { console.error('wrong product', Array.from(C)); process.exit(1); }
  const i = b.info(); console.log(i.config + ', ' + i.threads + ' threads');
`], { encoding: 'utf8' });
if (check.status !== 0) {
  rmSync(addon, { force: true });
  giveUp(`the built addon failed its check: ${(check.stderr || check.stdout).trim()}`);
}
say(`built ${addon} (${check.stdout.trim()})`);
