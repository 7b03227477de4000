#!/bin/bash
# Each public header of include/weft/ compiles on its own, as the first and
# only include of a translation unit, under
#   -std=c++14 -Wall -Wextra -Wpedantic -Werror
# with every C++ compiler given (the project's, g++, clang++), and drags
# none of weft's private dependencies into the user's translation unit: no
# OpenSSL, zlib, llhttp or uriparser header, and nlohmann/json.hpp only
# through weft/http/json.hpp (the others use nlohmann/json_fwd.hpp).
#
# Environment (set by tests/packaging/meson.build):
#   WEFT_SOURCE_ROOT    the source tree (its include/ holds the headers)
#   WEFT_BUILD_INCLUDE  the build tree's include/ (generated weft/version.hpp)
#   WEFT_CXX            the project's C++ compiler command (may be several words)
#   WEFT_GXX, WEFT_CLANGXX  g++ and clang++ if found (may be empty)
#
# The includes are read from the compiler's -H output (one line per header
# opened, its depth in dots), so a failure names the whole include chain.
set -u

src=${WEFT_SOURCE_ROOT:?WEFT_SOURCE_ROOT is not set}
build_include=${WEFT_BUILD_INCLUDE:?WEFT_BUILD_INCLUDE is not set}
flags=(-std=c++14 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -H
       "-I$src/include" "-I$build_include")
# What no public header may bring in (an extended regex over -H paths).
forbidden='(/openssl/|/zlib[.]h$|llhttp|uriparser)'
full_json='/nlohmann/json[.]hpp$'

# The compilers, each once (the project's compiler is usually g++ itself:
# compare the resolved executables, arguments included).
compilers=()
seen=()
for candidate in "${WEFT_CXX:-}" "${WEFT_GXX:-}" "${WEFT_CLANGXX:-}"; do
  [ -n "$candidate" ] || continue
  read -r -a words <<<"$candidate"
  exe=$(command -v "${words[0]}" 2>/dev/null) || continue
  key="$(readlink -f "$exe") ${words[*]:1}"
  dup=0
  for k in "${seen[@]+"${seen[@]}"}"; do [ "$k" = "$key" ] && dup=1; done
  [ $dup = 1 ] && continue
  seen+=("$key")
  compilers+=("$candidate")
done
if [ ${#compilers[@]} -eq 0 ]; then
  echo "FAIL: no C++ compiler found (WEFT_CXX, WEFT_GXX, WEFT_CLANGXX)"
  exit 1
fi

headers=()
while IFS= read -r h; do headers+=("$h"); done < <(cd "$src/include" && find weft -name '*.hpp' | LC_ALL=C sort)
if [ -f "$build_include/weft/version.hpp" ]; then
  headers+=("weft/version.hpp")
else
  echo "FAIL: $build_include/weft/version.hpp (generated at configure time) is missing"
  exit 1
fi
if [ ${#headers[@]} -lt 10 ]; then
  echo "FAIL: only ${#headers[@]} headers found under $src/include/weft"
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/weft-headers.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Prints the include chain of every -H line whose path matches $2, one chain
# a line: "tu.cpp -> weft/a.hpp -> ... -> <match>".
chains() {
  awk -v pat="$2" '
    /^\.+ / {
      depth = index($0, " ") - 1
      path = substr($0, depth + 2)
      stack[depth] = path
      if (path ~ pat) {
        line = "tu.cpp"
        for (i = 1; i <= depth; i++) line = line " -> " stack[i]
        print line
      }
    }' "$1"
}

failures=0
checked=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# Compiles `#include "<header>"` with compiler $1; -H goes to $work/out.
compile_alone() {
  local cxx=$1 header=$2
  printf '#include "%s"\n' "$header" >"$work/tu.cpp"
  # shellcheck disable=SC2086  # $cxx may be a command with arguments
  (cd "$work" && $cxx "${flags[@]}" tu.cpp) >"$work/out" 2>&1
}

# Self-check: the -H scan must see a forbidden header when there is one
# (otherwise a compiler whose -H output differs would pass everything).
for cxx in "${compilers[@]}"; do
  printf '#include <zlib.h>\n' >"$work/tu.cpp"
  (cd "$work" && $cxx "${flags[@]}" tu.cpp) >"$work/out" 2>&1
  if [ -z "$(chains "$work/out" "$forbidden")" ]; then
    fail "[$cxx] self-check: the -H scan did not see <zlib.h> in a TU that includes it; -H output:"
    sed 's/^/    /' "$work/out" | head -20
  fi
done

for cxx in "${compilers[@]}"; do
  version=$($cxx --version 2>/dev/null | head -1)
  echo "== $cxx ($version): ${#headers[@]} headers"
  for header in "${headers[@]}"; do
    checked=$((checked + 1))
    if ! compile_alone "$cxx" "$header"; then
      fail "[$cxx] $header does not compile on its own (-std=c++14 -Wall -Wextra -Wpedantic -Werror):"
      grep -v '^\.\+ ' "$work/out" | grep -v '^Multiple include guards' | head -30 | sed 's/^/    /'
      continue
    fi
    bad=$(chains "$work/out" "$forbidden")
    if [ -n "$bad" ]; then
      fail "[$cxx] $header includes a private dependency's header:"
      printf "%s\n" "$bad" | sed 's/^/    /'
    fi
    json=$(chains "$work/out" "$full_json")
    if [ "$header" = "weft/http/json.hpp" ]; then
      # A control: the one header meant to include it must be seen doing so.
      [ -n "$json" ] || fail "[$cxx] weft/http/json.hpp: nlohmann/json.hpp not seen in its -H output (scan broken?)"
    elif [ -n "$json" ]; then
      fail "[$cxx] $header includes the whole of nlohmann/json.hpp (only weft/http/json.hpp may; use json_fwd.hpp):"
      printf "%s\n" "$json" | sed 's/^/    /'
    fi
  done
done

if [ $failures -ne 0 ]; then
  echo "$failures failure(s) in $checked header compilations"
  exit 1
fi
echo "OK: $checked header compilations (${#headers[@]} headers x ${#compilers[@]} compilers), no private dependency dragged in"
