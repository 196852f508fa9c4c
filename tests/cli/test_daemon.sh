# Sourced by the tests in tests/cli: a private work folder and a real
# ttscached on it, stopped and removed when the script exits.
#   start_test_daemon TTSCACHED [CACHE_LINE]...
#                                 sets $dir (the work folder), $daemon (its pid)
#                                 and returns once $dir/d.sock accepts; each
#                                 CACHE_LINE ("max_entries = 2") goes under [cache]
start_test_daemon() {
  local ttscached=$1
  shift
  dir=$(mktemp -d)
  trap 'kill "$daemon" 2> /dev/null; wait 2> /dev/null; rm -rf "$dir"' EXIT
  printf '[daemon]\nsocket = %s/d.sock\n[cache]\ndir = %s/cache\nfsync = false\n' "$dir" "$dir" \
    > "$dir/d.conf"
  if [ $# -gt 0 ]; then printf '%s\n' "$@" >> "$dir/d.conf"; fi
  "$ttscached" --config "$dir/d.conf" 2> "$dir/daemon.log" &
  daemon=$!
  for _ in $(seq 100); do [ -S "$dir/d.sock" ] && return 0; sleep 0.05; done
  echo "FAIL: ttscached did not start: $(cat "$dir/daemon.log")"
  return 1
}
