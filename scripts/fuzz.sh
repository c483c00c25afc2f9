#!/usr/bin/env bash
# Fuzzing: builds the libFuzzer targets of tests/fuzz into ./build-fuzz (clang-15,
# ASan + UBSan), replays every seed and kept crash input, then fuzzes each target
# for SECONDS (default 60) from its seed corpus, one target at a time, and prints
# per target: executions, exec/s, coverage (libFuzzer's final cov and ft), corpus
# size and crashes. Exits non-zero on any crash, sanitizer report, leak, timeout
# or out-of-memory input, or a replayed case that fails.
#
#   bash scripts/fuzz.sh                 # every target, 60 s each
#   bash scripts/fuzz.sh 600 graph data  # those two, 10 minutes each
#
# Needs clang-15 and libfuzzer-15-dev (apt-get install -y --no-install-recommends
# clang-15 libfuzzer-15-dev llvm-15), plus what the main build needs.
# Inputs found interesting grow a working corpus under build-fuzz/fuzz/<target>/
# (the committed seeds under tests/fuzz/corpus are only read); a crashing input
# is written to build-fuzz/fuzz/<target>/artifacts/. Keep one as a regression
# case under tests/fuzz/regressions/<target>/ once its bug is fixed.
# Environment: NAS_FUZZ_CC / NAS_FUZZ_CXX (default clang-15 / clang++-15),
# NAS_FUZZ_JOBS (build jobs, default nproc), NAS_FUZZ_ARGS (more libFuzzer flags).
set -uo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
shift $(($# > 0 ? 1 : 0))
case "$secs" in '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [seconds] [target...]" >&2; exit 2 ;; esac
all=(graph graph_json data genotype)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

cc=${NAS_FUZZ_CC:-clang-15}
cxx=${NAS_FUZZ_CXX:-clang++-15}
for tool in "$cc" "$cxx"; do
  command -v "$tool" >/dev/null || {
    echo "fuzz: $tool not found (apt-get install -y --no-install-recommends clang-15 libfuzzer-15-dev llvm-15)" >&2
    exit 2
  }
done

mkdir -p build-fuzz
echo "== building build-fuzz (log: build-fuzz/build.log)"
if ! cmake -S . -B build-fuzz -DNAS_FUZZ=ON -DNAS_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" >build-fuzz/build.log 2>&1 ||
  ! cmake --build build-fuzz -j"${NAS_FUZZ_JOBS:-$(nproc)}" --target "${targets[@]/#/fuzz_}" >>build-fuzz/build.log 2>&1; then
  tail -30 build-fuzz/build.log
  echo "fuzz: the build failed" >&2
  exit 1
fi

# Every sanitizer report is fatal; leaks are reported; symbolized stacks.
symbolizer=$(command -v llvm-symbolizer-15 || command -v llvm-symbolizer || true)
[ -n "$symbolizer" ] && export ASAN_SYMBOLIZER_PATH="$symbolizer"
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

max_len() {
  case "$1" in
  data) echo 20000 ;;
  graph_json) echo 16384 ;;
  *) echo 4096 ;;
  esac
}
# fuzz_genotype's Lua state keeps growing caches (genotype keys, JSON keys), so
# nearly every input would trigger libFuzzer's leak scan of the whole heap
# (4 instead of 25 inputs a second); the C code it reaches is leak-checked
# through fuzz_graph_json.
leaks() {
  case "$1" in
  genotype) echo 0 ;;
  *) echo 1 ;;
  esac
}

# The targets' temporary files (a crashed target leaves its own) go to one
# folder, removed at the end; in memory when /dev/shm is there.
base=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm
export TMPDIR="$base/nas_fuzz.$$"
mkdir -p "$TMPDIR"
trap 'rm -rf "$TMPDIR"' EXIT

failed=()
rows=()
for t in "${targets[@]}"; do
  bin=build-fuzz/tests/fuzz/fuzz_$t
  seeds=tests/fuzz/corpus/$t
  regs=tests/fuzz/regressions/$t
  work=build-fuzz/fuzz/$t
  mkdir -p "$work/corpus" "$work/artifacts"
  if [ ! -x "$bin" ]; then
    echo "fuzz: no target $bin" >&2
    failed+=("$t (no binary)")
    continue
  fi

  echo "== $t: replaying $(ls "$seeds" 2>/dev/null | wc -l) seeds and $(ls "$regs" 2>/dev/null | wc -l) regression cases"
  replay=("$seeds")
  [ -d "$regs" ] && replay+=("$regs")
  if ! "$bin" -runs=0 "${replay[@]}" >"$work/replay.log" 2>&1; then
    grep -E "ERROR|runtime error|broken promise|Running:" "$work/replay.log" | tail -8
    failed+=("$t (replay)")
  fi

  echo "== $t: fuzzing for ${secs}s (log: $work/fuzz.log)"
  dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  before=$(ls "$work/artifacts" | wc -l)
  # shellcheck disable=SC2086
  "$bin" -max_total_time="$secs" -timeout=30 -rss_limit_mb=4096 -max_len="$(max_len "$t")" -detect_leaks="$(leaks "$t")" \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" "${dict[@]}" ${NAS_FUZZ_ARGS:-} \
    "$work/corpus" "$seeds" >"$work/fuzz.log" 2>&1
  rc=$?
  after=$(ls "$work/artifacts" | wc -l)
  crashes=$((after - before))
  execs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$work/fuzz.log" | grep -oE "[0-9]+$" | tail -1)
  speed=$(grep -oE "stat::average_exec_per_sec: *[0-9]+" "$work/fuzz.log" | grep -oE "[0-9]+$" | tail -1)
  last=$(grep -E "^#[0-9]+" "$work/fuzz.log" | grep " cov: " | tail -1)
  cov=$(echo "$last" | grep -oE "cov: [0-9]+" | grep -oE "[0-9]+")
  ft=$(echo "$last" | grep -oE "ft: [0-9]+" | grep -oE "[0-9]+")
  corp=$(echo "$last" | grep -oE "corp: [0-9]+/[0-9]+[a-zA-Z]*" | cut -d' ' -f2)
  rows+=("$(printf '%-12s %12s %8s %7s %7s %12s %8s' "$t" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" \
    "${corp:-?}" "$crashes")")
  if [ $rc -ne 0 ] || [ "$crashes" -gt 0 ]; then
    grep -E "ERROR: |runtime error|broken promise|SUMMARY|Test unit written" "$work/fuzz.log" | head -10
    failed+=("$t (exit $rc, $crashes crash inputs in $work/artifacts)")
  fi
done

echo
echo "== fuzzing: ${secs}s per target"
printf '%-12s %12s %8s %7s %7s %12s %8s\n' target executions exec/s cov ft corpus crashes
for r in "${rows[@]}"; do echo "$r"; done
if [ ${#failed[@]} -gt 0 ]; then
  echo
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz: no crash"
