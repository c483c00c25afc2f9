#!/bin/sh
# bench/parallel_overhead.sh: coordinator overhead of a parallel search.
#
#   bench/parallel_overhead.sh [repeats=3] [trials=3000]
#
# 1. the coordinator's steps alone (bench/parallel_overhead.lua mode=micro):
#    ask + tell, prepare, JSON of the messages, store writes, each per second;
# 2. 32 local workers, each trial a 20 ms sleep (nas.search{ workers = 32 }),
#    `repeats` times;
# 3. the same under mpirun -np 33 (rank 0 coordinates, 32 ranks work);
# 4. a zero-cost evaluator with 1, 2, 4, 8, 16, 32 local workers: the rate at
#    which one coordinator settles trials (what binds, and at what worker count).
# Every RESULT line carries utilisation (busy / (workers x search phase)),
# the coordinator's CPU per trial and the trial rate; see the .lua file for the
# definitions. Worker start-up (a nasrun loading libtorch each) is timed apart:
# the whole command's wall time against the search phase.
set -eu
cd "$(dirname "$0")/.."
NASRUN=${NASRUN:-build/nasrun}
REPEATS=${1:-3}
TRIALS=${2:-3000}
TMP=$(mktemp -d /tmp/nas_parallel_overhead.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
now() { date +%s.%N; }

timed() { # label, command...
  label=$1; shift
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  t0=$(now)
  "$@" >"$TMP/log" 2>&1 || { echo "$label failed:"; cat "$TMP/log"; exit 1; }
  t1=$(now)
  printf '%-22s command %6.2f s (load %s): %s\n' "$label" "$(echo "$t1 $t0" | awk '{ print $1 - $2 }')" "$load" \
    "$(grep '^RESULT' "$TMP/log" | sed 's/^RESULT //')"
  rm -rf "$TMP/out" "$TMP/out.barrier"
}

echo "parallel overhead: $(nproc) cores, $($NASRUN --version)"
echo "uptime: $(uptime)"
echo "== coordinator steps (no workers)"
"$NASRUN" bench/parallel_overhead.lua mode=micro n=5000 out="$TMP/micro"

echo "== 20 ms trials, 32 workers, $TRIALS trials"
i=1
while [ "$i" -le "$REPEATS" ]; do
  timed "local x32 #$i" "$NASRUN" bench/parallel_overhead.lua mode=search workers=32 trials="$TRIALS" sleep=0.02 \
    out="$TMP/out"
  timed "mpirun -np 33 #$i" mpirun --allow-run-as-root --oversubscribe -np 33 "$NASRUN" bench/parallel_overhead.lua \
    mode=search workers=32 trials="$TRIALS" sleep=0.02 out="$TMP/out"
  i=$((i + 1))
done

echo "== zero-cost evaluator, $TRIALS trials"
for w in 1 2 4 8 16 32; do
  timed "local x$w zero-cost" "$NASRUN" bench/parallel_overhead.lua mode=search workers="$w" trials="$TRIALS" sleep=0 \
    out="$TMP/out"
done
timed "mpirun -np 9 zero-cost" mpirun --allow-run-as-root --oversubscribe -np 9 "$NASRUN" bench/parallel_overhead.lua \
  mode=search workers=8 trials="$TRIALS" sleep=0 out="$TMP/out"
echo "uptime: $(uptime)"
