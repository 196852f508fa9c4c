#!/usr/bin/env bash
# `ttscache encode --stream` against a real ttscached: the examples of
# docs/cli.md (a stand-in `piper --output_raw`), decoded lengths, the first
# pages on the output while a slow writer is still writing, a producer that
# pauses past the idle timeout, the finished stream as a cache hit, a reader
# that leaves (EPIPE), bad input and usage errors. With a third argument
# `espeak-stdout`: espeak-ng's own piped WAV and the docs' espeak-ng example.
set -euo pipefail
ttscache=$(realpath "$1")
ttscached=$2
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/cli/test_daemon.sh
source "$here/test_daemon.sh"
# shellcheck source=tests/support/doc_block.sh
source "$here/../support/doc_block.sh"
# A short idle timeout, so a pausing producer is tested in seconds.
start_test_daemon "$ttscached" "[stream]" "idle_timeout_s = 2"
fail() { echo "FAIL: $*" >&2; exit 1; }
status() { set +e; "$@" > "$dir/out" 2> "$dir/err"; echo $?; set -e; }
export TTSCACHE_SOCKET=$dir/d.sock
# Decoded samples at 48 kHz (opusdec trims the pre-skip and the end padding).
decoded_samples() {
  opusdec --quiet --rate 48000 --force-wav "$1" "$1.wav"
  ffprobe -v error -show_entries stream=duration_ts -of csv=p=0 "$1.wav"
}
check_opus() {  # FILE FRAMES: opusinfo is content, and it decodes to ceil(FRAMES × 48000 / 22050)
  opusinfo "$1" > "$1.info" 2>&1 || fail "opusinfo $1: $(cat "$1.info")"
  ! grep -Eq 'WARNING|ERROR' "$1.info" || fail "opusinfo complains about $1: $(cat "$1.info")"
  local got expected=$(( ($2 * 48000 + 22049) / 22050 ))
  got=$(decoded_samples "$1")
  [ "$got" = "$expected" ] || fail "$1 decodes to $got samples, expected $expected"
}

# espeak-ng writing to a pipe: a 44-byte header whose sizes are placeholders.
espeak-ng --stdout "The lights are on. One moment, please." > "$dir/espeak.wav"
[ "$(od -An -c -j36 -N4 "$dir/espeak.wav" | tr -d ' ')" = data ] || fail "fixture: header is not 44 bytes"
frames=$(( ($(stat -c %s "$dir/espeak.wav") - 44) / 2 ))
tail -c +45 "$dir/espeak.wav" > "$dir/speech.raw"

if [ "${3:-}" = espeak-stdout ]; then
  # espeak-ng's own placeholder sizes (0x7ffff000), as it writes them to a
  # pipe, and the docs' espeak-ng example as written.
  espeak-ng --stdout "The lights are on. One moment, please." \
    | "$ttscache" encode --stream --wav > "$dir/wav.opus" || fail "espeak-ng --stdout | encode --stream --wav exited $?"
  check_opus "$dir/wav.opus" "$frames"
  mkdir "$dir/docs"
  (cd "$dir/docs" && PATH="$(dirname "$ttscache"):$PATH" \
    run_doc_block "$here/../../docs/cli.md" stream-espeak) > "$dir/doc.log" 2>&1 \
    || fail "docs/cli.md block stream-espeak: $(cat "$dir/doc.log")"
  opusinfo "$dir/docs/moment.opus" > /dev/null || fail "stream-espeak output"
  echo ok
  exit 0
fi

# 1. A piped WAV with "unknown" sizes (0xFFFFFFFF, as ffmpeg writes to a pipe), stdin to stdout.
{ head -c 4 "$dir/espeak.wav"; printf '\xff\xff\xff\xff'; head -c 40 "$dir/espeak.wav" | tail -c +9 | head -c 32
  printf '\xff\xff\xff\xff'; cat "$dir/speech.raw"; } > "$dir/piped.wav"
