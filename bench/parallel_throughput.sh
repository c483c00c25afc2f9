#!/bin/sh
# bench/parallel_throughput.sh: trials per minute of a Fashion-MNIST search,
# two local workers against one process, measured side by side.
#
#   bench/parallel_throughput.sh [rounds=3] [trials=24] [fraction=0.05]
#
# Runs bench/parallel_throughput.lua (random search over spaces/chain.lua, each
# trial 1 epoch on `fraction` of the training split, 5000 validation images,
# seed 1: the same nets in every configuration) in three configurations, in
# rotating order within each round (a b c, b c a, c a b, ...):
#   a  nasrun --workers 2 --threads 1   two worker processes, 1 thread each
#   b  nasrun --threads 1               one process, 1 thread (libtorch's default here)
#   c  nasrun --threads 2               one process, 2 threads
# Each run is timed as a whole command (start-up, data loading and worker
# start included): trials/min = trials / wall minutes; the command's CPU
# seconds (user + system, all its processes: /usr/bin/time) are printed too, as
# the load-independent cost. Prints every run with the load average, then the medians and the ratios a/b and a/c (ratio of the
# medians, and the median of the per-round ratios).
set -eu
cd "$(dirname "$0")/.."
NASRUN=${NASRUN:-build/nasrun}
ROUNDS=${1:-3}
TRIALS=${2:-24}
FRACTION=${3:-0.05}
TMP=$(mktemp -d /tmp/nas_parallel_throughput.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

now() { date +%s.%N; }

run() { # name, round, nasrun options...
  name=$1; round=$2; shift 2
  out="$TMP/$name$round"
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  t0=$(now)
  /usr/bin/time -o "$out.cpu" -f '%U %S' \
    "$NASRUN" "$@" bench/parallel_throughput.lua trials="$TRIALS" fraction="$FRACTION" seed=1 out="$out" \
    >"$out.log" 2>&1 || { echo "run $name$round failed:"; cat "$out.log"; exit 1; }
  t1=$(now)
  wall=$(echo "$t1 $t0" | awk '{ printf "%.2f", $1 - $2 }')
  tpm=$(echo "$TRIALS $wall" | awk '{ printf "%.2f", 60 * $1 / $2 }')
  cpu=$(awk '{ printf "%.1f", $1 + $2 }' "$out.cpu")
  res=$(grep '^RESULT' "$out.log" | sed 's/^RESULT //')
  echo "$name $round $wall $tpm $cpu" >>"$TMP/runs"
  printf '%s round %d: %7.2f s wall  %6.2f trials/min  CPU %6.1f s  (load %s)  %s\n' "$name" "$round" "$wall" \
    "$tpm" "$cpu" "$load" "$res"
  rm -rf "$out"
}

echo "parallel throughput: $TRIALS trials x $ROUNDS rounds, fraction $FRACTION, $(nproc) cores, $($NASRUN --version)"
echo "uptime: $(uptime)"
r=1
while [ "$r" -le "$ROUNDS" ]; do
  case $(( (r - 1) % 3 )) in
    0) order="a b c" ;;
    1) order="b c a" ;;
    *) order="c a b" ;;
  esac
  for c in $order; do
    case $c in
      a) run a "$r" --workers 2 --threads 1 ;;
      b) run b "$r" --threads 1 ;;
      c) run c "$r" --threads 2 ;;
    esac
  done
  r=$((r + 1))
done
echo "uptime: $(uptime)"

awk '
  { wall[$1, $2] = $3; tpm[$1, $2] = $4; cpu[$1, $2] = $5; if ($2 > n) n = $2 }
  function median(a, k,   i, j, t, m) {
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    m = (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
    return m
  }
  END {
    split("a b c", names, " ")
    label["a"] = "--workers 2 --threads 1"; label["b"] = "--threads 1"; label["c"] = "--threads 2"
    for (x = 1; x <= 3; x++) {
      c = names[x]; delete v; delete w; delete u
      for (r = 1; r <= n; r++) { v[r] = tpm[c, r]; w[r] = wall[c, r]; u[r] = cpu[c, r] }
      mn = v[1]; mx = v[1]
      for (r = 1; r <= n; r++) { if (v[r] < mn) mn = v[r]; if (v[r] > mx) mx = v[r] }
      med[c] = median(v, n); medw = median(w, n); medu = median(u, n)
      printf "%s %-24s median %6.2f trials/min (min %.2f, max %.2f), median wall %.1f s, median CPU %.1f s\n", \
        c, label[c], med[c], mn, mx, medw, medu
    }
    delete v; for (r = 1; r <= n; r++) v[r] = tpm["a", r] / tpm["b", r]; rab = median(v, n)
    delete v; for (r = 1; r <= n; r++) v[r] = tpm["a", r] / tpm["c", r]; rac = median(v, n)
    printf "a/b = %.2fx (median of per-round ratios %.2fx; target >= 1.8x)\n", med["a"] / med["b"], rab
    printf "a/c = %.2fx (median of per-round ratios %.2fx; target >= 1.35x)\n", med["a"] / med["c"], rac
  }' "$TMP/runs"
