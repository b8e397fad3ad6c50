#!/usr/bin/env bash
# Benchmark for issue 8 (not a timed test): `kubectl eso doctor -A -o json` against the sandbox's
# `scale` scenario (10,000 ExternalSecrets over several stores by default). Prints the wall time,
# the peak memory, the number of Kubernetes API requests (counted from -v's per-request lines) and
# the number of findings, and per store the provider requests next to its distinct remote keys
# (from -v's "doctor: N provider requests for STORE" lines): the probes are batched per store, so
# requests follow the distinct keys, never the number of ExternalSecrets.
#
#   tests/bench/doctor.sh [N]                 # N ExternalSecrets (default 10000)
#   PROFILE=dev tests/bench/doctor.sh 2000    # quick look with a debug build
set -euo pipefail
cd "$(dirname "$0")/../.."
n="${1:-10000}"
[ -x /usr/bin/time ] || { echo "/usr/bin/time is needed (apt-get install time)" >&2; exit 2; }

profile="${PROFILE:-release}"
cargo build --profile "$profile" --quiet -p kubectl-eso
target_dir="${CARGO_TARGET_DIR:-target}"
case "$profile" in dev) bin="$target_dir/debug/kubectl-eso" ;; *) bin="$target_dir/$profile/kubectl-eso" ;; esac
work="$(mktemp -d)"
kc="$work/kubeconfig"
"$bin" sandbox --scenario scale --scale "$n" --kubeconfig-out "$kc" >"$work/sandbox.log" 2>&1 &
sandbox_pid=$!
trap 'kill "$sandbox_pid" 2>/dev/null || true; wait "$sandbox_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 600); do grep -q "Press Ctrl-C" "$work/sandbox.log" 2>/dev/null && break; sleep 0.5; done
grep -q "Press Ctrl-C" "$work/sandbox.log" || { echo "sandbox did not start:" >&2; cat "$work/sandbox.log" >&2; exit 2; }
# The sandbox prints the provider environment (CA bundle, proxy) a subcommand needs.
while read -r line; do
  case "$line" in export\ KUBECTL_ESO_*|export\ HTTPS_PROXY=*|export\ NO_PROXY=*) eval "$line" ;; esac
done <"$work/sandbox.log"

# Warm-up run so the measured one does not pay for a cold page cache.
"$bin" --kubeconfig "$kc" doctor -A -o json >/dev/null 2>&1 || true
set +e
/usr/bin/time -f "%e %M" -o "$work/time" "$bin" --kubeconfig "$kc" doctor -A -o json -v \
  >"$work/out.json" 2>"$work/stderr"
code=$?
set -e
[ "$code" -le 1 ] || { echo "doctor failed (exit $code):" >&2; cat "$work/stderr" >&2; exit 2; }
read -r secs peak_kb <"$work/time"
es_count="$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(next(c["checked"] for c in r["checks"] if c["id"]=="external-secrets"))' "$work/out.json")"
findings="$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(sum(len(c["findings"]) for c in r["checks"]))' "$work/out.json")"
api_requests="$(grep -c '^kubectl-eso: \(GET\|LIST\)' "$work/stderr" || true)"
printf '%-40s %s\n' "ExternalSecrets checked" "$es_count (asked for $n)"
printf '%-40s %s s\n' "wall time" "$secs"
printf '%-40s %s MB\n' "peak memory" "$((peak_kb / 1024))"
printf '%-40s %s\n' "diagnostic request lines (-v)" "$api_requests"
printf '%-40s %s\n' "findings" "$findings"
echo "provider requests per store:"
sed -n 's/^.*doctor: \([0-9]* provider requests for .*\)$/  \1/p' "$work/stderr"
printf '%-40s %s\n' "exit code" "$code"