[ "$(stat -c %s "$dir/piped.wav")" = "$(stat -c %s "$dir/espeak.wav")" ] || fail "fixture: piped.wav"
# shellcheck disable=SC2002  # a pipe, as from an engine, not a file
cat "$dir/piped.wav" | "$ttscache" encode --stream --wav > "$dir/wav.opus" || fail "encode --stream --wav exited $?"
check_opus "$dir/wav.opus" "$frames"

# 2. Raw PCM from a slow writer through a FIFO: the output has its header and
#    first audio pages while the writer is still writing.
mkfifo "$dir/fifo"
"$ttscache" encode --stream --rate 22050 < "$dir/fifo" > "$dir/slow.opus" &
encoder=$!
chunk=8192  # 4096 samples
chunks=$(( ($(stat -c %s "$dir/speech.raw") + chunk - 1) / chunk ))
[ "$chunks" -ge 10 ] || fail "fixture: only $chunks chunks"
exec 3> "$dir/fifo"
for i in $(seq 0 $((chunks - 1))); do
  dd if="$dir/speech.raw" bs=$chunk skip="$i" count=1 status=none >&3
  sleep 0.05
  if [ "$i" = 3 ]; then
    sleep 0.2  # the daemon's replies, not more input
    pages_while_writing=$(grep -aoc OggS "$dir/slow.opus" || true)
    bytes_while_writing=$(stat -c %s "$dir/slow.opus")
  fi
done
exec 3>&-
wait "$encoder" || fail "the slow stream exited $?"
echo "after 4 of $chunks chunks: $bytes_while_writing bytes, $pages_while_writing pages on the output"
[ "$bytes_while_writing" -gt 0 ] || fail "nothing written while the input was still coming"
[ "$pages_while_writing" -ge 3 ] || fail "no audio page while the input was still coming"
check_opus "$dir/slow.opus" "$frames"

# 2b. The producer pauses longer than idle_timeout_s (an engine waiting for
#     its next line): the stream is kept alive and encodes all of the input.
{ head -c 40000 "$dir/speech.raw"; sleep 3.5; tail -c +40001 "$dir/speech.raw"; } \
  | "$ttscache" encode --stream --rate 22050 > "$dir/paused.opus" || fail "a paused producer: exit $?"
check_opus "$dir/paused.opus" "$frames"

# 3. The docs' examples, as written, with a stand-in piper (espeak-ng's PCM,
#    s16le mono 22050 Hz, as `piper --output_raw` writes it).
mkdir "$dir/bin" "$dir/docs"
cat > "$dir/bin/piper" << 'EOF'
#!/usr/bin/env bash
espeak-ng --stdout "$(cat)" | tail -c +45
EOF
chmod +x "$dir/bin/piper"
for tag in stream-piper stream-cache; do
  (cd "$dir/docs" && PATH="$dir/bin:$(dirname "$ttscache"):$PATH" \
    run_doc_block "$here/../../docs/cli.md" "$tag") > "$dir/doc.log" 2>&1 \
    || fail "docs/cli.md block $tag: $(cat "$dir/doc.log")"
done
opusinfo "$dir/docs/lights.opus" > /dev/null || fail "stream-piper output"
grep -q "stored in the cache" "$dir/doc.log" || fail "--verbose: $(cat "$dir/doc.log")"
cmp -s "$dir/docs/moment-live.opus" "$dir/docs/hit.opus" \
  || fail "the cached variant differs from what was streamed"

# 4. --engine/--text: the finished stream is a hit, WAV and Opus.
"$ttscache" encode --stream --rate 22050 --engine piper --text "Streamed once." \
  < "$dir/speech.raw" > "$dir/cached.opus"
"$ttscache" get --engine piper --text "streamed once." -o "$dir/hit.wav" || fail "no WAV hit after the stream"
cmp -s <(tail -c "$(stat -c %s "$dir/speech.raw")" "$dir/hit.wav") "$dir/speech.raw" \
  || fail "the cached WAV does not hold the streamed PCM"
