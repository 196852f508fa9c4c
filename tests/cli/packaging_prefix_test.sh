#!/usr/bin/env bash
# A tree configured without -DCMAKE_INSTALL_PREFIX=/usr must not make a .deb:
# its conffile and units would land under /usr/local. cpack refuses it before
# installing anything, with a message naming the prefix and the fix, and
# leaves no package behind. (The /usr tree's packages: tests/system.)
set -euo pipefail
source_dir=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake -S "$source_dir" -B "$dir/build" -G Ninja -DTTSCACHE_BUILD_TESTS=OFF \
  -DTTSCACHE_BUILD_BENCH=OFF > "$dir/configure.log" 2>&1 || { cat "$dir/configure.log"; fail "configure"; }
set +e
(cd "$dir/build" && cpack -G DEB) > "$dir/cpack.log" 2>&1
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "cpack made packages from a /usr/local tree: $(cat "$dir/cpack.log")"
grep -q "CMAKE_INSTALL_PREFIX=/usr/local" "$dir/cpack.log" || fail "message lacks the prefix: $(cat "$dir/cpack.log")"
grep -q -- "-DCMAKE_INSTALL_PREFIX=/usr" "$dir/cpack.log" || fail "message lacks the fix: $(cat "$dir/cpack.log")"
! ls "$dir"/build/*.deb > /dev/null 2>&1 || fail "a .deb was left behind"
echo "packaging_prefix: refused as expected"
