#!/usr/bin/env bash
# The C API's coordinating calls (c_api_coordinate_test.c) against a real daemon.
# Usage: c_api_coordinate_test.sh C_TEST TTSCACHED
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/cli/test_daemon.sh
source "$here/test_daemon.sh"
start_test_daemon "$2"
espeak-ng -w "$dir/moment.wav" "One moment."
"$1" "$dir/d.sock" "$dir/moment.wav"
