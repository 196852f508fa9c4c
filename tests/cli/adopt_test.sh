#!/usr/bin/env bash
# `ttscache adopt` against a real ttscached (docs/cli.md, "adopt"): a folder
# written by the old Node module (tests/node/old-tts-cache.mjs) — two engines,
# a junk file, an engine the daemon does not serve, a truncated WAV, files of
# another uid when run as root — is adopted; every entry is then a byte-equal
# hit by text, the LRU order follows the files' mtimes, --move removes only
# what was adopted, --dry-run changes nothing, the limit check refuses, and
# voice subfolders are adopted as their voices.
set -euo pipefail
ttscache=$1
ttscached=$2
old_module=$3
# shellcheck source=tests/cli/test_daemon.sh
source "$(dirname "$0")/test_daemon.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
status() { set +e; "$@" > "$dir/out" 2> "$dir/err"; echo $?; set -e; }
work=$(mktemp -d)
daemon=

# A fresh daemon on an empty cache, with these [cache] lines; $old is a copy
# of the old folder for it to adopt.
new_daemon() {
  if [ -n "$daemon" ]; then kill "$daemon"; wait "$daemon" || true; rm -rf "$dir"; fi
  start_test_daemon "$ttscached" "$@"
  trap 'kill "$daemon" 2> /dev/null; wait 2> /dev/null; rm -rf "$dir" "$work"' EXIT
  export TTSCACHE_SOCKET=$dir/d.sock
  old=$dir/old
  cp -a "$work/old" "$old"
}
# The files under a folder with their sizes, mtimes and checksums.
listing() { (cd "$1" && find . -type f -printf '%p %s %T@ %u\n' | sort && find . -type f -exec md5sum {} + | sort); }
stats_of() { node -e 'const s=JSON.parse(require("fs").readFileSync(0));console.log(s.engines[process.argv[1]][process.argv[2]])' "$1" "$2" < <("$ttscache" stats --json); }
entries() { stats_of "$1" entries; }
hit() {  # engine text wav: a byte-equal hit
  "$ttscache" get --engine "$1" --text "$2" -o "$dir/hit.wav" || fail "no hit for $1 \"$2\""
  cmp -s "$3" "$dir/hit.wav" || fail "the hit for $1 \"$2\" differs from what the old module stored"
}
miss() {
  [ "$(status "$ttscache" get --engine "$1" --text "$2" -o "$dir/x.wav")" = 1 ] || fail "$1 \"$2\" should be a miss"
}

# The old module's folder. Texts are put as the backend said them; they are
# fetched below in another case and spacing (the key normalizes them).
old=$work/old
declare -A said=([p1]="The lights are on." [p2]="Good   morning!" [p3]="One moment, please."
                 [x1]="It is raining." [x2]="Turn left.")
declare -A engine=([p1]=piper [p2]=piper [p3]=piper [x1]=xtts [x2]=xtts)
declare -A path
declare -A mtime=([p1]=1700000000 [x1]=1700000050 [p2]=1700000100 [x2]=1700000150 [p3]=1700000200)
for id in p1 p2 p3 x1 x2; do
  espeak-ng -w "$work/$id.wav" "${said[$id]}"
  node "$old_module" put "$old" "${engine[$id]}" 500 "${said[$id]}" "$work/$id.wav"
  key=$(printf '%s' "${said[$id]}" | od -An -tx1 | tr -d ' \n' | node "$old_module" keys)
  touch -d "@${mtime[$id]}" "$old/${engine[$id]}/$key.wav"
  path[$id]=$old/${engine[$id]}/$key.wav
done
espeak-ng -w "$work/cut.wav" "Cut short."
node "$old_module" put "$old" xtts 500 "Cut short." "$work/cut.wav"
cut=$(ls -t "$old/xtts" | head -1)  # the newest file: the one just written
truncate -s 100 "$old/xtts/$cut"
echo "notes" > "$old/piper/README.txt"                        # junk
mkdir -p "$old/coqui"                                           # an engine not served
cp "$work/p1.wav" "$old/coqui/$(printf 'unknown engine' | sha256sum | cut -c1-64).wav"
if [ "$(id -u)" = 0 ]; then chown -R 1000:1000 "$old"; fi      # the old service's uid
[ "$(find "$old" -type f | wc -l)" = 8 ] || fail "the old folder: $(find "$old" -type f)"

