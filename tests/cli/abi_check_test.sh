#!/usr/bin/env bash
# The ABI of the built libttscache.so against the committed baseline
# (abi/libttscache.abi): additions pass; a removed symbol or a changed
# layout, signature or type of anything exported fails with abidiff's report.
# An incompatible change needs a new SONAME and a new baseline (abi/README.md).
# Usage: abi_check_test.sh SOURCE_DIR LIBTTSCACHE_SO
set -euo pipefail
src=$1
lib=$2
baseline=$src/abi/libttscache.abi
[ -f "$baseline" ] || { echo "FAIL: no ABI baseline at $baseline"; exit 1; }
command -v abidiff > /dev/null || { echo "FAIL: abidiff not installed (apt-get install abigail-tools)"; exit 1; }
soname=$(objdump -p "$lib" | awk '/SONAME/ {print $2}')
want=$(sed -n "s/^<abi-corpus .*soname='\([^']*\)'.*/\1/p" "$baseline" | head -1)
if [ "$soname" != "$want" ]; then
  echo "FAIL: the library's SONAME is $soname, the baseline's $want: a new SONAME needs a new"
  echo "baseline (scripts/abi-baseline.sh, abi/README.md)"
  exit 1
fi
set +e
report=$(abidiff --no-added-syms --no-show-locs --suppressions "$src/abi/libttscache.suppr" "$baseline" "$lib" 2>&1)
status=$?
set -e
if [ "$status" -ne 0 ]; then
  echo "$report"
  echo "FAIL: libttscache's ABI changed incompatibly against abi/libttscache.abi (abidiff status $status)."
  echo "Keep the change compatible (add, never remove or reshape), or bump the SONAME and record a"
  echo "new baseline: abi/README.md."
  exit 1
fi
echo "$report" | head -3
echo "ABI compatible with the baseline of $(cat "$src/abi/baseline-commit")"
