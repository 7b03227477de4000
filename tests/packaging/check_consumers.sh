#!/bin/bash
# Builds tests/packaging/consumer/consumer.cpp (a task, a queue and an HTTP
# GET against a server it starts on 127.0.0.1, and two exceptions thrown by
# weft caught by type) outside weft's tree, the ways users take weft, and
# runs it:
#
#   (a) as a Meson subproject: a fresh project whose subprojects/weft is a
#       symlink to this source tree, dependency('weft', fallback : ['weft',
#       'weft_dep']); weft's tests and tools must not be part of that build;
#   (b) installed: weft's tree configured on its own with a temporary
#       --prefix and -Ddefault_library=static, only the library built
#       (`meson compile weft`), installed with `meson install --tags devel`
#       (library, headers, weft.pc), then the consumer compiled with a plain
#       command line: $CXX -std=c++14 consumer.cpp
#       $(pkg-config --static --cflags --libs weft), after checking that
#       weft.pc requires only nlohmann_json publicly, lists OpenSSL,
#       uriparser, zlib and -lboost_context as private, and names no file
#       by absolute path;
#   (c) installed shared: as (b) with -Ddefault_library=shared, installed
#       with `--tags runtime,devel`; the consumer links libweft.so.0 and
#       runs with LD_LIBRARY_PATH. Before that, the installed library is
#       checked: its SONAME is libweft.so.0 (readelf -d), and every symbol
#       it exports (nm -D --defined-only) is in namespace weft, none of them
#       is of a class the internal headers and sources define (no
#       weft::detail::StackPool, no weft::Loop::Impl), and the API the
#       consumer needs, exception typeinfo included, is there.
#
# Each run must print the consumer's known line. Everything happens in one
# mktemp directory, removed at the end (kept if WEFT_KEEP_TMP=1).
#
# Environment (set by tests/packaging/meson.build):
#   WEFT_SOURCE_ROOT  weft's source tree
#   WEFT_CXX          the project's C++ compiler command (both builds use it)
#   WEFT_MESON, WEFT_PKG_CONFIG  the tools (empty: not found, the test skips)
#   (nm, c++filt and readelf, from binutils, are taken from PATH)
#   WEFT_JOBS         build parallelism (default 2)
set -u

src=${WEFT_SOURCE_ROOT:?WEFT_SOURCE_ROOT is not set}
cxx=${WEFT_CXX:-c++}
meson=${WEFT_MESON:-}
pkg_config=${WEFT_PKG_CONFIG:-}
jobs=${WEFT_JOBS:-2}
here=$src/tests/packaging
expected='consumer: task=42 queue=10 http=200 greeting=hello refused=ClientConnectorError timeout=TimeoutError'

if [ -z "$meson" ] || [ -z "$pkg_config" ]; then
  echo "SKIP: meson or pkg-config not found"
  exit 77
fi
for tool in nm c++filt readelf; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool (binutils) not found"; exit 1; }
done
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

