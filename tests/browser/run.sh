#!/bin/sh
# The run report in a real browser: short real searches, their reports loaded
# by headless Chromium (Debian's chromium), the DOM checked after the scripts
# ran (no script error, marks in every plot, one table row per trial, a
# hostile run's payloads inert). See tests/browser/check.lua.
#
#   tests/browser/run.sh            from the repository root, after the build
#   NASRUN=build/nasrun CHROMIUM=chromium NAS_TEST_TMP=/tmp tests/browser/run.sh
#
# Prints "browser: N checks ok" and exits 0, or lists the failures and exits 1.
set -eu
cd "$(dirname "$0")/../.."
NASRUN=${NASRUN:-build/nasrun}
CHROMIUM=${CHROMIUM:-chromium}
if ! command -v "$CHROMIUM" >/dev/null 2>&1; then
  echo "browser: $CHROMIUM not found: install Debian's chromium (apt-get install --no-install-recommends chromium)" >&2
  exit 1
fi
if [ ! -x "$NASRUN" ]; then
  echo "browser: $NASRUN not found: build first (or set NASRUN)" >&2
  exit 1
fi
export NASRUN CHROMIUM
exec "$NASRUN" tests/browser/check.lua
