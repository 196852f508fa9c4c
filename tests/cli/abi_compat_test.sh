#!/usr/bin/env bash
# A program built against the previous release keeps running, unchanged,
# against the library built here. "The previous release" is the commit the
# ABI baseline was recorded from (abi/baseline-commit): its tree is taken from
# git, its libttscache.so.1 built, and its own example (tests/install/
# example.cpp) compiled against its headers and linked to it. The binary then
# runs with the new library in its place — checked to be the one loaded —
# against a live daemon.
# Usage: abi_compat_test.sh SOURCE_DIR NEW_LIBTTSCACHE_SO TTSCACHED
set -euo pipefail
src=$1
new_lib=$2
ttscached=$3
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/cli/test_daemon.sh
source "$here/test_daemon.sh"
start_test_daemon "$ttscached"

base=$(cat "$src/abi/baseline-commit")
if ! git -C "$src" cat-file -e "$base^{commit}" 2> /dev/null; then
  echo "FAIL: the baseline commit $base is not in $src (a shallow clone? git fetch --unshallow)"
  exit 1
fi
mkdir "$dir/old-src"
git -C "$src" archive "$base" | tar -x -C "$dir/old-src"
launcher=()
if command -v ccache > /dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S "$dir/old-src" -B "$dir/old-build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTTSCACHE_BUILD_TESTS=OFF -DTTSCACHE_BUILD_BENCH=OFF "${launcher[@]}" > "$dir/old-configure.log" 2>&1 ||
  { cat "$dir/old-configure.log"; exit 1; }
cmake --build "$dir/old-build" --target ttscache_shared > "$dir/old-build.log" 2>&1 ||
  { tail -30 "$dir/old-build.log"; exit 1; }
old_lib_dir=$dir/old-build/client
g++ -std=c++20 -o "$dir/example-old" "$dir/old-src/tests/install/example.cpp" \
  -I"$dir/old-src/include" -L"$old_lib_dir" -lttscache
objdump -p "$dir/example-old" | grep -q 'NEEDED *libttscache.so.1' ||
  { echo "FAIL: the old example does not need libttscache.so.1"; exit 1; }
espeak-ng -w "$dir/moment.wav" "One moment."
expected="hit $(stat -c %s "$dir/moment.wav") bytes (mapped)"

run_example() {  # run_example LIBRARY_DIR WHAT: the example must print $expected and exit 0
  local out status=0
  out=$(LD_LIBRARY_PATH="$1" "$dir/example-old" "$dir/d.sock" "$dir/moment.wav" 2>&1) || status=$?
  if [ "$status" -ne 0 ] || [ "$out" != "$expected" ]; then
    echo "FAIL: the example built against $base, run against $2: exit status $status, output '$out'"
    exit 1
  fi
}

# Against the library it was built with, then against the new one.
run_example "$old_lib_dir" "its own library"
new_dir=$(cd "$(dirname "$new_lib")" && pwd)
loaded=$(LD_LIBRARY_PATH="$new_dir" ldd "$dir/example-old" | awk '/libttscache/ {print $3}')
[ "$(readlink -f "$loaded")" = "$(readlink -f "$new_dir/libttscache.so.1")" ] ||
  { echo "FAIL: the loader picked '$loaded', not the new library"; exit 1; }
run_example "$new_dir" "the new library"
echo "ok: the example built against $base runs against the new library: $expected"
