#!/usr/bin/env bash
# ttscached under load beside Redis GET on a Unix socket and ffmpeg per
# request, all in one run (docs/benchmarks.md). Prints the tables.
# Usage: bench/run_load_bench.sh [build-dir] [seconds-per-case] [clients]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
seconds=${2:-2}
clients=${3:-1,8,64}
cmake --build "$build" --target ttscached load_bench > /dev/null
work=$(mktemp -d)
cleanup() {
  [ -n "${daemon:-}" ] && kill "$daemon" 2> /dev/null && wait "$daemon" 2> /dev/null
  [ -n "${redis:-}" ] && kill "$redis" 2> /dev/null
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/ttscached.conf" <<CONF
[daemon]
socket = $work/ttscached.sock
workers = 2
queue_depth = 4096
[cache]
dir = $work/cache
max_entries = 200000
fsync = false
CONF
"$build/daemon/ttscached" --config "$work/ttscached.conf" 2> "$work/daemon.log" &
daemon=$!
for _ in $(seq 100); do [ -S "$work/ttscached.sock" ] && break; sleep 0.05; done

"$build/bench/load_bench" "$work/ttscached.sock" "$seconds" "$clients" > "$work/ours.csv"

redis-server --port 0 --unixsocket "$work/redis.sock" --save '' --appendonly no \
  --proto-max-bulk-len 64mb --daemonize no > "$work/redis.log" 2>&1 &
redis=$!
for _ in $(seq 100); do [ -S "$work/redis.sock" ] && break; sleep 0.05; done
for size in 2048 204800 10485760; do
  for c in $(echo "$clients" | tr ',' ' '); do
    n=$(( size >= 10485760 ? 400 : 20000 ))
    line=$(redis-benchmark -s "$work/redis.sock" -t set,get -d "$size" -c "$c" -n "$n" --csv 2> /dev/null \
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

python3 - "$work/ours.csv" "$work/redis.csv" "$work/ffmpeg.txt" <<'PY'
import csv, sys
ours = {(r[0], int(r[1])): (float(r[2]), float(r[3]), float(r[4])) for r in csv.reader(open(sys.argv[1]))}
redis = {}
for r in csv.reader(open(sys.argv[2])):
    # name,clients,"GET",rps,avg,min,p50,p95,p99,max
    redis[(r[0], int(r[1]))] = (float(r[3]), float(r[6]) * 1000, float(r[8]) * 1000)
ffmpeg_us = float(open(sys.argv[3]).read())
floor = ours[("floor_pingpong", 1)]
print(f"floor (bare socketpair ping-pong between two processes): p50 {floor[1]:.1f} µs, p99 {floor[2]:.1f} µs\n")
print("| case | clients | ops/s | p50 | p99 |")
print("|---|---|---|---|---|")
for (name, c), (ops, p50, p99) in ours.items():
    if name != "floor_pingpong":
        print(f"| {name} | {c} | {ops:,.0f} | {p50:.1f} µs | {p99:.1f} µs |")
print("\n| value | clients | ttscache fd hit ops/s | ttscache inline hit ops/s | Redis GET ops/s | fd / Redis |")
print("|---|---|---|---|---|---|")
for size, label in ((2048, "2KB"), (204800, "200KB"), (10485760, "10MB")):
    for (name, c), r in sorted(redis.items()):
        if name != f"redis_get_{size}":
            continue
        fd = ours.get((f"hit_fd_{label}", c), (0, 0, 0))[0]
        inl = ours.get((f"hit_inline_{label}", c), (0, 0, 0))[0]
        print(f"| {label} | {c} | {fd:,.0f} | {inl:,.0f} | {r[0]:,.0f} | {fd / r[0]:.1f}× |")
fd1 = {label: ours.get((f"hit_fd_{label}", 1), (0, 0, 0))[1] for label in ("2KB", "200KB", "10MB")}
print(f"\ndescriptor-path hit p50 with 1 client: " + ", ".join(f"{k} {v:.1f} µs" for k, v in fd1.items())
      + f"; vs the floor: {fd1['2KB'] / floor[1]:.2f}× at 2 KB, {fd1['10MB'] / floor[1]:.2f}× at 10 MB")
new_file = ours.get(("hit_fd_new_file_2KB", 1), (0, 0, 0))[1]
print(f"descriptor-path hit of a file the client does not map yet (a descriptor passed): "
      f"p50 {new_file:.1f} µs, {new_file / floor[1]:.2f}× the floor")
variant = ours.get(("encode_cached_variant", 1), (0, 0, 0))[1]
print(f"cached-variant GET p50 {variant:.1f} µs vs ffmpeg per request {ffmpeg_us / 1000:.1f} ms: "
      f"{ffmpeg_us / variant:,.0f}× faster")
PY
