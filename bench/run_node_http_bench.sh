#!/usr/bin/env bash
# The whole request of the Node voice backend, measured (docs/benchmarks.md,
# "The Node backend, whole requests"): bench/node_http/server.mjs with the old
# modules (a cache folder, one ffmpeg per request) and with ttscache/adapter
# (ttscached from BUILD), loaded by autocannon with a Zipf mix of phrases at a
# 90 % hit rate. The modes alternate, ROUNDS times (default 3), each for the
# same SECONDS; prints every run, then medians and new/old ratios.
#
# Usage: bench/run_node_http_bench.sh [build-dir] [seconds] [connections]
#        bench/run_node_http_bench.sh --smoke build-dir
#   --smoke: one short run of each mode; fails unless both answered 200 with
#   Ogg bodies and a measured hit rate near 90 % (ctest: bench.node_http_smoke).
#   It asserts no performance figure.
#
# Placement: the system under test — the HTTP server, and what it uses: the
# ffmpeg processes it spawns (old) or ttscached (new, `cpus`) — on one CPU
# (SERVER_CPU, default the last this script may use); autocannon on another
# (CLIENT_CPU, default the first), so the load generator's work is never
# counted against either mode. Each mode gets one whole CPU.
#
# autocannon comes from the npm registry, pinned, into NODE_HTTP_BENCH_DIR
# (default BUILD/node_http_bench), kept between runs, beside the speech WAVs
# (espeak-ng, made once) and a node_modules/ttscache link to this checkout's
# client/node, through which the server resolves 'ttscache/adapter'.
# ADAPTER_PACKAGE names another copy of the package to measure instead (e.g.
# `git archive BRANCH client/node` unpacked), so a figure can name its version.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
smoke=0
if [ "${1:-}" = --smoke ]; then smoke=1; shift; fi
build=${1:-build/release}
seconds=${2:-20}
connections=${3:-10}
rounds=${ROUNDS:-3}
warm=${WARM_PHRASES:-100}
if [ "$smoke" = 1 ]; then seconds=3; connections=4; rounds=1; warm=10; fi
daemon_bin=$build/daemon/ttscached
[ -x "$daemon_bin" ] || { echo "no $daemon_bin: build it first" >&2; exit 1; }
cpus=($(python3 -c 'import os; print(*sorted(os.sched_getaffinity(0)))'))
server_cpu=${SERVER_CPU:-${cpus[-1]}}
client_cpu=${CLIENT_CPU:-${cpus[0]}}
autocannon_version=9.0.0

adapter_package=$(cd "${ADAPTER_PACKAGE:-$repo/client/node}" && pwd)
modules=${NODE_HTTP_BENCH_DIR:-$build/node_http_bench}
mkdir -p "$modules"
modules=$(cd "$modules" && pwd)
(
  cd "$modules"
  echo '{"private": true, "type": "module"}' > package.json
  if [ "$(node -p "require('./node_modules/autocannon/package.json').version" 2> /dev/null)" != "$autocannon_version" ]; then
    npm install --no-audit --no-fund --silent "autocannon@$autocannon_version"
  fi
  ln -sfn "$adapter_package" node_modules/ttscache
)

# The synthesizer's stand-in: four spoken sentences, 22,050 Hz, 3–7 s each.
voices=$modules/voices
if [ ! -f "$voices/done" ]; then
  mkdir -p "$voices"
  i=0
  for text in \
      "One moment please, I am checking tomorrow's weather forecast for you." \
      "The lights in the living room are on, and the front door is locked." \
      "Your next meeting starts in fifteen minutes, in the small conference room on the second floor." \
      "I have set a timer for ten minutes. I will remind you when it is done, so you can take the bread out of the oven."; do
    espeak-ng -w "$voices/speech_$i.wav" "$text"
    i=$((i + 1))
  done
  python3 - "$voices" <<'PY'
