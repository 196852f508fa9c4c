#!/usr/bin/env bash
# `ttscache slot run` and the coordination figures of `ttscache stats`
# against a real ttscached with `[coordinate] slots = gpu:2`: 8 commands
# started at once through the gpu slot never run more than 2 at a time
# (counted from inside, under flock) and all 8 run; the command's exit
# status comes back (3, and 128+15 for one killed by SIGTERM); SIGTERM to
# `slot run` reaches the command; a holder killed with SIGKILL frees its
# unit at once (its command, still running, does not inherit the
# connection); --wait 1 while both units are held exits 75 after about a
# second; an unknown slot is a clear error (3), no daemon 4, usage 2; the
# stats carry the slot (prometheus, JSON, text). docs/cli.md's cli-slot
# block runs as written.
# Usage: coordinate_cli_test.sh TTSCACHE TTSCACHED
set -euo pipefail
ttscache=$(realpath "$1")
ttscached=$2
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/cli/test_daemon.sh
source "$here/test_daemon.sh"
# shellcheck source=tests/support/doc_block.sh
source "$here/../support/doc_block.sh"
start_test_daemon "$ttscached" "[coordinate]" "slots = gpu:2"
fail() { echo "FAIL: $*" >&2; exit 1; }
status() { set +e; "$@" > "$dir/out" 2> "$dir/err"; echo $?; set -e; }
export TTSCACHE_SOCKET=$dir/d.sock
tc() { "$ttscache" "$@"; }
now_ms() { date +%s%3N; }
# Waits (up to 10 s) until the gpu slot has `held` units held.
held_is() {
  for _ in $(seq 200); do
    tc stats --json | grep -q "\"gpu\":{\"size\":2,\"held\":$1," && return 0
    sleep 0.05
  done
  fail "gpu never had $1 units held: $(tc stats --json)"
}

# 8 at once through a slot of 2: each counts itself in and out under flock.
echo 0 > "$dir/inside"
echo 0 > "$dir/max"
: > "$dir/ran"
worker='d=$1
flock "$d/lock" sh -c '\''n=$(( $(cat "$1/inside") + 1 )); echo $n > "$1/inside"
  [ $n -gt $(cat "$1/max") ] && echo $n > "$1/max"; echo ran >> "$1/ran"'\'' sh "$d"
sleep 0.3
flock "$d/lock" sh -c '\''echo $(( $(cat "$1/inside") - 1 )) > "$1/inside"'\'' sh "$d"'
pids=()
for _ in $(seq 8); do
  tc slot run --slot gpu --wait 30 -- sh -c "$worker" sh "$dir" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || fail "a slot run failed"; done
[ "$(wc -l < "$dir/ran")" = 8 ] || fail "not all 8 ran: $(wc -l < "$dir/ran")"
[ "$(cat "$dir/max")" -le 2 ] || fail "$(cat "$dir/max") ran at once through a slot of 2"
[ "$(cat "$dir/inside")" = 0 ] || fail "inside count $(cat "$dir/inside")"
echo "8 through gpu:2, at most $(cat "$dir/max") at once"
held_is 0

# The command's status is slot run's.
[ "$(status tc slot run --slot gpu -- sh -c 'exit 3')" = 3 ] || fail "exit 3 not passed on"
[ "$(status tc slot run --slot gpu -- sh -c 'kill -TERM $$')" = 143 ] || fail "a signal is 128+N"
[ "$(status tc slot run --slot gpu -- /nonexistent/command)" = 127 ] || fail "not found: 127"
grep -q "cannot run /nonexistent/command" "$dir/err" || fail "not found message: $(cat "$dir/err")"
# The command does not inherit the daemon connection (close-on-exec).
tc slot run --slot gpu -- sh -c 'ls -l /proc/$$/fd' > "$dir/fds"
! grep -q "socket:" "$dir/fds" || fail "the command inherited a socket: $(cat "$dir/fds")"

# SIGTERM to slot run reaches the command, which decides the status.
# (Started without the tc function: $! must be ttscache, not a subshell.)
"$ttscache" slot run --slot gpu -- sh -c 'sleep 30 & pid=$!; trap "kill $pid; exit 7" TERM; wait' &
runner=$!
held_is 1
sleep 0.2  # the trap is set
kill -TERM "$runner"
set +e; wait "$runner"; code=$?; set -e
[ "$code" = 7 ] || fail "SIGTERM forwarded: expected the command's 7, got $code"
held_is 0

