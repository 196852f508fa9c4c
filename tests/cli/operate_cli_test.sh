#!/usr/bin/env bash
# The CLI's operating commands against a real ttscached: --voice beside
# --engine (a voice's entry is not the engine's), ls (table, JSON Lines,
# filters, --limit), delete (by text and by key; not cached exits 1), purge
# (a voice, an engine with its voices), verify (clean 0, damaged 6, repaired
# 1), refusal of a non-admin (exit 3 with the daemon's message, while ls
# still works for it), and stats --format prometheus --output (atomic, 0644;
# a failed write keeps the old file and names the path and errno). The
# docs/cli.md blocks tagged cli-* run here as written.
# Usage: operate_cli_test.sh TTSCACHE TTSCACHED
set -euo pipefail
ttscache=$(realpath "$1")
ttscached=$2
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/cli/test_daemon.sh
source "$here/test_daemon.sh"
# shellcheck source=tests/support/doc_block.sh
source "$here/../support/doc_block.sh"
start_test_daemon "$ttscached"
fail() { echo "FAIL: $*" >&2; exit 1; }
status() { set +e; "$@" > "$dir/out" 2> "$dir/err"; echo $?; set -e; }
export TTSCACHE_SOCKET=$dir/d.sock
tc() { "$ttscache" "$@"; }

espeak-ng -w "$dir/lights.wav" "The lights are on."
espeak-ng -w "$dir/voice.wav" "The lights are on, in another voice."
espeak-ng -w "$dir/morning.wav" "Good morning."

# --voice: the same text in a voice is another entry; the engine's own stays.
tc put --engine piper --text "The lights are on." "$dir/lights.wav"
tc put --engine piper --voice en_US-lessac-medium --text "The lights are on." "$dir/voice.wav"
tc put --engine xtts --text "Good morning." "$dir/morning.wav"
tc get --engine piper --text "the lights are on." -o "$dir/plain.wav"
tc get --engine piper --voice en_US-lessac-medium --text "the lights are on." -o "$dir/v.wav"
cmp -s "$dir/plain.wav" "$dir/lights.wav" || fail "the engine's entry changed"
cmp -s "$dir/v.wav" "$dir/voice.wav" || fail "the voice's entry is not its own"
[ "$(status tc get --engine piper --voice other-voice --text "the lights are on." -o "$dir/x")" = 1 ] \
  || fail "another voice must miss"
[ "$(status tc get --engine piper --voice "bad/voice" --text hi -o "$dir/x")" = 2 ] || fail "bad voice: usage"
[ "$(status tc get --voice v --text hi -o "$dir/x")" = 2 ] || fail "--voice without --engine: usage"
key=$(tc key --engine piper --text "The lights are on." | awk '/^key/ {print $2}')
[ "$(tc key --engine piper --voice en_US-lessac-medium --text "The lights are on." | awk '/^path/ {print $2}')" \
  = "piper/en_US-lessac-medium/$key.wav" ] || fail "key --voice path"
[ -f "$dir/cache/piper/en_US-lessac-medium/$key.wav" ] || fail "the voice's file is not where docs say"

# ls: a header and one line per entry; filters; JSON Lines; --limit.
tc ls > "$dir/ls"
[ "$(head -1 "$dir/ls" | awk '{print $1, $2, $3, $4, $5}')" = "ENGINE KEY SIZE LAST_USED VARIANTS" ] \
  || fail "ls header: $(head -1 "$dir/ls")"
[ "$(tail -n +2 "$dir/ls" | wc -l)" = 3 ] || fail "ls: $(cat "$dir/ls")"
grep -qE "^piper/en_US-lessac-medium +$key +[0-9.]+[KM]? +20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z +0$" "$dir/ls" \
  || fail "ls line: $(cat "$dir/ls")"
