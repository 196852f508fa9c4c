#!/usr/bin/env bash
# Records the ABI of a built libttscache.so as the baseline CI checks against
# (abi/README.md): abi/libttscache.abi (libabigail's abidw) and
# abi/baseline-commit, the commit it was built from — the "previous release"
# tests/cli/abi_compat_test.sh builds an example against.
# Usage: scripts/abi-baseline.sh [BUILD_DIR]   (default build/release, a
# RelWithDebInfo build of a clean, committed tree)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
lib=$build/client/libttscache.so.1
[ -f "$lib" ] || { echo "abi-baseline: no $lib (build the release tree first)" >&2; exit 1; }
if ! git diff --quiet HEAD -- include client ipc core; then
  echo "abi-baseline: the library's sources have uncommitted changes; commit them first" >&2
  exit 1
fi
abidw --no-show-locs --no-corpus-path --type-id-style hash --drop-undefined-syms \
  --out-file abi/libttscache.abi "$lib"
git rev-parse HEAD > abi/baseline-commit
echo "abi-baseline: abi/libttscache.abi from $(cat abi/baseline-commit) ($(wc -c < abi/libttscache.abi) bytes)"
