# Sourced by tests/system/in_container.sh after metrics_in_container.sh (it
# defines check, say, fail, as, wait_for, main_pid and $wav; root in the booted
# Debian 12 container, the packaged daemon running under its unit, alice in
# group ttscache but not an admin). Operating the cache through the packaged
# daemon (docs/cli.md): delete, purge and verify as root (an admin by
# default) and as alice (refused), a damaged file found and repaired,
# `ttscached --verify` refused while the daemon holds the folder; the export
# then counts the deletions and purges.
cache=/var/cache/ttscache
prom=/var/lib/prometheus/node-exporter/ttscache.prom

# run_expect STEP CODE COMMAND...: COMMAND exits CODE; its output is in /tmp/out.
run_expect() {
  step=$1
  local want=$2 code
  shift 2
  "$@" > /tmp/out 2>&1
  code=$?
  { echo "\$ $* -> exit $code"; cat /tmp/out; } >> /results/commands.log
  [ "$code" = "$want" ] || fail "exit $code, expected $want: $(head -c 300 /tmp/out)"
  say "ok  $step (exit $code: $(head -1 /tmp/out | head -c 100))"
}
out_has() { grep -Eq "$1" /tmp/out || fail "no /$1/ in: $(head -c 300 /tmp/out)"; }
key_of() { ttscache key --engine "$1" --text "$2" | awk '$1 == "key" {print $2}'; }

# --- entries to operate on -------------------------------------------------------
for text in "Operate one." "Operate two." "Operate three."; do
  check "put '$text' as alice" as alice ttscache put --engine piper --text "$text" "$wav"
done
check "put with a voice (piper/en_US-test) as alice" \
  as alice ttscache put --engine piper --voice en_US-test --text "Operate voice." "$wav"
check "put to xtts as alice" as alice ttscache put --engine xtts --text "Operate xtts." "$wav"
check "ls --json lists the voice's entry as alice" \
  bash -c 'runuser -u alice -- ttscache ls --engine piper --voice en_US-test --json | grep -Eq "\"voice\": ?\"en_US-test\""'

# --- delete ---------------------------------------------------------------------
run_expect "alice (not in admin_uids) may not delete" 3 as alice ttscache delete --engine piper "Operate one."
out_has 'admin operation'
check "the entry alice tried to delete is still a hit" \
  as alice ttscache get --engine piper --text "operate one." -o /tmp/op1.wav
run_expect "root deletes an entry by its text" 0 ttscache delete --engine piper "Operate one."
out_has "^deleted piper $(key_of piper "Operate one.") \("
run_expect "a get of the deleted entry is a miss" 1 as alice ttscache get --engine piper --text "operate one." -o /tmp/op1b.wav
run_expect "deleting it again: not cached" 1 ttscache delete --engine piper "Operate one."
key2=$(key_of piper "Operate two.")
run_expect "root deletes an entry by its key" 0 ttscache delete --engine piper --key "$key2"
check "its file is gone" bash -c "! test -e $cache/piper/$key2.wav"

# --- purge ----------------------------------------------------------------------
run_expect "alice may not purge" 3 as alice ttscache purge --engine xtts
run_expect "purge one voice" 0 ttscache purge --engine piper --voice en_US-test
out_has '^purged 1 entries \([0-9]+ bytes\) of piper/en_US-test'
run_expect "the voice's entry is gone" 1 \
  as alice ttscache get --engine piper --voice en_US-test --text "operate voice." -o /tmp/opv.wav
check "the engine's own entries stay" as alice ttscache get --engine piper --text "operate three." -o /tmp/op3.wav
xtts_entries=$(ttscache ls --engine xtts --json | grep -c '"key"')
step="xtts holds the adopted entry and the one put here"
[ "$xtts_entries" -ge 2 ] || fail "ttscache ls --engine xtts --json: $xtts_entries entries"
say "ok  $step ($xtts_entries entries)"
run_expect "purge the engine xtts" 0 ttscache purge --engine xtts
out_has "^purged $xtts_entries entries \([0-9]+ bytes\) of xtts"
check "ls --engine xtts lists nothing, and its folder holds no WAV" \
  bash -c "[ \"\$(ttscache ls --engine xtts --json | grep -c .)\" = 0 ] && ! ls $cache/xtts/*.wav"

# --- verify, a damaged file, repair ----------------------------------------------
run_expect "verify (as alice: no repair asked) finds the cache clean" 0 as alice ttscache verify
key3=$(key_of piper "Operate three.")
check "truncate a cached WAV ($cache/piper/$key3.wav) to 100 bytes" truncate -s 100 "$cache/piper/$key3.wav"
run_expect "verify reports the damage" 6 ttscache verify
out_has "$key3"
run_expect "alice may not repair" 3 as alice ttscache verify --repair
run_expect "root repairs" 1 ttscache verify --repair
run_expect "verify again: clean" 0 ttscache verify
run_expect "the dropped entry is a miss" 1 as alice ttscache get --engine piper --text "operate three." -o /tmp/op3b.wav
check "the other entries still hit" as alice ttscache get --engine piper --text "the lights are on." -o /tmp/op4.wav
run_expect "ttscached --verify while the daemon runs is refused" 75 ttscached --verify "$cache"
out_has "$(main_pid)"
check "the export counts the deletions and purges" bash -c "systemctl start ttscache-metrics.service &&
  grep -Eq '^ttscache_deleted_total ([2-9]|[1-9][0-9]+)$' $prom && grep -Eq '^ttscache_purged_total [1-9]' $prom"
# Every 15 s a run, but no Starting/Finished lines in the journal (LogLevelMax=notice).
check "the export's runs leave no info lines in the journal" bash -c \
  '! journalctl -u ttscache-metrics.service -o cat | grep -E "Starting|Finished|Deactivated"'
