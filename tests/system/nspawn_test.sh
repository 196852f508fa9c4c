#!/usr/bin/env bash
# System test under a real systemd: builds the .deb packages from BUILD (a
# tree configured with -DCMAKE_INSTALL_PREFIX=/usr), lints them, boots a
# Debian 12 container with systemd-nspawn and runs in_container.sh inside it
# (install with apt, socket activation, group access, reload, watchdog, stop,
# upgrade, adopting an old cache folder, the metrics export read back from
# Debian's node exporter, operating the cache, remove, purge). Midway it starts a
# second container from the same root, bound only to the first one's
# /run/ttscache, where a Node.js client with another uid and only the group in
# common uses the daemon (client_container.sh: the Docker recipe's path).
# Needs root; without root or nspawn it says SKIP.
#
# The containers' root is made once with debootstrap and kept in
# $TTSCACHE_NSPAWN_ROOT (default /var/tmp/ttscache-nspawn/root-<hash of the
# package list>); each run boots it with --volatile=overlay, so the cached
# tree is never changed.
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)

if [ "$(id -u)" -ne 0 ]; then echo "SKIP: the system test needs root"; exit 0; fi
for tool in systemd-nspawn debootstrap lintian dpkg-deb; do
  command -v "$tool" > /dev/null || { echo "SKIP: $tool not installed (scripts/install-deps.sh)"; exit 0; }
done

