# Sourced by tests/system/in_container.sh after the upgrade (it defines check,
# say, fail, as, wait_for and $wav; root in the booted Debian 12 container, the
# packaged daemon running under its unit, alice in group ttscache,
# prometheus-node-exporter installed with its textfile directory moved aside
# to /var/lib/prometheus/node-exporter.off at the start). The metrics export
# (docs/monitoring.md): with the directory back, ttscache-metrics.service
# writes the textfile that Debian's node exporter serves on :9100,
# ttscache-metrics.timer refreshes it, and a socket stopped on purpose is
# left stopped while the file keeps its contents.
textfile_dir=/var/lib/prometheus/node-exporter
prom=$textfile_dir/ttscache.prom

check "prometheus-node-exporter is running and answers on :9100" \
  wait_for 30 bash -c 'systemctl is-active prometheus-node-exporter.service && curl -sf localhost:9100/metrics'
mv "$textfile_dir.off" "$textfile_dir"
check "an encode as alice, for the histogram" as alice ttscache encode "$wav" -o /tmp/m.opus
check "a miss as alice, for the figures" bash -c 'runuser -u alice -- ttscache get --engine piper --text "never said" -o /tmp/none.wav; [ $? = 1 ]'
check "systemctl start ttscache-metrics.service" systemctl start ttscache-metrics.service
check "it ran (the textfile directory is there) and succeeded" bash -c \
  '[ "$(systemctl show -p ConditionResult --value ttscache-metrics.service)" = yes ] && [ "$(systemctl show -p Result --value ttscache-metrics.service)" = success ]'
check "$prom: 0644, ttscache_up 1" bash -c "[ \"\$(stat -c %a $prom)\" = 644 ] && grep -qx 'ttscache_up 1' $prom"
curl -s localhost:9100/metrics > /tmp/metrics.txt
grep -E '^(ttscache_up|ttscache_hits_total|ttscache_misses_total|ttscache_entries|ttscache_encode_duration_seconds_bucket\{le="\+Inf"\}|node_textfile_mtime_seconds|node_textfile_scrape_error)' \
  /tmp/metrics.txt | sed 's/^/    /' | tee -a "$log"
check "node exporter serves ttscache_hits_total{engine=\"piper\"} (curl :9100/metrics)" \
  grep -Eq '^ttscache_hits_total\{engine="piper"\} [1-9]' /tmp/metrics.txt
check "… ttscache_up 1" grep -qx 'ttscache_up 1' /tmp/metrics.txt
check "… ttscache_misses_total{engine=\"piper\"}" grep -Eq '^ttscache_misses_total\{engine="piper"\} [1-9]' /tmp/metrics.txt
check "… ttscache_encode_duration_seconds_bucket" \
  grep -Eq '^ttscache_encode_duration_seconds_bucket\{le="\+Inf"\} [1-9]' /tmp/metrics.txt
check "… node_textfile_mtime_seconds for ttscache.prom, no scrape error" bash -c \
  "grep -Eq '^node_textfile_mtime_seconds\{file=\"[^\"]*ttscache.prom\"\}' /tmp/metrics.txt && grep -qx 'node_textfile_scrape_error 0' /tmp/metrics.txt"
mtime=$(stat -c %Y "$prom")
check "the timer rewrites the file within 20 s" wait_for 20 bash -c "[ \$(stat -c %Y $prom) -gt $mtime ]"

# The socket stopped on purpose (RemoveOnStop= takes the socket file): the
# export is skipped, the file keeps its contents, the socket stays stopped.
check "stop ttscached.socket and the service" systemctl stop ttscached.socket ttscached.service
before=$(md5sum < "$prom")
check "the export with the socket stopped: skipped, not failed" bash -c \
  'systemctl start ttscache-metrics.service && [ "$(systemctl show -p ConditionResult --value ttscache-metrics.service)" = no ]'
check "… the file is unchanged" bash -c "[ \"\$(md5sum < $prom)\" = '$before' ]"
check "… and the socket was not started again" bash -c '! systemctl is-active ttscached.socket'
check "start ttscached.socket again" systemctl start ttscached.socket
check "the export runs again" bash -c \
  'systemctl start ttscache-metrics.service && [ "$(systemctl show -p Result --value ttscache-metrics.service)" = success ]'
