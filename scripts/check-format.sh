#!/usr/bin/env bash
# Fails when any C/C++ source differs from what clang-format (.clang-format) makes of it.
# With --fix, rewrites the files instead.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files -co --exclude-standard -- '*.cpp' '*.hpp' '*.c' '*.h' '*.in' \
  | grep -E '\.(cpp|hpp|c|h)$' || true)
[ "${#files[@]}" -gt 0 ] || exit 0
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
if ! clang-format --dry-run --Werror "${files[@]}" 2> /tmp/ttscache-format.$$; then
  head -40 /tmp/ttscache-format.$$ >&2
  rm -f /tmp/ttscache-format.$$
  echo "check-format: run scripts/check-format.sh --fix" >&2
  exit 1
fi
rm -f /tmp/ttscache-format.$$
echo "check-format: ${#files[@]} files formatted"
