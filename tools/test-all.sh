#!/usr/bin/env bash
# tools/test-all.sh: build weft in every configuration of the test matrix,
# run the tests of each, and end with one line on stdout:
#
#     N passed, M failed
#
# (CI reads that last line). Exit status 1 if anything failed or failed to
# build. Run tools/setup.sh first to install the toolchain and libraries.
#
# The matrix (DESIGN.md, "Tests on this machine"), one build dir each:
#   release   build/release  g++,   --buildtype=release,        werror
#   asan      build/asan     g++,   --buildtype=debugoptimized, ASan + UBSan
#                            (no recovery), werror
#   clang     build/clang    clang, --buildtype=release,        werror,
#                            and the libFuzzer targets (-Dfuzzing=true:
#                            suite 'fuzz', 60 s per target; tests/fuzz/)
#   valgrind  build/release  again: the suites reactor and fiber under Valgrind
#
# Environment:
#   WEFT_MATRIX="release asan"  run only these configurations (default: all
#                               four, in the order above)
#   WEFT_JOBS=N                 compile and test parallelism (default: 2)
#   WEFT_ROOT=DIR               the project to build (default: this checkout)
#
# Counting: each Meson test entry (one per `test()` in meson.build, whatever
# number of GoogleTest cases its binary holds) counts once per configuration
# that ran it, read from that run's JSON test log (one object per line):
# OK, EXPECTEDFAIL and SKIP count as passed (SKIP is also reported as
# skipped); FAIL, TIMEOUT, ERROR, UNEXPECTEDPASS (anything else) as failed.
# A configuration that fails to configure or build, or whose test run fails
# without leaving a failing entry in its log, counts as 1 failed.

set -uo pipefail # no -e: one configuration's failure must not stop the rest

WEFT_ROOT=${WEFT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BUILD_ROOT=$WEFT_ROOT/build
JOBS=${WEFT_JOBS:-2}
ALL_CONFIGS=(release asan clang valgrind)

# The Valgrind run: which suites, under which command, how much more time.
VALGRIND_SUITES=(reactor fiber)
VALGRIND_WRAP="valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite"
VALGRIND_TIMEOUT_MULTIPLIER=4

# Sanitizer settings of the asan run. Stack-use-after-return detection is off
# because it cannot follow fiber switches.
ASAN_RUN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0
UBSAN_RUN_OPTIONS=print_stacktrace=1:halt_on_error=1

# Meson's own interpreter is the one sure to be there after setup.sh.
if [[ -x /usr/bin/python3 ]]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi

# Totals over the whole run, and one recap line per configuration.
PASSED=0
FAILED=0
SKIPPED=0
RECAP=()
declare -A BUILD_STATUS=() # configuration -> exit status of its configure+build

banner() { printf '\n=== %s\n' "$*"; }

# config_options NAME: sets CONFIG_CC, CONFIG_CXX and CONFIG_OPTS (Meson
# options) for a compiled configuration; fails for an unknown name.
config_options() {
  CONFIG_CC=gcc
  CONFIG_CXX=g++
  case $1 in
    release)
      CONFIG_OPTS=(--buildtype=release -Dwerror=true) ;;
    asan)
      # shellcheck disable=SC2054 # the comma is Meson's list separator
      CONFIG_OPTS=(--buildtype=debugoptimized
        -Db_sanitize=address,undefined -Db_lundef=false
        -Dcpp_args=-fno-sanitize-recover=all -Dc_args=-fno-sanitize-recover=all
        -Dwerror=true) ;;
    clang)
      CONFIG_CC=clang
      CONFIG_CXX=clang++
      CONFIG_OPTS=(--buildtype=release -Dwerror=true -Dfuzzing=true) ;;
    *)
      echo "test-all: unknown configuration '$1'" >&2
      return 1 ;;
  esac
}

# configure_and_build NAME: configures build/NAME (reconfiguring it if it
# already exists) and compiles it. Done at most once per run per NAME; later
# calls return the first call's status.
configure_and_build() {
  local name=$1 dir=$BUILD_ROOT/$1 status
  if [[ -n ${BUILD_STATUS[$name]+set} ]]; then
    return "${BUILD_STATUS[$name]}"
  fi
  config_options "$name" || return 1

  banner "$name: configure and build in build/$name"
  local -a setup=(meson setup)
  if [[ -f $dir/meson-private/coredata.dat ]]; then
    setup+=(--reconfigure)
  fi
  CC=$CONFIG_CC CXX=$CONFIG_CXX "${setup[@]}" "${CONFIG_OPTS[@]}" "$dir" "$WEFT_ROOT" &&
    meson compile -C "$dir" -j "$JOBS"
  status=$?
  BUILD_STATUS[$name]=$status
  return "$status"
}