# --dry-run: reports, changes nothing (the source, the daemon).
new_daemon
before=$(listing "$old")
[ "$(status "$ttscache" adopt --dry-run "$old")" = 5 ] || fail "dry run: $(cat "$dir/err")"
grep -q "would adopt piper: 3 adopted" "$dir/out" || fail "dry run summary: $(cat "$dir/out")"
grep -q "would adopt xtts: 2 adopted" "$dir/out" || fail "dry run summary: $(cat "$dir/out")"
[ "$(listing "$old")" = "$before" ] || fail "--dry-run changed the source"
[ "$(entries piper)" = 0 ] && [ "$(entries xtts)" = 0 ] || fail "--dry-run sent entries"

# Everything adopted: byte-equal hits by text, reasons for what is not.
new_daemon
before=$(listing "$old")
[ "$(status "$ttscache" adopt "$old")" = 5 ] || fail "adopt must exit 5 (some not adopted): $(cat "$dir/err")"
grep -q "^adopted piper: 3 adopted" "$dir/out" || fail "summary: $(cat "$dir/out")"
grep -q "^adopted xtts: 2 adopted" "$dir/out" || fail "summary: $(cat "$dir/out")"
grep -q "^adopted 5 entries" "$dir/out" || fail "summary: $(cat "$dir/out")"
grep -q "skipped $old/piper/README.txt: the name is not <64 lowercase hex digits>.wav" "$dir/err" \
  || fail "junk: $(cat "$dir/err")"
grep -q "not adopted $old/coqui/.*\.wav: engine \"coqui\" is not served by the daemon (it serves: xtts, piper" "$dir/err" \
  || fail "unknown engine: $(cat "$dir/err")"
grep -q "not adopted $old/xtts/$cut: .*truncated" "$dir/err" || fail "truncated WAV: $(cat "$dir/err")"
hit piper "the lights are on." "$work/p1.wav"
hit piper "good morning!" "$work/p2.wav"
hit piper "  ONE MOMENT, please. " "$work/p3.wav"
hit xtts "it is raining." "$work/x1.wav"
hit xtts "turn left." "$work/x2.wav"
miss xtts "Cut short."
[ "$(listing "$old")" = "$before" ] || fail "adopt without --move changed the source"
# The daemon's copies are its own, with the old mtimes.
for id in p1 x2; do
  copy=$dir/cache/${engine[$id]}/$(basename "${path[$id]}")
  [ "$(stat -c %u "$copy")" = "$(id -u)" ] || fail "the copy is not the daemon's"
  [ "$(stat -c %Y "$copy")" = "${mtime[$id]}" ] || fail "the copy's mtime is not the source's"
done
# Again: nothing new, all already cached.
[ "$(status "$ttscache" adopt --engine piper "$old")" = 0 ] || fail "second adopt: $(cat "$dir/err")"
grep -q "^adopted piper: 0 adopted (0 bytes), 3 already cached" "$dir/out" || fail "again: $(cat "$dir/out")"

