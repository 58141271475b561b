#!/bin/sh
# Benchmark of the assignment engine: tandem-assign vs scipy's linear_sum_assignment on
# score-like data, and the pricing loop on a 100,000-participant programme.
# Usage: tools/bench/assign/run.sh [--repeat N] [--skip-priced]
# BUILD_DIR (default build-bench) is configured in Release and the two targets built,
# unless it already holds them (SKIP_BUILD=1).
set -eu
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD_DIR" -j2 --target tandem-assign tandem-assign-bench-priced >/dev/null
fi
echo "machine: $(nproc) CPUs, $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
exec /usr/bin/python3 "$ROOT/tools/bench/assign/bench.py" \
    --tandem "$BUILD_DIR/bin/tandem-assign" \
    --priced "$BUILD_DIR/bin/tandem-assign-bench-priced" "$@"
