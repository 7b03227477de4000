#!/usr/bin/env bash
# tools/setup.sh: install what weft needs to build and test, from Debian 12's
# packages only. Installs nothing if everything is already there (so it is
# cheap to run before every build); otherwise runs `apt-get update` once and
# installs just the missing packages. Needs root only when something is
# missing. Downloads nothing but Debian packages.
set -euo pipefail

# Every package weft's build, tests and tools need. Add new ones here.
PACKAGES=(
  meson ninja-build pkg-config          # build system
  g++ clang libclang-rt-14-dev          # compilers (+ clang's sanitizer runtimes)
  libboost-context-dev                  # fibers
  libgtest-dev                          # tests
  node-llhttp                           # HTTP/1.1 parser (C sources)
  libssl-dev openssl ca-certificates    # TLS
  zlib1g-dev                            # gzip / deflate bodies
  nlohmann-json3-dev                    # JSON bodies, weft-fetch --json
  liburiparser-dev                      # URLs, RFC 3986 resolution
  libcli11-dev                          # command-line options of the tools
  nginx-light                           # HTTP(S) peer for the tests
  valgrind gdb                          # the Valgrind run, the gdb helper
)

export DEBIAN_FRONTEND=noninteractive

# installed PKG: true if dpkg reports PKG as fully installed.
installed() {
  dpkg -s "$1" 2>/dev/null | grep -qx 'Status: install ok installed'
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "setup: missing ${missing[*]}; as root, run:" >&2
  echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "setup: installing ${missing[*]}"
apt-get update
apt-get install -y "${missing[@]}"
echo "setup: done"
