#!/usr/bin/env bash
# libttscache's C API against a real daemon: from C (linked to the shared
# library) and from Python with ctypes.
set -euo pipefail
c_test=$1
lib=$2
ttscached=$3
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/cli/test_daemon.sh
source "$here/test_daemon.sh"
start_test_daemon "$ttscached"
espeak-ng -w "$dir/lights.wav" "The lights are on."
"$c_test" "$dir/d.sock" "$dir/lights.wav"
# A sanitizer build of the library needs its runtimes loaded first in python.
preload=()
deps=$(ldd "$lib")  # not piped into grep -q: its early exit would SIGPIPE ldd under pipefail
for runtime in asan ubsan; do
  if grep -q "lib$runtime" <<< "$deps"; then
    preload+=("$(gcc -print-file-name=lib$runtime.so)")
  fi
done
if [ "${#preload[@]}" -gt 0 ]; then
  LD_PRELOAD="${preload[*]}" ASAN_OPTIONS=detect_leaks=0 \
    python3 "$here/../c_api/ctypes_test.py" "$lib" "$dir/d.sock" "$dir/lights.wav"
else
  python3 "$here/../c_api/ctypes_test.py" "$lib" "$dir/d.sock" "$dir/lights.wav"
fi
