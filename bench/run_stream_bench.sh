#!/usr/bin/env bash
# Encode streams against whole-file ENCODE and ffmpeg on a pipe, side by side
# in one run (docs/benchmarks.md, "Encode streams: first page, end of
# stream, CPU"): a ~7 s espeak-ng utterance at 22.05 kHz fed in 4096-sample chunks
# at real-time pace and at 10×; bench/stream_latency.cpp says what is timed.
#
# Usage: bench/run_stream_bench.sh [build-dir] [repetitions]   (defaults: build/release, 20)
#        bench/run_stream_bench.sh --smoke build-dir
#   --smoke: each way once at 10× and unpaced (a few seconds); fails unless
#   each gave a whole Ogg stream of the right length (ctest:
#   bench.stream_latency_smoke). It asserts no performance figure.
#        bench/run_stream_bench.sh --instructions build-dir [repetitions]   (default 3)
#   --instructions: the daemon under callgrind; the instructions it runs per
#   utterance for a stream (unpaced, 10×, 1×) and for a whole-file ENCODE,
#   each way on its own between two dumps: the CPU comparison without the
#   machine's noise, wake-ups and cold caches.
#
# Placement, as in the other daemon benches: ttscached (pinned with `cpus`)
# and the ffmpeg processes, the systems under test, on one CPU (DAEMON_CPU,
# default the last this script may use); stream_latency, the synthesizer's
# stand-in, on another (CLIENT_CPU, default the first).
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=0 instructions=0
if [ "${1:-}" = --smoke ]; then smoke=1; shift; fi
if [ "${1:-}" = --instructions ]; then instructions=1; shift; fi
build=${1:-build/release}
repetitions=${2:-20}
[ "$instructions" = 1 ] && repetitions=${2:-3}
for bin in daemon/ttscached bench/stream_latency; do
  [ -x "$build/$bin" ] || { echo "no $build/$bin: build it first" >&2; exit 1; }
done
command -v ffmpeg > /dev/null && command -v espeak-ng > /dev/null ||
  { echo "needs ffmpeg (with libopus) and espeak-ng" >&2; exit 1; }
cpus=($(python3 -c 'import os; print(*sorted(os.sched_getaffinity(0)))'))
daemon_cpu=${DAEMON_CPU:-${cpus[-1]}}
client_cpu=${CLIENT_CPU:-${cpus[0]}}

work=$(mktemp -d)
daemon=
cleanup() {
  if [ -n "$daemon" ]; then kill "$daemon" 2> /dev/null || true; wait "$daemon" 2> /dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# The utterance: one sentence, 7.18 s at 22,050 Hz, s16 mono (espeak-ng's output).
espeak-ng -w "$work/speech.wav" "Your next meeting starts in fifteen minutes, in the small conference \
room on the second floor, and the coffee is already waiting there."
python3 - "$work/speech.wav" <<'PY'
import sys, wave
w = wave.open(sys.argv[1])
seconds = w.getnframes() / w.getframerate()
assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (22050, 1, 2), "not 22.05 kHz s16 mono"
assert 6.5 <= seconds <= 7.5, seconds
PY

# ttscached with its defaults (2 workers, Opus 32 kb/s VBR voip, complexity
# 10, 20 ms frames) on a private socket and cache folder; nothing is stored
# (streams without engine and text, ENCODE), so fsync does not matter.
cat > "$work/ttscached.conf" <<CONF
[daemon]
socket = $work/ttscached.sock
cpus = $daemon_cpu
[cache]
dir = $work/cache
fsync = false
CONF
wrapper=()
if [ "$instructions" = 1 ]; then
  wrapper=(valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" --dump-instr=no)
fi
"${wrapper[@]}" "$build/daemon/ttscached" --config "$work/ttscached.conf" 2> "$work/daemon.log" &
daemon=$!
for _ in $(seq 600); do [ -S "$work/ttscached.sock" ] && break; sleep 0.05; done
[ -S "$work/ttscached.sock" ] || { cat "$work/daemon.log" >&2; exit 1; }

if [ "$instructions" = 1 ]; then
  # instructions_since_dump: what the daemon ran since the last dump (callgrind
  # zeroes its counters at each dump).
  instructions_since_dump() {
    callgrind_control -d "$daemon" > /dev/null 2>&1
    sleep 1
    local file
    file=$(ls -t "$work"/callgrind.out.* | head -1)
    awk '/^summary:/ {print $2}' "$file"
  }
  instructions_since_dump > /dev/null  # start-up
  printf '| way | pace | instructions per utterance | / whole-file ENCODE |\n|---|---|---|---|\n'
  encode=
  for way in "ENCODE after the last chunk unpaced" "stream unpaced" "stream 10×" "stream 1×"; do
    STREAM_LATENCY_ONLY="$way" taskset -c "$client_cpu" "$build/bench/stream_latency" \
      "$work/ttscached.sock" "$work/speech.wav" "$daemon" "$daemon_cpu" "$repetitions" > /dev/null 2>&1
    total=$(instructions_since_dump)
    per=$((total / repetitions))
    [ -z "$encode" ] && encode=$per
    python3 -c 'import sys; w, per, enc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]); name, pace = w.rsplit(" ", 1)
print(f"| {name} | {pace} | {per / 1e6:.2f} M | {per / enc:.4f} |")' "$way" "$per" "$encode"
  done
  exit 0
fi

args=("$work/ttscached.sock" "$work/speech.wav" "$daemon" "$daemon_cpu" "$repetitions")
[ "$smoke" = 1 ] && args+=(--smoke)
echo "ttscached on CPU $daemon_cpu (ffmpeg too), stream_latency on CPU $client_cpu; $(git rev-parse --short HEAD 2> /dev/null || echo '?')" >&2
taskset -c "$client_cpu" "$build/bench/stream_latency" "${args[@]}"