[ "$(tc ls --engine piper | tail -n +2 | wc -l)" = 2 ] || fail "ls --engine piper: with its voices"
[ "$(tc ls --engine piper --voice en_US-lessac-medium | tail -n +2 | wc -l)" = 1 ] || fail "ls --voice"
[ "$(tc ls --min-size 1G | wc -l)" = 1 ] || fail "ls --min-size 1G: only the header"
[ "$(tc ls --min-idle 1d | wc -l)" = 1 ] || fail "ls --min-idle 1d: only the header"
[ "$(tc ls --max-idle 1h | tail -n +2 | wc -l)" = 3 ] || fail "ls --max-idle 1h"
[ "$(tc ls --limit 2 | tail -n +2 | wc -l)" = 2 ] || fail "ls --limit 2"
[ "$(status tc ls --min-size 12Q)" = 2 ] || fail "ls --min-size 12Q: usage"
tc get --engine piper --text "the lights are on." --format opus -o "$dir/hit.opus"
tc ls --json > "$dir/ls.json"
node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
  if (lines.length !== 3) throw new Error("3 lines expected");
  const v = lines.find(e => e.voice === "en_US-lessac-medium");
  const p = lines.find(e => e.engine === "piper" && e.voice === null);
  if (!v || !p || v.key !== process.argv[2] || p.variants.length !== 1) throw new Error("entries");
  const o = p.variants[0];
  if (o.bitrate_kbps !== 32 || o.vbr !== "on" || o.application !== "voip" || o.complexity !== 10 ||
      o.frame_ms !== 20 || !(o.bytes > 0)) throw new Error("variant " + JSON.stringify(o));
  if (p.total_bytes !== p.wav_bytes + o.bytes) throw new Error("total_bytes");
  if (new Date(p.last_access).getTime() !== Math.floor(p.last_access_ns / 1e9) * 1000) throw new Error("time");
' "$dir/ls.json" "$key" || fail "ls --json: $(cat "$dir/ls.json")"

# delete: by text, then not cached (1), by key; the voice's entry is separate.
tc delete --engine piper "The lights are on." > "$dir/out"
grep -qE "^deleted piper $key \([0-9]+ bytes, 1 variants\)$" "$dir/out" || fail "delete: $(cat "$dir/out")"
[ "$(status tc delete --engine piper "The lights are on.")" = 1 ] || fail "delete again must exit 1"
grep -q "not cached" "$dir/err" || fail "not cached message: $(cat "$dir/err")"
[ "$(status tc delete --engine piper --key nothex)" = 2 ] || fail "bad --key: usage"
[ "$(status tc delete --engine piper)" = 2 ] || fail "delete without an entry: usage"
tc delete --engine piper --voice en_US-lessac-medium --key "$key" > "$dir/out"
grep -q "^deleted piper/en_US-lessac-medium $key" "$dir/out" || fail "delete --key: $(cat "$dir/out")"
[ ! -e "$dir/cache/piper/en_US-lessac-medium/$key.wav" ] || fail "the voice's file is still there"

# purge: a voice, then an engine with all its voices.
tc put --engine piper --voice a --text one "$dir/lights.wav"
tc put --engine piper --voice b --text one "$dir/lights.wav"
tc put --engine piper --text one "$dir/lights.wav"
tc purge --engine piper --voice a > "$dir/out"
grep -qE "^purged 1 entries \([0-9]+ bytes\) of piper/a$" "$dir/out" || fail "purge voice: $(cat "$dir/out")"
tc purge --engine piper > "$dir/out"
grep -qE "^purged 2 entries \([0-9]+ bytes\) of piper$" "$dir/out" || fail "purge engine: $(cat "$dir/out")"
[ "$(tc ls --engine piper | wc -l)" = 1 ] || fail "piper is not empty after purge"
[ "$(tc ls --engine xtts | tail -n +2 | wc -l)" = 1 ] || fail "purge touched xtts"

# verify: clean, damaged (6) after a file is cut behind the daemon's back,
# repaired (1) with --repair, clean again.
tc verify > "$dir/out" || fail "verify of a sound cache: $(cat "$dir/out")"
grep -q "^clean: " "$dir/out" || fail "verify summary: $(cat "$dir/out")"
xkey=$(tc key --engine xtts --text "Good morning." | awk '/^key/ {print $2}')
truncate -s 100 "$dir/cache/xtts/$xkey.wav"
[ "$(status tc verify)" = 6 ] || fail "verify of a cut file must exit 6: $(cat "$dir/out")"
grep -qE "^KIND +PATH +DETAIL +REPAIRED" "$dir/out" || fail "verify table: $(cat "$dir/out")"
grep -q "xtts/$xkey.wav" "$dir/out" || fail "verify names the file: $(cat "$dir/out")"
grep -q "^damaged: " "$dir/out" || fail "verify summary: $(cat "$dir/out")"
[ "$(status tc verify --json)" = 6 ] || fail "verify --json exit"
jq -e '.verdict == "damaged" and .problems_total >= 1 and (.problems[0] | has("kind") and has("path"))' "$dir/out" > /dev/null \
  || fail "verify --json: $(cat "$dir/out")"
[ "$(status tc verify --repair)" = 1 ] || fail "verify --repair must exit 1: $(cat "$dir/out")"
grep -q "^repaired: " "$dir/out" || fail "repair summary: $(cat "$dir/out")"
tc verify > /dev/null || fail "verify after repair"

