#!/usr/bin/env bash
# Installs the Debian 12 packages ttscache needs.
#   install-deps.sh         everything the build, the tests and the benchmarks need (README command 2)
#   install-deps.sh --run   only what building and running the daemon and its demo need (README command 1)
# Idempotent and non-interactive: safe to run on every build. Uses sudo when not root.
set -euo pipefail

run_packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config
  # the man pages are generated from the CLI's --help at build time (cmake/ManPage.cmake)
  python3
  # libraries (see cmake/Dependencies.cmake for which target uses which)
  libboost-dev libsystemd-dev libopus-dev libogg-dev libssl-dev libinih-dev libicu-dev libsoxr-dev
  # the fleet tier's client (libmemcached-awesome 1.1, with SASL)
  libmemcached-dev
  # the demo of scripts/run.sh: a phrase spoken by espeak-ng, the encode checked by opusinfo
  espeak-ng opus-tools
)
packages=(
  "${run_packages[@]}"
  git clang clang-format libclang-rt-14-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # real peers used by the tests and benchmarks
  ffmpeg nodejs
  # the fleet tier's tests: real memcached servers, SASL (saslpasswd2 and the PLAIN mechanism)
  memcached sasl2-bin libsasl2-modules
  # the Python package's tests (tests/python): pytest, NumPy, a venv to pip-install
  # it into offline (wheel builds it there), mypy --strict over its type hints
  python3-pytest python3-numpy python3-venv python3-wheel mypy
  # man pages (generated with python3, checked with groff, man, lexgrog)
  groff-base man-db
  # packaging and the system tests under a real systemd (tests/system)
  file lintian debootstrap systemd-container
  # the ABI of libttscache.so against abi/libttscache.abi (abidw, abidiff)
  abigail-tools
  # the Docker recipe's compose file is validated with docker-compose config (docs/migrating.md)
  docker-compose
  # benchmark baselines
  redis-server redis-tools
)

if [ "${1:-}" = --run ]; then
  packages=("${run_packages[@]}")
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: not root and no sudo; install: ${packages[*]}" >&2; exit 1; }
  as_root=(sudo)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ "${1:-}" != --run ]; then
  # nodejs may come from another repository under the same name; a working node is what matters.
  if command -v node >/dev/null; then
    missing=("${missing[@]/nodejs}")
  fi
  # npm packs the Node package and fetches TypeScript and autocannon for its tests and benchmark.
  command -v npm > /dev/null || missing+=(npm)
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | grep -v '^$' || true)

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
