#!/usr/bin/env bash
# `cmake --install` into a temporary root (DESTDIR: the tree may be configured
# for /usr, with the config in /etc and units in /lib), then the ten-line example in
# tests/install is built against it three ways — pkg-config (shared),
# find_package → ttscache::client (shared) and → ttscache::client_static —
# and each build runs against a live daemon.
set -euo pipefail
build=$1
ttscached=$2
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/cli/test_daemon.sh
source "$here/test_daemon.sh"
start_test_daemon "$ttscached"
configured=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
DESTDIR=$dir/root cmake --install "$build" > "$dir/install.log"
prefix=$dir/root$configured

# What the install holds.
lib=$(dirname "$(find "$prefix" -name 'libttscache.so.1' | head -1)")
for f in "$lib/libttscache.so" "$lib/libttscache.a" "$lib/pkgconfig/ttscache.pc" \
  "$lib/cmake/ttscache/ttscacheConfig.cmake" "$prefix/include/ttscache/client.hpp" \
  "$prefix/include/ttscache/ttscache.h" "$prefix/bin/ttscache" "$prefix/bin/ttscached" \
  "$prefix/share/man/man1/ttscache.1.gz" "$prefix/share/man/man8/ttscached.8.gz"; do
  [ -e "$f" ] || { echo "FAIL: not installed: $f"; exit 1; }
done
# The headers are the contract only: no ipc/ or core/ header, and each one
# compiles on its own (C++20; ttscache.h also as C).
headers=$(cd "$prefix/include/ttscache" && find . -type f -printf '%P\n' | sort | tr '\n' ' ')
want="arena_allocator.hpp audio_buffer.hpp client.hpp encode_stream.hpp export.hpp opus_params.hpp result.hpp ttscache.h "
[ "$headers" = "$want" ] || { echo "FAIL: installed headers are '$headers', expected '$want'"; exit 1; }
for h in $headers; do
  echo "#include <ttscache/$h>" | g++ -std=c++20 -Wall -Werror -fsyntax-only -I"$prefix/include" -x c++ - ||
    { echo "FAIL: ttscache/$h does not compile on its own"; exit 1; }
done
echo "#include <ttscache/ttscache.h>" | gcc -std=c99 -Wall -Werror -fsyntax-only -I"$prefix/include" -x c - ||
  { echo "FAIL: ttscache.h is not C"; exit 1; }

soname=$(objdump -p "$lib/libttscache.so" | awk '/SONAME/ {print $2}')
[ "$soname" = libttscache.so.1 ] || { echo "FAIL: SONAME is '$soname'"; exit 1; }

# Exported (client/packaging/libttscache.map): the C API (ttscache_*) and the
# C++ API in namespace ttscache, versioned TTSCACHE_1 — nothing else.
exports=$(nm -D --defined-only -C "$lib/libttscache.so" | awk '{ $1 = ""; $2 = ""; sub(/^  /, ""); print }')
versions=$(objdump -T "$lib/libttscache.so" | awk '$2 == "g" && / ttscache_/ { print $(NF-1) }' | sort -u)
[ "$versions" = TTSCACHE_1 ] || { echo "FAIL: C API symbol versions: '$versions'"; exit 1; }
c_api=$(grep -c '^ttscache_' <<< "$exports")
[ "$c_api" -ge 9 ] || { echo "FAIL: only $c_api C API symbols exported"; exit 1; }
grep -q '^ttscache::Client::Connect(' <<< "$exports" || { echo "FAIL: the C++ API is not exported"; exit 1; }
stray=$(grep -vE '^(ttscache_|ttscache::|TTSCACHE_1$)' <<< "$exports" || true)
[ -z "$stray" ] || { echo "FAIL: unexpected exported symbols:"; echo "$stray"; exit 1; }
internal=$(grep -E 'boost|ttscache::ipc::(Encode|Decode|Frame)|ttscache::log' <<< "$exports" || true)
[ -z "$internal" ] || { echo "FAIL: internals exported:"; echo "$internal"; exit 1; }

espeak-ng -w "$dir/moment.wav" "One moment."

run() {  # run NAME BINARY: the example must report a mapped hit of the WAV's size
  local out
  out=$(LD_LIBRARY_PATH="$lib" "$2" "$dir/d.sock" "$dir/moment.wav")
  [ "$out" = "hit $(stat -c %s "$dir/moment.wav") bytes (mapped)" ] || { echo "FAIL $1: '$out'"; exit 1; }
  echo "ok $1: $out"
}

export PKG_CONFIG_PATH=$lib/pkgconfig
# shellcheck disable=SC2046  # word splitting of pkg-config's flags is intended
g++ -std=c++20 -o "$dir/example-pc" "$here/../install/example.cpp" $(pkg-config --cflags --libs ttscache)
objdump -p "$dir/example-pc" | grep -q 'NEEDED *libttscache.so.1' || { echo "FAIL: not linked to the .so"; exit 1; }
run pkg-config "$dir/example-pc"

for link in client client_static; do
  cmake -S "$here/../install" -B "$dir/cmake-$link" -DCMAKE_PREFIX_PATH="$prefix" \
    -DTTSCACHE_LINK="$link" > "$dir/cmake-$link.log"
  cmake --build "$dir/cmake-$link" > "$dir/build-$link.log"
  run "find_package ttscache::$link" "$dir/cmake-$link/example"
done
deps=$(objdump -p "$dir/cmake-client_static/example")
if grep -q 'libttscache' <<< "$deps"; then echo "FAIL: static example needs libttscache.so"; exit 1; fi
echo "install test passed"
