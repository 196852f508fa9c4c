#!/usr/bin/env bash
# The systemd units: `systemd-analyze verify` passes on both, and the
# service's offline security exposure is 2.0 or lower (the figure is printed).
# verify needs ExecStart's binary to exist; the copy checked here points it at
# the freshly built ttscached, nothing else differs.
set -euo pipefail
ttscached=$1
man_dir=$2  # the generated man pages: verify checks Documentation=man:ttscached(8)
units=$(cd "$(dirname "$0")/../../systemd" && pwd)
command -v systemd-analyze > /dev/null || { echo "SKIP: systemd-analyze not installed"; exit 0; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sed "s|^ExecStart=/usr/bin/ttscached|ExecStart=$ttscached|" "$units/ttscached.service" > "$dir/ttscached.service"
cp "$units/ttscached.socket" "$dir/ttscached.socket"
grep -q "^ExecStart=$ttscached --config /etc/ttscache/ttscached.conf$" "$dir/ttscached.service" \
  || { echo "FAIL: ExecStart is not the documented command"; exit 1; }
mkdir -p "$dir/man/man8" && cp "$man_dir/ttscached.8" "$dir/man/man8/"
(cd "$dir" && MANPATH="$dir/man" SYSTEMD_LOG_LEVEL=notice systemd-analyze verify ./ttscached.socket ./ttscached.service) \
  || { echo "FAIL: systemd-analyze verify"; exit 1; }
out=$(cd "$dir" && systemd-analyze security --offline=true ./ttscached.service 2>&1)
exposure=$(echo "$out" | grep -Eo 'Overall exposure level for ttscached.service: [0-9.]+' | grep -Eo '[0-9.]+$')
echo "systemd-analyze security --offline=true: overall exposure $exposure"
[ -n "$exposure" ] || { echo "FAIL: no exposure figure in: $out"; exit 1; }
awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }' || { echo "FAIL: exposure $exposure > 2.0"; exit 1; }
# Every hardening directive the issue lists is present, each after a comment line.
for d in ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateDevices=yes PrivateNetwork=yes \
         NoNewPrivileges=yes CapabilityBoundingSet= RestrictAddressFamilies=AF_UNIX RestrictNamespaces=yes \
         MemoryDenyWriteExecute=yes LockPersonality=yes SystemCallFilter=@system-service \
         SystemCallArchitectures=native ProtectKernelTunables=yes ProtectKernelModules=yes \
         ProtectKernelLogs=yes ProtectControlGroups=yes ProtectClock=yes ProtectHostname=yes UMask=0027 \
         Type=notify WatchdogSec= Restart=on-failure LimitNOFILE= CacheDirectory=ttscache RuntimeDirectory=ttscache; do
  grep -q "^$d" "$units/ttscached.service" || { echo "FAIL: $d missing"; exit 1; }
done
grep -q '^ListenStream=/run/ttscache/ttscached.sock$' "$units/ttscached.socket"
grep -q '^SocketMode=0660$' "$units/ttscached.socket"
grep -q '^SocketGroup=ttscache$' "$units/ttscached.socket"
echo ok
