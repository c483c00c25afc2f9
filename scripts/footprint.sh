#!/usr/bin/env bash
# What the two README commands install on a machine, without installing it:
# apt-get's simulation of scripts/setup.sh's packages, then of setup.sh's +
# scripts/test.sh's, printing packages, download and installed size.
#
#   scripts/footprint.sh [dpkg-status-file]
#
# Run it on a fresh Debian 12 machine (before setup.sh), or pass the dpkg
# status file of one: apt-get then simulates against that machine's packages.
set -euo pipefail
cd "$(dirname "$0")/.."
status=${1:-}
opt=()
[ -n "$status" ] && opt=(-o "Dir::State::status=$status")

simulate() { # label, then packages
  local label=$1
  shift
  local list
  list=$(apt-get -s "${opt[@]}" install --no-install-recommends "$@" 2>/dev/null | awk '/^Inst /{print $2}')
  local n=0 dl=0 kb=0
  if [ -n "$list" ]; then
    n=$(echo "$list" | wc -l)
    read -r dl kb < <(echo "$list" | xargs apt-cache show --no-all-versions 2>/dev/null |
      awk '/^Size:/{d+=$2} /^Installed-Size:/{k+=$2} END{printf "%d %d\n", d/1048576, k/1024}')
  fi
  printf '%-28s %4d packages, %5d MB download, %5d MB installed\n' "$label" "$n" "$dl" "$kb"
}

read -r -a setup <<<"$(bash scripts/setup.sh --packages)"
read -r -a tests <<<"$(bash scripts/test.sh --packages)"
simulate "setup.sh (main job)" "${setup[@]}"
simulate "setup.sh + test.sh" "${setup[@]}" "${tests[@]}"
