#!/usr/bin/env bash
# scripts/gpu_check.sh: builds nasrun against the CUDA libtorch of this machine's PyTorch and
# checks it on the GPU. Run from anywhere in the source tree; needs nothing outside it.
#
#   bash scripts/gpu_check.sh               # build, C tests, then (with Lua) end-to-end checks
#   bash scripts/gpu_check.sh --build-only  # build only (scripts/gpu_supernet.sh uses this)
#
# Needs: python3 with a CUDA build of PyTorch (its libtorch is what nasrun links), CMake >= 3.18,
# a C/C++ compiler, the CUDA toolkit (nvcc), and zlib headers.
#
# Lua 5.4 is optional. With its headers (/usr/include/lua5.4, or LUA_INCLUDE_DIR and LUA_LIBRARY
# in the environment) the whole of nasrun is built and the end-to-end checks run. Without them
# only libnas and the C tests are built (CMake option NAS_LUA=OFF), and the C tests are the check:
# they make their own data and cover training, evaluation, latency, save/load and supernets on
# CUDA.
#
# Environment: BUILD_DIR (default build-gpu), OUT (logs; default $BUILD_DIR/logs), JOBS (default
# nproc), CMAKE_EXTRA (more cmake arguments), NAS_DATA_ROOT (a folder holding fashion-mnist/; the
# end-to-end training runs only when Fashion-MNIST is found there or in /usr/share/datasets).
# Exit status: 0 when the build and every check that ran passed.
set -u
cd "$(dirname "$0")/.."
root=$PWD
B=${BUILD_DIR:-build-gpu}
case $B in /*) ;; *) B=$root/$B ;; esac
OUT=${OUT:-$B/logs}
JOBS=${JOBS:-$(nproc)}
mkdir -p "$OUT"
start=$(date +%s)
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
fail() { echo "gpu_check: $*" >&2; exit 1; }

# --- what this machine has ---------------------------------------------------
torch_prefix=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)' 2>/dev/null) ||
  fail "python3 cannot import torch: install PyTorch with CUDA (pip install torch)"
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda,
  "gpu", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none visible")'
command -v nvcc >/dev/null || echo "gpu_check: nvcc not on PATH; CMake may not find the CUDA toolkit"
echo '#include <zlib.h>' | ${CC:-cc} -E -x c - >/dev/null 2>&1 ||
  echo "gpu_check: zlib.h not found: install zlib headers (zlib1g-dev), or pass CMAKE_EXTRA=-DZLIB_ROOT=..."

lua_args=()
if [ -n "${LUA_INCLUDE_DIR:-}" ] && [ -f "$LUA_INCLUDE_DIR/lua.h" ]; then
  with_lua=1
  lua_args=(-DLUA_INCLUDE_DIR="$LUA_INCLUDE_DIR")
  [ -n "${LUA_LIBRARY:-}" ] && lua_args+=(-DLUA_LIBRARY="$LUA_LIBRARY")
elif [ -f /usr/include/lua5.4/lua.h ]; then
  with_lua=1
else
  with_lua=0
  grep -qE 'option\(NAS_LUA[[:space:]]' CMakeLists.txt ||
    fail "no Lua 5.4 headers here, and this CMakeLists.txt has no NAS_LUA option to build without Lua:
  install liblua5.4-dev, or set LUA_INCLUDE_DIR and LUA_LIBRARY to a Lua 5.4 build"
  lua_args=(-DNAS_LUA=OFF)
  echo "gpu_check: no Lua 5.4 headers: building libnas and the C tests only (NAS_LUA=OFF)"
fi

# --- build -------------------------------------------------------------------
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
# shellcheck disable=SC2086
cmake -S . -B "$B" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$torch_prefix" \
  "${lua_args[@]}" ${CMAKE_EXTRA:-} >"$OUT/configure.log" 2>&1 &&
  cmake --build "$B" -j"$JOBS" >"$OUT/build.log" 2>&1
rc=$?
echo "build rc=$rc in $(( $(date +%s) - start ))s (logs in $OUT)"
if [ $rc -ne 0 ]; then
  grep -h -m 20 -B2 -A5 -iE "error|could not" "$OUT/configure.log" "$OUT/build.log" 2>/dev/null
  tail -20 "$OUT/build.log" 2>/dev/null || tail -20 "$OUT/configure.log"
  exit 1
fi
warnings=$(grep -c "warning:" "$OUT/build.log")
echo "build warnings: $warnings"
[ "${1:-}" = "--build-only" ] && exit 0

status=0
# --- C tests (the CUDA sections run when a GPU is visible) --------------------
mkdir -p "$B/tmp"
(cd "$B" && ctest -R '^c_' -V) >"$OUT/ctest.log" 2>&1 || status=1
grep -E "^[0-9]+: (test_[a-z_]+: [0-9]+ checks|.*CUDA|cuda )|tests passed|tests failed" "$OUT/ctest.log" | tail -25

# --- end to end, through nasrun ----------------------------------------------
if [ ! -x "$B/nasrun" ]; then
  echo "gpu_check: nasrun not built (no Lua): end-to-end checks skipped"
else
  data=""
  for d in "${NAS_DATA_ROOT:-}/fashion-mnist" /usr/share/datasets/fashion-mnist; do
    [ -d "$d" ] && data=$d && break
  done
  if [ -z "$data" ]; then
    echo "gpu_check: Fashion-MNIST not found (set NAS_DATA_ROOT): end-to-end training skipped"
  else
    for dev in cuda cpu; do
      echo "=== end-to-end Fashion-MNIST training on $dev"
      t0=$(now_ms)
      (cd "$B/tmp" && set -o pipefail && NAS_DATA_ROOT=$(dirname "$data") NAS_TEST_TMP=. \
        "$B/nasrun" --device $dev "$root/tests/e2e/train_fmnist.lua" 2>&1 | tail -4) || status=1
      echo "e2e $dev wall: $(( $(now_ms) - t0 )) ms"
    done
  fi
  echo "=== latency on cuda"
  "$B/nasrun" --device cuda -e '
local nas = require "nas"
print("cuda available", nas.cuda_available())
local net = nas.net{ input = {1, 28, 28} }
net:conv{ out = 32, k = 3 }; net:bn(); net:relu(); net:maxpool{ k = 2 }
net:conv{ out = 64, k = 3 }; net:bn(); net:relu(); net:gap(); net:linear{ out = 10 }
local m = nas.model(net)
print("device", m:device())
for _, b in ipairs{1, 128} do
  local l = m:latency{ batch = b, runs = 50 }
  print(("latency batch %d: median %.3f ms p90 %.3f ms"):format(b, l.median_ms, l.p90_ms))
end' 2>&1 || status=1
fi
echo "gpu_check: $([ $status = 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - start ))s"
exit $status