# count_log LOG: prints the failing entries of a Meson JSON test log, then a
# last line "PASSED FAILED SKIPPED".
count_log() {
  "$PYTHON" - "$1" <<'EOF'
import json, sys

passed = failed = skipped = 0
with open(sys.argv[1]) as log:
    for line in log:
        if not line.strip():
            continue
        test = json.loads(line)
        result = test.get("result")
        if result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result == "SKIP":
            passed += 1
            skipped += 1
        else:  # FAIL, TIMEOUT, ERROR, UNEXPECTEDPASS, or anything new
            failed += 1
            print("    %-14s %s" % (result, test.get("name")))
print(passed, failed, skipped)
EOF
}

# record NAME PASSED FAILED SKIPPED NOTE: adds to the totals and prints the
# configuration's line (worded so that it never looks like the final line).
record() {
  local line
  PASSED=$((PASSED + $2))
  FAILED=$((FAILED + $3))
  SKIPPED=$((SKIPPED + $4))
  line=$(printf '%-9s passed %d, failed %d, skipped %d%s' "$1" "$2" "$3" "$4" "$5")
  RECAP+=("$line")
  banner "$line"
}

# run_tests NAME DIR LOGBASE [MESON TEST ARGS...]: runs `meson test` in DIR
# with its JSON log named after LOGBASE and records the counts. (Meson writes
# meson-logs/LOGBASE.json, or LOGBASE-valgrind.json under --wrap=valgrind.)
run_tests() {
  local name=$1 dir=$2 logbase=$3 start=$SECONDS rc counts p f s log
  shift 3
  local logs=$dir/meson-logs
  banner "$name: test"
  rm -f "$logs/$logbase".json "$logs/$logbase"-*.json # never count an old log
  meson test -C "$dir" --num-processes "$JOBS" --print-errorlogs \
    --logbase "$logbase" "$@"
  rc=$?
  local note=" ($((SECONDS - start)) s)"

  log=$(compgen -G "$logs/$logbase.json" || compgen -G "$logs/$logbase-*.json")
  if [[ ! -s $log ]] || ! counts=$(count_log "$log"); then
    record "$name" 0 1 0 " -- no readable test log (meson test exited $rc)"
    return
  fi
  [[ $counts == *$'\n'* ]] && printf '%s\n' "${counts%$'\n'*}"
  read -r p f s <<<"${counts##*$'\n'}"
  if [[ $rc -ne 0 && $f -eq 0 ]]; then
    f=1
    note+=" -- meson test exited $rc with no failing entry, counted as 1 failed"
  fi
  record "$name" "$p" "$f" "$s" "$note"
}

# run_compiled NAME: the release, asan and clang configurations.
run_compiled() {
  local name=$1
  if ! configure_and_build "$name"; then
    record "$name" 0 1 0 " -- configure or build FAILED, counted as 1 failed"
    return
  fi
  if [[ $name == asan ]]; then
    local -x ASAN_OPTIONS=$ASAN_RUN_OPTIONS UBSAN_OPTIONS=$UBSAN_RUN_OPTIONS
  fi
  run_tests "$name" "$BUILD_ROOT/$name" testlog
}

# run_valgrind: the reactor and fiber suites of the release build under
# Valgrind, logged apart (meson-logs/valgrind-valgrind.json) from the
# release run.
run_valgrind() {
  if ! configure_and_build release; then
    record valgrind 0 1 0 " -- the release build it needs FAILED, counted as 1 failed"
    return
  fi
  local -a suites=()
  local suite
  for suite in "${VALGRIND_SUITES[@]}"; do suites+=(--suite "$suite"); done
  run_tests valgrind "$BUILD_ROOT/release" valgrind \
    --wrap="$VALGRIND_WRAP" -t "$VALGRIND_TIMEOUT_MULTIPLIER" "${suites[@]}"
}

main() {
  local -a matrix
  local name tool
  read -r -a matrix <<<"${WEFT_MATRIX:-${ALL_CONFIGS[*]}}"
  for name in "${matrix[@]}"; do
    if [[ " ${ALL_CONFIGS[*]} " != *" $name "* ]]; then
      echo "test-all: unknown configuration '$name' in WEFT_MATRIX (known: ${ALL_CONFIGS[*]})" >&2
      exit 2
    fi
  done
  for tool in meson ninja "$PYTHON"; do
    if ! command -v "$tool" >/dev/null; then
      echo "test-all: '$tool' not found; run tools/setup.sh first" >&2
      echo "0 passed, 1 failed"
      exit 1
    fi
  done

  echo "test-all: matrix: ${matrix[*]}; project: $WEFT_ROOT"
  for name in "${matrix[@]}"; do
    case $name in
      valgrind) run_valgrind ;;
      *) run_compiled "$name" ;;
    esac
  done

  banner "summary"
  printf '  %s\n' "${RECAP[@]}"
  echo "  skipped tests (counted as passed): $SKIPPED"
  echo "$PASSED passed, $FAILED failed" # must stay the last line on stdout
  [[ $FAILED -eq 0 ]]
}

# Run only when executed; tools/demo.sh sources this file for its functions.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
  exit
fi
