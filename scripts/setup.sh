#!/usr/bin/env bash
# Installs every Debian 12 package nasrun needs, then configures and builds it
# into ./build. Run as root (or with sudo). Safe to run again. Arguments are
# passed to cmake (e.g. -DNAS_WERROR=ON).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES=(
  build-essential cmake pkg-config
  libtorch-dev libopenblas0-openmp   # libtorch 1.13 (CPU) with the OpenMP OpenBLAS
  liblua5.4-dev lua5.4 lua-cjson lua-busted lua-sql-sqlite3
  zlib1g-dev libsqlite3-dev
  openmpi-bin libopenmpi-dev         # parallel search across machines (mpirun -np N nasrun ...)
  dataset-fashion-mnist              # /usr/share/datasets/fashion-mnist
  graphviz libjs-vega                # nasrun report: the architecture drawing and the plots
)
# What only the tests, benchmarks or fuzzing need (PyTorch for the export check
# and the peer benchmarks, a browser, clang's libFuzzer) is installed by
# scripts/test.sh, not here.

# --packages: print the package list and exit (scripts/footprint.sh uses it).
if [ "${1:-}" = --packages ]; then echo "${PACKAGES[@]}"; exit 0; fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Without the OpenMP flavour libtorch falls back to a slower reference BLAS and
# the pthread OpenBLAS fights libtorch's OpenMP threads.
if command -v update-alternatives >/dev/null; then
  alt=$(update-alternatives --list libblas.so.3-x86_64-linux-gnu 2>/dev/null | grep openblas-openmp | head -1 || true)
  if [ -n "$alt" ]; then $SUDO update-alternatives --set libblas.so.3-x86_64-linux-gnu "$alt" >/dev/null; fi
fi

# Extra arguments go to cmake's configure step (CI passes -DNAS_WERROR=ON).
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build build -j"$(nproc)"
echo "setup: built ./build/nasrun"
