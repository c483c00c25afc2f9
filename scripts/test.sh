#!/usr/bin/env bash
# Runs every test: the C unit tests, the Lua specs (busted) and the end-to-end
# scripts, through ctest. Builds first (and installs packages when missing).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
cd build
ctest --output-on-failure "$@"
rc=$?
# ctest hides the output of passing tests: show each runner's own summary so a
# run that executed no test is visible.
echo
echo "== test runners' summaries"
grep -hE "^test_[a-z_]+: [0-9]+ checks|[0-9]+ successes / [0-9]+ failures|^e2e ok|^[0-9]+% tests passed" \
  Testing/Temporary/LastTest.log 2>/dev/null
exit $rc
