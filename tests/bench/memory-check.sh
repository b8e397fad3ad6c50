#!/usr/bin/env bash
# Memory regression check for issue 16, small enough for CI: memory per 1,000 ExternalSecrets of the
# sandbox (RSS once started) and of `scope -A -o json` and `doctor -A --no-probe` (peak RSS), each
# measured at two sizes of the `scale` scenario so the fixed cost (binary, runtime, TLS) cancels out:
#   per 1,000 = (memory at N2 - memory at N1) / (N2 - N1) * 1000.
# Fails (exit 1) when a slope is above its limit; limits in KiB per 1,000 ExternalSecrets, defaults
# from issue 16's targets (30k: scope <= 150 MiB, doctor <= 200 MiB, i.e. 5 and 6.5 MiB per 1,000):
#   SCOPE_KIB_PER_1000=5120 DOCTOR_KIB_PER_1000=6656 SANDBOX_KIB_PER_1000=24576
# (the sandbox's limit is its level when this was written, about 19 MiB per 1,000, plus a margin).
#
#   tests/bench/memory-check.sh [N1] [N2]        # default 1000 and 3000, debug build (PROFILE=dev)
#   KUBECTL_ESO_BIN=path tests/bench/memory-check.sh   # that binary, nothing built (tests/scale_issue16.rs)
set -euo pipefail
cd "$(dirname "$0")/../.."
n1="${1:-1000}"
n2="${2:-3000}"
[ "$n2" -gt "$n1" ] || { echo "N2 must be larger than N1" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time is needed (apt-get install time)" >&2; exit 2; }
scope_limit="${SCOPE_KIB_PER_1000:-5120}"
doctor_limit="${DOCTOR_KIB_PER_1000:-6656}"
sandbox_limit="${SANDBOX_KIB_PER_1000:-24576}"

if [ -n "${KUBECTL_ESO_BIN:-}" ]; then
  bin="$KUBECTL_ESO_BIN"
else
  profile="${PROFILE:-dev}"
  cargo build --profile "$profile" --quiet -p kubectl-eso
  target_dir="${CARGO_TARGET_DIR:-target}"
  case "$profile" in dev) bin="$target_dir/debug/kubectl-eso" ;; *) bin="$target_dir/$profile/kubectl-eso" ;; esac
fi
work="$(mktemp -d)"
sandbox_pid=""
trap '[ -n "$sandbox_pid" ] && { kill "$sandbox_pid" 2>/dev/null || true; wait "$sandbox_pid" 2>/dev/null || true; }; rm -rf "$work"' EXIT

peak_of() { # command... -> peak RSS in KiB
  /usr/bin/time -f "%M" -o "$work/time" "$@" >/dev/null 2>"$work/err" || [ $? -le 1 ] \
    || { echo "failed: $*" >&2; tail -5 "$work/err" >&2; exit 2; }
  tail -1 "$work/time"
}

measure_at() { # N -> "sandbox_kib scope_kib doctor_kib"
  local n="$1" kc="$work/kubeconfig-$1"
  # Two malloc arenas: glibc's per-thread arenas make the RSS of a busy multi-threaded sandbox
  # swing with scheduling (19 to 30 MiB per 1,000 on a loaded 2-core machine), not with its data.
  MALLOC_ARENA_MAX=2 "$bin" sandbox --scenario scale --scale "$n" --kubeconfig-out "$kc" >"$work/sandbox.log" 2>&1 &
  sandbox_pid=$!
  for _ in $(seq 1 1200); do
    grep -q "Press Ctrl-C" "$work/sandbox.log" 2>/dev/null && break
    kill -0 "$sandbox_pid" 2>/dev/null || break
    sleep 0.1
  done
  grep -q "Press Ctrl-C" "$work/sandbox.log" || { echo "sandbox did not start:" >&2; cat "$work/sandbox.log" >&2; exit 2; }
  local sandbox_kib scope_kib doctor_kib
  sandbox_kib="$(awk '/^VmRSS:/ {print $2}' "/proc/$sandbox_pid/status")"
  scope_kib="$(peak_of "$bin" --kubeconfig "$kc" scope -A -o json)"
  doctor_kib="$(peak_of "$bin" --kubeconfig "$kc" doctor -A --no-probe)"
  kill "$sandbox_pid" 2>/dev/null || true
  wait "$sandbox_pid" 2>/dev/null || true
  sandbox_pid=""
  echo "$sandbox_kib $scope_kib $doctor_kib"
}

read -r s1 c1 d1 < <(measure_at "$n1")
read -r s2 c2 d2 < <(measure_at "$n2")
fail=0
check() { # label, kib at n1, kib at n2, limit
  local slope
  slope=$(( ($3 - $2) * 1000 / (n2 - n1) ))
  local verdict=ok
  if [ "$slope" -gt "$4" ]; then verdict="OVER the limit"; fail=1; fi
  printf '%-28s %7d KiB at %6d, %7d KiB at %6d: %6d KiB per 1,000 ExternalSecrets (limit %d) %s\n' \
    "$1" "$2" "$n1" "$3" "$n2" "$slope" "$4" "$verdict"
}
check "sandbox (RSS once started)" "$s1" "$s2" "$sandbox_limit"
check "scope -A -o json (peak)" "$c1" "$c2" "$scope_limit"
check "doctor -A --no-probe (peak)" "$d1" "$d2" "$doctor_limit"
exit "$fail"
