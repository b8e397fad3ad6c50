#!/usr/bin/env bash
# Benchmark for issue 4 (not a timed test): `kubectl eso scope -A -o json` side by side with
# `kubectl get externalsecrets -A -o json` against the same simulated cluster, loaded with the
# sandbox's `scale` scenario (10,000 ExternalSecrets by default). Prints both wall times, their
# ratio and both peak memories. Targets: ratio <= 1.0, kubectl-eso peak memory <= 150 MB.
#
#   tests/bench/scope-scale.sh [N]              # N ExternalSecrets (default 10000)
#   PROFILE=dev tests/bench/scope-scale.sh 2000  # quick look with a debug build
set -euo pipefail
cd "$(dirname "$0")/../.."
n="${1:-10000}"
command -v kubectl >/dev/null || { echo "kubectl is needed (apt-get install kubernetes-client)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time is needed (apt-get install time)" >&2; exit 2; }

# PROFILE=dev measures a debug build (quick to get, slower to run); the target is for release.
profile="${PROFILE:-release}"
cargo build --profile "$profile" --quiet
target_dir="${CARGO_TARGET_DIR:-target}"
case "$profile" in dev) bin="$target_dir/debug/kubectl-eso" ;; *) bin="$target_dir/$profile/kubectl-eso" ;; esac
work="$(mktemp -d)"
kc="$work/kubeconfig"
"$bin" sandbox --scenario scale --scale "$n" --kubeconfig-out "$kc" >"$work/sandbox.log" 2>&1 &
sandbox_pid=$!
trap 'kill "$sandbox_pid" 2>/dev/null || true; wait "$sandbox_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 600); do [ -s "$kc" ] && break; sleep 0.5; done
[ -s "$kc" ] || { echo "sandbox did not start:" >&2; cat "$work/sandbox.log" >&2; exit 2; }
# Wait until every ExternalSecret is listed (the scenario may still be loading).
for _ in $(seq 1 600); do
  count="$(kubectl --kubeconfig "$kc" get externalsecrets -A --no-headers 2>/dev/null | wc -l || true)"
  [ "$count" -ge "$n" ] && break
  sleep 1
done

measure() { # name, command... -> "seconds peak_kb"
  local name="$1"; shift
  # Warm-up run so neither side pays for a cold page cache.
  "$@" >/dev/null 2>&1 || true
  /usr/bin/time -f "%e %M" -o "$work/$name.time" "$@" >"$work/$name.out" 2>/dev/null || true
  cat "$work/$name.time"
}
read -r eso_s eso_kb < <(measure eso "$bin" --kubeconfig "$kc" scope -A -o json)
read -r kub_s kub_kb < <(measure kubectl kubectl --kubeconfig "$kc" get externalsecrets -A -o json)

ratio="$(awk -v a="$eso_s" -v b="$kub_s" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')"
printf '%-48s %8s s %8d MB\n' "kubectl eso scope -A -o json ($n ESs)" "$eso_s" "$((eso_kb / 1024))"
printf '%-48s %8s s %8d MB\n' "kubectl get externalsecrets -A -o json" "$kub_s" "$((kub_kb / 1024))"
echo "ratio (eso / kubectl): $ratio   target <= 1.0; eso peak memory target <= 150 MB"
