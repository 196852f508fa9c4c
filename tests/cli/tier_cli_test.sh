#!/usr/bin/env bash
# `ttscache stats` with the fleet tier (docs/fleet.md): a real memcached on
# loopback and two ttscached sharing it through [tier]. A WAV put into daemon
# A is written behind to the pool; B, which never saw it, gets it from the
# tier (a local miss, a tier hit). B's `stats --format prometheus` then shows
# ttscache_tier_up 1, one lookup and one hit, A's at least one write; the
# text output has the tier: section, the JSON "tier":{"enabled":true,...}.
# A third daemon without [tier] exports no ttscache_tier_ metric, prints no
# tier: section and says "tier":{"enabled":false} in JSON. The C API test
# (c_api_tier_test on) runs against B.
# Usage: tier_cli_test.sh TTSCACHE TTSCACHED [C_API_TIER_TEST]
set -euo pipefail
ttscache=$1
ttscached=$2
c_test=${3:-}
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v memcached > /dev/null || { echo "SKIP: memcached is not installed"; exit 0; }
dir=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
  wait 2> /dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_root=()
if [ "$(id -u)" -eq 0 ]; then as_root=(-u root); fi  # memcached refuses root without it
memcached -p "$port" -U 0 -l 127.0.0.1 -m 16 "${as_root[@]}" &
pids+=($!)
for _ in $(seq 100); do
  (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null && break
  sleep 0.05
done

# start NAME [CONFIG_LINES...]: a daemon on $dir/NAME.sock.
start() {
  local name=$1
  shift
  printf '[daemon]\nsocket = %s/%s.sock\n[cache]\ndir = %s/%s-cache\nfsync = false\n' \
    "$dir" "$name" "$dir" "$name" > "$dir/$name.conf"
  if [ $# -gt 0 ]; then printf '%s\n' "$@" >> "$dir/$name.conf"; fi
  "$ttscached" --config "$dir/$name.conf" 2> "$dir/$name.log" &
  pids+=($!)
  for _ in $(seq 100); do [ -S "$dir/$name.sock" ] && return 0; sleep 0.05; done
  fail "ttscached $name did not start: $(cat "$dir/$name.log")"
}
tier=("[tier]" "servers = 127.0.0.1:$port" "timeout_ms = 2000")
start a "${tier[@]}"
start b "${tier[@]}"
start local
tc() { local name=$1; shift; "$ttscache" --socket "$dir/$name.sock" "$@"; }
metric() { awk -v m="$1" '$1 == m { print $2 }' "$2"; }

python3 -c '
import struct, sys
pcm = b"".join(struct.pack("<h", (i * 37) % 2000 - 1000) for i in range(22050))
sys.stdout.buffer.write(b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt " +
    struct.pack("<IHHIIHH", 16, 1, 1, 22050, 44100, 2, 16) + b"data" + struct.pack("<I", len(pcm)) + pcm)
' > "$dir/one.wav"
tc a put --engine piper --text "Shared by the fleet." "$dir/one.wav"

# The write is behind the put: wait for A to have written it.
for _ in $(seq 100); do
  tc a stats --format prometheus > "$dir/a.prom"
  [ "$(metric ttscache_tier_writes_total "$dir/a.prom")" -ge 1 ] && break
  sleep 0.05
done
[ "$(metric ttscache_tier_writes_total "$dir/a.prom")" -ge 1 ] || fail "A wrote nothing: $(cat "$dir/a.prom")"

tc b get --engine piper --text "Shared by the fleet." -o "$dir/got.wav" || fail "B missed: $(cat "$dir/b.log")"
cmp "$dir/one.wav" "$dir/got.wav" || fail "B's audio differs from A's"
tc b stats --format prometheus > "$dir/b.prom"
[ "$(metric ttscache_tier_up "$dir/b.prom")" = 1 ] || fail "tier_up: $(grep tier_ "$dir/b.prom")"
[ "$(metric ttscache_tier_state "$dir/b.prom")" = 0 ] || fail "tier_state"
[ "$(metric ttscache_tier_servers "$dir/b.prom")" = 1 ] || fail "tier_servers"
[ "$(metric ttscache_tier_lookups_total "$dir/b.prom")" = 1 ] || fail "lookups: $(grep tier_ "$dir/b.prom")"
[ "$(metric ttscache_tier_hits_total "$dir/b.prom")" = 1 ] || fail "hits: $(grep tier_ "$dir/b.prom")"
[ "$(metric ttscache_tier_misses_total "$dir/b.prom")" = 0 ] || fail "misses"
[ "$(metric ttscache_tier_queue_capacity "$dir/b.prom")" = 4096 ] || fail "queue_capacity (queue_size's default)"
grep -q '^# TYPE ttscache_tier_lookup_seconds_total counter$' "$dir/b.prom" || fail "lookup seconds"

tc b stats > "$dir/b.txt"
grep -q '^tier: up, 1 server$' "$dir/b.txt" || fail "text: $(cat "$dir/b.txt")"
grep -qE '^  lookups 1 \(0 coalesced\), hits 1, variant hits 0, misses 0, hit ratio 100\.0%' "$dir/b.txt" ||
  fail "text: $(cat "$dir/b.txt")"
tc b stats --json > "$dir/b.json"
python3 - "$dir/b.json" << 'PY'
import json, sys
t = json.load(open(sys.argv[1]))["tier"]
assert t["enabled"] and t["state"] == "up" and t["servers"] == 1, t
assert t["lookups"] == 1 and t["hits"] == 1 and t["hit_ratio"] == 1, t
PY

# Without [tier]: nothing of the tier but "enabled": false.
tc local stats --format prometheus > "$dir/local.prom"
if grep -q '^ttscache_tier_\|^# [A-Z]* ttscache_tier_' "$dir/local.prom"; then fail "tier metrics without a tier"; fi
grep -q '^ttscache_up 1$' "$dir/local.prom" || fail "local prometheus"
tc local stats > "$dir/local.txt"
if grep -q '^tier:' "$dir/local.txt"; then fail "a tier: section without a tier"; fi
tc local stats --json | python3 -c 'import json, sys; assert json.load(sys.stdin)["tier"] == {"enabled": False}'

if [ -n "$c_test" ]; then "$c_test" "$dir/b.sock" on; fi
echo "tier cli ok"
