#!/usr/bin/env bash
# The Python package (client/python) with pytest against a real daemon
# (tests/python/conftest.py starts it): the built libttscache through
# TTSCACHE_LIBRARY, as an installed package finds its library.
#   python_client_test.sh PYTHON LIBTTSCACHE TTSCACHED BUILD_DIR [PYTEST_ARGS]...
set -euo pipefail
python=$1
lib=$(realpath "$2")
ttscached=$(realpath "$3")
build_dir=$(realpath "$4")
shift 4
here=$(cd "$(dirname "$0")" && pwd)
export TTSCACHE_LIBRARY=$lib TTSCACHED=$ttscached TTSCACHE_BUILD_DIR=$build_dir
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the source tree
# A sanitizer build of the library needs its runtimes loaded first in python.
deps=$(ldd "$lib")  # not piped into grep -q: its early exit would SIGPIPE ldd under pipefail
preload=()
for runtime in asan ubsan; do
  if grep -q "lib$runtime" <<< "$deps"; then
    preload+=("$(gcc -print-file-name=lib$runtime.so)")
  fi
done
if [ "${#preload[@]}" -gt 0 ]; then
  export LD_PRELOAD="${preload[*]}" ASAN_OPTIONS=detect_leaks=0
fi
exec "$python" -m pytest -q -p no:cacheprovider "$here/../python" "$@"
