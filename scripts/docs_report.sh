#!/bin/sh
# Reproduces docs/report.png: a short real search on Fashion-MNIST (regularized
# evolution over spaces/chain.lua, two objectives, 2 local workers, each
# candidate trained 3 epochs on 5% of the training split with its learning
# curve recorded), its report (`nasrun report`), and a screenshot of the
# report's top by headless Chromium.
#
#   scripts/docs_report.sh [OUT]     (default OUT: runs/docs_report; about 5 minutes on 2 cores)
#
# Needs the build (build/nasrun, or NASRUN), Debian's dataset-fashion-mnist,
# chromium and graphviz.
set -eu
cd "$(dirname "$0")/.."
NASRUN=${NASRUN:-build/nasrun}
CHROMIUM=${CHROMIUM:-chromium}
OUT=${1:-runs/docs_report}
rm -rf "$OUT"
mkdir -p "$OUT"
cat >"$OUT.search.lua" <<'LUA'
local nas = require "nas"
local out = arg[1]
nas.search{
  space = require "spaces.chain",
  strategy = require("strategies.evolution").new{ population = 8, sample = 3 },
  evaluate = nas.train{ data = nas.data.fashion_mnist{ valid = 2000, seed = 1 }, epochs = 3, fraction = 0.05,
                        curve = true },
  objectives = { nas.maximize "accuracy", nas.minimize "params" },
  constraints = { params = 100000 },
  budget = { trials = 30, minutes = 4 }, seed = 1, out = out, workers = 2, progress = false,
}
LUA
"$NASRUN" "$OUT.search.lua" "$OUT"
rm -f "$OUT.search.lua"
"$NASRUN" report "$OUT"
"$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
  --virtual-time-budget=20000 --window-size=1280,2300 --screenshot="$PWD/docs/report.png" \
  "file://$PWD/$OUT/report.html" 2>/dev/null
echo "docs/report.png from $OUT/report.html"