# Both units held elsewhere: --wait 1 gives up after about a second, 75.
"$ttscache" slot run --slot gpu -- sleep 30 &
holder1=$!
"$ttscache" slot run --slot gpu -- sleep 30 &
holder2=$!
held_is 2
start=$(now_ms)
[ "$(status tc slot run --slot gpu --wait 1 -- true)" = 75 ] || fail "no unit in time: 75"
took=$(( $(now_ms) - start ))
grep -q 'no unit of slot "gpu" came free' "$dir/err" || fail "75's message: $(cat "$dir/err")"
if [ "$took" -lt 900 ] || [ "$took" -ge 5000 ]; then fail "--wait 1 took $took ms"; fi
[ "$(status tc slot run --slot gpu --wait 0 -- true)" = 75 ] || fail "--wait 0: 75 at once"

# A holder killed with SIGKILL: its unit is free at once, though its command
# (an orphan now) still runs.
sleeper=$(pgrep -P "$holder1" sleep)
kill -KILL "$holder1"
start=$(now_ms)
tc slot run --slot gpu --wait 10 -- true || fail "the killed holder's unit did not free"
took=$(( $(now_ms) - start ))
[ "$took" -lt 3000 ] || fail "the freed unit took $took ms"
kill -0 "$sleeper" || fail "the orphaned command should still run"
kill "$sleeper" "$holder2" 2> /dev/null || true
wait "$holder2" 2> /dev/null || true
held_is 0

# Errors: an unknown slot, no daemon, usage.
[ "$(status tc slot run --slot nope -- true)" = 3 ] || fail "unknown slot: 3"
grep -q 'no slot "nope"' "$dir/err" || fail "unknown slot message: $(cat "$dir/err")"
[ "$(status tc --socket "$dir/none.sock" slot run --slot gpu -- true)" = 4 ] || fail "no daemon: 4"
[ "$(status tc slot run --slot gpu)" = 2 ] || fail "no command: 2"
[ "$(status tc slot run --slot gpu --engine piper -- true)" = 2 ] || fail "both names: 2"
[ "$(status tc slot run -- true)" = 2 ] || fail "no name: 2"
[ "$(status tc slot run --slot gpu --wait -1 -- true)" = 2 ] || fail "negative wait: 2"
[ "$(status tc slot run --engine BAD -- true)" = 2 ] || fail "bad engine name: 2"
[ "$(status tc slot go)" = 2 ] || fail "unknown subcommand: 2"
[ "$(status tc slot run --engine piper -- true)" = 0 ] || fail "an engine's slot"

# Stats: the slot and the claim figures in every format.
tc stats --format prometheus > "$dir/prom"
grep -qE '^ttscache_slot_held\{slot="gpu"\} 0$' "$dir/prom" || fail "prometheus: $(grep slot "$dir/prom")"
grep -qE '^ttscache_slot_size\{slot="gpu"\} 2$' "$dir/prom" || fail "prometheus slot size"
grep -qE '^ttscache_slot_timeouts_total\{slot="gpu"\} [12]$' "$dir/prom" || fail "prometheus timeouts: $(grep timeouts "$dir/prom")"
grep -qE '^ttscache_slot_size\{slot="piper"\} 2$' "$dir/prom" || fail "an engine's default slot"
grep -qE '^ttscache_claims_total 0$' "$dir/prom" || fail "prometheus claims"
tc stats --json | node -e '
  const s = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const g = s.coordination.slots.gpu;
  if (g.size !== 2 || g.held !== 0 || !(g.acquired >= 15) || g.timeouts < 1) throw new Error(JSON.stringify(g));
' || fail "stats --json coordination"
tc stats | grep -qE '^gpu +2 +0 +0 ' || fail "stats text: $(tc stats)"

# docs/cli.md's block, as written.
cd "$dir"
PATH=$(dirname "$ttscache"):$PATH
export PATH
run_doc_block "$repo/docs/cli.md" cli-slot > "$dir/doc.out" 2>&1 || fail "docs/cli.md cli-slot: $(cat "$dir/doc.out")"
[ "$(cat "$dir/said.txt")" = "One moment." ] || fail "cli-slot: stdin was not the command's"
echo "coordinate cli ok"