echo "== packages"
rm -f "$build"/*.deb
(cd "$build" && cpack -G DEB > cpack.log 2>&1) || { cat "$build/cpack.log"; exit 1; }
runtime=$(ls "$build"/ttscache_*_*.deb)
dev=$(ls "$build"/libttscache-dev_*_*.deb)
node_deb=$(ls "$build"/node-ttscache_*_all.deb)
python_deb=$(ls "$build"/python3-ttscache_*_all.deb)  # lintian only; tests/python/test_install.py uses it
prefix=$(dpkg-deb -f "$runtime" Version)
[ "$(grep -c . <<< "$prefix")" = 1 ] || { echo "FAIL: no version in $runtime"; exit 1; }
echo "$(basename "$runtime") $(basename "$dev") $(basename "$node_deb") $(basename "$python_deb")"
echo "== lintian (errors fail; warnings are listed in docs/packaging.md)"
lintian_out=$(lintian --fail-on error "$runtime" "$dev" "$node_deb" "$python_deb" 2>&1) || { echo "$lintian_out"; echo "FAIL: lintian errors"; exit 1; }
echo "${lintian_out:-no tags}"
undocumented=""
for tag in $(grep -oE '^W: [^:]+: [a-z0-9-]+' <<< "$lintian_out" | awk '{print $3}' | sort -u); do
  grep -q "$tag" "$here/../../docs/packaging.md" || undocumented+=" $tag"
done
[ -z "$undocumented" ] || { echo "FAIL: lintian warnings not justified in docs/packaging.md:$undocumented"; exit 1; }

# Debian's nodejs is in the root for the client container (the packaged module
# with Debian's node); prometheus-node-exporter and curl for the metrics export
# (metrics_in_container.sh). The root's name hashes this list: a root kept from
# before a change to it is not reused, a new one is made (the run needs the
# network that once), and every later run is offline.
include="systemd,systemd-sysv,dbus,nodejs,prometheus-node-exporter,curl,memcached,sasl2-bin,libsasl2-modules,$(dpkg-deb -f "$runtime" Depends | sed -E 's/ \([^)]*\)//g; s/, /,/g')"
root=${TTSCACHE_NSPAWN_ROOT:-/var/tmp/ttscache-nspawn/root-$(md5sum <<< "$include" | cut -c1-8)}
if [ ! -d "$root" ]; then
  echo "== debootstrap $root (once; kept for later runs)"
  mkdir -p "$(dirname "$root")"
  rm -rf "$root.tmp"
  debootstrap --variant=minbase --include="$include" bookworm "$root.tmp" \
    http://deb.debian.org/debian > "$(dirname "$root")/debootstrap.log" 2>&1 \
    || { tail -20 "$(dirname "$root")/debootstrap.log"; exit 1; }
  mv "$root.tmp" "$root"
fi

work=$(mktemp -d)
container=""
trap '[ -z "$container" ] || kill "$container" 2> /dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/debs/upgrade" "$work/results" "$work/run-ttscache"
cp "$runtime" "$dev" "$node_deb" "$here/in_container.sh" "$here/adopt_in_container.sh" "$here/client_container.sh" \
  "$here/metrics_in_container.sh" "$here/operate_in_container.sh" "$here/coordinate_in_container.sh" "$here/tier_in_container.sh" \
  "$here/../../docs/migrating.md" "$here/../support/doc_block.sh" "$work/debs/"
espeak-ng -w "$work/debs/speech.wav" "The lights are on in the kitchen."
# The old backend's cache folder, written by the old module itself
# (adopt_in_container.sh adopts it; these are the commands its header names).
old_module=$here/../node/old-tts-cache.mjs
for text in "Adopted phrase one." "Adopted phrase two." "Adopted phrase three."; do
  espeak-ng -w "$work/old.wav" "$text"
  node "$old_module" put "$work/debs/old-tts-cache" piper 500 "$text" "$work/old.wav"
done
espeak-ng -w "$work/old.wav" "Adopted by xtts."
node "$old_module" put "$work/debs/old-tts-cache" xtts 500 "Adopted by xtts." "$work/old.wav"
# The upgrade: the same packages as Debian revision 2 (a real dpkg upgrade,
# maintainer scripts called with the old version).
for deb in "$runtime" "$dev"; do
  unpacked=$work/unpacked
  rm -rf "$unpacked"
  dpkg-deb -R "$deb" "$unpacked"
  sed -i 's/^Version: \(.*\)-1$/Version: \1-2/; s/(= \(.*\)-1)/(= \1-2)/' "$unpacked/DEBIAN/control"
  dpkg-deb --root-owner-group -b "$unpacked" "$work/debs/upgrade/" > /dev/null
done

# The client container (client_container.sh), started when in_container.sh
# asks for it: a fresh container from the same root that shares nothing with
# the daemon's but the bound /run/ttscache, as a Docker container would.
run_client_container() {
  local gid
  gid=$(cat "$work/results/ttscache-gid")
  echo "== client container: uid 4242, supplementary gid $gid, /run/ttscache bound in"
  local rc=0
  timeout 180 systemd-nspawn --quiet --register=no --keep-unit --machine=ttscache-client --volatile=overlay --as-pid2 -D "$root" \
    --bind="$work/run-ttscache:/run/ttscache" --bind-ro="$work/debs:/debs" \
    /debs/client_container.sh "$gid" > "$work/results/client.log" 2>&1 || rc=$?
  echo "$rc" > "$work/results/client-rc"
  sed 's/^/   | /' "$work/results/client.log"
}

echo "== boot $root (volatile overlay) and run tests/system/in_container.sh"
started=$(date +%s)
# /run/ttscache is a folder of the host here (as it is on a real host): the
# client container binds the same folder. Its own network namespace (loopback
# only): the node exporter in it listens on port 9100 without meeting the
# host's or another run's, and nothing in the test reaches out.
timeout 900 systemd-nspawn --quiet --register=no --keep-unit --volatile=overlay --private-network -D "$root" \
  --bind-ro="$work/debs:/debs" --bind="$work/results:/results" --bind="$work/run-ttscache:/run/ttscache" \
  --bind-ro="$here/ttscache-system-test.service:/etc/systemd/system/ttscache-system-test.service" \
  -b systemd.wants=ttscache-system-test.service > "$work/console.log" 2>&1 &
container=$!
while kill -0 "$container" 2> /dev/null; do
  if [ -e "$work/results/client-wanted" ]; then
    rm "$work/results/client-wanted"
    run_client_container
    touch "$work/results/client-done"
  fi
  sleep 0.5
done
wait "$container" || true
echo "container ran for $(( $(date +%s) - started )) s"
if [ ! -s "$work/results/log" ]; then
  echo "FAIL: the test never ran in the container; console:"; tail -40 "$work/console.log"; exit 1
fi
cat "$work/results/log"
if [ "$(tail -1 "$work/results/log")" != PASSED ]; then
  echo "-- commands:"; tail -40 "$work/results/commands.log"
  exit 1
fi
