# Sourced by tests/system/in_container.sh after operate_in_container.sh (it
# defines check, say, fail, as, wait_for, run_expect; root in the booted
# Debian 12 container, the packaged daemon under its socket-activated unit,
# alice in group ttscache). Synthesis slots through the shipped unit and
# configuration (docs/cli.md, "slot run"): alice runs a command holding a
# unit of xtts's slot (default_slots 2), gets its exit status back, waits in
# vain (75) while both units are held, and gets a unit at once when a holder
# is killed with SIGKILL; the export carries the slot.
slot_held() {  # slot_held N: xtts's slot has N units held
  ttscache stats --json | grep -q "\"xtts\":{\"size\":2,\"held\":$1,"
}
check "slot run --engine xtts as alice (a member of group ttscache)" \
  as alice ttscache slot run --engine xtts -- true
run_expect "slot run exits with the command's status" 3 \
  as alice ttscache slot run --engine xtts -- sh -c 'exit 3'
runuser -u alice -- ttscache slot run --engine xtts -- sleep 60 &
holder1=$!
runuser -u alice -- ttscache slot run --engine xtts -- sleep 60 &
holder2=$!
check "two holders take both units of xtts" wait_for 10 slot_held 2
run_expect "a third waits --wait 1 in vain: 75" 75 \
  as alice ttscache slot run --engine xtts --wait 1 -- true
out_has 'no unit of slot "xtts" came free'
# runuser's child is ttscache: SIGKILL it, not runuser.
check "a holder killed with SIGKILL frees its unit" \
  bash -c "pkill -KILL -P $holder1 -x ttscache && runuser -u alice -- ttscache slot run --engine xtts --wait 5 -- true"
check "the export carries the slot" bash -c \
  "ttscache stats --format prometheus | grep -Eq '^ttscache_slot_timeouts_total\{slot=\"xtts\"\} [1-9]'"
pkill -P "$holder2" -x ttscache || true
pkill -x sleep || true
wait "$holder1" "$holder2" 2> /dev/null || true
check "every unit is free again" wait_for 10 slot_held 0
