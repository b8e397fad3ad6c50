#!/usr/bin/env bash
# Benchmark for issue 16 (not a timed test): the product against the sandbox's `scale` scenario at
# N ExternalSecrets (default 30,000; run it again with 100000), next to the page-fetch limit.
#
# Prints, for the sandbox: its start time (launch to ready), its peak memory, and what its API server
# spent per LIST page (from kube-sim's request log, KUBE_SIM_REQUEST_LOG); for `scope -A -o json` and
# `doctor -A --no-probe`: wall time, peak RSS, requests and bytes on the wire, and the wall
# time and peak RSS of a bare program that fetches exactly the same pages with the same concurrency
# (crates/kube-sim/examples/page_fetch.rs, fed the command's own request log), measured in the same
# run, alternating with the command, and the ratio of the two. Targets (issue 16): at 30k scope
# <= 150 MiB and doctor <= 200 MiB peak, at 100k <= 400 MiB; ratio <= 1.05 (each printed with its
# verdict). `scope --cached` is measured too (one watch-cache LIST per resource instead of pages).
# And the CPU time (user + system) each side spent — the command or the baseline, and the sandbox
# meanwhile — with the floor it sets on this machine: the command and its API server share the
# cores here, so no command ends before (its CPU + the sandbox's) / cores.
#
# Last, the same two commands again with the API server paced as a real one (PACE, default 140ms
# per request, with no CPU spent: issue 16's kube-apiserver 1.32 answered 10,000 ExternalSecrets in
# 20 pages of 500 in 2.8 s), switched on through the sandbox's admin endpoint for every resource
# the commands read: the ratio where the server, not the shared cores, sets the pace. Context for
# the ratio above, not a replacement: its verdict stays the un-paced one's.
#
#   tests/bench/scale.sh [N] [RUNS]            # N ExternalSecrets (default 30000), RUNS pairs (default 3)
#   PROFILE=dev tests/bench/scale.sh 2000 1    # quick look with a debug build
#   PACE=0 tests/bench/scale.sh                # without the paced pass (PACED_RUNS pairs, default 1)
set -euo pipefail
cd "$(dirname "$0")/../.."
n="${1:-30000}"
runs="${2:-3}"
[ -x /usr/bin/time ] || { echo "/usr/bin/time is needed (apt-get install time)" >&2; exit 2; }

profile="${PROFILE:-release}"
cargo build --profile "$profile" --quiet -p kubectl-eso
cargo build --profile "$profile" --quiet -p kube-sim --example page_fetch
target_dir="${CARGO_TARGET_DIR:-target}"
case "$profile" in dev) dir="$target_dir/debug" ;; *) dir="$target_dir/$profile" ;; esac
bin="$dir/kubectl-eso"
fetch="$dir/examples/page_fetch"
work="$(mktemp -d)"
kc="$work/kubeconfig"
log="$work/requests.log"
: >"$log"

started_ns="$(date +%s%N)"
KUBE_SIM_REQUEST_LOG="$log" "$bin" sandbox --scenario scale --scale "$n" --kubeconfig-out "$kc" \
  --admin-addr 127.0.0.1:0 >"$work/sandbox.log" 2>&1 &
sandbox_pid=$!
trap 'kill "$sandbox_pid" 2>/dev/null || true; wait "$sandbox_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 3600); do
  grep -q "Press Ctrl-C" "$work/sandbox.log" 2>/dev/null && break
  kill -0 "$sandbox_pid" 2>/dev/null || break
  sleep 0.1
done
grep -q "Press Ctrl-C" "$work/sandbox.log" || { echo "sandbox did not start:" >&2; cat "$work/sandbox.log" >&2; exit 2; }
start_s="$(awk -v a="$started_ns" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')"
while read -r line; do
  case "$line" in export\ KUBECTL_ESO_*|export\ HTTPS_PROXY=*|export\ NO_PROXY=*) eval "$line" ;; esac
done <"$work/sandbox.log"
sandbox_mem() { awk '/^VmRSS:/ {r=$2} /^VmHWM:/ {h=$2} END {printf "%d MiB RSS, peak %d MiB", r/1024, h/1024}' "/proc/$sandbox_pid/status"; }

printf '%s\n' "sandbox --scenario scale --scale $n"
printf '  %-44s %s s\n' "start (launch to ready)" "$start_s"
# CPU (user + system) the sandbox used to get there: the figure to compare on a shared machine.
start_cpu="$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15) / hz }' "/proc/$sandbox_pid/stat")"
printf '  %-44s %s s\n' "start CPU time (user + system)" "$start_cpu"
printf '  %-44s %s\n' "memory after start" "$(sandbox_mem)"
# What the API server holds (its own count once started) against the memory it takes: the issue
# asks for a stored object to cost about its JSON.
stored="$(sed -n 's/^ *Objects: *\([0-9]*\) stored, \([0-9.]*\) MiB of JSON$/\1 \2/p' "$work/sandbox.log")"
if [ -n "$stored" ]; then
  read -r objects json_mib <<<"$stored"
  rss_kib="$(awk '/^VmRSS:/ {print $2}' "/proc/$sandbox_pid/status")"
  printf '  %-44s %s objects, %s MiB of JSON: RSS %s x the JSON\n' "stored" "$objects" "$json_mib" \
    "$(awk -v r="$rss_kib" -v j="$json_mib" 'BEGIN { printf "%.2f", r / 1024 / j }')"
