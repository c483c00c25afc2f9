#!/usr/bin/env bash
# Runs ON the GPU machine (see ../shared/device/README.md), from the project
# root, with .device/ carried: builds nasrun against the machine's CUDA
# libtorch, runs the C unit tests, then the end-to-end Fashion-MNIST training
# on --device cuda and on the CPU for comparison. Logs go to $OUT.
set -u
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
start=$(date +%s)
# Debian's luaconf.h includes lua5.4-deb-multiarch.h from the multiarch include
# folder, which gpu-build.sh does not put on CPATH (it keeps what we set).
export CPATH="$PWD/.device/root/usr/include/x86_64-linux-gnu${CPATH:+:$CPATH}"
bash .device/gpu-build.sh >"$OUT/build.log" 2>&1
rc=$?
tail -25 "$OUT/build.log"
echo "build rc=$rc in $(( $(date +%s) - start ))s"
[ $rc -eq 0 ] || exit 1
eval "$(tail -1 "$OUT/build.log")"
(cd build-gpu && ctest -R '^c_' --output-on-failure 2>&1 | tail -15)
mkdir -p build-gpu/tmp
for dev in cuda cpu; do
  echo "=== e2e on $dev"
  t0=$(date +%s.%N)
  (cd build-gpu/tmp && NAS_TEST_TMP=. ../nasrun --device $dev ../../tests/e2e/train_fmnist.lua 2>&1 | tail -4)
  echo "e2e $dev wall: $(echo "$(date +%s.%N) - $t0" | bc)s"
done
./build-gpu/nasrun --device cuda -e '
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
end' 2>&1
echo "total $(( $(date +%s) - start ))s"
