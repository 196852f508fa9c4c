#!/usr/bin/env bash
# README command (2): install dependencies, build, and run every test — once
# in a normal -Werror build and once under AddressSanitizer + UBSan — then
# run each libFuzzer target for a bounded time (scripts/fuzz.sh).
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
  cmake --build "$dir" -j "$jobs"
  echo "== test $dir"
  ctest --test-dir "$dir" --output-on-failure -j "$jobs" --timeout 600
}

mkdir -p build
# The release tree is configured for /usr: it also builds the .deb packages.
run_suite build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr
# The .deb packages, lintian, and a real systemd in a container (root only;
# says SKIP elsewhere): tests/system/nspawn_test.sh, docs/packaging.md.
echo "== system test (packages under systemd-nspawn)"
tests/system/nspawn_test.sh build/release
run_suite build/asan -DCMAKE_BUILD_TYPE=Debug -DTTSCACHE_SANITIZE=ON -DTTSCACHE_BUILD_BENCH=OFF

echo "== fuzz (libFuzzer, ${FUZZ_SECONDS:-45} s per target)"
scripts/fuzz.sh

echo "== all tests passed in $(( $(date +%s) - started )) s"
