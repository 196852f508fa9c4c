#!/usr/bin/env bash
# The fleet tier measured (docs/benchmarks.md, "Fleet tier"; issue #19):
# starts 3 memcached on free loopback ports (the pool), 3 ttscached that
# share it through `[tier] servers` and 3 that have no tier, each with a
# fresh cache on disk, and runs bench/tier_bench.cpp against both sets in one
# run: the share of Zipf requests that need synthesis, the tier-hit latency
# of a 200 KB WAV beside a local hit, and local hits with the tier on vs off.
#
# Usage: bench/run_tier_bench.sh [build-dir]
#        bench/run_tier_bench.sh --smoke build-dir
#   Environment: REQUESTS (30000), PHRASES (10000), WAV_BYTES (200000),
#   LATENCY_KEYS (500), LOCAL_KEYS (200), LOCAL_ROUNDS (5000), SEED (1),
#   MEMCACHED_MB (1024 per server: the pool holds the whole working set,
#   10,000 × 200 KB, so no pool eviction mixes into the figures; say so if
#   you lower it). --smoke: 300 requests over 50 phrases, 20 latency keys;
#   fails only if an operation failed or a daemon or memcached did not start.
#   It asserts no figure (ctest bench.tier_smoke).
#   PIN (1 where there are 2 CPUs or more): every daemon on the last CPU,
#   tier_bench on CPU 0, memcached unpinned. Unpinned, which of two daemons
#   shared the client's CPU decided a local hit's latency (35 vs 75 µs,
#   either way round from run to run); pinned, both sets sit alike.
# Caches go under $TMPDIR (the disk here: up to ~2 GB per set at the
# defaults). Niced: the machine it ran on was shared.
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=0
if [ "${1:-}" = --smoke ]; then smoke=1; shift; fi
build=$(cd "${1:-build/release}" && pwd)
daemon_bin=$build/daemon/ttscached
bench_bin=$build/bench/tier_bench
memcached_bin=${MEMCACHED:-/usr/bin/memcached}
for f in "$daemon_bin" "$bench_bin" "$memcached_bin"; do
  [ -x "$f" ] || { echo "no $f: build it first (or install memcached)" >&2; exit 1; }
done
args=(--requests "${REQUESTS:-30000}" --phrases "${PHRASES:-10000}" --wav-bytes "${WAV_BYTES:-200000}"
  --latency-keys "${LATENCY_KEYS:-500}" --local-keys "${LOCAL_KEYS:-200}"
  --local-rounds "${LOCAL_ROUNDS:-5000}" --seed "${SEED:-1}")
memcached_mb=${MEMCACHED_MB:-1024}
if [ "$smoke" = 1 ]; then
  args=(--requests 300 --phrases 50 --wav-bytes 200000 --latency-keys 20 --local-keys 10
    --local-rounds 200 --seed 1 --write-wait-s 30)
  memcached_mb=64
fi
daemon_pin=() bench_pin=()
cpus=$(nproc)
if [ "${PIN:-$([ "$cpus" -ge 2 ] && echo 1 || echo 0)}" = 1 ]; then
  daemon_pin=(taskset -c "$((cpus - 1))")
  bench_pin=(taskset -c 0)
fi
# The daemons read these over their config files (docs/config.md).
unset TTS_CACHE_DIR TTS_CACHE_MAX OPUS_ENABLED OPUS_BITRATE

work=$(mktemp -d "${TMPDIR:-/tmp}/ttscache-tier-bench.XXXXXX")
pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2> /dev/null || true; done
  pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# memcached refuses to run as root unless told which user to be.
as_user=()
[ "$(id -u)" = 0 ] && as_user=(-u "$(id -un)")

servers=()
for i in 1 2 3; do
  port=$(free_port)
  nice "$memcached_bin" -U 0 -l 127.0.0.1 -p "$port" -m "$memcached_mb" -t 1 "${as_user[@]}" \
    2> "$work/memcached$i.log" &
  pids+=($!)
  up=0
  for _ in $(seq 100); do
    if (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then up=1; break; fi
    sleep 0.05
  done
  [ "$up" = 1 ] || { echo "memcached $i did not start on port $port:" >&2; cat "$work/memcached$i.log" >&2; exit 1; }
  servers+=("127.0.0.1:$port")
done
pool=$(IFS=,; echo "${servers[*]}")

# start_daemon NAME [tier-section]: sets $socket (not a $(...): the daemon
# must be this shell's child, for stop_all).
start_daemon() {
  local name=$1 tier=${2:-} dir=$work/$1
  mkdir -p "$dir"
  cat > "$dir/ttscached.conf" <<CONF
[daemon]
socket = $dir/d.sock
[cache]
dir = $dir/cache
max_entries = 20000
fsync = false
$tier
CONF
  nice "${daemon_pin[@]}" "$daemon_bin" --config "$dir/ttscached.conf" > /dev/null 2> "$dir/daemon.log" &
  pids+=($!)
  for _ in $(seq 200); do [ -S "$dir/d.sock" ] && break; sleep 0.05; done
  [ -S "$dir/d.sock" ] || { echo "ttscached $name did not start:" >&2; cat "$dir/daemon.log" >&2; exit 1; }
  socket=$dir/d.sock
}
tier_sockets=() plain_sockets=()
for i in 1 2 3; do
  start_daemon "tier$i" "[tier]
servers = $pool"
  tier_sockets+=("$socket")
  start_daemon "plain$i"
  plain_sockets+=("$socket")
done

echo "pool: 3 × memcached -m $memcached_mb -t 1 on $pool" >&2
status=0
echo "daemons: ${daemon_pin[*]:-unpinned}; tier_bench: ${bench_pin[*]:-unpinned}" >&2
nice "${bench_pin[@]}" "$bench_bin" --tier "$(IFS=,; echo "${tier_sockets[*]}")" \
  --plain "$(IFS=,; echo "${plain_sockets[*]}")" "${args[@]}" || status=$?
if [ "$status" != 0 ]; then
  for log in "$work"/*/daemon.log; do echo "== $log" >&2; tail -20 "$log" >&2; done
  exit "$status"
fi
[ "$smoke" = 1 ] && echo "smoke ok"
exit 0
