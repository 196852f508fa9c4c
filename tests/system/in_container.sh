#!/bin/bash
# The system test's steps, run as root inside a booted Debian 12 container
# (see nspawn_test.sh): install the .debs with apt, then socket activation,
# access by group, reload, watchdog, stop, upgrade with a modified conffile,
# the metrics export, operating the cache and synthesis slots
# (metrics_in_container.sh, operate_in_container.sh,
# coordinate_in_container.sh, tier_in_container.sh),
# remove and purge. Each check is one line in /results/log; the last line is
# PASSED, or FAILED with the step.
set -uo pipefail
log=/results/log
: > "$log"
step=start
say() { echo "$*" | tee -a "$log"; }
fail() { say "FAILED at '$step': $*"; journalctl -u ttscached.service -u ttscached.socket --no-pager | tail -40 >> "$log"; exit 1; }
check() { step=$1; shift; if "$@" >> /results/commands.log 2>&1; then say "ok  $step"; else fail "$*"; fi; }
wait_for() {  # wait_for SECONDS command...: poll until it succeeds
  local until=$((SECONDS + $1)); shift
  until "$@" > /dev/null 2>&1; do [ $SECONDS -ge $until ] && return 1; sleep 0.2; done
}
as() { local user=$1; shift; runuser -u "$user" -- "$@"; }
main_pid() { systemctl show -p MainPID --value ttscached.service; }
export DEBIAN_FRONTEND=noninteractive
wav=/debs/speech.wav

# --- install ------------------------------------------------------------------
# prometheus-node-exporter is in the root with its textfile directory; moved
# aside until metrics_in_container.sh, so the install shows the metrics timer
# doing nothing without it (and not starting the daemon before its first client).
textfile_dir=/var/lib/prometheus/node-exporter
check "prometheus-node-exporter's textfile directory is there; moved aside" mv "$textfile_dir" "$textfile_dir.off"
# The guide's commands (docs/migrating.md) run as written, as root: sudo is a no-op.
# shellcheck source=tests/support/doc_block.sh
source /debs/doc_block.sh
sudo() { "$@"; }
export -f sudo
guide=/debs/migrating.md
check "docs/migrating.md step 1 (host-install): apt installs the daemon, dependencies resolved" \
  bash -c "cd /debs && $(declare -f doc_block run_doc_block); run_doc_block $guide host-install"
check "apt installs libttscache-dev" apt-get install -y --no-install-recommends /debs/libttscache-dev_*-1_*.deb
for f in /usr/bin/ttscached /usr/bin/ttscache /usr/share/man/man1/ttscache.1.gz /usr/share/man/man8/ttscached.8.gz \
  /lib/systemd/system/ttscached.service /lib/systemd/system/ttscached.socket /usr/lib/sysusers.d/ttscache.conf \
  /lib/systemd/system/ttscache-metrics.service /lib/systemd/system/ttscache-metrics.timer \
  /usr/lib/tmpfiles.d/ttscache.conf /etc/ttscache/ttscached.conf /usr/include/ttscache/client.hpp; do
  check "installed: $f" test -e "$f"
done
check "libttscache.so.1 is known to the loader" bash -c 'ldconfig -p | grep -q "libttscache.so.1 "'
check "the ttscache user and group exist" bash -c 'getent passwd ttscache && getent group ttscache'
check "the config is a conffile" bash -c "dpkg-query -W -f='\${Conffiles}' ttscache | grep -q /etc/ttscache/ttscached.conf"
check "ttscached.socket is enabled and listening" bash -c 'systemctl is-enabled ttscached.socket && systemctl is-active ttscached.socket'
check "systemd-analyze security: exposure 0.5 or lower" \
  bash -c 'systemd-analyze security ttscached.service | tee /dev/stderr | grep -Eq "Overall exposure level for ttscached.service: 0\.[0-5] "'
check "ttscache-metrics.timer is enabled and active" \
  bash -c 'systemctl is-enabled ttscache-metrics.timer && systemctl is-active ttscache-metrics.timer'