# A non-admin: refused with the daemon's message (exit 3); ls still works.
chmod 0755 "$dir"
chmod 0666 "$dir/d.sock"
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$ttscache" "$@"; }
[ "$(status nobody purge --engine xtts)" = 3 ] || fail "a non-admin's purge must exit 3: $(cat "$dir/err")"
grep -qi "admin" "$dir/err" || fail "the refusal names why: $(cat "$dir/err")"
[ "$(status nobody delete --engine xtts "Good morning.")" = 3 ] || fail "a non-admin's delete must exit 3"
[ "$(status nobody verify --repair)" = 3 ] || fail "a non-admin's repair must exit 3"
[ "$(status nobody ls)" = 0 ] || fail "a non-admin may list: $(cat "$dir/err")"

# stats: the new text, JSON and the Prometheus exposition written atomically.
tc stats > "$dir/out"
grep -q "ratio" "$dir/out" && grep -q "^disk: " "$dir/out" || fail "stats text: $(cat "$dir/out")"
tc stats --format json | jq -e '.engines.piper.hit_ratio >= 0 and .disk_free_bytes > 0 and .deleted >= 2 and .purged >= 3' > /dev/null \
  || fail "stats json: $(tc stats --format json)"
mkdir "$dir/textfile"
(umask 077 && tc stats --format prometheus --output "$dir/textfile/ttscache.prom")
[ "$(stat -c %a "$dir/textfile/ttscache.prom")" = 644 ] || fail "the .prom file's mode is not 0644"
grep -qx "ttscache_up 1" "$dir/textfile/ttscache.prom" || fail "no ttscache_up"
grep -q '^ttscache_entries{engine="xtts"} 1$' "$dir/textfile/ttscache.prom" || fail "entries: $(cat "$dir/textfile/ttscache.prom")"
grep -q '^ttscache_encode_duration_seconds_bucket{le="+Inf"} ' "$dir/textfile/ttscache.prom" || fail "histogram"
[ "$(ls -A "$dir/textfile")" = ttscache.prom ] || fail "a temporary was left: $(ls -A "$dir/textfile")"
[ "$(status tc stats --format prometheus --output "$dir/nowhere/x.prom")" = 3 ] || fail "a missing dir must exit 3"
grep -q "$dir/nowhere" "$dir/err" && grep -q ENOENT "$dir/err" || fail "the error names the path and errno: $(cat "$dir/err")"
[ "$(status tc stats --format yaml)" = 2 ] || fail "--format yaml: usage"
# A full filesystem: the write fails (ENOSPC) and the old file stays whole.
if mount -t tmpfs -o size=64k tmpfs "$dir/textfile" 2> /dev/null; then
  trap 'umount "$dir/textfile" 2> /dev/null; kill "$daemon" 2> /dev/null; wait 2> /dev/null; rm -rf "$dir"' EXIT
  echo "old" > "$dir/textfile/ttscache.prom"
  dd if=/dev/zero of="$dir/textfile/fill" bs=4k 2> /dev/null || true
  [ "$(status tc stats --format prometheus --output "$dir/textfile/ttscache.prom")" = 3 ] || fail "ENOSPC must exit 3"
  grep -q ENOSPC "$dir/err" || fail "the error names ENOSPC: $(cat "$dir/err")"
  [ "$(cat "$dir/textfile/ttscache.prom")" = old ] || fail "a failed write changed the old file"
  [ "$(ls -A "$dir/textfile" | sort | xargs)" = "fill ttscache.prom" ] || fail "a temporary was left"
  umount "$dir/textfile"
else
  echo "skip: cannot mount a tmpfs (not root?): the ENOSPC case is not checked"
fi

# docs/cli.md's blocks, as written (the textfile directory moved into $dir).
cd "$dir"
export PATH=$(dirname "$ttscache"):$PATH
doc() { "$@" > "$dir/doc.out" 2>&1 || fail "docs/cli.md ${*: -1}: $(cat "$dir/doc.out")"; }
doc run_doc_block "$repo/docs/cli.md" cli-voice
doc run_doc_block "$repo/docs/cli.md" cli-ls
doc run_doc_block "$repo/docs/cli.md" cli-delete
doc run_doc_block "$repo/docs/cli.md" cli-purge
doc run_doc_block "$repo/docs/cli.md" cli-verify
mkdir -p "$dir/node-exporter"
doc_block "$repo/docs/cli.md" cli-metrics | sed "s|/var/lib/prometheus/node-exporter|$dir/node-exporter|g" > "$dir/metrics.sh"
bash -e "$dir/metrics.sh" || fail "docs/cli.md cli-metrics"
grep -qx "ttscache_up 1" "$dir/node-exporter/ttscache.prom" || fail "cli-metrics wrote no exposition"
echo "operate cli ok"
