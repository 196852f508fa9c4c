#!/usr/bin/env bash
# ttscached's configuration command line, run for real: --check-config exit
# codes and messages, --print-config sources, env overriding the file.
set -euo pipefail
ttscached=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# A file with bitrate_kbps = 900 on line 12: exit 78, message names line 12,
# the key, the value and the range.
{
  printf '[daemon]\nworkers = 2\n\n[cache]\nmax_entries = 500\n\n; comment\n\n'
  printf '[opus]\nenabled = true\nvbr = on\nbitrate_kbps = 900\n'
} > "$dir/bad.conf"
[ "$(sed -n 12p "$dir/bad.conf")" = "bitrate_kbps = 900" ] || fail "fixture: line 12 is not the bitrate"
set +e
env -u JOURNAL_STREAM "$ttscached" --check-config "$dir/bad.conf" > "$dir/out" 2> "$dir/err"
rc=$?
set -e
[ "$rc" -eq 78 ] || fail "--check-config on a bad file exited $rc, expected 78"
grep -q "bad.conf:12: .*bitrate_kbps = 900.*6–510" "$dir/err" || fail "message lacks line/key/value/range: $(cat "$dir/err")"
# Not the journal: no sd-daemon prefix, a readable level instead.
grep -q '^error: ' "$dir/err" || fail "error line lacks 'error: ': $(cat "$dir/err")"
! grep -q '^<[0-7]>' "$dir/err" || fail "priority prefix written outside the journal"
# stderr is the journal when JOURNAL_STREAM names its device and inode (as
# systemd sets it): then the prefix, for journald, and no level word.
: > "$dir/journal"
set +e
JOURNAL_STREAM=$(stat -c '%d:%i' "$dir/journal") \
  "$ttscached" --check-config "$dir/bad.conf" > /dev/null 2>> "$dir/journal"
set -e
grep -q '^<3>.*bad.conf:12: ' "$dir/journal" || fail "journal line lacks <3>: $(cat "$dir/journal")"
! grep -q '^error: ' "$dir/journal" || fail "level word written to the journal"

# A good file: exit 0.
printf '[opus]\nbitrate_kbps = 64\n' > "$dir/good.conf"
"$ttscached" --check-config "$dir/good.conf" > /dev/null || fail "--check-config on a good file failed"

# A missing file: exit 78 naming it.
set +e
"$ttscached" --check-config "$dir/missing.conf" 2> "$dir/err"
rc=$?
set -e
[ "$rc" -eq 78 ] || fail "missing file exited $rc"
grep -q "missing.conf" "$dir/err" || fail "missing file not named"

# --print-config: file line, env and default sources; env beats the file.
OPUS_BITRATE=48 TTS_MAX_PARALLEL=3 "$ttscached" --config "$dir/good.conf" --print-config > "$dir/printed"
grep -Eq '^bitrate_kbps = 48 +; env OPUS_BITRATE$' "$dir/printed" || fail "env source: $(cat "$dir/printed")"
# TTS_MAX_PARALLEL sets the synthesis slots ([coordinate] default_slots), not the workers.
grep -Eq '^default_slots = 3 +; env TTS_MAX_PARALLEL$' "$dir/printed" || fail "env default_slots: $(cat "$dir/printed")"
grep -Eq '^workers = 2 +; default$' "$dir/printed" || fail "TTS_MAX_PARALLEL still sets workers"
grep -q '^\[coordinate\]$' "$dir/printed" || fail "no [coordinate] section printed"
for key in claims lease_s max_wait_s max_claims max_claims_per_connection max_waiters_per_key slots max_slot_waiters; do
  grep -Eq "^$key = .*; default\$" "$dir/printed" || fail "[coordinate] $key not printed"
done
# A bad slot list: exit 78, naming the item and what was expected.
printf '[coordinate]\nslots = xtts:1, gpu=2\n' > "$dir/slots.conf"
set +e
"$ttscached" --check-config "$dir/slots.conf" > /dev/null 2> "$dir/err"
rc=$?
set -e
[ "$rc" -eq 78 ] || fail "bad slots exited $rc, expected 78"
grep -q 'slots.conf:2: .*slot "gpu=2" has no size, expected name:size' "$dir/err" || fail "bad slots message: $(cat "$dir/err")"
grep -Eq '^complexity = 10 +; default$' "$dir/printed" || fail "default source"
"$ttscached" --config "$dir/good.conf" --print-config | grep -Eq "^bitrate_kbps = 64 +; file $dir/good.conf:2\$" \
  || fail "file source"

# A bad environment value is a configuration error too.
set +e
OPUS_BITRATE=abc "$ttscached" --config "$dir/good.conf" --print-config > /dev/null 2> "$dir/err"
rc=$?
set -e
[ "$rc" -eq 78 ] || fail "bad env exited $rc"
grep -q "OPUS_BITRATE=abc" "$dir/err" || fail "bad env not named"

# Usage errors exit 2.
set +e
"$ttscached" --frobnicate 2> /dev/null
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "unknown flag exited $rc, expected 2"
# The example in docs/config.md is a valid file, and its --print-config lines are what it says.
docs=$(dirname "$0")/../../docs/config.md
sed -n '/<!-- example:config -->/,/<!-- \/example:config -->/p' "$docs" | sed '1,2d;$d' | sed '$d' > "$dir/example.conf"
grep -q '^max_bytes = 2G' "$dir/example.conf" || fail "could not extract the docs example"
"$ttscached" --check-config "$dir/example.conf" > /dev/null || fail "docs/config.md example is invalid"
OPUS_BITRATE=48 "$ttscached" --config "$dir/example.conf" --print-config > "$dir/printed"
for line in "bitrate_kbps = 48 .*; env OPUS_BITRATE" "max_entries = 10000 .*; file .*example.conf:9" \
            "complexity = 10 .*; default"; do
  grep -Eq "^$line\$" "$dir/printed" || fail "docs example: no line matching '$line'"
done
# The installed default file is valid and equals the built-in defaults.
"$ttscached" --check-config "$(dirname "$0")/../../config/ttscached.conf" > /dev/null || fail "config/ttscached.conf invalid"
echo "ok"