check "the timer fired; without the textfile directory the export was skipped (ConditionPathIsDirectory)" \
  wait_for 40 bash -c '[ "$(systemctl show -p LastTriggerUSecMonotonic --value ttscache-metrics.timer)" != 0 ] &&
    [ "$(systemctl show -p ConditionResult --value ttscache-metrics.service)" = no ] && ! test -e '"$textfile_dir"
check "the service waits for its first client" bash -c '! systemctl is-active ttscached.service'

# --- socket activation, access by group ---------------------------------------
useradd --create-home --groups ttscache alice
useradd --create-home bob
check "first connection starts the service (ping as a ttscache member)" as alice ttscache ping
check "the service is active (READY=1 sent)" wait_for 10 systemctl is-active ttscached.service
check "the service reports a status line" bash -c '[ -n "$(systemctl show -p StatusText --value ttscached.service)" ]'
check "journald files the daemon's log lines by priority" \
  bash -c 'journalctl -u ttscached.service -p info..info -o cat | grep -q .'
check "put as alice (socket path from /etc/ttscache/ttscached.conf)" \
  as alice ttscache put --engine piper --text "The lights are on." "$wav"
check "the sandboxed daemon publishes through O_TMPFILE (its /proc/self/fd works)" \
  bash -c '! journalctl -u ttscached.service -o cat | grep -q "has no O_TMPFILE"'
check "get is byte-equal" bash -c "runuser -u alice -- ttscache get --engine piper --text 'the lights are on.' -o /tmp/hit.wav && cmp /tmp/hit.wav $wav"
check "get --format opus" as alice ttscache get --engine piper --text "the lights are on." --format opus -o /tmp/hit.opus
check "encode through the daemon" as alice ttscache encode "$wav" -o /tmp/e1.opus
step="bob, not in group ttscache, is refused"
as bob ttscache ping > /tmp/bob.out 2>&1
code=$?
[ "$code" = 4 ] || fail "bob: exit $code, expected 4 (cannot connect): $(cat /tmp/bob.out)"
say "ok  $step (exit 4: $(head -c 120 /tmp/bob.out))"

# --- the Docker recipe: a client in another container ---------------------------
# nspawn_test.sh starts client_container.sh in a second container bound only to
# this one's /run/ttscache, running as uid 4242 with this ttscache gid alone in common.
getent group ttscache | cut -d: -f3 > /results/ttscache-gid
touch /results/client-wanted
check "the client container ran (tests/system/client_container.sh)" wait_for 240 test -e /results/client-done
check "another container's process (uid 4242, only the group in common) did put/get/encode; refused without the group" \
  bash -c '[ "$(cat /results/client-rc)" = 0 ] && grep -q "CLIENT PASSED" /results/client.log'
check "its put is a byte-equal hit here" \
  bash -c "runuser -u alice -- ttscache get --engine piper --text 'hello from a container.' -o /tmp/c.wav && cmp /tmp/c.wav $wav"

# --- adopting the old backend's cache folder ------------------------------------
# shellcheck source=tests/system/adopt_in_container.sh
source /debs/adopt_in_container.sh

# --- the backend's settings moved into the daemon's config (docs/migrating.md step 3)
check "docs/migrating.md step 3 (host-config): max_entries and default_slots set, config checked, daemon restarted" \
  bash -c "cd /tmp && $(declare -f doc_block run_doc_block); run_doc_block $guide host-config"
check "the edited file sets default_slots 4 (TTS_MAX_PARALLEL's meaning)" \
  bash -c "ttscached --config /etc/ttscache/ttscached.conf --print-config | grep -Eq '^default_slots = 4 +; file '"

# --- reload -------------------------------------------------------------------
sed -i 's/^bitrate_kbps = 32/bitrate_kbps = 96/' /etc/ttscache/ttscached.conf
pid_before=$(main_pid)
check "systemctl reload" systemctl reload ttscached.service
check "reload keeps the process" test "$(main_pid)" = "$pid_before"
as alice ttscache encode "$wav" -o /tmp/e2.opus
small=$(stat -c %s /tmp/e1.opus); big=$(stat -c %s /tmp/e2.opus)
check "the reloaded bitrate applies (32 kb/s: $small B, 96 kb/s: $big B)" test "$big" -gt $((2 * small))