import sys, wave, glob
for path in sorted(glob.glob(sys.argv[1] + "/*.wav")):
    w = wave.open(path)
    seconds = w.getnframes() / w.getframerate()
    assert w.getframerate() == 22050 and 3 <= seconds <= 7, (path, w.getframerate(), seconds)
PY
  touch "$voices/done"
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2> /dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# ttscached as installed (defaults: max_entries 500, fsync on, 2 workers, Opus
# 32 kb/s VBR voip), on a private socket and cache folder, on the server's CPU.
cat > "$work/ttscached.conf" <<CONF
[daemon]
socket = $work/ttscached.sock
cpus = $server_cpu
[cache]
dir = $work/daemon-cache
CONF
"$daemon_bin" --config "$work/ttscached.conf" 2> "$work/daemon.log" &
pids+=($!)
daemon_pid=$!
for _ in $(seq 100); do [ -S "$work/ttscached.sock" ] && break; sleep 0.05; done
[ -S "$work/ttscached.sock" ] || { cat "$work/daemon.log" >&2; exit 1; }

# start_server MODE: the backend of MODE on the server's CPU; sets port_MODE.
start_server() {
  local mode=$1
  OPUS_ENABLED=true TTS_CACHE_DIR=$work/old-cache TTS_CACHE_MAX=500 TTSCACHE_SOCKET=$work/ttscached.sock \
    taskset -c "$server_cpu" node bench/node_http/server.mjs "$mode" "$voices" "$modules" \
    > "$work/$mode.out" 2> "$work/$mode.log" &
  pids+=($!)
  printf -v "pid_$mode" '%s' "$!"
  for _ in $(seq 200); do [ -s "$work/$mode.out" ] && break; sleep 0.05; done
  [ -s "$work/$mode.out" ] || { echo "the $mode server did not start:" >&2; cat "$work/$mode.log" >&2; exit 1; }
  printf -v "port_$mode" '%s' "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$work/$mode.out")"
}
start_server old
start_server new

load() {  # load MODE ARGS...: bench/node_http/load.mjs against MODE's server, on the client's CPU
  local mode=$1 port_var=port_$1
  shift
  taskset -c "$client_cpu" node bench/node_http/load.mjs "$modules" "http://127.0.0.1:${!port_var}/" "$@"
}

# cpu_ms PID: CPU time of PID and of its children it has reaped (the old
# server's ffmpeg processes), in ms.
cpu_ms() {
  python3 -c 'import os, sys
f = open(f"/proc/{sys.argv[1]}/stat").read().rsplit(")", 1)[1].split()
print(round(sum(int(x) for x in f[11:15]) * 1000 / os.sysconf("SC_CLK_TCK")))' "$1"
}

echo "warm-up: $warm phrases through each server" >&2
load old warm "$warm" > /dev/null
load new warm "$warm" > /dev/null

for round in $(seq "$rounds"); do
  # Alternate which mode goes first, so neither always follows the other.
  order="old new"
  [ $((round % 2)) = 0 ] && order="new old"
  for mode in $order; do
    pid_var=pid_$mode
    server_before=$(cpu_ms "${!pid_var}") daemon_before=$(cpu_ms "$daemon_pid")
    line=$(load "$mode" run "$warm" "$seconds" "$connections" "$round")
    server_cpu_ms=$(( $(cpu_ms "${!pid_var}") - server_before )) daemon_cpu_ms=$(( $(cpu_ms "$daemon_pid") - daemon_before ))
    echo "{\"mode\": \"$mode\", \"round\": $round, \"server_cpu_ms\": $server_cpu_ms, \"daemon_cpu_ms\": $daemon_cpu_ms, \"result\": $line}" >> "$work/results.jsonl"
    echo "round $round $mode: $line" >&2
  done
done

echo "adapter: $adapter_package" >&2
report_args=("$work/results.jsonl" "$seconds" "$connections" "$warm" "$server_cpu" "$client_cpu")
[ "$smoke" = 1 ] && report_args+=(--smoke)
python3 bench/node_http/report.py "${report_args[@]}"