fi

lines() { wc -l <"$log" | tr -d ' '; }
# Summary of the request log's lines FROM..TO: requests, bytes, and LIST page server times.
summary() {
  python3 - "$log" "$1" "$2" <<'EOF'
import json, sys
path, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path) as f:
    rows = [json.loads(l) for i, l in enumerate(f, 1) if lo <= i <= hi and l.strip()]
gets = [r for r in rows if r["method"] == "GET" and "watch=" not in r["path"]]
pages = [r["micros"] / 1000 for r in gets if "limit=" in r["path"]]
pages.sort()
size = sum(r.get("bytes") or 0 for r in rows)
med = pages[len(pages) // 2] if pages else float("nan")
p95 = pages[min(len(pages) - 1, int(len(pages) * 0.95))] if pages else float("nan")
mx = pages[-1] if pages else float("nan")
# First request sent to last answer done, as the API server saw them: without the process's
# start and its work after the last answer.
span = (max(r["start_us"] + r["micros"] for r in rows) - min(r["start_us"] for r in rows)) / 1000 if rows else float("nan")
print(f"{len(rows)} {size} {len(pages)} {med:.1f} {p95:.1f} {mx:.1f} {span:.0f}")
EOF
}

# CPU time (user + system, in clock ticks) the sandbox has used so far.
sandbox_ticks() { awk '{ print $14 + $15 }' "/proc/$sandbox_pid/stat"; }

measure() { # label, command... -> sets wall, peak_kb, cpu (the command's user + system, s) and
  # server_cpu (the sandbox's during the command, s); records the request-log lines it caused
  local label="$1"; shift
  local from; from=$(( $(lines) + 1 ))
  local ticks0; ticks0="$(sandbox_ticks)"
  set +e
  /usr/bin/time -f "%e %M %U %S" -o "$work/time" "$@" >"$work/$label.out" 2>"$work/$label.err"
  local code=$?
  set -e
  [ "$code" -le 1 ] || { echo "$label failed (exit $code):" >&2; tail -5 "$work/$label.err" >&2; exit 2; }
  local user sys
  read -r wall peak_kb user sys <"$work/time"
  cpu="$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')"
  server_cpu="$(awk -v a="$ticks0" -v b="$(sandbox_ticks)" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz }')"
  seg_from=$from
  seg_to=$(lines)
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

# Issue 16's memory target for a command at this size, MiB (empty: none stated).
target_mib() { # scope|doctor
  if [ "$n" -ge 100000 ]; then echo 400
  elif [ "$n" -ge 30000 ]; then case "$1" in scope) echo 150 ;; doctor) echo 200 ;; esac
  fi
}

