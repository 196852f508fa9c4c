#!/usr/bin/env bash
# README command (2): install dependencies, build, and run every test — once
# in a normal -Werror build, once under AddressSanitizer + UBSan, and once
# built by clang under ThreadSanitizer with -Wthread-safety — then run each
# libFuzzer target for a bounded time (scripts/fuzz.sh).
# .ci/run calls exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

scripts/install-deps.sh
scripts/check-format.sh

jobs=$(nproc)
run_suite() {
  local dir=$1
  shift
  echo "== configure and build $dir ($*)"
  cmake -S . -B "$dir" -G Ninja -DTTSCACHE_WERROR=ON "$@" > "$dir.configure.log" 2>&1 \
    || { cat "$dir.configure.log"; exit 1; }
  cmake --build "$dir" -j "$jobs" || return 1
  echo "== test $dir"
  ctest --test-dir "$dir" --output-on-failure -j "$jobs" --timeout 600 || return 1
}

# clang, so that -Wthread-safety checks the GUARDED_BY/REQUIRES annotations
# (-Werror makes a violation fail the build), and ThreadSanitizer: a data
# race in any test program or any daemon the tests start stops that process
# (halt_on_error) and leaves a report in build/tsan/tsan-reports, which fails
# the suite even where a test ignored the exit status. Run alone with
# `scripts/test.sh --tsan-only` (docs/reliability.md).
tsan_suite() {
  local reports=$PWD/build/tsan/tsan-reports status=0
  rm -rf "$reports"
  mkdir -p "$reports"
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 log_path=$reports/race ${TSAN_OPTIONS:-}" \
    run_suite build/tsan -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTTSCACHE_TSAN=ON -DTTSCACHE_BUILD_BENCH=OFF || status=$?
  if compgen -G "$reports/race*" > /dev/null; then
    echo "== ThreadSanitizer reports"
    cat "$reports"/race*
    echo "FAIL: ThreadSanitizer found data races (above)"
    exit 1
  fi
  return "$status"
}

mkdir -p build
if [ "${1:-}" = --tsan-only ]; then
  tsan_suite
  echo "== TSan suite passed in $(( $(date +%s) - started )) s"
  exit 0
fi
# The release tree is configured for /usr: it also builds the .deb packages.
# (Tests and benchmarks are named: README command 1 may have configured it without them.)
run_suite build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
  -DTTSCACHE_BUILD_TESTS=ON -DTTSCACHE_BUILD_BENCH=ON
# The .deb packages, lintian, and a real systemd in a container (root only;
# says SKIP elsewhere): tests/system/nspawn_test.sh, docs/packaging.md.
echo "== system test (packages under systemd-nspawn)"
tests/system/nspawn_test.sh build/release
run_suite build/asan -DCMAKE_BUILD_TYPE=Debug -DTTSCACHE_SANITIZE=ON -DTTSCACHE_BUILD_BENCH=OFF
tsan_suite

echo "== fuzz (libFuzzer, ${FUZZ_SECONDS:-45} s per target)"
scripts/fuzz.sh

echo "== all tests passed in $(( $(date +%s) - started )) s"
