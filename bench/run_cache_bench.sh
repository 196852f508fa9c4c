#!/usr/bin/env bash
# The cache at 500, 10k, 100k and 1M entries beside the old Node module
# (tests/node/old-tts-cache.mjs) measured in the same run; prints the
# markdown table in docs/benchmarks.md.
# The folders live on a scratch ext4 image made and loop-mounted with
# Debian's defaults for this run (bench/scratch_ext4.sh; needs root), so the
# figures do not depend on how this machine's root filesystem is mounted.
# Usage: bench/run_cache_bench.sh [build-dir]   (default build/release)
# Env: TTSCACHE_SCRATCH_SIZE, TTSCACHE_BENCH_SIZES, NODE_SIZES (default
# 500,10000,100000).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
[ -x "$build/bench/cache_bench" ] || { cmake -S . -B "$build" -G Ninja >/dev/null; cmake --build "$build" --target cache_bench; }
source bench/scratch_ext4.sh
out=$scratch/out
mkdir "$out"

"$build/bench/cache_bench" --benchmark_filter='^(GetHit|GetMiss|Put|PutWarm|IndexPut|Open)' \
  --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_format=json > "$out/ours.json"
for n in $(echo "${NODE_SIZES:-500,10000,100000}" | tr ',' ' '); do
  puts=$(( n >= 100000 ? 3 : (n >= 10000 ? 5 : 20) ))
  node tests/node/old-tts-cache.mjs bench "$TTSCACHE_BENCH_DIR/node-$n" "$n" "$puts" >> "$out/node.jsonl"
done

python3 - "$out/ours.json" "$out/node.jsonl" <<'PY'
import json, sys
ours = {}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    if b.get("aggregate_name") != "median":
        continue
    parts = b["run_name"].split("/")
    name, n = parts[0], parts[1]
    if name == "PutWarm" and len(parts) > 2 and parts[2] == "0":
        name = "PutWarmNamed"  # published through named temporaries
    scale = {"us": 1, "ms": 1000, "ns": 0.001}[b["time_unit"]]
    ours.setdefault(int(n), {})[name] = b["real_time"] * scale
node = {j["entries"]: j for j in map(json.loads, open(sys.argv[2]))}
def us(v): return "—" if v is None else (f"{v/1000:.1f} ms" if v >= 1000 else f"{v:.1f} µs")
print("| entries | get hit | get miss | put | put (warm) | put (warm, named temporaries) | index-only put | node get hit | node put | node put / ours | open clean | open after crash |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for n in sorted(ours):
    o, j = ours[n], node.get(n, {})
    ratio = f"{j['put_us']/o['Put']:.0f}×" if j else "—"
    print(f"| {n:,} | {us(o['GetHit'])} | {us(o['GetMiss'])} | {us(o['Put'])} | {us(o.get('PutWarm'))} | {us(o.get('PutWarmNamed'))} | {us(o.get('IndexPut'))} | {us(j.get('get_hit_us'))} "
          f"| {us(j.get('put_us'))} | {ratio} | {us(o.get('OpenClean'))} | {us(o.get('OpenAfterCrash'))} |")
base = ours[min(ours)]["Put"]
warm = ours[min(ours)].get("PutWarm")
print(f"\nput at {max(ours):,} / put at {min(ours):,}: {ours[max(ours)]['Put']/base:.2f}; "
      + (f"warm: {ours[max(ours)]['PutWarm']/warm:.2f}; " if warm else "")
      + f"index-only: {ours[max(ours)]['IndexPut']/ours[min(ours)]['IndexPut']:.2f}")
PY
