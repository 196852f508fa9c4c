#!/usr/bin/env bash
# ttscached under load beside Redis GET on a Unix socket and ffmpeg per
# request, all in one run (docs/benchmarks.md). Prints the tables.
# Usage: bench/run_load_bench.sh [build-dir] [seconds-per-case] [clients]
#
# Placement, as deployed: the daemon (and Redis) pinned to one CPU, the
# clients (load_bench, redis-benchmark) to another, and the floor's two
# processes the same way. DAEMON_CPU / CLIENT_CPU override (defaults: the
# last and the first CPU this script may use).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
seconds=${2:-2}
clients=${3:-1,8,64}
cpus=($(python3 -c 'import os; print(*sorted(os.sched_getaffinity(0)))'))
daemon_cpu=${DAEMON_CPU:-${cpus[-1]}}
client_cpu=${CLIENT_CPU:-${cpus[0]}}
cmake --build "$build" --target ttscached load_bench > /dev/null
work=$(mktemp -d)
daemon=
cleanup() {
  [ -n "$daemon" ] && kill "$daemon" 2> /dev/null && wait "$daemon" 2> /dev/null
  [ -n "${redis:-}" ] && kill "$redis" 2> /dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# run_daemon_cases NAME BUSY_POLL_US CLIENTS: load_bench's cases against a
# fresh daemon; the CSV goes to $work/NAME.csv.
run_daemon_cases() {
  local name=$1 busy_poll_us=$2 counts=$3
  mkdir -p "$work/$name"
  cat > "$work/$name/ttscached.conf" <<CONF
[daemon]
socket = $work/$name/ttscached.sock
workers = 2
cpus = $daemon_cpu
busy_poll_us = $busy_poll_us
queue_depth = 4096
[cache]
dir = $work/$name/cache
max_entries = 200000
fsync = false
CONF
  "$build/daemon/ttscached" --config "$work/$name/ttscached.conf" 2> "$work/$name/daemon.log" &
  daemon=$!
  for _ in $(seq 100); do [ -S "$work/$name/ttscached.sock" ] && break; sleep 0.05; done
  taskset -c "$client_cpu" "$build/bench/load_bench" "$work/$name/ttscached.sock" "$seconds" \
    "$counts" "$daemon_cpu" > "$work/$name.csv"
  kill "$daemon"
  wait "$daemon" || true
  daemon=
}
# Every case with the default configuration; the one-client cases again with
# busy polling, as on a dedicated core.
run_daemon_cases ours 0 "$clients"
run_daemon_cases busy 50 1

taskset -c "$daemon_cpu" redis-server --port 0 --unixsocket "$work/redis.sock" --save '' --appendonly no \
  --proto-max-bulk-len 64mb --daemonize no > "$work/redis.log" 2>&1 &
redis=$!
for _ in $(seq 100); do [ -S "$work/redis.sock" ] && break; sleep 0.05; done
for size in 2048 204800 10485760; do
  for c in $(echo "$clients" | tr ',' ' '); do
    n=$(( size >= 10485760 ? 400 : 20000 ))
    line=$(taskset -c "$client_cpu" redis-benchmark -s "$work/redis.sock" -t set,get -d "$size" -c "$c" -n "$n" --csv 2> /dev/null \
      | grep '^"GET"' | tr -d '"')
    echo "redis_get_$size,$c,$line" >> "$work/redis.csv"
  done
done

# ffmpeg per request on a 1 s WAV, median of 7.
python3 - "$work" <<'PY' > "$work/ffmpeg.txt"
import subprocess, sys, time, wave, struct
path = sys.argv[1] + "/one_second.wav"
w = wave.open(path, "wb"); w.setnchannels(1); w.setsampwidth(2); w.setframerate(22050)
w.writeframes(b"".join(struct.pack("<h", (i * 37) % 2000 - 1000) for i in range(22050))); w.close()
data = open(path, "rb").read()
times = []
for _ in range(7):
    t = time.perf_counter()
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", "pipe:0", "-c:a", "libopus",
                    "-b:a", "32k", "-vbr", "on", "-application", "voip", "-f", "ogg", "pipe:1"],
                   input=data, capture_output=True, check=True)
    times.append((time.perf_counter() - t) * 1e6)
print(sorted(times)[3])
PY

bench/load_report.py "$work/ours.csv" "$work/busy.csv" "$work/redis.csv" "$work/ffmpeg.txt"
