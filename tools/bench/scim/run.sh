#!/usr/bin/env bash
# tools/bench/scim/run.sh - the deprovisioning benchmark (bench_deprovision.py) on a
# throwaway PostgreSQL 15 cluster (deploy/lib.sh, default settings, fsync on) with a
# Release build of the services.
#
#   tools/bench/scim/run.sh            BENCH_PAIRS (default 20) pairs
# TANDEM_BENCH_BUILD_DIR (default build/release) overrides the build.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
source "$ROOT/deploy/lib.sh"
BUILD=${TANDEM_BENCH_BUILD_DIR:-$ROOT/build/release}
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DTANDEM_WERROR=ON >/dev/null
cmake --build "$BUILD" -j "$(nproc)" --target tandem-gateway tandem-enrolment \
  tandem-matching tandem-feedback tandem_python_proto >/dev/null

WORK=$(mktemp -d /tmp/tandem-bench-scim.XXXXXX)
chmod 755 "$WORK"
tdm_reserve_port PG_PORT
cleanup() { local rc=$?; tdm_pg_stop "$WORK/pg/data"; rm -rf "$WORK"; exit $rc; }
trap cleanup EXIT INT TERM
tdm_pg_init "$WORK/pg/data" trust
tdm_pg_start "$WORK/pg/data" "$PG_PORT" "$WORK/pg" "$WORK/pg/postgres.log" "-c max_connections=200"
TANDEM_TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/postgres" \
  TANDEM_BUILD_DIR=$BUILD TANDEM_SOURCE_DIR=$ROOT TANDEM_TEST_TMP=$WORK \
  /usr/bin/python3 "$ROOT/tools/bench/scim/bench_deprovision.py"