# --move: removes the adopted files only.
[ "$(status "$ttscache" adopt --move "$old")" = 5 ] || fail "--move: $(cat "$dir/err")"
left=$(cd "$old" && find . -type f | sort | tr '\n' ' ')
expected=$(cd "$old" && printf '%s\n' ./coqui/*.wav ./piper/README.txt "./xtts/$cut" | sort | tr '\n' ' ')
[ "$left" = "$expected" ] || fail "--move left: $left, expected: $expected"
hit piper "the lights are on." "$work/p1.wav"

# The limits: refused when adopting would evict, and nothing is sent.
new_daemon "max_entries = 2"
[ "$(status "$ttscache" adopt "$old")" = 3 ] || fail "the limit refusal must exit 3"
grep -q "piper: 3 new to adopt + 0 cached = 3 > max_entries 2, so 1 entries would be evicted; raise \[cache\] max_entries" "$dir/err" \
  || fail "refusal message: $(cat "$dir/err")"
grep -q "Nothing was sent" "$dir/err" || fail "refusal message: $(cat "$dir/err")"
[ "$(entries piper)" = 0 ] || fail "a refused adopt sent entries"

# Entries the daemon holds already do not count: adopting the same folder
# again (as --move after a first run does) fits a daemon that is full.
new_daemon "max_entries = 3"
[ "$(status "$ttscache" adopt --engine piper "$old")" = 0 ] || fail "adopt up to the limit: $(cat "$dir/err")"
[ "$(status "$ttscache" adopt --move --engine piper "$old")" = 0 ] || fail "again at the limit: $(cat "$dir/err")"
grep -q "^adopted piper: 0 adopted (0 bytes), 3 already cached, 0 evicted at once, 0 not adopted, 3 source files removed" "$dir/out" \
  || fail "again at the limit: $(cat "$dir/out")"
[ "$(stats_of piper evictions)" = 0 ] || fail "adopting again evicted"
new_daemon "max_entries = 2"

# --allow-evict: the LRU order follows the mtimes, the oldest go first.
[ "$(status "$ttscache" adopt --allow-evict --engine piper "$old")" = 0 ] || fail "--allow-evict: $(cat "$dir/err")"
miss piper "The lights are on."                          # p1, the oldest
hit piper "Good morning!" "$work/p2.wav"
hit piper "One moment, please." "$work/p3.wav"

# Adopted entries take their place by time among the daemon's own: an entry
# put now outlives the old ones (adopted entries are not simply "newest").
new_daemon "max_entries = 3"
"$ttscache" put --engine piper --text "fresh" "$work/x1.wav"
[ "$(status "$ttscache" adopt --allow-evict --engine piper "$old")" = 0 ] || fail "adopt beside a fresh entry"
grep -q "^adopted piper: 3 adopted" "$dir/out" || fail "summary: $(cat "$dir/out")"
hit piper "fresh" "$work/x1.wav"
miss piper "The lights are on."                          # the oldest went, not "fresh"
hit piper "Good morning!" "$work/p2.wav"
hit piper "One moment, please." "$work/p3.wav"
# Older than everything in a full engine: stored and evicted at once, and
# --move keeps that source.
[ "$(status "$ttscache" adopt --allow-evict --move --engine piper "$old")" = 0 ] || fail "again: $(cat "$dir/err")"
grep -q "^adopted piper: 0 adopted (0 bytes), 2 already cached, 1 evicted at once, 0 not adopted, 2 source files removed" "$dir/out" \
  || fail "summary: $(cat "$dir/out")"
[ -e "${path[p1]/$work/$dir}" ] || fail "--move removed a file evicted at once"
hit piper "fresh" "$work/x1.wav"

# Voice subfolders (ttscache's own layout, docs/layout.md) are adopted as
# ENGINE/VOICE: the same text is a separate entry in each, and a subfolder
# that is not named as a voice is skipped.
new_daemon
voiced=$work/voiced
mkdir -p "$voiced/piper/en_US-lessac" "$voiced/piper/not a voice"
key=$(printf '%s' "${said[p1]}" | od -An -tx1 | tr -d ' \n' | node "$old_module" keys)
cp "$work/p1.wav" "$voiced/piper/$key.wav"
cp "$work/p2.wav" "$voiced/piper/en_US-lessac/$key.wav"
cp "$work/p3.wav" "$voiced/piper/not a voice/$key.wav"
[ "$(status "$ttscache" adopt "$voiced")" = 0 ] || fail "adopt with voices: $(cat "$dir/err")"
grep -q "^adopted piper: 1 adopted" "$dir/out" || fail "voices summary: $(cat "$dir/out")"
grep -q "^adopted piper/en_US-lessac: 1 adopted" "$dir/out" || fail "voices summary: $(cat "$dir/out")"
grep -q "skipped $voiced/piper/not a voice: " "$dir/err" || fail "not a voice: $(cat "$dir/err")"
cmp -s "$dir/cache/piper/$key.wav" "$work/p1.wav" || fail "the voiceless entry's copy"
cmp -s "$dir/cache/piper/en_US-lessac/$key.wav" "$work/p2.wav" || fail "the voice's copy"
[ "$(entries piper)" = 2 ] || fail "piper should count both voices' entries"
hit piper "the lights are on." "$work/p1.wav"

# Usage and failures.
[ "$(status "$ttscache" adopt)" = 2 ] || fail "adopt without DIR must exit 2"
[ "$(status "$ttscache" adopt --move --dry-run "$old")" = 2 ] || fail "--move --dry-run must exit 2"
[ "$(status "$ttscache" adopt --engine 'Bad/Name' "$old")" = 2 ] || fail "a bad --engine must exit 2"
[ "$(status "$ttscache" adopt "$dir/nowhere")" = 3 ] || fail "a missing DIR must exit 3"
grep -q "open $dir/nowhere: " "$dir/err" || fail "message: $(cat "$dir/err")"
[ "$(status "$ttscache" --socket "$dir/none.sock" adopt "$old")" = 4 ] || fail "no daemon must exit 4"
grep -q "usage: ttscache adopt" <<< "$("$ttscache" adopt --help)" || fail "adopt --help"
echo ok
