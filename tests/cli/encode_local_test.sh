#!/usr/bin/env bash
# `ttscache encode --local`, run for real: a Piper-style 22.05 kHz WAV with a
# streaming (0xFFFFFFFF) header, stdin to stdout, a bad WAV (exit 3, the
# reader's message, no output file), usage errors (exit 2), and the refusal
# to write binary audio to a terminal.
set -euo pipefail
ttscache=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

espeak-ng -w "$dir/speech.wav" "The lights are on. One moment, please."
# ffmpeg writing WAV to a pipe cannot seek back: RIFF and data sizes stay 0xFFFFFFFF.
ffmpeg -v error -i "$dir/speech.wav" -ar 22050 -ac 1 -c:a pcm_s16le -f wav - | cat > "$dir/streaming.wav"
riff_size=$(od -An -tx4 -j4 -N4 "$dir/streaming.wav" | tr -d ' ')
[ "$riff_size" = "ffffffff" ] || fail "fixture: RIFF size is $riff_size, expected a streaming header"

"$ttscache" encode --local "$dir/streaming.wav" -o "$dir/out.opus" || fail "encode exited $?"
opusinfo "$dir/out.opus" > "$dir/info" 2>&1 || fail "opusinfo failed: $(cat "$dir/info")"
! grep -Eq 'WARNING|ERROR' "$dir/info" || fail "opusinfo complains: $(cat "$dir/info")"
grep -q "Original sample rate: 22050 Hz" "$dir/info" || fail "original rate missing"

# The decoded length equals the input's at 48 kHz (ffprobe counts the input samples).
in_samples=$(ffprobe -v error -count_packets -show_entries stream=duration_ts -of csv=p=0 "$dir/speech.wav")
opusdec --quiet --rate 48000 "$dir/out.opus" "$dir/decoded.wav"
out_samples=$(ffprobe -v error -show_entries stream=duration_ts -of csv=p=0 "$dir/decoded.wav")
expected=$(( (in_samples * 48000 + 22049) / 22050 ))
[ "$out_samples" = "$expected" ] || fail "decoded $out_samples samples, expected $expected"

# stdin → stdout, with parameters.
"$ttscache" encode --local --bitrate 24 --complexity 5 --application audio - < "$dir/speech.wav" > "$dir/piped.opus"
grep -q "Channels: 1" <<< "$(opusinfo "$dir/piped.opus")" || fail "piped output unreadable"

# A truncated WAV: exit 3, the reader's message, and no output file.
head -c 3000 "$dir/speech.wav" > "$dir/truncated.wav"
set +e
"$ttscache" encode --local "$dir/truncated.wav" -o "$dir/bad.opus" 2> "$dir/err"
rc=$?
set -e
[ "$rc" -eq 3 ] || fail "truncated WAV exited $rc, expected 3"
grep -q "truncated data chunk: header says .* bytes, 2956 present" "$dir/err" || fail "message: $(cat "$dir/err")"
[ ! -e "$dir/bad.opus" ] || fail "an output file was written for a bad WAV"
[ -z "$(ls "$dir" | grep '\.tmp\.')" ] || fail "temporary file left behind"

# Usage errors: exit 2.
for args in "--bitrate 900" "--complexity 11" "--application music" "--frame-ms 7" "--bogus"; do
  set +e
  # shellcheck disable=SC2086
  "$ttscache" encode --local $args "$dir/speech.wav" -o "$dir/x.opus" 2> "$dir/err"
  rc=$?
  set -e
  [ "$rc" -eq 2 ] || fail "'$args' exited $rc, expected 2"
done
grep -q "usage: ttscache encode" "$dir/err" || fail "usage not printed"

# Binary audio to a terminal is refused with a hint (script(1) gives us a tty).
if command -v script > /dev/null; then
  script -qec "$ttscache encode --local $dir/speech.wav" /dev/null > "$dir/tty" 2>&1 || true
  grep -q "use -o FILE" "$dir/tty" || fail "no refusal on a terminal: $(head -c 300 "$dir/tty")"
fi
echo ok
