#!/usr/bin/env bash
# Runs every check CI runs (.ci/run calls this script):
#   1. the Release build with -Werror (scripts/setup.sh installs packages and builds ./build)
#      and every test through ctest: C unit tests, Lua specs (busted), end-to-end
#      scripts, parallel searches, the report in headless Chromium, the install test;
#   2. an AddressSanitizer + UBSan build (./build-asan) running the C tests, and
#      the busted specs against its nas.core with libasan preloaded into lua5.4;
#   3. luacheck with the committed .luacheckrc (when there is one);
#   4. clang-format: how far each C file is from .clang-format (a report, not a gate);
#   5. fuzzing: every libFuzzer target for NAS_FUZZ_SECONDS (60) seconds (scripts/fuzz.sh).
# Arguments go to the first ctest run (e.g. -R '^c_'). NAS_TEST_QUICK=1 runs step 1 only.
set -uo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
failed=()
declare -A took
now() { date +%s; }
section() { echo; echo "== $*"; }

# What only the tests need, beside what nasrun needs (setup.sh): PyTorch reads
# exported models, a headless browser opens reports, and the checks below.
# --packages prints the list and exits (scripts/footprint.sh uses it).
TEST_PACKAGES=(python3-torch chromium lua-check clang-format clang-15 libfuzzer-15-dev llvm-15)
if [ "${1:-}" = --packages ]; then echo "${TEST_PACKAGES[@]}"; exit 0; fi

# ---- 1. Release build (-Werror) and every test -------------------------------
t0=$(now)
bash scripts/setup.sh -DNAS_WERROR=ON || exit 1
took[release_build]=$(($(now) - t0))

missing=()
for p in "${TEST_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  section "installing what the tests need: ${missing[*]}"
  t0=$(now)
  $SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  took[test_packages]=$(($(now) - t0))
fi

t0=$(now)
(cd build && ctest --output-on-failure "$@")
rc=$?
took[ctest]=$(($(now) - t0))
[ $rc -eq 0 ] || failed+=("ctest (build)")
# ctest hides the output of passing tests: show each runner's own summary so a
# run that executed no test is visible.
section "test runners' summaries"
grep -hE "^test_[a-z_]+: [0-9]+ checks|^browser: [0-9]+ checks|[0-9]+ successes / [0-9]+ failures|^e2e ok|^install: ok|^[0-9]+% tests passed" \
  build/Testing/Temporary/LastTest.log 2>/dev/null

if [ "${NAS_TEST_QUICK:-0}" = 1 ]; then
  echo "quick run: sanitizers, luacheck and clang-format skipped"
  exit $rc
fi

# ---- 2. AddressSanitizer + UndefinedBehaviorSanitizer ------------------------
section "sanitizers: ASan + UBSan build (build-asan, Debug)"
t0=$(now)
mkdir -p build-asan
if cmake -S . -B build-asan -DNAS_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DNAS_WERROR=ON >build-asan/build.log 2>&1 &&
  cmake --build build-asan -j"$(nproc)" >>build-asan/build.log 2>&1; then
  took[asan_build]=$(($(now) - t0))
  t0=$(now)
  (cd build-asan && UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest -R '^c_' --output-on-failure) ||
    failed+=("C tests under ASan/UBSan")
  grep -hE "^test_[a-z_]+: [0-9]+ checks|^[0-9]+% tests passed" build-asan/Testing/Temporary/LastTest.log 2>/dev/null
  took[asan_c_tests]=$(($(now) - t0))

  # lua5.4 is not instrumented: the ASan runtime must be loaded first, so it is
  # preloaded; leak detection is off (the interpreter's own exit-time
  # allocations are not ours). The specs that drive nas.core's bindings most
  # (graphs, data, models, controller, proxies, supernets) get the instrumented
  # engine; nasrun, where a spec spawns it, is the ASan build's.
  specs=${NAS_ASAN_SPECS:-"net_spec rng_spec space_spec bad_input_spec controller_spec proxies_spec supernet_spec"}
  spec_files=()
  for s in $specs; do [ -f "tests/lua/$s.lua" ] && spec_files+=("tests/lua/$s.lua"); done
  section "sanitizers: busted specs with the ASan nas.core (${#spec_files[@]} files)"
  t0=$(now)
  asan_rt=$(gcc -print-file-name=libasan.so)
  # libstdc++ too: lua5.4 does not link it, and ASan must find its __cxa_throw
  # when it starts, or the first C++ exception in the engine aborts.
  stdcxx=$(gcc -print-file-name=libstdc++.so)
  LD_PRELOAD="$asan_rt $stdcxx" ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    NASRUN="$PWD/build-asan/nasrun" NAS_TEST_TMP="$PWD/build-asan/tmp" \
    LUA_PATH="$PWD/lua/?.lua;$PWD/lua/?/init.lua;$PWD/?.lua;;" LUA_CPATH="$PWD/build-asan/lua/?.so;;" \
    busted --lua=lua5.4 -o utfTerminal "${spec_files[@]}" >build-asan/busted.log 2>&1 ||
    failed+=("busted specs under ASan")
  grep -E "ERROR: AddressSanitizer|runtime error:" build-asan/busted.log | head -5
  grep -E "[0-9]+ successes / [0-9]+ failures" build-asan/busted.log || tail -20 build-asan/busted.log
  took[asan_specs]=$(($(now) - t0))
else
  tail -30 build-asan/build.log
  failed+=("ASan build")
fi

# ---- 3. luacheck -------------------------------------------------------------
section "luacheck"
if [ -f .luacheckrc ]; then
  luacheck lua strategies spaces examples tests/lua bench >build/luacheck.log 2>&1 || failed+=(luacheck)
  grep -E "^Total:" build/luacheck.log || tail -5 build/luacheck.log
else
  echo "no .luacheckrc: skipped"
fi

# ---- 4. clang-format (report) ------------------------------------------------
section "clang-format --dry-run (lines .clang-format would change; a report, not a gate)"
files=$(ls engine/include/*.h engine/core/*.[ch] engine/lua/*.[ch] tests/c/*.[ch] examples/c/*.c 2>/dev/null)
total=0
for f in $files; do
  n=$(clang-format --dry-run "$f" 2>&1 | grep -c 'warning:')
  total=$((total + n))
  [ "$n" -eq 0 ] || printf '%5d  %s\n' "$n" "$f"
done
echo "clang-format: $total places to reformat in $(echo "$files" | wc -w) files"

# ---- 5. fuzzing ------------------------------------------------------------------
# Every libFuzzer target (tests/fuzz) for NAS_FUZZ_SECONDS each, after replaying
# the regression inputs; any crash or sanitizer report fails the run.
section "fuzzing: ${NAS_FUZZ_SECONDS:-60} s per target (build-fuzz)"
t0=$(now)
bash scripts/fuzz.sh "${NAS_FUZZ_SECONDS:-60}" || failed+=(fuzzing)
took[fuzz]=$(($(now) - t0))

section "times (seconds)"
for k in release_build test_packages ctest asan_build asan_c_tests asan_specs fuzz; do
  [ -n "${took[$k]:-}" ] && printf '%-14s %6d\n' "$k" "${took[$k]}"
done
if [ "${#failed[@]}" -gt 0 ]; then
  section "FAILED: ${failed[*]}"
  exit 1
fi
section "all checks passed"
