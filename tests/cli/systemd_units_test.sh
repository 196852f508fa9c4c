#!/usr/bin/env bash
# The systemd units: `systemd-analyze verify` passes on all four, and each
# service's offline security exposure is at most its bound (the figures are
# printed). verify needs ExecStart's binary to exist; the copies checked here
# point it at the freshly built ttscached and ttscache, nothing else differs.
# ttscache-metrics.service's command line is also run, as written but for the
# socket and output paths, against a real daemon: it must write the exposition.
set -euo pipefail
ttscached=$1
man_dir=$2  # the generated man pages: verify checks Documentation=man:ttscached(8) and man:ttscache(1)
ttscache=$3
units=$(cd "$(dirname "$0")/../../systemd" && pwd)
command -v systemd-analyze > /dev/null || { echo "SKIP: systemd-analyze not installed"; exit 0; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sed "s|^ExecStart=/usr/bin/ttscached|ExecStart=$ttscached|" "$units/ttscached.service" > "$dir/ttscached.service"
cp "$units/ttscached.socket" "$units/ttscache-metrics.timer" "$dir/"
sed "s|^ExecStart=/usr/bin/ttscache |ExecStart=$ttscache |" "$units/ttscache-metrics.service" > "$dir/ttscache-metrics.service"
grep -q "^ExecStart=$ttscached --config /etc/ttscache/ttscached.conf$" "$dir/ttscached.service" \
  || { echo "FAIL: ExecStart is not the documented command"; exit 1; }
mkdir -p "$dir/man/man8" "$dir/man/man1" && cp "$man_dir/ttscached.8" "$dir/man/man8/" && cp "$man_dir/ttscache.1" "$dir/man/man1/"
(cd "$dir" && MANPATH="$dir/man" SYSTEMD_LOG_LEVEL=notice systemd-analyze verify ./ttscached.socket ./ttscached.service \
   ./ttscache-metrics.service ./ttscache-metrics.timer) \
  || { echo "FAIL: systemd-analyze verify"; exit 1; }
check_exposure() {  # check_exposure UNIT MAX
  local out exposure
  out=$(cd "$dir" && systemd-analyze security --offline=true "./$1" 2>&1)
  exposure=$(echo "$out" | grep -Eo "Overall exposure level for $1: [0-9.]+" | grep -Eo '[0-9.]+$')
  echo "systemd-analyze security --offline=true: $1: overall exposure $exposure"
  [ -n "$exposure" ] || { echo "FAIL: no exposure figure in: $out"; exit 1; }
  awk -v e="$exposure" -v m="$2" 'BEGIN { exit !(e <= m) }' || { echo "FAIL: $1: exposure $exposure > $2"; exit 1; }
}
check_exposure ttscached.service 2.0
# 0.7 when written: root (the textfile directory is root's) counts 0.4 of it,
# though with no capabilities; and its file must be world-readable (UMask).
check_exposure ttscache-metrics.service 1.0
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

# --- ttscache-metrics.service and .timer (docs/monitoring.md) ---------------------
metrics=$units/ttscache-metrics.service
textfile_dir=/var/lib/prometheus/node-exporter
exec_start=$(sed -n 's/^ExecStart=//p' "$metrics")
[ "$exec_start" = "/usr/bin/ttscache --socket /run/ttscache/ttscached.sock stats --format prometheus --output $textfile_dir/ttscache.prom" ] \
  || { echo "FAIL: ttscache-metrics.service's ExecStart is not the documented command: $exec_start"; exit 1; }
# Its socket is the one ttscached.socket listens on.
grep -q "^ListenStream=$(awk '{print $3}' <<< "$exec_start")$" "$units/ttscached.socket" \
  || { echo "FAIL: the export's --socket is not ttscached.socket's ListenStream"; exit 1; }
for d in Type=oneshot "ConditionPathIsDirectory=$textfile_dir" "ReadWritePaths=$textfile_dir" \
         ConditionPathExists=/run/ttscache/ttscached.sock After=ttscached.socket Group=ttscache \
         CapabilityBoundingSet=$ AmbientCapabilities=$ NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes \
         PrivateNetwork=yes RestrictAddressFamilies=AF_UNIX SystemCallFilter=@system-service \
         TimeoutStartSec= UMask=0022; do
  grep -q "^$d" "$metrics" || { echo "FAIL: ttscache-metrics.service: $d missing"; exit 1; }
done
# Not pulled in: the timer must not restart a socket the admin stopped.
! grep -Eq '^(Wants|Requires|BindsTo)=' "$metrics" || { echo "FAIL: ttscache-metrics.service pulls in another unit"; exit 1; }
# No [Install]: the timer starts it.
! grep -q '^\[Install\]' "$metrics" || { echo "FAIL: ttscache-metrics.service has an [Install] section"; exit 1; }
for d in OnBootSec=30s OnUnitActiveSec=15s AccuracySec=1s WantedBy=timers.target; do
  grep -qx "$d" "$units/ttscache-metrics.timer" || { echo "FAIL: ttscache-metrics.timer: $d missing"; exit 1; }
done
# Each hardening group opens with its reason: these lines follow a comment line.
for d in CapabilityBoundingSet= NoNewPrivileges= ProtectSystem= ProtectHome= PrivateTmp= PrivateDevices= \
         PrivateNetwork= RestrictAddressFamilies= RestrictNamespaces= MemoryDenyWriteExecute= LockPersonality= \
         SystemCallFilter=@ SystemCallArchitectures= ProtectKernelTunables= ProtectControlGroups= ProtectClock= \
         ProtectHostname= RestrictRealtime= ProtectProc= KeyringMode= DevicePolicy= UMask= User= Group= TimeoutStartSec=; do
  grep -B1 "^$d" "$metrics" | head -1 | grep -q '^#' \
    || { echo "FAIL: ttscache-metrics.service: no comment line before $d"; exit 1; }
done

# The command as written, against a real daemon (socket and output moved into
# the work folder): the exposition appears, atomically replaced on each run.
# shellcheck source=tests/cli/test_daemon.sh
source "$(dirname "$0")/test_daemon.sh"
saved_dir=$dir
start_test_daemon "$ttscached"
# (the daemon is killed below: the trap must not fail on it)
trap 'kill "$daemon" 2> /dev/null || true; wait 2> /dev/null || true; rm -rf "$dir" "$saved_dir"' EXIT
mkdir "$dir/textfile"
run_export() {
  eval "$(sed "s|^/usr/bin/ttscache |\"$ttscache\" |; s|/run/ttscache/ttscached.sock|$dir/d.sock|; s|$textfile_dir/|$dir/textfile/|" <<< "$exec_start")"
}
run_export || { echo "FAIL: the export command failed"; exit 1; }
prom=$dir/textfile/ttscache.prom
grep -qx 'ttscache_up 1' "$prom" || { echo "FAIL: no 'ttscache_up 1' in $prom:"; cat "$prom"; exit 1; }
grep -q '^# TYPE ttscache_encode_duration_seconds histogram$' "$prom" \
  || { echo "FAIL: no encode histogram in $prom"; exit 1; }
[ "$(stat -c %a "$prom")" = 644 ] || { echo "FAIL: $prom has mode $(stat -c %a "$prom"), not 644"; exit 1; }
[ "$(ls -A "$dir/textfile")" = ttscache.prom ] || { echo "FAIL: left in the textfile folder: $(ls -A "$dir/textfile")"; exit 1; }
# The daemon gone: the export fails and the previous file stays whole.
before=$(md5sum < "$prom")
kill "$daemon"; wait "$daemon" 2> /dev/null || true
if run_export 2> /dev/null; then echo "FAIL: the export succeeded without a daemon"; exit 1; fi
[ "$(md5sum < "$prom")" = "$before" ] || { echo "FAIL: a failed export changed $prom"; exit 1; }
[ "$(ls -A "$dir/textfile")" = ttscache.prom ] || { echo "FAIL: a failed export left: $(ls -A "$dir/textfile")"; exit 1; }
echo ok
