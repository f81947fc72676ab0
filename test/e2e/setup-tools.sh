#!/usr/bin/env bash
# Installs what the browser and in-editor tests need, offline-safe (npm registry and
# Debian archive only), idempotent, printing each step:
#   * Debian's Fashion-MNIST (real image data of the tests and examples);
#   * Debian's Chromium (driven through the project's playwright-core devDependency),
#     ripgrep, and the build packages code-server's native modules need;
#   * code-server (a real VS Code: 4.100.3 = VS Code 1.100.3 on Node 20) into tools/,
#     which .gitignore keeps out of the repository.
# Called by .ci/run; safe to run again (each step is skipped when already done).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TOOLS=${SPRUFT_TOOLS_DIR:-$ROOT/tools}
CODE_SERVER_VERSION=4.100.3
RIPGREP_CACHE_VERSION=1.15.11   # @vscode/ripgrep inside code-server 4.100.3

say() { echo "setup-tools: $*"; }

need_apt=()
# Fashion-MNIST: the real image data of the engine's and the examples' tests.
dpkg -s dataset-fashion-mnist >/dev/null 2>&1 || need_apt+=(dataset-fashion-mnist)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v rg >/dev/null 2>&1 || need_apt+=(ripgrep)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need_apt+=(libkrb5-dev)
dpkg -s pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
command -v unzip >/dev/null 2>&1 || need_apt+=(unzip)
# OpenBLAS (and the C toolchain) for the runner's optional native BLAS addon (native/).
dpkg -s libopenblas-dev >/dev/null 2>&1 || need_apt+=(libopenblas-dev)
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
# Debian's PyTorch: the adapter tests apply scripts/python/apply_spruft_adapter.py with it.
dpkg -s python3-torch >/dev/null 2>&1 || need_apt+=(python3-torch)
if [ ${#need_apt[@]} -gt 0 ]; then
  say "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
else
  say "Debian packages present (dataset-fashion-mnist, chromium, ripgrep, libkrb5-dev, pkg-config, unzip, libopenblas-dev, python3-torch)"
fi
# npm install built the addon if OpenBLAS was there already; else build it now.
if [ -f "$ROOT/native/build/Release/spruft_blas.node" ]; then
  say "native BLAS addon present"
else
  node "$ROOT/native/build.mjs"
fi
say "$(/usr/bin/chromium --version 2>/dev/null || echo 'chromium: version unknown')"

mkdir -p "$TOOLS"
if [ -x "$TOOLS/node_modules/.bin/code-server" ] \
  && [ "$(node -p "require('$TOOLS/node_modules/code-server/package.json').version" 2>/dev/null)" = "$CODE_SERVER_VERSION" ]; then
  say "code-server $CODE_SERVER_VERSION present in $TOOLS"
else
  # @vscode/ripgrep downloads rg from GitHub in its postinstall; seed its download
  # cache with Debian's rg so the install never leaves the npm registry.
  cache="$(node -p "require('os').tmpdir()")/vscode-ripgrep-cache-$RIPGREP_CACHE_VERSION"
  mkdir -p "$cache"
  tar czf "$cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$(dirname "$(command -v rg)")" rg
  say "seeded $cache with Debian's ripgrep"
  [ -f "$TOOLS/package.json" ] || echo '{"name":"spruft-e2e-tools","private":true}' > "$TOOLS/package.json"
  say "npm install code-server@$CODE_SERVER_VERSION into $TOOLS (about 2 minutes the first time)"
  # Root installs need unsafe-perm; node-pty's build calls `npx node-gyp`, which needs yes.
  (cd "$TOOLS" && npm_config_yes=true npm_config_unsafe_perm=true \
    npm install --no-audit --no-fund --loglevel=error "code-server@$CODE_SERVER_VERSION")
fi
say "code-server $(node -p "require('$TOOLS/node_modules/code-server/package.json').version") ready in $TOOLS"
say "done"
