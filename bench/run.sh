#!/bin/sh
# bench/run.sh: runs the four benchmarks of bench/README.md, nasrun against
# the same work in PyTorch from Python (/usr/bin/python3, same libtorch), in
# the same run, alternating which side goes first in each round, and prints
# one summary table (medians over rounds) with ratios and PASS/FAIL.
#
#   bench/run.sh [rounds]          (default 3; env NASRUN, BUILD, THREADS)
#
# Needs a built nasrun (cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release &&
# cmake --build build-bench -j2). Exit status 0 when every target passes.
set -eu
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
BUILD=${BUILD:-build-bench}
NASRUN=${NASRUN:-$BUILD/nasrun}
THREADS=${THREADS:-2}
PY=${PY:-/usr/bin/python3}
OUT=${OUT:-$BUILD/bench-results.txt}
[ -x "$NASRUN" ] || { echo "run.sh: $NASRUN not built" >&2; exit 2; }
[ -f "$BUILD/libnas_core.a" ] || { echo "run.sh: $BUILD/libnas_core.a not built" >&2; exit 2; }

gcc -O2 -Wall -Iengine/include bench/graph_build.c "$BUILD/libnas_core.a" -lz -lm \
  -o "$BUILD/bench_graph_build"

: > "$OUT"
# nasrun sets glibc's malloc thresholds at start-up (mallopt in nasrun.c: no
# fresh mmap and no trim per training step); the peer gets the same settings
# through glibc's tunables, so neither side pays page faults the other does not.
# PEER_TUNABLES=0 runs the peer with glibc's defaults instead.
TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=536870912:glibc.malloc.top_pad=67108864
[ "${PEER_TUNABLES:-1}" = 0 ] && TUNABLES=
lua_run() { "$NASRUN" --threads "$THREADS" "$@" | tee -a "$OUT"; }
py_run() { GLIBC_TUNABLES=$TUNABLES "$PY" "$@" threads="$THREADS" | tee -a "$OUT"; }

echo "# $(date -u) rounds=$ROUNDS threads=$THREADS $(nproc) cpus, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# peer GLIBC_TUNABLES=${TUNABLES:-(glibc defaults)}"
echo "# nasrun: $("$NASRUN" --version)   python: $("$PY" -c 'import torch; print(torch.__version__)')"
r=1
while [ "$r" -le "$ROUNDS" ]; do
  echo "## round $r"
  if [ $((r % 2)) -eq 1 ]; then
    lua_run bench/train_steps.lua model=mlp
    py_run bench/train_steps.py model=mlp
    lua_run bench/train_steps.lua model=cnn
    py_run bench/train_steps.py model=cnn fmt=nchw
    py_run bench/train_steps.py model=cnn fmt=cl
    lua_run bench/graph_build.lua
    "$BUILD/bench_graph_build" | tee -a "$OUT"
    py_run bench/graph_build.py
    lua_run bench/module_build.lua
    py_run bench/module_build.py
  else
    py_run bench/train_steps.py model=mlp
    lua_run bench/train_steps.lua model=mlp
    py_run bench/train_steps.py model=cnn fmt=cl
    py_run bench/train_steps.py model=cnn fmt=nchw
    lua_run bench/train_steps.lua model=cnn
    py_run bench/graph_build.py
    "$BUILD/bench_graph_build" | tee -a "$OUT"
    lua_run bench/graph_build.lua
    py_run bench/module_build.py
    lua_run bench/module_build.lua
  fi
  r=$((r + 1))
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" bench/report.py "$OUT"
