#!/usr/bin/env bash
# Runs every test: the C unit tests, the Lua specs (busted) and the end-to-end
# scripts, through ctest. Builds first (and installs packages when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cd build
ctest --output-on-failure "$@"