"$ttscache" get --engine piper --text "streamed once." --format opus -o "$dir/hit.opus" \
  || fail "no Opus hit after the stream"
cmp -s "$dir/hit.opus" "$dir/cached.opus" || fail "the Opus hit is not the streamed Ogg"

# 5. -o FILE, with Opus options: written through a temporary, renamed at the end.
"$ttscache" encode --stream --wav --bitrate 16 --complexity 5 -o "$dir/o.opus" < "$dir/piped.wav"
check_opus "$dir/o.opus" "$frames"
[ -z "$(find "$dir" -maxdepth 1 -name '*.tmp.*')" ] || fail "temporary file left behind"

# 6. The reader leaves: the stream is aborted (nothing stored), exit 3, one line.
set +e
for i in $(seq 0 $((chunks - 1))); do
  dd if="$dir/speech.raw" bs=$chunk skip="$i" count=1 status=none; sleep 0.05
done | "$ttscache" encode --stream --rate 22050 --engine piper --text "Nobody listened." \
  2> "$dir/err" | head -c 10 > /dev/null
rc=${PIPESTATUS[1]}
set -e
[ "$rc" = 3 ] || fail "a closed stdout exited $rc, expected 3: $(cat "$dir/err")"
grep -q "stdout closed by its reader; stream aborted" "$dir/err" || fail "message: $(cat "$dir/err")"
[ "$(wc -l < "$dir/err")" = 1 ] || fail "more than one line: $(cat "$dir/err")"
[ "$(status "$ttscache" get --engine piper --text "Nobody listened." -o "$dir/x")" = 1 ] \
  || fail "an aborted stream was stored"

# 7. Bad input: garbage as a WAV (exit 3, names the problem, no -o file),
#    no input at all, and no daemon (exit 4).
head -c 5000 /dev/urandom > "$dir/garbage"
[ "$(status "$ttscache" encode --stream --wav -o "$dir/bad.opus" "$dir/garbage")" = 3 ] \
  || fail "garbage WAV: exit $(status "$ttscache" encode --stream --wav -o "$dir/bad.opus" "$dir/garbage")"
grep -q "encode stream of $dir/garbage: .*RIFF" "$dir/err" || fail "message: $(cat "$dir/err")"
[ ! -e "$dir/bad.opus" ] || fail "an output file was written for garbage"
[ "$(status "$ttscache" encode --stream --rate 22050 - < /dev/null)" = 3 ] || fail "empty input"
grep -q "stdin: no input" "$dir/err" || fail "message: $(cat "$dir/err")"
[ "$(status "$ttscache" --socket "$dir/nowhere.sock" encode --stream --rate 22050 < "$dir/speech.raw")" = 4 ] \
  || fail "no daemon must exit 4"

# 8. Usage errors: exit 2 with the reason.
usage() {  # EXPECTED-MESSAGE ARGS...
  local want=$1
  shift
  [ "$(status "$ttscache" encode "$@" < "$dir/speech.raw")" = 2 ] || fail "'$*' must exit 2"
  grep -qF -- "$want" "$dir/err" || fail "'$*': message: $(cat "$dir/err")"
}
usage "raw PCM needs --rate" --stream
usage "--rate describes raw PCM" --stream --wav --rate 22050
usage "--rate 4000: expected an integer 8000–192000" --stream --rate 4000
usage "--channels 3: expected an integer 1–2" --stream --rate 22050 --channels 3
usage "--sample-format s16be: expected u8" --stream --rate 22050 --sample-format s16be
usage "--stream encodes through the daemon" --stream --local --rate 22050
usage "--rate needs --stream" --rate 22050
usage "give exactly one of --text and --text-file" --stream --rate 22050 --engine piper
usage "--engine is required" --stream --rate 22050 --text hi
echo ok
