#!/usr/bin/env bash
# System test under a real systemd: builds the .deb packages from BUILD (a
# tree configured with -DCMAKE_INSTALL_PREFIX=/usr), lints them, boots a
# Debian 12 container with systemd-nspawn and runs in_container.sh inside it
# (install with apt, socket activation, group access, reload, watchdog, stop,
# upgrade, remove, purge). Needs root; without root or nspawn it says SKIP.
#
# The container's root is made once with debootstrap and kept in
# $TTSCACHE_NSPAWN_ROOT (default /var/tmp/ttscache-nspawn/root); each run
# boots it with --volatile=overlay, so the cached tree is never changed.
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
root=${TTSCACHE_NSPAWN_ROOT:-/var/tmp/ttscache-nspawn/root}

if [ "$(id -u)" -ne 0 ]; then echo "SKIP: the system test needs root"; exit 0; fi
for tool in systemd-nspawn debootstrap lintian dpkg-deb; do
  command -v "$tool" > /dev/null || { echo "SKIP: $tool not installed (scripts/install-deps.sh)"; exit 0; }
done

echo "== packages"
rm -f "$build"/*.deb
(cd "$build" && cpack -G DEB > cpack.log 2>&1) || { cat "$build/cpack.log"; exit 1; }
runtime=$(ls "$build"/ttscache_*_*.deb)
dev=$(ls "$build"/libttscache-dev_*_*.deb)
prefix=$(dpkg-deb -f "$runtime" Version)
[ "$(grep -c . <<< "$prefix")" = 1 ] || { echo "FAIL: no version in $runtime"; exit 1; }
echo "$(basename "$runtime") $(basename "$dev")"
echo "== lintian (errors fail; warnings are listed in docs/packaging.md)"
lintian_out=$(lintian --fail-on error "$runtime" "$dev" 2>&1) || { echo "$lintian_out"; echo "FAIL: lintian errors"; exit 1; }
echo "${lintian_out:-no tags}"
undocumented=""
for tag in $(grep -oE '^W: [^:]+: [a-z0-9-]+' <<< "$lintian_out" | awk '{print $3}' | sort -u); do
  grep -q "$tag" "$here/../../docs/packaging.md" || undocumented+=" $tag"
done
[ -z "$undocumented" ] || { echo "FAIL: lintian warnings not justified in docs/packaging.md:$undocumented"; exit 1; }

if [ ! -d "$root" ]; then
  echo "== debootstrap $root (once; kept for later runs)"
  mkdir -p "$(dirname "$root")"
  rm -rf "$root.tmp"
  deps=$(dpkg-deb -f "$runtime" Depends | sed -E 's/ \([^)]*\)//g; s/, /,/g')
  debootstrap --variant=minbase --include="systemd,systemd-sysv,dbus,$deps" bookworm "$root.tmp" \
    http://deb.debian.org/debian > "$(dirname "$root")/debootstrap.log" 2>&1 \
    || { tail -20 "$(dirname "$root")/debootstrap.log"; exit 1; }
  mv "$root.tmp" "$root"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/debs/upgrade" "$work/results"
cp "$runtime" "$dev" "$here/in_container.sh" "$work/debs/"
espeak-ng -w "$work/debs/speech.wav" "The lights are on in the kitchen."
# The upgrade: the same packages as Debian revision 2 (a real dpkg upgrade,
# maintainer scripts called with the old version).
for deb in "$runtime" "$dev"; do
  unpacked=$work/unpacked
  rm -rf "$unpacked"
  dpkg-deb -R "$deb" "$unpacked"
  sed -i 's/^Version: \(.*\)-1$/Version: \1-2/; s/(= \(.*\)-1)/(= \1-2)/' "$unpacked/DEBIAN/control"
  dpkg-deb --root-owner-group -b "$unpacked" "$work/debs/upgrade/" > /dev/null
done

echo "== boot $root (volatile overlay) and run tests/system/in_container.sh"
started=$(date +%s)
timeout 600 systemd-nspawn --quiet --register=no --keep-unit --volatile=overlay -D "$root" \
  --bind-ro="$work/debs:/debs" --bind="$work/results:/results" \
  --bind-ro="$here/ttscache-system-test.service:/etc/systemd/system/ttscache-system-test.service" \
  -b systemd.wants=ttscache-system-test.service > "$work/console.log" 2>&1 || true
echo "container ran for $(( $(date +%s) - started )) s"
if [ ! -s "$work/results/log" ]; then
  echo "FAIL: the test never ran in the container; console:"; tail -40 "$work/console.log"; exit 1
fi
cat "$work/results/log"
if [ "$(tail -1 "$work/results/log")" != PASSED ]; then
  echo "-- commands:"; tail -40 "$work/results/commands.log"
  exit 1
fi
