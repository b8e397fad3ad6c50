#!/usr/bin/env bash
# Benchmark for issue 6 (not a timed test): `kubectl eso force-sync --all -A` over the sandbox's
# `scale` scenario, 500 ExternalSecrets in 200 namespaces by default. Prints the wall time, how
# long the command ran after the slowest sync (target: about a second at most), the number of
# API requests the tool made (counted by the tool, reported with -v) and the number of
# ExternalSecret watches (target: exactly one).
#
#   tests/bench/force_sync.sh [N]               # N ExternalSecrets (default 500)
#   PROFILE=release tests/bench/force_sync.sh   # optimised build (default: dev, quicker to get)
set -euo pipefail
cd "$(dirname "$0")/../.."
export FORCE_SYNC_BENCH_N="${1:-500}"
profile="${PROFILE:-dev}"
exec cargo test --profile "$profile" -p kubectl-eso --test force_sync_bench -- \
  --ignored --nocapture --test-threads 1
