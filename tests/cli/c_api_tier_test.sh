#!/usr/bin/env bash
# The C API's tier counters (c_api_tier_test.c) against a real daemon with
# no [tier] configured.
# Usage: c_api_tier_test.sh C_TEST TTSCACHED
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/cli/test_daemon.sh
source "$here/test_daemon.sh"
start_test_daemon "$2"
"$1" "$dir/d.sock" off
