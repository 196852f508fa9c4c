#!/usr/bin/env bash
# A/B of two ttscached binaries under load_bench, alternating rounds in one run
# (docs/benchmarks.md, "What changed on the hit path").
# Usage: bench/ab_daemons.sh OLD_TTSCACHED NEW_TTSCACHED [rounds] [clients]
set -euo pipefail
old=$1; new=$2; rounds=${3:-2}; clients=${4:-1,8}
w=$(mktemp -d)
for v in old new; do
  mkdir -p $w/$v
  printf '[daemon]\nsocket = %s/%s/s.sock\nworkers = 2\nqueue_depth = 4096\n[cache]\ndir = %s/%s/cache\nmax_entries = 200000\nfsync = false\n' $w $v $w $v > $w/$v/c.conf
done
"$old" --config $w/old/c.conf 2>/dev/null & p1=$!
"$new" --config $w/new/c.conf 2>/dev/null & p2=$!
sleep 0.5
for r in $(seq $rounds); do
  for v in old new; do
    ${LOAD_BENCH:-build/release/bench/load_bench} $w/$v/s.sock 2 $clients | sed "s/^/$v,/" | grep -E "ping|hit_fd|cached_variant|hit_inline_200KB"
  done
done
kill $p1 $p2; wait 2>/dev/null; rm -rf $w
