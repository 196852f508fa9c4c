#!/usr/bin/env bash
# Installs every Debian 12 package that ttscache's build, tests and benchmarks need.
# Idempotent and non-interactive: safe to run on every build. Uses sudo when not root.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang clang-format libclang-rt-14-dev
  # libraries (see cmake/Dependencies.cmake for which target uses which)
  libboost-dev libsystemd-dev libopus-dev libogg-dev libssl-dev libinih-dev
  libicu-dev libsoxr-dev libgtest-dev libgmock-dev libbenchmark-dev
  # real peers used by the tests and benchmarks
  opus-tools ffmpeg espeak-ng nodejs
  # man pages (generated with python3, checked with groff, man, lexgrog)
  python3 groff-base man-db
  # packaging and the system tests under a real systemd (tests/system)
  file lintian debootstrap systemd-container
  # the Docker recipe's compose file is validated with docker-compose config (docs/migrating.md)
  docker-compose
  # benchmark baselines
  redis-server redis-tools
)

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: not root and no sudo; install: ${packages[*]}" >&2; exit 1; }
  as_root=(sudo)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
# nodejs may come from another repository under the same name; a working node is what matters.
if command -v node >/dev/null; then
  missing=("${missing[@]/nodejs}")
fi
# npm fetches TypeScript for the Node package's type check (tests/cli/node_types_test.sh).
command -v npm > /dev/null || missing+=(npm)
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | grep -v '^$' || true)

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