# --- allowed_uids under the real unit (SO_PEERCRED must see real uids) -------
useradd --create-home --groups ttscache carol
sed -i 's/^allowed_uids = .*/allowed_uids = alice/' /etc/ttscache/ttscached.conf
check "reload with allowed_uids = alice" systemctl reload ttscached.service
check "alice is allowed" as alice ttscache ping
step="carol, in group ttscache but not in allowed_uids, is refused"
as carol ttscache ping > /tmp/carol.out 2>&1
code=$?
[ "$code" = 3 ] && grep -q "uid $(id -u carol)" /tmp/carol.out || fail "carol: exit $code: $(cat /tmp/carol.out)"
say "ok  $step (exit 3: $(head -c 120 /tmp/carol.out))"
sed -i 's/^allowed_uids = alice/allowed_uids =/' /etc/ttscache/ttscached.conf
check "reload with allowed_uids empty again" systemctl reload ttscached.service
check "carol is served again" as carol ttscache ping

# --- pinning under the real unit (its SystemCallFilter must allow sched_setaffinity) ---
# The last CPU this container may use, so the pinned set differs from the default.
cpu=$(grep '^Cpus_allowed_list:' /proc/self/status | awk '{print $2}' | tr ',-' '\n\n' | tail -1)
step="the container has at least two CPUs to choose from"
[ "$cpu" -ge 1 ] 2> /dev/null || fail "Cpus_allowed_list of the test: $(grep Cpus_allowed_list /proc/self/status)"
say "ok  $step (pinning to CPU $cpu)"
sed -i "s/^cpus = [^;]*/cpus = $cpu /" /etc/ttscache/ttscached.conf
check "restart with cpus = $cpu" bash -c 'systemctl restart ttscached.service && systemctl is-active ttscached.service'
pinned() {  # every thread of the daemon allows exactly CPU $1; the loop and both workers are there
  local pid=$1 want=$2 names="" task
  for task in /proc/"$pid"/task/*; do
    names+=" $(cat "$task/comm")"
    local allowed
    allowed=$(awk '/^Cpus_allowed_list:/ {print $2}' "$task/status")
    [ "$allowed" = "$want" ] || { echo "thread $(basename "$task") ($(cat "$task/comm")): Cpus_allowed_list $allowed, want $want"; return 1; }
  done
  echo "threads:$names"
  grep -qw ttscached <<< "$names" && [ "$(grep -o 'ttscache-w[0-9]*' <<< "$names" | wc -l)" -ge 2 ]
}
wait_for 5 pinned "$(main_pid)" "$cpu"  # the workers pin themselves just after they start
check "the event loop and every worker run on CPU $cpu only" pinned "$(main_pid)" "$cpu"
check "the journal has no 'cannot pin' line" bash -c '! journalctl -u ttscached.service -o cat | grep -i "cannot pin"'
sed -i "s/^cpus = $cpu /cpus = /" /etc/ttscache/ttscached.conf
check "restart with cpus empty again" systemctl restart ttscached.service

# --- watchdog -----------------------------------------------------------------
mkdir -p /etc/systemd/system/ttscached.service.d
printf '[Service]\nWatchdogSec=2s\nTimeoutAbortSec=2s\n' > /etc/systemd/system/ttscached.service.d/watchdog-test.conf
systemctl daemon-reload
check "restart with a 2 s watchdog" systemctl restart ttscached.service
hung=$(main_pid)
restarts=$(systemctl show -p NRestarts --value ttscached.service)
kill -STOP "$hung"  # a hung event loop: no more WATCHDOG=1
check "the watchdog kills the hung daemon and systemd restarts it" \
  wait_for 30 bash -c "[ \"\$(systemctl show -p NRestarts --value ttscached.service)\" -gt $restarts ] && systemctl is-active ttscached.service"
check "the journal names the watchdog" bash -c 'journalctl -u ttscached.service -o cat | grep -qi watchdog'
check "the restarted daemon serves the cache" bash -c "runuser -u alice -- ttscache get --engine piper --text 'the lights are on.' -o /tmp/hit2.wav && cmp /tmp/hit2.wav $wav"
rm -r /etc/systemd/system/ttscached.service.d
systemctl daemon-reload

# --- stop ---------------------------------------------------------------------
check "systemctl stop" systemctl stop ttscached.service
check "the daemon exited cleanly" bash -c '[ "$(systemctl show -p Result --value ttscached.service)" = success ] && [ "$(systemctl show -p ExecMainStatus --value ttscached.service)" = 0 ]'

# --- upgrade over itself with a modified conffile ------------------------------
echo "; local edit kept across upgrades" >> /etc/ttscache/ttscached.conf
as alice ttscache ping > /dev/null  # running again (socket activation) during the upgrade
pid_before=$(main_pid)
# No --force-conf* option: dpkg keeps a locally modified conffile on its own
# when the packaged one did not change (and would ask if it had).
check "upgrade to 0.2.0-2" apt-get install -y \
  /debs/upgrade/ttscache_*-2_*.deb /debs/upgrade/libttscache-dev_*-2_*.deb
check "version is 0.2.0-2" bash -c "[ \"\$(dpkg-query -W -f='\${Version}' ttscache)\" = 0.2.0-2 ]"
check "the modified conffile is kept" grep -q "local edit kept" /etc/ttscache/ttscached.conf
check "the socket is active after the upgrade" systemctl is-active ttscached.socket
check "the running daemon was restarted onto the new binary" \
  bash -c "systemctl is-active ttscached.service && [ \"\$(systemctl show -p MainPID --value ttscached.service)\" != $pid_before ]"
check "the cache survives the upgrade" bash -c "runuser -u alice -- ttscache get --engine piper --text 'the lights are on.' -o /tmp/hit3.wav && cmp /tmp/hit3.wav $wav"

# --- the metrics export; operating the cache ------------------------------------
# shellcheck source=tests/system/metrics_in_container.sh
source /debs/metrics_in_container.sh
# shellcheck source=tests/system/operate_in_container.sh
source /debs/operate_in_container.sh
# shellcheck source=tests/system/coordinate_in_container.sh
source /debs/coordinate_in_container.sh
# shellcheck source=tests/system/tier_in_container.sh
source /debs/tier_in_container.sh

# --- remove, purge ------------------------------------------------------------
check "apt-get remove" apt-get remove -y ttscache libttscache-dev
check "binaries gone" bash -c '! test -e /usr/bin/ttscached && ! test -e /usr/bin/ttscache'
check "units stopped" bash -c '! systemctl is-active ttscached.socket && ! systemctl is-active ttscached.service &&
  ! systemctl is-active ttscache-metrics.timer'
check "the exported metrics file is removed; the node exporter serves no ttscache_ series" \
  bash -c "! test -e $textfile_dir/ttscache.prom && ! curl -s localhost:9100/metrics | grep -q '^ttscache_'"
check "the cache is kept on remove" bash -c 'ls /var/cache/ttscache/piper/*.wav'
check "the config is kept on remove" test -e /etc/ttscache/ttscached.conf
# /run/ttscache is the host's folder bound in (nspawn_test.sh): a mount point
# cannot be removed, so it goes back to being this container's own folder.
umount /run/ttscache
check "apt-get purge" apt-get purge -y ttscache
check "purge removes the cache, runtime folder and config" \
  bash -c '! test -e /var/cache/ttscache && ! test -e /run/ttscache && ! test -e /etc/ttscache'
check "dpkg no longer knows the package" bash -c '! dpkg-query -W -f="\${Status}" ttscache 2>/dev/null | grep -q installed'
say "PASSED"
