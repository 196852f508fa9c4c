#!/usr/bin/env bash
# What listing and purging the cache cost other clients' hits
# (bench/operate_bench.cpp): a daemon on a scratch ext4 (bench/scratch_ext4.sh)
# filled with N entries of piper, hits on xtts alone, during a LIST of every
# entry and during a PURGE of piper, all in one run. fsync is off so the fill
# is quick; listing and purging do not depend on it (purge syncs each folder
# it touched once, at the end). Prints the table in docs/benchmarks.md.
# Usage: bench/run_operate_bench.sh [build-dir] [N]   (default N: 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
n=${2:-100000}
cmake --build "$build" --target ttscached operate_bench > /dev/null
export TTSCACHE_SCRATCH_SIZE=${TTSCACHE_SCRATCH_SIZE:-8G}
source bench/scratch_ext4.sh
cat > "$scratch/ttscached.conf" <<CONF
[daemon]
socket = $scratch/ttscached.sock
workers = 2
[cache]
dir = $TTSCACHE_BENCH_DIR/cache
engines = piper, xtts
max_entries = $((n + 1000))
fsync = false
CONF
"$build/daemon/ttscached" --config "$scratch/ttscached.conf" 2> "$scratch/daemon.log" &
daemon=$!
stop_daemon() { kill "$daemon" 2> /dev/null; wait "$daemon" 2> /dev/null || true; cleanup_scratch; }
trap stop_daemon EXIT
for _ in $(seq 100); do [ -S "$scratch/ttscached.sock" ] && break; sleep 0.05; done
"$build/bench/operate_bench" "$scratch/ttscached.sock" "$n"
