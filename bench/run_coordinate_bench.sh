#!/usr/bin/env bash
# One synthesis per phrase, measured (docs/benchmarks.md, "Coordinating
# synthesis"): SERVERS backend processes (bench/node_http/server.mjs, new
# mode: ttscache/adapter) share one ttscached whose `[coordinate] slots =
# gpu:1` stands for one GPU; synthesis is a SYNTH_MS sleep inside
# withSynthesisSlot('gpu'). bench/node_http/coordinate_load.mjs sends the
# same REQUESTS requests (Zipf over a working set of PHRASES, spread over the
# processes in turn, CONNECTIONS at a time) to a cold cache — a fresh daemon
# per mode, as after a purge of the working set — twice:
#   on   the adapter as shipped: diskCacheGet claims its misses
#   off  TTSCACHE_CLAIM_WAIT_MS=0: every miss synthesizes, as before
# and prints, per mode, the syntheses run (summed over the processes), the
# daemon's claim figures, and the requests' latency percentiles.
#
# Usage: bench/run_coordinate_bench.sh [build-dir]
#        bench/run_coordinate_bench.sh --smoke build-dir
#   Environment: SERVERS (3), PHRASES (500), REQUESTS (300), CONNECTIONS
#   (24), SYNTH_MS (300). --smoke: 40 requests, 50 ms syntheses; fails unless
#   every request was answered 200 and coordination did not synthesize more
#   than the uncoordinated run. It asserts no timing (ctest bench.coordinate_smoke).
# Unpinned and niced: the machine it ran on was shared; a run takes about
# (distinct phrases + duplicates) × SYNTH_MS per mode, 1–2 minutes by default.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
smoke=0
if [ "${1:-}" = --smoke ]; then smoke=1; shift; fi
build=$(cd "${1:-build/release}" && pwd)
servers=${SERVERS:-3}
phrases=${PHRASES:-500}
requests=${REQUESTS:-300}
connections=${CONNECTIONS:-24}
synth_ms=${SYNTH_MS:-300}
if [ "$smoke" = 1 ]; then requests=40; connections=6; synth_ms=50; fi
daemon_bin=$build/daemon/ttscached
[ -x "$daemon_bin" ] || { echo "no $daemon_bin: build it first" >&2; exit 1; }

# The package as a backend has it (node_modules/ttscache), and one recording.
modules=$build/coordinate_bench
mkdir -p "$modules/node_modules" "$modules/voices"
echo '{"private": true, "type": "module"}' > "$modules/package.json"
ln -sfn "$repo/client/node" "$modules/node_modules/ttscache"
[ -f "$modules/voices/speech.wav" ] || espeak-ng -w "$modules/voices/speech.wav" "The kettle has boiled, the tea is ready."

work=$(mktemp -d)
pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2> /dev/null || true; done
  pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT

# run MODE CLAIM_WAIT_MS: a fresh daemon and SERVERS backends; prints one JSON line.
run() {
  local mode=$1 claim_wait=$2 dir=$work/$1 urls=()
  mkdir -p "$dir"
  cat > "$dir/ttscached.conf" <<CONF
[daemon]
socket = $dir/d.sock
[cache]
dir = $dir/cache
fsync = false
[coordinate]
slots = gpu:1
CONF
  nice "$daemon_bin" --config "$dir/ttscached.conf" 2> "$dir/daemon.log" &
  pids+=($!)
  for _ in $(seq 100); do [ -S "$dir/d.sock" ] && break; sleep 0.05; done
  [ -S "$dir/d.sock" ] || { cat "$dir/daemon.log" >&2; exit 1; }
  for i in $(seq "$servers"); do
    OPUS_ENABLED=false TTSCACHE_SOCKET=$dir/d.sock TTSCACHE_CLAIM_WAIT_MS=$claim_wait SYNTH_MS=$synth_ms SYNTH_SLOT=gpu \
      nice node bench/node_http/server.mjs new "$modules/voices" "$modules" > "$dir/server$i.out" 2> "$dir/server$i.log" &
    pids+=($!)
    for _ in $(seq 200); do [ -s "$dir/server$i.out" ] && break; sleep 0.05; done
    [ -s "$dir/server$i.out" ] || { cat "$dir/server$i.log" >&2; exit 1; }
    urls+=("http://127.0.0.1:$(node -p "JSON.parse(require('fs').readFileSync('$dir/server$i.out', 'utf8')).port")/")
  done
  local joined
  joined=$(IFS=,; echo "${urls[*]}")
  local load
  load=$(nice node bench/node_http/coordinate_load.mjs "$joined" "$phrases" "$requests" "$connections")
  MODE=$mode URLS=$joined LOAD=$load SOCKET=$dir/d.sock node --input-type=module -e "
    import { Client } from '$repo/client/node/index.js';
    let syntheses = 0, misses = 0;
    for (const url of process.env.URLS.split(',')) {
      const s = await (await fetch(url + 'stats')).json();
      syntheses += s.syntheses;
      misses += s.misses;
    }
    const c = new Client({ socketPath: process.env.SOCKET });
    const k = (await c.stats({ coordination: true })).coordination;
    c.close();
    console.log(JSON.stringify({ mode: process.env.MODE, syntheses, misses, claims: k.claims, claim_waits: k.claimWaits,
      waits_served: k.waitsServed, takeovers: k.takeovers, wait_timeouts: k.waitTimeouts, gpu_waited: k.slots.gpu.waited,
      ...JSON.parse(process.env.LOAD) }));"
  stop_all
}

echo "servers $servers, phrases $phrases, requests $requests, connections $connections, synthesis ${synth_ms} ms in gpu:1" >&2
on=$(run on 30000)
echo "$on"
off=$(run off 0)
echo "$off"
ON=$on OFF=$off SMOKE=$smoke node -e "
  const on = JSON.parse(process.env.ON), off = JSON.parse(process.env.OFF);
  const row = (k) => console.log(k.padEnd(16), String(on[k]).padStart(8), String(off[k]).padStart(8));
  console.log(''.padEnd(16), 'on'.padStart(8), 'off'.padStart(8));
  for (const k of ['requests', 'distinct', 'syntheses', 'claims', 'waits_served', 'takeovers', 'seconds', 'p50_ms', 'p90_ms',
    'p99_ms', 'max_ms', 'failed']) row(k);
  if (process.env.SMOKE === '1') {
    if (on.failed || off.failed) throw new Error('smoke: requests failed');
    if (on.syntheses > off.syntheses) throw new Error('smoke: coordination synthesized more');
    console.log('smoke ok');
  }"
