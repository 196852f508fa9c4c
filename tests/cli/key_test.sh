#!/usr/bin/env bash
# `ttscache key`: agrees with the old Node module's key, accepts --text-file,
# refuses engine names that are not names (exit 2). No daemon involved.
set -euo pipefail
ttscache=$1
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

text='  İstanbul:  THE Lights	are ON… '
expected=$(printf '%s' "$text" | xxd -p | tr -d '\n' | node "$here/../node/old-tts-cache.mjs" keys)
out=$("$ttscache" key --engine piper --text "$text")
[ "$out" = "key $expected
path piper/$expected.wav" ] || fail "got '$out', node says $expected"

printf '%s' "$text" > "$dir/text"
[ "$("$ttscache" key --engine xtts --text-file "$dir/text" | head -1)" = "key $expected" ] || fail "--text-file"

for engine in "../etc" "Piper" "" "a/b"; do
  set +e
  "$ttscache" key --engine "$engine" --text hi 2> "$dir/err"
  rc=$?
  set -e
  [ "$rc" -eq 2 ] || fail "engine '$engine' exited $rc, expected 2"
done
grep -q "expected \[a-z0-9\]" "$dir/err" || fail "message: $(cat "$dir/err")"
set +e
"$ttscache" key --engine piper 2> /dev/null
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "missing text exited $rc"
echo ok
