#!/usr/bin/env bash
# What a stream of puts costs other clients' hits: cache_bench's
# HitDuringPuts (a thread hitting a hot set of 64 entries, alone and while
# another thread puts into the full cache, both through CacheStore) at 100k
# and 1M entries, for two revisions side by side: rounds alternate a
# cache_bench built from the BEFORE revision's sources (`git archive` into a
# temp dir, with this tree's bench/cache_bench.cpp laid over them, so only
# the cache code differs) and this tree's, on one scratch ext4
# (bench/scratch_ext4.sh). Prints the markdown table in docs/benchmarks.md
# (medians over the rounds).
# Usage: bench/run_hit_during_put_bench.sh BEFORE_REV [build-dir] [rounds]
# Env: TTSCACHE_BENCH_SIZES (default 100000,1000000).
set -euo pipefail
cd "$(dirname "$0")/.."
before=$1
build=${2:-build/release}
rounds=${3:-3}
export TTSCACHE_BENCH_SIZES=${TTSCACHE_BENCH_SIZES:-100000,1000000}
[ -x "$build/bench/cache_bench" ] || cmake --build "$build" --target cache_bench
source bench/scratch_ext4.sh

mkdir "$scratch/src"
git archive "$before" | tar -x -C "$scratch/src"
cp bench/cache_bench.cpp "$scratch/src/bench/cache_bench.cpp"
cmake -S "$scratch/src" -B "$scratch/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache >/dev/null
nice cmake --build "$scratch/build" --target cache_bench >/dev/null

# Fill the folders once (both revisions use the same layout and index).
"$build/bench/cache_bench" --benchmark_filter='^HitDuringPuts/.*/0/' >/dev/null
for r in $(seq "$rounds"); do
  for v in before after; do
    bin=$build/bench/cache_bench
    [ $v = before ] && bin=$scratch/build/bench/cache_bench
    "$bin" --benchmark_filter='^HitDuringPuts/' --benchmark_format=json |
      python3 -c "import json,sys; [print(json.dumps(dict(b, rev='$v'))) for b in json.load(sys.stdin)['benchmarks']]" \
      >> "$scratch/results.jsonl"
  done
done

python3 - "$scratch/results.jsonl" "$before" "$(git rev-parse --short HEAD)" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    b = json.loads(line)
    _, n, putting = b["run_name"].split("/")[:3]
    rows.setdefault((int(n), b["rev"], putting == "1"), []).append(b)
def med(key, field):
    return statistics.median(b[field] for b in rows[key])
print(f"before = {sys.argv[2]}, after = {sys.argv[3]}; medians of {len(rows[next(iter(rows))])} alternating rounds\n")
print("| entries | build | hit p50 / p99 / p99.9 alone | during puts | p99 during / alone | p99.9 during / alone | puts/s |")
print("|---|---|---|---|---|---|---|")
def trio(k): return f"{med(k,'p50_us'):.2f} / {med(k,'p99_us'):.2f} / {med(k,'p999_us'):.1f} µs"
for n in sorted({k[0] for k in rows}):
    for rev in ("before", "after"):
        a, p = (n, rev, False), (n, rev, True)
        print(f"| {n:,} | {rev} | {trio(a)} | {trio(p)} | {med(p,'p99_us')/med(a,'p99_us'):.2f}× "
              f"| {med(p,'p999_us')/med(a,'p999_us'):.2f}× | {med(p,'puts_per_s'):,.0f} |")
    b, f = (n, 'before', True), (n, 'after', True)
    print(f"| {n:,} | after / before, during puts | p50 {med(f,'p50_us')/med(b,'p50_us'):.2f}×, "
          f"p99 {med(f,'p99_us')/med(b,'p99_us'):.2f}×, p99.9 {med(f,'p999_us')/med(b,'p999_us'):.2f}× | | | | "
          f"{med(f,'puts_per_s')/med(b,'puts_per_s'):.2f}× |")
PY
