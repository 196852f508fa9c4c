#!/usr/bin/env bash
# README command (1): install dependencies, build, start ttscached in the
# foreground on config/local.conf (socket and cache under ./.local, no root),
# and show it working: a put, a hit and an encode through the daemon, run by
# a helper in the background once the daemon is ready. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --run
# The daemon and the CLI only: the tests and benchmarks are README command 2's.
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTTSCACHE_BUILD_TESTS=OFF -DTTSCACHE_BUILD_BENCH=OFF > /dev/null
cmake --build build/release -j "$(nproc)"
mkdir -p .local
bin=build/release
export TTSCACHE_SOCKET=.local/ttscached.sock

demo() {
  for _ in $(seq 50); do "$bin/client/ttscache" ping > /dev/null 2>&1 && break; sleep 0.1; done
  echo "== demo: synthesize a phrase with espeak-ng, then put / get / encode through ttscached"
  espeak-ng -w .local/demo.wav "The lights are on."
  "$bin/client/ttscache" put --engine piper --text "The lights are on." .local/demo.wav && echo "put: ok"
  "$bin/client/ttscache" get --engine piper --text "  the LIGHTS are on. " -o .local/hit.wav \
    && cmp -s .local/demo.wav .local/hit.wav && echo "get: hit, $(stat -c %s .local/hit.wav) bytes, identical"
  "$bin/client/ttscache" get --engine piper --text "the lights are on." --format opus -o .local/hit.opus \
    && echo "get --format opus: $(stat -c %s .local/hit.opus) bytes of Ogg Opus (encoded once, then cached)"
  "$bin/client/ttscache" encode .local/demo.wav -o .local/demo.opus \
    && echo "encode: $(opusinfo .local/demo.opus | grep -m1 'Playback length' | xargs)"
  "$bin/client/ttscache" stats
  echo "== ttscached keeps running in the foreground; Ctrl-C stops it"
}
demo &
echo "== starting ttscached in the foreground with config/local.conf"
exec "$bin/daemon/ttscached" --config config/local.conf
