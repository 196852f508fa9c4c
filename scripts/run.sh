#!/usr/bin/env bash
# README command (1): install dependencies, build, and start ttscached in the
# foreground on config/local.conf (socket and cache under ./.local, no root).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build build/release -j "$(nproc)"
mkdir -p .local
echo "== effective configuration (config/local.conf + environment)"
build/release/daemon/ttscached --config config/local.conf --print-config
echo "== starting ttscached in the foreground (Ctrl-C stops it)"
exec build/release/daemon/ttscached --config config/local.conf
