#!/usr/bin/env bash
# scripts/gpu_supernet.sh: supernet checks on the GPU machine (carry .device, as scripts/gpu_check.sh): build, test_torch_supernet
# (its CUDA section), then one DARTS run of the cell supernet on FMNIST (samples
# 6400: 50 weight + 50 arch steps of batch 64) on cuda and on the CPU.
set -u
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"
start=$(date +%s)
export CPATH="$PWD/.device/root/usr/include/x86_64-linux-gnu${CPATH:+:$CPATH}"
bash .device/gpu-build.sh >"$OUT/build.log" 2>&1
rc=$?
echo "build rc=$rc in $(( $(date +%s) - start ))s"
[ $rc -eq 0 ] || { grep -m 20 -B2 -A5 "error" "$OUT/build.log"; tail -20 "$OUT/build.log"; exit 1; }
eval "$(tail -1 "$OUT/build.log")"
mkdir -p build-gpu/tmp
NAS_TEST_TMP=build-gpu/tmp ./build-gpu/tests/test_torch_supernet 2>&1 | tail -8
for dev in cuda cpu; do
  echo "=== darts cell supernet on $dev"
  timeout 100 ./build-gpu/nasrun --device $dev -e '
local nas = require "nas"
local darts = require "strategies.darts"
local data = nas.data.fashion_mnist{ valid = 5000 }
local t0 = os.time()
local n = 0
local r = assert(darts.run{ space = require "spaces.cell", data = data, epochs = 1, samples = 6400, chunk = 10,
  progress = function(p) n = n + 1; if n <= 2 or p.step == p.total_steps then
    print(("step %d/%d loss %.3f arch %.3f  %.2fs"):format(p.step, p.total_steps, p.loss, p.arch_loss, p.seconds)) end end })
local g = {}
for _, d in ipairs(r.supernet.decisions) do g[#g + 1] = d.name .. "=" .. r.genotype[d.name] end
print(table.concat(g, " "))
print(("steps %d, wall %.0fs, supernet device %s"):format(r.steps, os.difftime(os.time(), t0), r.supernet.model:device()))' 2>&1 | tail -6
done
echo "total $(( $(date +%s) - start ))s"
