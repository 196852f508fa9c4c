#!/usr/bin/env bash
# docs/migrating.md promises that every command in it is run by a test: each
# fenced block carries a `<!-- test: TAG -->` line (tests/support/doc_block.sh)
# and some test under tests/ runs that tag. Fails on an untagged block and on
# a tag no test runs. docs/cli.md's tagged blocks (not all of its blocks are
# tagged: some show output or a synopsis) must each be named by a test that
# runs docs/cli.md's blocks.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
doc=$repo/docs/migrating.md
untagged=$(awk '
  /^```/ { if (fenced) { fenced = 0; next } fenced = 1; if (t == "") print FILENAME ":" NR ": " $0; t = ""; next }
  !fenced && /^<!-- test: [a-z0-9-]+ -->$/ { t = $3; next }
  !fenced && NF { t = "" }
' "$doc")
[ -z "$untagged" ] || { echo "FAIL: blocks without a test tag:"; echo "$untagged"; exit 1; }
tags=$(grep -oE '^<!-- test: [a-z0-9-]+ -->$' "$doc" | awk '{print $3}')
[ -n "$tags" ] || { echo "FAIL: no tagged blocks in $doc"; exit 1; }
for tag in $tags; do
  grep -rqE "(run_)?doc_block [^ ]+ $tag\b" "$repo/tests" || { echo "FAIL: no test runs the block tagged $tag"; exit 1; }
  echo "ok  $tag: $(grep -rlE "(run_)?doc_block [^ ]+ $tag\b" "$repo/tests" | sed "s|$repo/||" | xargs)"
done
# (A test may run them in a loop: the tag must be named in a test that runs doc_block.)
for tag in $(grep -oE '^<!-- test: [a-z0-9-]+ -->$' "$repo/docs/cli.md" | awk '{print $3}'); do
  runners=$(grep -rlwF -- "$tag" "$repo/tests" | xargs -r grep -lE "(run_)?doc_block [^ ]+/docs/cli.md" || true)
  [ -n "$runners" ] || { echo "FAIL: no test runs docs/cli.md's block tagged $tag"; exit 1; }
  echo "ok  cli.md $tag: $(sed "s|$repo/||" <<< "$runners" | xargs)"
done
