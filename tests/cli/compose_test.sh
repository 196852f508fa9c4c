#!/usr/bin/env bash
# The Docker recipe's compose file (docs/examples/docker-compose.ttscache.yml),
# merged with a compose file shaped like the seed backend's, validated by
# Debian's docker-compose with the commands of docs/migrating.md as written;
# then the merged result must hold the socket folder's mount and the gid, and
# without TTSCACHE_GID compose must refuse with the hint.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/support/doc_block.sh
source "$repo/tests/support/doc_block.sh"
command -v docker-compose > /dev/null || { echo "FAIL: docker-compose not installed (scripts/install-deps.sh)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir jarvis-backend
cat > docker-compose.yml <<'YAML'
version: "3.8"
services:
  jarvis-backend:
    build: ./jarvis-backend
    cpuset: "6-9"
    environment:
      - OPUS_ENABLED=${OPUS_ENABLED:-false}
      - OPUS_BITRATE=${OPUS_BITRATE:-32}
YAML
cp "$repo/docs/examples/docker-compose.ttscache.yml" .

step="without TTSCACHE_GID compose refuses and says how to set it"
if out=$(docker-compose -f docker-compose.yml -f docker-compose.ttscache.yml config 2>&1); then
  echo "FAIL: $step: it accepted"; exit 1
fi
grep -q "getent group ttscache" <<< "$out" || { echo "FAIL: $step: $out"; exit 1; }
echo "ok  $step"

# The host's group (this machine may have no ttscache group: stand in for getent).
gid=$(getent group ttscache | cut -d: -f3 || true)
if [ -z "$gid" ]; then
  gid=4321
  mkdir bin
  printf '#!/bin/sh\n[ "$2" = ttscache ] && echo "ttscache:x:%s:" || exec /usr/bin/getent "$@"\n' "$gid" > bin/getent
  chmod +x bin/getent
  export PATH=$work/bin:$PATH
fi
run_doc_block "$repo/docs/migrating.md" compose
merged=$(docker-compose -f docker-compose.yml -f docker-compose.ttscache.yml config)
grep -q -- "- /run/ttscache:/run/ttscache" <<< "$merged" || { echo "FAIL: no socket folder mount:"; echo "$merged"; exit 1; }
grep -qE -- "- '?$gid'?$" <<< "$merged" || { echo "FAIL: no group_add $gid:"; echo "$merged"; exit 1; }
grep -q "cpuset: 6-9" <<< "$merged" || { echo "FAIL: the backend's own settings were lost:"; echo "$merged"; exit 1; }
echo "ok  the merged config mounts /run/ttscache and adds gid $gid, keeping the backend's settings"
