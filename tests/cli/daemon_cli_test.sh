#!/usr/bin/env bash
# The ttscache CLI against a real ttscached: the examples of docs/cli.md and
# the documented exit codes (0 ok, 1 miss, 2 usage, 3 refused, 4 no daemon).
set -euo pipefail
ttscache=$1
ttscached=$2
# shellcheck source=tests/cli/test_daemon.sh
source "$(dirname "$0")/test_daemon.sh"
start_test_daemon "$ttscached"
fail() { echo "FAIL: $*" >&2; exit 1; }
status() { set +e; "$@" > "$dir/out" 2> "$dir/err"; echo $?; set -e; }

export TTSCACHE_SOCKET=$dir/d.sock
[ "$("$ttscache" ping)" = pong ] || fail "ping"

espeak-ng -w "$dir/lights.wav" "The lights are on."
"$ttscache" put --engine piper --text "The lights are on." "$dir/lights.wav" || fail "put"
"$ttscache" get --engine piper --text "the lights are on." -o "$dir/hit.wav" || fail "get"
cmp -s "$dir/lights.wav" "$dir/hit.wav" || fail "the hit differs from what was put"
"$ttscache" get --engine piper --text "the lights are on." --format opus -o "$dir/hit.opus"
opusinfo "$dir/hit.opus" > /dev/null || fail "the Opus variant does not parse"
"$ttscache" get --engine piper --text "the lights are on." --format opus --bitrate 64 -o - > "$dir/b64.opus"
opusinfo "$dir/b64.opus" > /dev/null || fail "explicit bitrate variant"
"$ttscache" encode "$dir/lights.wav" -o "$dir/enc.opus" && opusinfo "$dir/enc.opus" > /dev/null || fail "encode"
"$ttscache" put --engine xtts --text-file <(printf 'from a file') - < "$dir/lights.wav" || fail "put from stdin"
"$ttscache" stats --json > "$dir/stats.json"
node -e 'const s=JSON.parse(require("fs").readFileSync(process.argv[1]));
  if (s.engines.piper.entries !== 1 || s.engines.xtts.entries !== 1 || s.engines.piper.hits < 1) process.exit(1)' \
  "$dir/stats.json" || fail "stats: $(cat "$dir/stats.json")"

[ "$(status "$ttscache" get --engine piper --text "never said" -o "$dir/x")" = 1 ] || fail "miss must exit 1"
[ ! -e "$dir/x" ] || fail "a miss wrote a file"
[ "$(status "$ttscache" get --engine nope --text hi -o "$dir/x")" = 3 ] || fail "unknown engine must exit 3"
grep -q 'unknown engine "nope"' "$dir/err" || fail "message: $(cat "$dir/err")"
head -c 100 "$dir/lights.wav" > "$dir/cut.wav"
[ "$(status "$ttscache" put --engine piper --text cut "$dir/cut.wav")" = 3 ] || fail "bad WAV must exit 3"
grep -q "truncated data chunk" "$dir/err" || fail "message: $(cat "$dir/err")"
[ "$(status "$ttscache" get --engine piper --format flac --text hi)" = 2 ] || fail "usage must exit 2"
[ "$(status "$ttscache" --timeout 0 ping)" = 2 ] || fail "--timeout 0 must exit 2"
grep -q -- '--timeout wants milliseconds > 0, got "0"' "$dir/err" || fail "message: $(cat "$dir/err")"
[ "$(status "$ttscache" --timeout 5s ping)" = 2 ] || fail "--timeout 5s must exit 2"
[ "$("$ttscache" --timeout 1500 ping)" = pong ] || fail "ping with --timeout 1500"
[ "$(status "$ttscache" --socket "$dir/none.sock" ping)" = 4 ] || fail "no daemon must exit 4"
grep -q "cannot connect to ttscached at $dir/none.sock" "$dir/err" || fail "message: $(cat "$dir/err")"
[ "$("$ttscache" --daemon-uid "$(id -u)" ping)" = pong ] || fail "ping with --daemon-uid"
if [ "$(id -u)" != 0 ]; then  # a daemon running as root is always accepted
  [ "$(status "$ttscache" --daemon-uid "$(($(id -u) + 1))" ping)" = 3 ] || fail "another uid must exit 3"
  grep -q "refusing the daemon at $dir/d.sock: it runs as uid $(id -u)" "$dir/err" || fail "message: $(cat "$dir/err")"
  [ "$(TTSCACHE_DAEMON_UID=$(($(id -u) + 1)) status "$ttscache" ping)" = 3 ] || fail "TTSCACHE_DAEMON_UID"
else
  [ "$("$ttscache" --daemon-uid 12345 ping)" = pong ] || fail "a daemon running as root must be accepted"
fi
[ "$(status "$ttscache" --daemon-uid nobody ping)" = 2 ] || fail "--daemon-uid nobody must exit 2"
# -o never replaces what is not a regular file (issue #13, finding 10): a FIFO
# and a device are written through, a symlink's target is written and the link
# kept. The device is a copy of /dev/null's node made here, never /dev/null.
mkfifo "$dir/fifo"
timeout 20 cat "$dir/fifo" > "$dir/from-fifo" &
reader=$!
"$ttscache" get --engine piper --text "the lights are on." -o "$dir/fifo" || fail "get -o FIFO"
wait "$reader" || fail "nothing was written through the FIFO"
[ -p "$dir/fifo" ] || fail "get -o replaced the FIFO"
cmp -s "$dir/lights.wav" "$dir/from-fifo" || fail "the FIFO did not carry the WAV"
printf 'old' > "$dir/target.wav"
ln -s target.wav "$dir/link.wav"
"$ttscache" get --engine piper --text "the lights are on." -o "$dir/link.wav" || fail "get -o symlink"
[ -L "$dir/link.wav" ] || fail "get -o replaced the symlink"
cmp -s "$dir/lights.wav" "$dir/target.wav" || fail "the symlink's target was not written"
"$ttscache" encode --local "$dir/lights.wav" -o "$dir/link.wav" || fail "encode --local -o symlink"
[ -L "$dir/link.wav" ] && opusinfo "$dir/target.wav" > /dev/null || fail "encode through the symlink"
if [ "$(id -u)" = 0 ] && mknod "$dir/null" c 1 3 && : > "$dir/null"; then
  "$ttscache" get --engine piper --text "the lights are on." -o "$dir/null" || fail "get -o device"
  [ -c "$dir/null" ] || fail "get -o replaced a character device with a $(stat -c %F "$dir/null")"
  "$ttscache" encode --local "$dir/lights.wav" -o "$dir/null" || fail "encode --local -o device"
  [ -c "$dir/null" ] || fail "encode -o replaced a character device with a $(stat -c %F "$dir/null")"
else
  echo "skip: the character-device step needs root and a filesystem that allows devices"
fi

for command in put get encode key stats ping; do
  grep -q "usage: ttscache $command" <<< "$("$ttscache" "$command" --help)" || fail "$command --help"
done
echo ok