bench() { # label, kubectl-eso arguments...
  local label="$1"; shift
  measure "$label-warmup" "$bin" --kubeconfig "$kc" "$@"
  : >"$work/walls"; : >"$work/peaks"; : >"$work/base_walls"; : >"$work/base_peaks"
  : >"$work/spans"; : >"$work/base_spans"
  : >"$work/cpus"; : >"$work/server_cpus"; : >"$work/base_cpus"; : >"$work/base_server_cpus"
  local req_summary=""
  for _ in $(seq 1 "$runs"); do
    measure "$label" "$bin" --kubeconfig "$kc" "$@"
    echo "$wall" >>"$work/walls"; echo "$peak_kb" >>"$work/peaks"
    echo "$cpu" >>"$work/cpus"; echo "$server_cpu" >>"$work/server_cpus"
    req_summary="$(summary "$seg_from" "$seg_to")"
    echo "$req_summary" | awk '{print $7}' >>"$work/spans"
    local a=$seg_from b=$seg_to
    measure "$label-pages" "$fetch" "$kc" "$log" "$a" "$b"
    echo "$wall" >>"$work/base_walls"; echo "$peak_kb" >>"$work/base_peaks"
    echo "$cpu" >>"$work/base_cpus"; echo "$server_cpu" >>"$work/base_server_cpus"
    summary "$seg_from" "$seg_to" | awk '{print $7}' >>"$work/base_spans"
  done
  local span bspan
  span="$(median <"$work/spans")"; bspan="$(median <"$work/base_spans")"
  local w p bw bp
  w="$(median <"$work/walls")"; p="$(median <"$work/peaks")"
  bw="$(median <"$work/base_walls")"; bp="$(median <"$work/base_peaks")"
  read -r reqs bytes npages med p95 mx _ <<<"$req_summary"
  printf '%s (%s pairs, medians)\n' "kubectl eso $*" "$runs"
  printf '  %-44s %8.2f s %8d MiB\n' "command" "$w" "$((${p%.*} / 1024))"
  printf '  %-44s %8.2f s %8d MiB\n' "page-fetch baseline (same pages)" "$bw" "$((${bp%.*} / 1024))"
  printf '  %-44s %s\n' "ratio (command / baseline)" "$(awk -v a="$w" -v b="$bw" 'BEGIN { if (b > 0) printf "%.2f (target <= 1.05)", a / b; else print "n/a" }')"
  # The command's requests against the baseline's, each from the first sent to the last answered
  # (the API server's clock): what the command adds while it fetches — its reading of the pages,
  # on the machine it shares with the sandbox, and its work between requests that wait for
  # others (doctor reads its stores' details once its rows are built) — apart from its start and
  # its work after the last answer.
  printf '  %-44s %s ms, baseline %s ms (%s)\n' "requests, first sent to last answered" "$span" \
    "$bspan" "$(awk -v a="$span" -v b="$bspan" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }')"
  # CPU: the command and the sandbox share this machine's cores, so the command cannot end before
  # all the CPU time both spend is spent — a floor set by the machine, not by the command's
  # design (issue 16's 1.05 was measured against a kube-apiserver on other machines).
  local c sc bc bsc cores
  c="$(median <"$work/cpus")"; sc="$(median <"$work/server_cpus")"
  bc="$(median <"$work/base_cpus")"; bsc="$(median <"$work/base_server_cpus")"
  cores="$(nproc)"
  printf '  %-44s command %s s + sandbox %s s; baseline %s s + sandbox %s s\n' "CPU time (user + system)" "$c" "$sc" "$bc" "$bsc"
  printf '  %-44s %s\n' "floor: (command + sandbox CPU) / $cores cores" \
    "$(awk -v c="$c" -v s="$sc" -v n="$cores" -v b="$bw" 'BEGIN { f = (c + s) / n; if (b > 0) printf "%.2f s, %.2f x the baseline", f, f / b; else printf "%.2f s", f }')"
  printf '  %-44s %s requests, %s bytes\n' "on the wire" "$reqs" "$bytes"
  printf '  %-44s %s pages: median %s ms, p95 %s ms, max %s ms\n' "sandbox API server time per LIST page" "$npages" "$med" "$p95" "$mx"
  tail -1 "$work/$label-pages.out" | sed 's/^/  /'
  local target; target="$(target_mib "${label%%-*}")"
  if [ -n "$target" ]; then
    local verdict="within"
    [ "$((${p%.*} / 1024))" -le "$target" ] || verdict="OVER"
    printf '  %-44s %s MiB: %s\n' "peak RSS target (issue 16)" "$target" "$verdict"
  fi
}

commands_from=$(( $(lines) + 1 ))
bench scope scope -A -o json
bench doctor doctor -A --no-probe
commands_to=$(lines)
# --cached: one LIST per resource from the watch cache (resourceVersion=0, no pages).
bench scope-cached scope -A -o json --cached
# The paced pass: a latency fault (the sandbox's `--fault RESOURCE=latency:D`, switched on at run
# time) on every resource the commands above read. The server sleeps, so nearly all the CPU is the
# command's, as when the API server runs on other machines.
pace="${PACE:-140ms}"
if [ "$pace" != "0" ]; then
  admin="$(sed -n 's/^admin: \(http:[^ ]*\) .*/\1/p' "$work/sandbox.log" | head -1)"
  [ -n "$admin" ] || { echo "the sandbox printed no admin endpoint" >&2; exit 2; }
  resources="$(python3 - "$log" "$commands_from" "$commands_to" <<'EOF'
import json, sys
lo, hi = int(sys.argv[2]), int(sys.argv[3])
seen = set()
for i, line in enumerate(open(sys.argv[1]), 1):
    if not lo <= i <= hi or not line.strip():
        continue
    path = json.loads(line)["path"].split("?")[0].strip("/").split("/")
    # /api/v1/[namespaces/NS/]PLURAL[/...] or /apis/GROUP/VERSION/[namespaces/NS/]PLURAL[/...]
    rest = path[2:] if path[:1] == ["api"] else path[3:] if path[:1] == ["apis"] else []
    if len(rest) >= 3 and rest[0] == "namespaces":
        rest = rest[2:]
    if rest:
        seen.add(rest[0])
print(" ".join(sorted(seen)))
EOF
)"
  for r in $resources; do
    curl -fsS -X POST --data "$r=latency:$pace" "$admin/faults" >/dev/null \
      || { echo "could not pace $r through $admin" >&2; exit 2; }
  done
  printf '%s\n' "paced: the API server answers each request after $pace (resources: $resources)"
  runs="${PACED_RUNS:-1}"
  bench scope-paced scope -A -o json
  bench doctor-paced doctor -A --no-probe
  curl -fsS -X DELETE "$admin/faults" >/dev/null
fi
# A second after the last answer: the sandbox gives a big answer's memory back once it is sent.
sleep 1
printf '  %-44s %s\n' "sandbox memory at the end" "$(sandbox_mem)"
