#!/usr/bin/env bash
# scripts/gpu_supernet.sh: supernet checks on a machine with an NVIDIA GPU. Builds as
# scripts/gpu_check.sh does (same requirements and environment: BUILD_DIR, OUT, JOBS, CMAKE_EXTRA,
# NAS_DATA_ROOT, LUA_INCLUDE_DIR/LUA_LIBRARY), then runs
#   1. test_torch_supernet: every mix mode, logit gradients and losses against the CPU, BN
#      recalibration and a toy DARTS run, on CUDA (needs no data and no Lua);
#   2. with nasrun built (Lua 5.4 found) and Fashion-MNIST found: one first-order DARTS run of the
#      cell supernet (6400 samples: 50 weight and 50 architecture steps of batch 64) on cuda and
#      on the CPU, printing the time per step.
# Exit status: 0 when the build and every check that ran passed.
set -u
cd "$(dirname "$0")/.."
root=$PWD
B=${BUILD_DIR:-build-gpu}
case $B in /*) ;; *) B=$root/$B ;; esac
export BUILD_DIR=$B
start=$(date +%s)
bash scripts/gpu_check.sh --build-only || exit 1

status=0
mkdir -p "$B/tmp"
echo "=== test_torch_supernet"
NAS_TEST_TMP="$B/tmp" "$B/tests/test_torch_supernet" >"$B/tmp/test_torch_supernet.log" 2>&1 || status=1
tail -8 "$B/tmp/test_torch_supernet.log"

if [ ! -x "$B/nasrun" ]; then
  echo "gpu_supernet: nasrun not built (no Lua): the DARTS run is skipped"
else
  data=""
  for d in "${NAS_DATA_ROOT:-}/fashion-mnist" /usr/share/datasets/fashion-mnist; do
    [ -d "$d" ] && data=$d && break
  done
  if [ -z "$data" ]; then
    echo "gpu_supernet: Fashion-MNIST not found (set NAS_DATA_ROOT): the DARTS run is skipped"
  else
    for dev in cuda cpu; do
      echo "=== DARTS, cell supernet, on $dev"
      (set -o pipefail; NAS_DATA_ROOT=$(dirname "$data") timeout 300 "$B/nasrun" --device $dev -e '
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
print(("steps %d, wall %.0fs, supernet device %s"):format(r.steps, os.difftime(os.time(), t0), r.supernet.model:device()))' 2>&1 | tail -6) || status=1
    done
  fi
fi
echo "gpu_supernet: $([ $status = 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - start ))s"
exit $status
