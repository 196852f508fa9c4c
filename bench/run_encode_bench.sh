#!/usr/bin/env bash
# Measures WAV → Ogg Opus four ways side by side (see bench/encode_bench.cpp)
# and prints the markdown table that docs/benchmarks.md holds.
# Usage: bench/run_encode_bench.sh [build-dir]   (default build/release)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
[ -x "$build/bench/encode_bench" ] || { cmake -S . -B "$build" -G Ninja >/dev/null; cmake --build "$build" --target encode_bench; }
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT

# About 35 s of speech from espeak-ng (22.05 kHz), cut to 1, 7 and 30 s, and at 24 kHz.
text="One moment please. The lights in the kitchen are on. It is twenty one degrees in the living room, \
and the forecast says light rain this afternoon. Your next meeting starts in fifteen minutes. \
I have added milk, bread and coffee to the shopping list. The front door is locked and the alarm is set."
espeak-ng -w "$data/long.wav" "$text $text $text"
for rate in 22050 24000; do
  for s in 1 7 30; do
    ffmpeg -v error -y -i "$data/long.wav" -t "$s" -ar "$rate" -ac 1 -c:a pcm_s16le -map_metadata -1 -fflags +bitexact "$data/speech_${rate}_${s}s.wav"
  done
done

TTSCACHE_BENCH_DIR=$data "$build/bench/encode_bench" --benchmark_repetitions="${REPETITIONS:-7}" \
  --benchmark_report_aggregates_only=true --benchmark_format=json > "$data/result.json"

python3 - "$data/result.json" <<'PY'
import json, sys
rows = {}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    if b.get("aggregate_name") != "median":
        continue
    name, rate, seconds = b["run_name"].split("/")[:3]
    rows.setdefault((int(rate.split(":")[1]), int(seconds.split(":")[1])), {})[name[3:]] = b["real_time"]
print("| input | ffmpeg (a) | opusenc (b) | ttscache (c) | bare libopus+soxr (d) | a/c | c/d |")
print("|---|---|---|---|---|---|---|")
for (rate, seconds), r in sorted(rows.items()):
    a, b, c, d = r["Ffmpeg"], r["Opusenc"], r["Ttscache"], r["BareLibopusSoxr"]
    print(f"| {seconds} s @ {rate} Hz | {a:.1f} ms | {b:.1f} ms | {c:.1f} ms | {d:.1f} ms | {a/c:.2f}× | {c/d:.3f} |")
PY
