# Sourced by tests/system/in_container.sh after operate_in_container.sh (it
# defines check, say, fail, as, wait_for, run_expect, out_has; root in the
# booted Debian 12 container, the packaged daemon under its socket-activated
# unit, alice in group ttscache). Synthesis slots through the shipped unit
# and configuration (docs/cli.md, "slot run"): alice runs a command holding
# a unit of xtts's slot (default_slots, as the upgrade's edited conffile
# sets it), gets its exit status back, waits in vain (75) while every unit is
# held, and gets a unit at once when a holder is killed with SIGKILL; the
# export carries the slot.
slot_held() {  # slot_held N: xtts's slot has N units held
  ttscache stats --json | grep -Eq "\"xtts\":\\{\"size\":[0-9]+,\"held\":$1,"
}
check "slot run --engine xtts as alice (a member of group ttscache)" \
  as alice ttscache slot run --engine xtts -- true
run_expect "slot run exits with the command's status" 3 \
  as alice ttscache slot run --engine xtts -- sh -c 'exit 3'
xtts_size=$(ttscache stats --json | grep -oE '"xtts":\{"size":[0-9]+' | grep -oE '[0-9]+$')
step="xtts's slot has a size"
[ "${xtts_size:-0}" -ge 1 ] || fail "no size for xtts in: $(ttscache stats --json | head -c 300)"
say "ok  $step ($xtts_size)"
holders=()
for _ in $(seq "$xtts_size"); do
  runuser -u alice -- ttscache slot run --engine xtts -- sleep 60 &
  holders+=($!)
done
check "$xtts_size holders take every unit of xtts" wait_for 10 slot_held "$xtts_size"
run_expect "one more waits --wait 1 in vain: 75" 75 \
  as alice ttscache slot run --engine xtts --wait 1 -- true
out_has 'no unit of slot "xtts" came free'
# runuser's child is ttscache: SIGKILL it, not runuser.
check "a holder killed with SIGKILL frees its unit" \
  bash -c "pkill -KILL -P ${holders[0]} -x ttscache && runuser -u alice -- ttscache slot run --engine xtts --wait 5 -- true"
check "the export carries the slot" bash -c \
  "ttscache stats --format prometheus | grep -Eq '^ttscache_slot_timeouts_total\{slot=\"xtts\"\} [1-9]'"
for holder in "${holders[@]}"; do pkill -P "$holder" -x ttscache || true; done
pkill -x sleep || true
wait "${holders[@]}" 2> /dev/null || true
check "every unit is free again" wait_for 10 slot_held 0
