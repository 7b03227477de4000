#!/bin/bash
# Builds tests/packaging/consumer/consumer.cpp (a task, a queue and an HTTP
# GET against a server it starts on 127.0.0.1) outside weft's tree, the two
# ways users take weft, and runs it:
#
#   (a) as a Meson subproject: a fresh project whose subprojects/weft is a
#       symlink to this source tree, dependency('weft', fallback : ['weft',
#       'weft_dep']); weft's tests and tools must not be part of that build;
#   (b) installed: weft's tree configured on its own with a temporary
#       --prefix and -Ddefault_library=static, only the library built
#       (`meson compile weft`), installed with `meson install --tags devel`
#       (library, headers, weft.pc), then the consumer compiled with a plain
#       command line: $CXX -std=c++14 consumer.cpp $(pkg-config --cflags --libs weft).
#
# Each run must print the consumer's known line. Everything happens in one
# mktemp directory, removed at the end (kept if WEFT_KEEP_TMP=1).
#
# Environment (set by tests/packaging/meson.build):
#   WEFT_SOURCE_ROOT  weft's source tree
#   WEFT_CXX          the project's C++ compiler command (both builds use it)
#   WEFT_MESON, WEFT_PKG_CONFIG  the tools (empty: not found, the test skips)
#   WEFT_JOBS         build parallelism (default 2)
set -u

src=${WEFT_SOURCE_ROOT:?WEFT_SOURCE_ROOT is not set}
cxx=${WEFT_CXX:-c++}
meson=${WEFT_MESON:-}
pkg_config=${WEFT_PKG_CONFIG:-}
jobs=${WEFT_JOBS:-2}
here=$src/tests/packaging
expected='consumer: task=42 queue=10 http=200 greeting=hello'

if [ -z "$meson" ] || [ -z "$pkg_config" ]; then
  echo "SKIP: meson or pkg-config not found"
  exit 77
fi
# shellcheck disable=SC2206  # WEFT_MESON may be a command with arguments
meson_cmd=($meson)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-consumers.XXXXXX")
if [ "${WEFT_KEEP_TMP:-0}" = 1 ]; then
  echo "keeping $tmp"
else
  trap 'rm -rf "$tmp"' EXIT
fi

start_all=$(date +%s)
phase_start=$start_all
phase() {
  local now
  now=$(date +%s)
  echo "   ($1: $((now - phase_start)) s)"
  phase_start=$now
}

# Runs a step with its output in $tmp/<log>; on failure, prints the step,
# the end of its output, and exits 1.
step() {
  local log=$1 what=$2
  shift 2
  echo "-- $what"
  if ! "$@" >"$tmp/$log" 2>&1; then
    echo "FAIL: $what"
    echo "   command: $*"
    tail -n 60 "$tmp/$log" | sed 's/^/   | /'
    exit 1
  fi
}

# Runs a built consumer and checks its line.
run_consumer() {
  local label=$1 exe=$2 out
  echo "-- $label: run $exe"
  if ! out=$(timeout 120 "$exe" 2>&1); then
    echo "FAIL: $label: the consumer failed:"
    printf "%s\n" "$out" | sed 's/^/   | /'
    exit 1
  fi
  echo "   $out"
  case "$out" in
    "weft "*" $expected") ;;
    *)
      echo "FAIL: $label: expected a line ending in \"$expected\", got:"
      printf "%s\n" "$out" | sed 's/^/   | /'
      exit 1
      ;;
  esac
}

# (a) weft as a Meson subproject.
sub=$tmp/subproject
mkdir -p "$sub/subprojects"
cp "$here/consumer/meson.build" "$here/consumer/consumer.cpp" "$sub/"
ln -s "$src" "$sub/subprojects/weft"
step a-setup.log "(a) meson setup of a project with subprojects/weft -> $src" \
  env CXX="$cxx" "${meson_cmd[@]}" setup "$sub/build" "$sub" --force-fallback-for=weft
phase "configure"
# weft as a subproject builds its library only: no tests, no tools.
"${meson_cmd[@]}" introspect --targets "$sub/build" >"$tmp/a-targets.json" 2>&1
for unwanted in '"name": "test_' '"name": "weft-fetch"' '"name": "weft-bench"' '"name": "example_'; do
  if grep -q "$unwanted" "$tmp/a-targets.json"; then
    echo "FAIL: (a) weft as a subproject defines its tests or tools (a target matching $unwanted):"
    grep -o "${unwanted}[^\"]*\"" "$tmp/a-targets.json" | sort -u | head -10 | sed 's/^/   | /'
    exit 1
  fi
done
grep -q '"name": "weft"' "$tmp/a-targets.json" || {
  echo "FAIL: (a) no target named weft in the subproject build"
  exit 1
}
step a-build.log "(a) meson compile -j $jobs" "${meson_cmd[@]}" compile -C "$sub/build" -j "$jobs"
phase "build"
run_consumer "(a) subproject" "$sub/build/consumer"

# (b) weft installed, found through pkg-config.
prefix=$tmp/prefix
step b-setup.log "(b) meson setup $src --prefix=$prefix -Ddefault_library=static" \
  env CXX="$cxx" "${meson_cmd[@]}" setup "$tmp/weft-build" "$src" --prefix="$prefix" -Ddefault_library=static
phase "configure"
# weft has no option to leave its tests and tools out of a top-level build:
# build the library target alone and install what needs no other target.
step b-build.log "(b) meson compile weft (the library only) -j $jobs" \
  "${meson_cmd[@]}" compile -C "$tmp/weft-build" -j "$jobs" weft
phase "build"
step b-install.log "(b) meson install --no-rebuild --tags devel" \
  "${meson_cmd[@]}" install -C "$tmp/weft-build" --no-rebuild --tags devel
pc=$(find "$prefix" -name weft.pc -path '*/pkgconfig/*' | head -1)
if [ -z "$pc" ]; then
  echo "FAIL: (b) no pkgconfig/weft.pc under $prefix; installed:"
  (cd "$prefix" && find . -type f | sort | sed 's/^/   | /')
  exit 1
fi
for installed in include/weft/weft.hpp include/weft/version.hpp include/weft/http/json.hpp; do
  [ -f "$prefix/$installed" ] || { echo "FAIL: (b) $installed was not installed"; exit 1; }
done
[ -n "$(find "$prefix" -name 'libweft.a')" ] || { echo "FAIL: (b) libweft.a was not installed"; exit 1; }
pc_dir=$(dirname "$pc")
echo "   installed $pc:"
sed 's/^/   | /' "$pc"

flags=$(PKG_CONFIG_PATH="$pc_dir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}" $pkg_config --cflags --libs weft 2>"$tmp/b-pkg-config.log") || {
  echo "FAIL: (b) pkg-config --cflags --libs weft:"
  sed 's/^/   | /' "$tmp/b-pkg-config.log"
  exit 1
}
echo "   pkg-config --cflags --libs weft: $flags"
mkdir -p "$tmp/plain"
cp "$here/consumer/consumer.cpp" "$tmp/plain/"
# shellcheck disable=SC2086  # $cxx and $flags are word lists
step b-compile.log "(b) $cxx -std=c++14 consumer.cpp \$(pkg-config --cflags --libs weft)" \
  bash -c "cd '$tmp/plain' && $cxx -std=c++14 -Wall -Wextra -o consumer consumer.cpp $flags"
phase "compile and link"
run_consumer "(b) pkg-config" "$tmp/plain/consumer"

echo "OK: both consumers built and ran ($(($(date +%s) - start_all)) s)"
