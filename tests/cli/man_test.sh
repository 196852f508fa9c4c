#!/usr/bin/env bash
# The generated man pages: groff renders them without a warning, whatis can
# read their NAME, and every option the programs' --help lists is in them.
set -euo pipefail
man_dir=$1
ttscache=$2
ttscached=$3
fail() { echo "FAIL: $*"; exit 1; }
for page in "$man_dir/ttscache.1" "$man_dir/ttscached.8"; do
  warnings=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$page" 2>&1)
  [ -z "$warnings" ] || fail "groff warns on $page: $warnings"
  name=$(lexgrog "$page") || fail "lexgrog cannot read NAME of $page"
  echo "$name"
  cmp -s <(zcat "$page.gz") "$page" || fail "$page.gz differs from $page"
done
rendered_cli=$(MANWIDTH=200 man -l "$man_dir/ttscache.1" 2> /dev/null)
section() {  # the text of one COMMANDS subsection (or SYNOPSIS for "")
  if [ -z "$1" ]; then
    sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' <<< "$rendered_cli"
  else
    awk -v c="$1" '/^   [a-z]+$/ { inside = ($1 == c); next } /^[A-Z]/ { inside = 0 } inside' <<< "$rendered_cli"
  fi
}
for command in "" put get encode stats ping key adopt ls delete purge verify slot; do
  text=$(section "$command")
  [ -n "$text" ] || fail "ttscache.1 has no section for '$command'"
  # shellcheck disable=SC2086  # an empty command must vanish
  options=$("$ttscache" $command --help | { grep -oE -- '--[a-z][a-z-]+' || true; } | sort -u)
  for option in $options; do
    grep -qF -- "$option" <<< "$text" || fail "ttscache.1 lacks '$option' of '$command --help'"
  done
done
for code in 0 1 2 3 4 5 6 75; do
  grep -qE "^ +$code +[A-Z]" <<< "$rendered_cli" || fail "ttscache.1 EXIT STATUS lacks $code"
done
rendered_daemon=$(MANWIDTH=200 man -l "$man_dir/ttscached.8" 2> /dev/null)
for option in $("$ttscached" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
  grep -qF -- "$option" <<< "$rendered_daemon" || fail "ttscached.8 lacks '$option'"
done
for key in $("$ttscached" --config /dev/null --print-config | sed -n 's/^\([a-z_]*\) =.*/\1/p'); do
  grep -qE "^ +$key" <<< "$rendered_daemon" || fail "ttscached.8 lacks config key $key"
done
echo "man pages ok"
