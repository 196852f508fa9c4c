#!/usr/bin/env bash
# `ttscached --verify DIR [--repair] [--config FILE]` run for real: a clean
# cache exits 0; damage made by hand (a truncated WAV, a stray temporary)
# exits 6 and changes nothing; --repair exits 1 and a second look exits 0
# with the sound entries still served byte for byte; 75 names the pid of a
# daemon holding the dir; 78 for a bad configuration (docs/cli.md).
set -euo pipefail
ttscache=$1
ttscached=$2
# shellcheck source=tests/cli/test_daemon.sh
source "$(dirname "$0")/test_daemon.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
status() { set +e; "$@" > "$dir/out" 2> "$dir/err"; echo $?; set -e; }

start_test_daemon "$ttscached"
# The daemon is stopped and started again below: the cleanup must not fail on a dead pid.
trap 'kill "$daemon" 2> /dev/null || true; wait 2> /dev/null || true; rm -rf "$dir"' EXIT
export TTSCACHE_SOCKET=$dir/d.sock
# Small WAVs (16-bit mono 16 kHz), each with its own samples.
wav() {
  python3 - "$1" "$2" <<'PY'
import sys, wave
with wave.open(sys.argv[1], "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000)
    w.writeframes(bytes((int(sys.argv[2]) * 7 + i) % 256 for i in range(4000)))
PY
}
for i in 1 2 3; do
  wav "$dir/$i.wav" "$i"
  "$ttscache" put --engine piper --text "text $i" "$dir/$i.wav" || fail "put $i"
done

# A daemon holds the dir: 75, naming its pid; nothing is checked.
[ "$(status "$ttscached" --verify "$dir/cache" --config "$dir/d.conf")" = 75 ] \
  || fail "with a daemon running: exit $(status "$ttscached" --verify "$dir/cache" --config "$dir/d.conf"), expected 75"
grep -q "pid $daemon" "$dir/err" || fail "the message does not name the daemon's pid $daemon: $(cat "$dir/err")"

kill "$daemon"
wait "$daemon" || true

# Clean after a clean stop.
[ "$(status "$ttscached" --verify "$dir/cache" --config "$dir/d.conf")" = 0 ] \
  || fail "a clean cache: $(cat "$dir/out" "$dir/err")"
grep -q '^clean: 3 entries' "$dir/out" || fail "summary: $(cat "$dir/out")"

# Damage: one WAV cut short, a stray temporary, a file that is not the cache's.
key2=$("$ttscache" key --engine piper --text "text 2" | sed -n 's/^key //p')
truncate -s 100 "$dir/cache/piper/$key2.wav"
echo junk > "$dir/cache/piper/.tmp-stray"
echo note > "$dir/cache/piper/README"
snapshot() { (cd "$dir/cache" && find . -printf '%p %s %T@\n' | sort && md5sum .ttscache-index); }
before=$(snapshot)
[ "$(status "$ttscached" --verify "$dir/cache" --config "$dir/d.conf")" = 6 ] \
  || fail "damaged: exit $(status "$ttscached" --verify "$dir/cache" --config "$dir/d.conf"): $(cat "$dir/out")"
head -1 "$dir/out" | grep -q '^KIND  *PATH  *DETAIL  REPAIRED$' || fail "table header: $(cat "$dir/out")"
grep -q "^size-mismatch  *piper/$key2.wav .* no$" "$dir/out" || fail "truncated WAV not reported: $(cat "$dir/out")"
grep -q '^temporary  *piper/.tmp-stray .* no$' "$dir/out" || fail "temporary not reported: $(cat "$dir/out")"
grep -q '^unknown  *piper/README .* -$' "$dir/out" || fail "unknown file not remarked: $(cat "$dir/out")"
grep -q '^damaged: ' "$dir/out" || fail "summary: $(cat "$dir/out")"
[ "$(snapshot)" = "$before" ] || fail "--verify without --repair changed the cache dir"

[ "$(status "$ttscached" --verify "$dir/cache" --repair --config "$dir/d.conf")" = 1 ] \
  || fail "--repair: $(cat "$dir/out" "$dir/err")"
grep -q "^size-mismatch  *piper/$key2.wav .* yes$" "$dir/out" || fail "not repaired: $(cat "$dir/out")"
grep -q '^repaired: ' "$dir/out" || fail "summary: $(cat "$dir/out")"
[ ! -e "$dir/cache/piper/.tmp-stray" ] || fail "the temporary is still there"
[ -e "$dir/cache/piper/README" ] || fail "the unknown file was removed"
[ "$(status "$ttscached" --verify "$dir/cache" --config "$dir/d.conf")" = 0 ] \
  || fail "after the repair: $(cat "$dir/out")"

# The sound entries are served as they were; the damaged one is a miss.
start_test_daemon_on() {
  "$ttscached" --config "$dir/d.conf" 2> "$dir/daemon.log" &
  daemon=$!
  for _ in $(seq 100); do "$ttscache" ping > /dev/null 2>&1 && return 0; sleep 0.05; done
  fail "ttscached did not restart: $(cat "$dir/daemon.log")"
}
rm -f "$dir/d.sock"
start_test_daemon_on
for i in 1 3; do
  "$ttscache" get --engine piper --text "text $i" -o "$dir/got.wav" || fail "text $i is not served"
  cmp -s "$dir/$i.wav" "$dir/got.wav" || fail "text $i is served with other bytes"
done
[ "$(status "$ttscache" get --engine piper --text "text 2" -o "$dir/got.wav")" = 1 ] \
  || fail "the truncated entry should be a miss"
kill "$daemon"
wait "$daemon" || true

# A configuration error: 78. Usage errors: 2.
printf '[cache]\nmax_entries = banana\n' > "$dir/bad.conf"
[ "$(status "$ttscached" --verify "$dir/cache" --config "$dir/bad.conf")" = 78 ] || fail "bad config: not 78"
[ "$(status "$ttscached" --verify)" = 2 ] || fail "--verify without DIR: not 2"
[ "$(status "$ttscached" --repair)" = 2 ] || fail "--repair without --verify: not 2"
echo PASS
