#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for
# FUZZ_SECONDS (default 45) over its seed corpus in tests/fuzz/corpus, two at
# a time. Fails on any crash, leak or sanitizer report; the reproducer is
# left in build/fuzz/artifacts. Run for hours: FUZZ_SECONDS=7200 scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-45}
build=build/fuzz
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTTSCACHE_FUZZ=ON > "$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 1; }
targets=(wav_reader_fuzz frame_fuzz config_fuzz index_fuzz cache_key_fuzz tier_value_fuzz)
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}"
mkdir -p "$build/artifacts"
run() {
  local target=$1 work="$build/corpus-$1"
  mkdir -p "$work"
  "$build/tests/fuzz/${target}_fuzz" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$build/artifacts/${target}-" "$work" "tests/fuzz/corpus/$target" \
    > "$build/$target.log" 2>&1 || { echo "FUZZ FAILURE in $target:"; tail -40 "$build/$target.log"; return 1; }
  echo "fuzz $target: $(grep -Eo 'Done [0-9]+ runs' "$build/$target.log" | tail -1) in ${seconds} s"
}
pids=()
status=0
for target in wav_reader frame config index cache_key tier_value; do
  run "$target" &
  pids+=($!)
  if [ "${#pids[@]}" -ge "$(nproc)" ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
