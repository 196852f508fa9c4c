#!/usr/bin/env bash
# libttscache's C API against a real daemon: from C (linked to the shared
# library; c_api_test.c and c_api_more_test.c), the C example of
# docs/clients.md built and run as written, and from Python with ctypes.
# Arena encodes and the example's output are read by opusinfo.
set -euo pipefail
export LC_ALL=C  # sort and comm agree on the order of "_"
c_test=$1
lib=$2
ttscached=$3
cc=${4:-cc}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/cli/test_daemon.sh
source "$here/test_daemon.sh"
# shellcheck source=tests/support/doc_block.sh
source "$here/../support/doc_block.sh"
fail() { echo "FAIL: $*"; exit 1; }

# The library exports C symbols named ttscache_* only, and every function
# ttscache.h declares.
exported=$(nm -D --defined-only "$lib" | awk '$2 != "A" && $3 !~ /^_Z/ { sub(/@.*/, "", $3); print $3 }' | sort -u)
stray=$(grep -v '^ttscache_' <<< "$exported" || true)
[ -z "$stray" ] || fail "C symbols outside ttscache_*: $stray"
declared=$(grep -oE '\bttscache_[a-z0-9_]+\(' "$repo/include/ttscache/ttscache.h" | tr -d '(' | sort -u)
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
[ -z "$missing" ] || fail "declared in ttscache.h but not exported: $missing"

start_test_daemon "$ttscached"
espeak-ng -w "$dir/lights.wav" "The lights are on."

# A sanitizer build of the library needs its runtimes in every program using it.
preload=()
sanitize=()
deps=$(ldd "$lib")  # not piped into grep -q: its early exit would SIGPIPE ldd under pipefail
for runtime in asan ubsan; do
  if grep -q "lib$runtime" <<< "$deps"; then
    preload+=("$(gcc -print-file-name=lib$runtime.so)")
    [ "$runtime" = asan ] && sanitize+=(-fsanitize=address) || sanitize+=(-fsanitize=undefined)
  fi
done
if [ "${#sanitize[@]}" -gt 0 ]; then export TTSCACHE_TEST_SANITIZED=1; fi

"$c_test" "$dir/d.sock" "$dir/lights.wav" "$dir"
for f in arena-12.opus arena-128.opus; do
  opusinfo "$dir/$f" > "$dir/info" 2>&1 || fail "$f: $(cat "$dir/info")"
done
grep -q "Channels: 1" "$dir/info" || fail "opusinfo: $(cat "$dir/info")"

# docs/clients.md's C example, exactly as written.
doc_block "$repo/docs/clients.md" c-arena > "$dir/example.c"
libdir=$(dirname "$lib")
"$cc" -std=c11 -Wall -Werror "${sanitize[@]}" -I"$repo/include" "$dir/example.c" \
  -o "$dir/example" -L"$libdir" -l:"$(basename "$lib")" -Wl,-rpath,"$libdir"
TTSCACHE_SOCKET=$dir/d.sock "$dir/example" "$dir/lights.wav" "$dir/example.opus" > "$dir/example.out" \
  || fail "the docs example failed: $(cat "$dir/example.out")"
grep -qx "hit: $(stat -c %s "$dir/lights.wav") bytes" "$dir/example.out" \
  || fail "the docs example's get: $(cat "$dir/example.out")"
opusinfo "$dir/example.opus" > "$dir/info" 2>&1 || fail "docs example output: $(cat "$dir/info")"

if [ "${#preload[@]}" -gt 0 ]; then
  LD_PRELOAD="${preload[*]}" ASAN_OPTIONS=detect_leaks=0 \
    python3 "$here/../c_api/ctypes_test.py" "$lib" "$dir/d.sock" "$dir/lights.wav"
else
  python3 "$here/../c_api/ctypes_test.py" "$lib" "$dir/d.sock" "$dir/lights.wav"
fi
echo "c api: C tests, the docs example and ctypes ok"
