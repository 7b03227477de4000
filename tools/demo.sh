#!/usr/bin/env bash
# tools/demo.sh: build the release configuration (build/release, the same as
# tools/test-all.sh builds) and run the main job, weft-fetch's demo: a local
# server whose responses take 100 ms, 20 fetches one by one then concurrently.
#
# Until weft-fetch exists, it runs a placeholder instead:
# `weft-bench callbacks timer_churn`. Run tools/setup.sh first.
set -euo pipefail

# shellcheck source=tools/test-all.sh
source "$(dirname "${BASH_SOURCE[0]}")/test-all.sh"

if ! configure_and_build release; then
  echo "demo: the release build failed" >&2
  exit 1
fi

tools_dir=$BUILD_ROOT/release/tools
if [[ -x $tools_dir/weft-fetch ]]; then
  banner "weft-fetch (demo)"
  exec "$tools_dir/weft-fetch"
elif [[ -x $tools_dir/weft-bench ]]; then
  echo "demo: weft-fetch does not exist yet; running the placeholder" \
    "'weft-bench callbacks timer_churn' until it does" >&2
  banner "weft-bench callbacks timer_churn (placeholder)"
  exec "$tools_dir/weft-bench" callbacks timer_churn
else
  echo "demo: neither build/release/tools/weft-fetch nor its placeholder" \
    "build/release/tools/weft-bench was built" >&2
  exit 1
fi
