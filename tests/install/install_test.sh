#!/usr/bin/env bash
# Installs the build into a temporary prefix and uses it as a user would:
# examples/c built through find_package(nas) and through pkg-config, run; and
# `require "nas"` from plain lua5.4. A temporary prefix is not on lua5.4's
# default paths, so LUA_PATH/LUA_CPATH point into it here; under /usr/local
# (the default prefix) no variable is needed.
# Usage: install_test.sh <build dir> <source dir> <cmake> <lua5.4>
set -euo pipefail
build=$1 src=$2 cmake=$3 lua=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

"$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log"
libdir=$(dirname "$(find "$prefix" -name 'libnas.so' | head -1)")
[ -n "$libdir" ] || { echo "install: no libnas.so under $prefix"; exit 1; }
echo "install: libnas in ${libdir#"$prefix"/}"

# find_package(nas)
"$cmake" -S "$src/examples/c" -B "$tmp/hello-cmake" -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/cmake.log"
"$cmake" --build "$tmp/hello-cmake" >>"$tmp/cmake.log"
out=$("$tmp/hello-cmake/hello")
echo "$out" | tail -1
echo "$out" | grep -q 'params, .* MACs' || { echo "install: hello (find_package) printed no summary"; exit 1; }

# pkg-config
if command -v pkg-config >/dev/null; then
  flags=$(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs nas)
  cc "$src/examples/c/hello.c" $flags -o "$tmp/hello-pc"
  LD_LIBRARY_PATH="$libdir" "$tmp/hello-pc" | tail -1
  echo "install: pkg-config ok ($flags)"
else
  echo "install: pkg-config not installed, skipped"
fi

# require "nas" from plain lua5.4
LUA_PATH="$prefix/share/lua/5.4/?.lua;$prefix/share/lua/5.4/?/init.lua;;" \
LUA_CPATH="$libdir/lua/5.4/?.so;;" \
  "$lua" -e 'local nas = require "nas"; assert(nas.core, "nas.core"); print("install: require \"nas\" ok from " .. package.searchpath("nas.core", package.cpath))'

# nasrun from the prefix finds its Lua files there
echo 'local nas = require "nas"; local s = require "strategies.evolution"; print("install: nasrun ok")' >"$tmp/t.lua"
NASRUN_HOME= "$prefix/bin/nasrun" "$tmp/t.lua"
echo "install: ok"
