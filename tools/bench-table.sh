#!/usr/bin/env bash
# One benchmark run of weft and of every anchor, side by side, against one
# private nginx, as BENCHMARKS.md prescribes (nginx on CPU 1, clients on CPU 0),
# then a Markdown table of the targets with their ratios from this very run.
#
#   tools/bench-table.sh [BUILD_DIR] > table.md     # default BUILD_DIR: build/release
#
# Needs ../shared/anchors beside the checkout and their packages
# (../shared/anchors/install.sh). All BENCH lines go to $BENCH_OUT (default
# build/bench.txt); progress goes to stderr.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ANCHORS=$ROOT/../shared/anchors
BUILD=${1:-$ROOT/build/release}
OUT=${BENCH_OUT:-$ROOT/build/bench.txt}
NGINX_CPU=${NGINX_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
export CLIENT_CPU

[[ -d $ANCHORS ]] || { echo "bench-table: no anchors at $ANCHORS" >&2; exit 2; }
ninja -C "$BUILD" tools/weft-bench >&2 || exit 1

up=$(NGINX_CPU=$NGINX_CPU "$ANCHORS/nginx/nginx-up.sh") || exit 1
eval "$up"  # PORT, DIR, PID, TLS_PORT, CAFILE
trap '"$ANCHORS/nginx/nginx-down.sh" "$DIR"' EXIT
nginx=(--port "$PORT" --tls-port "$TLS_PORT" --cafile "$CAFILE")

mkdir -p "$(dirname "$OUT")"
: >"$OUT"
status=0
echo "== anchors: Python and HTTP load (CPU $CLIENT_CPU)" >&2
"$ANCHORS/run-python-http.sh" "${nginx[@]}" >>"$OUT" || status=1
echo "== anchors: C++ (CPU $CLIENT_CPU)" >&2
taskset -c "$CLIENT_CPU" "$ANCHORS/cpp/run-cpp.sh" "${nginx[@]}" >>"$OUT" || status=1
echo "== weft-bench (CPU $CLIENT_CPU)" >&2
taskset -c "$CLIENT_CPU" "$BUILD/tools/weft-bench" --port "$PORT" --tls-port "$TLS_PORT" \
    --cacert "$CAFILE" >>"$OUT" || status=1

"$ROOT/tools/bench_table.py" <"$OUT"
exit $status
