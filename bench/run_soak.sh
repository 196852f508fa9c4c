#!/usr/bin/env bash
# The soak run of docs/reliability.md: ttscached (release build) under 64
# well-behaved clients and 8 hostile ones for SECONDS (default 600), sampled
# every 10 s into OUT.csv, plotted into OUT.png with gnuplot.
# Usage: bench/run_soak.sh [build-dir] [seconds] [out-prefix]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
seconds=${2:-600}
out=${3:-docs/soak}
cmake --build "$build" --target ttscached soak_bench > /dev/null
command -v gnuplot > /dev/null || { echo "needs gnuplot: apt-get install gnuplot-nox"; exit 2; }
work=$(mktemp -d)
cleanup() { [ -n "${daemon:-}" ] && kill "$daemon" 2> /dev/null; wait 2> /dev/null; rm -rf "$work"; }
trap cleanup EXIT
cat > "$work/ttscached.conf" <<CONF
[daemon]
socket = $work/ttscached.sock
workers = 2
queue_depth = 256
[cache]
dir = $work/cache
max_entries = 500
max_bytes = 64M
fsync = true
CONF
"$build/daemon/ttscached" --config "$work/ttscached.conf" 2> "$work/daemon.log" &
daemon=$!
for _ in $(seq 100); do [ -S "$work/ttscached.sock" ] && break; sleep 0.05; done
status=0
"$build/bench/soak_bench" "$work/ttscached.sock" "$daemon" "$seconds" 10 "$out.csv" 64 8 || status=$?
kill -0 "$daemon" || { echo "FAIL: the daemon died"; tail "$work/daemon.log"; exit 1; }
echo "daemon log: $(wc -l < "$work/daemon.log") lines, $(grep -c '^<[0-3]>' "$work/daemon.log" || true) at error level or worse"
gnuplot <<PLOT
set terminal pngcairo size 1000,900 noenhanced
set output "$out.png"
set datafile separator ","
set key autotitle columnhead left top
set multiplot layout 3,1 title "ttscached soak: 64 clients + 8 sending malformed frames, $seconds s"
set xlabel "seconds"
set ylabel "MiB / count"
plot "$out.csv" using 1:(\$2/1024) with lines title "RSS (MiB)", "" using 1:3 with lines title "open fds", "" using 1:4 with lines title "threads"
set ylabel "µs"
set logscale y
plot "$out.csv" using 1:6 with lines title "all ops p50", "" using 1:7 with lines title "all ops p99", \
     "" using 1:8 with lines title "all ops p99.9", "" using 1:9 with lines title "hits/ping/stats p50", \
     "" using 1:10 with lines title "hits/ping/stats p99"
unset logscale y
set ylabel "ops/s"
plot "$out.csv" using 1:5 with lines title "operations/s (well-behaved)"
unset multiplot
PLOT
echo "wrote $out.csv and $out.png"
exit $status
