#!/usr/bin/env bash
# tools/demo.sh: build the release configuration (build/release, the same as
# tools/test-all.sh builds) and run the main job, weft-fetch's demo —
# weft-fetch with no arguments at all: a server inside the process whose
# responses take 100 ms each, 20 fetches one by one, then concurrently:
#
#     sequential: 20 requests in 2013 ms
#     concurrent: 20 requests in 104 ms
#     speed-up: 19.4×
#
# Exit status: weft-fetch's (0 if every fetch succeeded), or 1 if the build
# failed. Run tools/setup.sh first.
set -euo pipefail

# shellcheck source=tools/test-all.sh
source "$(dirname "${BASH_SOURCE[0]}")/test-all.sh"

if ! configure_and_build release; then
  echo "demo: the release build failed" >&2
  exit 1
fi

weft_fetch=$BUILD_ROOT/release/tools/weft-fetch
if [[ ! -x $weft_fetch ]]; then
  echo "demo: the release build did not produce $weft_fetch" >&2
  exit 1
fi

banner "weft-fetch (demo)"
exec "$weft_fetch" # no arguments: the demo