# Runs a built consumer (with LD_LIBRARY_PATH=$3 if given) and checks its
# line.
run_consumer() {
  local label=$1 exe=$2 libdir=${3:-} out
  echo "-- $label: run $exe${libdir:+ with LD_LIBRARY_PATH=$libdir}"
  if ! out=$(LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" timeout 120 "$exe" 2>&1); then
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

# install_weft LABEL LIBRARY TAGS: configures weft's tree in $tmp/weft-LIBRARY
# with --prefix=$prefix and -Ddefault_library=LIBRARY, builds the library
# alone (weft has no option to leave its tests and tools out of a top-level
# build) and installs what the install TAGS name, with no other target.
install_weft() {
  local label=$1 library=$2 tags=$3 build=$tmp/weft-$2
  step "$label-setup.log" "($label) meson setup $src --prefix=$prefix -Ddefault_library=$library" \
    env CXX="$cxx" "${meson_cmd[@]}" setup "$build" "$src" --prefix="$prefix" -Ddefault_library="$library"
  phase "configure"
  step "$label-build.log" "($label) meson compile weft (the library only) -j $jobs" \
    "${meson_cmd[@]}" compile -C "$build" -j "$jobs" weft
  phase "build"
  step "$label-install.log" "($label) meson install --no-rebuild --tags $tags" \
    "${meson_cmd[@]}" install -C "$build" --no-rebuild --tags "$tags"
}

# pkg_config_flags LABEL ARGS...: `pkg-config ARGS... weft` against the
# weft.pc in $pc_dir, or FAIL with its error output.
pkg_config_flags() {
  local label=$1
  shift
  PKG_CONFIG_PATH="$pc_dir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}" $pkg_config "$@" weft 2>"$tmp/$label-pkg-config.log" || {
    echo "FAIL: ($label) pkg-config $* weft:" >&2
    sed 's/^/   | /' "$tmp/$label-pkg-config.log" >&2
    exit 1
  }
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
install_weft b static devel
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

# Only nlohmann-json is a public requirement; the libraries weft uses
# inside are private, named by -l (no absolute, versioned paths).
field() { sed -n "s/^$1: *//p" "$pc"; }
case "$(field Requires)" in
  nlohmann_json) ;;
  *) echo "FAIL: (b) weft.pc: Requires: \"$(field Requires)\", expected nlohmann_json alone"; exit 1 ;;
esac
for private in openssl liburiparser zlib; do
  field Requires.private | grep -qw "$private" ||
    { echo "FAIL: (b) weft.pc: $private is not in Requires.private"; exit 1; }
done
field Libs.private | grep -qw -- -lboost_context ||
  { echo "FAIL: (b) weft.pc: -lboost_context is not in Libs.private"; exit 1; }
if grep -E '^(Libs|Libs.private|Cflags):' "$pc" | grep -qE '(^|[[:space:]])/'; then
  echo "FAIL: (b) weft.pc names a file by absolute path:"
  grep -E '^(Libs|Libs.private|Cflags):' "$pc" | sed 's/^/   | /'
  exit 1
fi
flags=$(pkg_config_flags b --static --cflags --libs) || exit 1
echo "   pkg-config --static --cflags --libs weft: $flags"
mkdir -p "$tmp/plain"
cp "$here/consumer/consumer.cpp" "$tmp/plain/"
# shellcheck disable=SC2086  # $cxx and $flags are word lists
step b-compile.log "(b) $cxx -std=c++14 consumer.cpp \$(pkg-config --static --cflags --libs weft)" \
  bash -c "cd '$tmp/plain' && $cxx -std=c++14 -Wall -Wextra -o consumer consumer.cpp $flags"
phase "compile and link"
run_consumer "(b) pkg-config" "$tmp/plain/consumer"

# (c) weft installed as a shared library, found through pkg-config.
prefix=$tmp/prefix-shared
install_weft c shared runtime,devel
lib=$(find "$prefix" -name 'libweft.so.0.*' -type f | head -1)
if [ -z "$lib" ]; then
  echo "FAIL: (c) no libweft.so.0.* under $prefix; installed:"
  (cd "$prefix" && find . | sort | sed 's/^/   | /')
  exit 1
fi
libdir=$(dirname "$lib")
for link in libweft.so.0 libweft.so; do
  [ -L "$libdir/$link" ] || {
    echo "FAIL: (c) $libdir/$link (a symlink to $(basename "$lib")) was not installed"
    exit 1
  }
done
[ -z "$(find "$prefix" -name 'libweft.a')" ] || { echo "FAIL: (c) libweft.a was installed by a shared build"; exit 1; }

echo "-- (c) readelf -d $lib: SONAME"
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$soname" != libweft.so.0 ]; then
  echo "FAIL: (c) the SONAME of $lib is \"$soname\", expected libweft.so.0"
  exit 1
fi
echo "   SONAME $soname"

# The exported symbols, mangled and demangled, one per line each. A name in
# namespace weft mangles as a nested name starting with N4weft (after
# any cv- or ref-qualifier of a member function), behind the prefix of a
# typeinfo (_ZTI), its name (_ZTS), a vtable (_ZTV), a VTT (_ZTT), a thunk
# (_ZTh, _ZTv) or a guard variable (_ZGV, with Z for a local static).
echo "-- (c) nm -D --defined-only $lib: exports"
nm -D --defined-only "$lib" | awk '{ print $3 }' | sed 's/@.*//' >"$tmp/c-exports.txt"
c++filt <"$tmp/c-exports.txt" >"$tmp/c-exports-demangled.txt"
count=$(wc -l <"$tmp/c-exports.txt")
if [ "$count" -lt 100 ]; then
  echo "FAIL: (c) only $count symbols exported by $lib:"
  sed 's/^/   | /' "$tmp/c-exports-demangled.txt"
  exit 1
fi
weft_name='^_Z(T[ISVT]|Th-?[0-9]+_|Tv-?[0-9]+_-?[0-9]+_|GVZ?)?N[rVK]*[RO]?4weft'
# Besides weft::, the two C symbols tools/weft-gdb.py reads (fiber/debug_info.hpp).
outside=$(paste "$tmp/c-exports.txt" "$tmp/c-exports-demangled.txt" | grep -Ev "$weft_name" |
  grep -Evx 'weft_debug_(offsets|loops)'$'\t''.*' | cut -f2)
if [ -n "$outside" ]; then
  echo "FAIL: (c) $lib exports symbols outside namespace weft (llhttp, uriparser, std:: instantiations?):"
  printf "%s\n" "$outside" | head -40 | sed 's/^/   | /'
  exit 1
fi
# The classes defined by the layers' internal headers and sources: none may
# own an exported symbol (a WEFT_API class nesting one would export it).
# Only the symbol's own name counts, not its parameters' types.
internal=$(cat "$src"/reactor/*.[ch]pp "$src"/fiber/*.[ch]pp "$src"/http/*.[ch]pp |
  sed -nE 's/^(class|struct) ([A-Za-z_][A-Za-z_0-9:]*)( final)? *[:{].*/\2/p' | sort -u)
[ -n "$internal" ] || { echo "FAIL: (c) found no class definitions in $src/{reactor,fiber,http}"; exit 1; }
internal_re="::($(printf "%s\n" "$internal" | paste -sd'|' -))(::|<|$)"
special='typeinfo name for|typeinfo for|vtable for|VTT for|non-virtual thunk to|virtual thunk to|guard variable for'
leaked=$(sed -E "s/^($special) //; s/\(.*//" "$tmp/c-exports-demangled.txt" | grep -E "$internal_re" | sort -u)
if [ -n "$leaked" ]; then
  echo "FAIL: (c) $lib exports members of internal classes:"
  printf "%s\n" "$leaked" | head -40 | sed 's/^/   | /'
  exit 1
fi
# What a program needs: exception typeinfo is shared across the boundary.
for needed in 'weft::Loop::Loop()' 'weft::get_running_loop()' 'typeinfo for weft::detail::TaskCore' \
  'typeinfo for weft::CancelledError' 'typeinfo for weft::TimeoutError' \
  'typeinfo for weft::http::ClientConnectorError' 'weft::http::ClientSession::~ClientSession()'; do
  grep -qxF "$needed" "$tmp/c-exports-demangled.txt" || {
    echo "FAIL: (c) $lib does not export $needed"
    exit 1
  }
done
echo "   $count symbols, all in namespace weft, none of an internal class"

pc=$(find "$prefix" -name weft.pc -path '*/pkgconfig/*' | head -1)
[ -n "$pc" ] || { echo "FAIL: (c) no pkgconfig/weft.pc under $prefix"; exit 1; }
pc_dir=$(dirname "$pc")
flags=$(pkg_config_flags c --cflags --libs) || exit 1
echo "   pkg-config --cflags --libs weft: $flags"
mkdir -p "$tmp/shared"
cp "$here/consumer/consumer.cpp" "$tmp/shared/"
step c-compile.log "(c) $cxx -std=c++14 consumer.cpp \$(pkg-config --cflags --libs weft)" \
  bash -c "cd '$tmp/shared' && $cxx -std=c++14 -Wall -Wextra -o consumer consumer.cpp $flags"
phase "compile and link"
readelf -d "$tmp/shared/consumer" | grep -q 'NEEDED.*\[libweft\.so\.0\]' || {
  echo "FAIL: (c) the consumer does not link libweft.so.0:"
  readelf -d "$tmp/shared/consumer" | grep NEEDED | sed 's/^/   | /'
  exit 1
}
run_consumer "(c) shared" "$tmp/shared/consumer" "$libdir"

echo "OK: the three consumers built and ran ($(($(date +%s) - start_all)) s)"
