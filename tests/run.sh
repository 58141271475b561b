#!/usr/bin/env bash
# tests/run.sh - build Tandem with AddressSanitizer and UBSan, start a throwaway
# PostgreSQL on a free port in a temporary directory, run every test (ctest:
# cmocka unit tests, integration tests against the real database and the real
# processes, Python interop tests, deployment checks), stop the database, and exit
# non-zero on any failure. Installs missing Debian packages first (as root).
#
#   ./tests/run.sh                 everything
#   ./tests/run.sh -R pg           only tests whose name matches (ctest -R)
#   TANDEM_TEST_KEEP=1 ./tests/run.sh   keep the temporary directory for inspection
set -euo pipefail
source "$(dirname "$0")/../deploy/lib.sh"
cd "$TDM_ROOT"

tdm_install_packages build local test
# kubectl renders the Kubernetes manifests (tests/deploy/check.sh). Machines that
# already have one (e.g. the kubectl package of Google's Cloud SDK) keep it: Debian's
# kubernetes-client would conflict with it on /usr/bin/kubectl.
command -v kubectl >/dev/null 2>&1 || tdm_install_named kubernetes-client
# node and npm run the OpenAPI contract test (tests/contract). A machine with its own
# Node (e.g. NodeSource's, which bundles npm) keeps it; otherwise Debian's.
{ command -v node && command -v npm; } >/dev/null 2>&1 || tdm_install_named nodejs npm

BUILD_DIR=${TANDEM_TEST_BUILD_DIR:-$TDM_ROOT/build/test}
JOBS=$(nproc)
cmake -S "$TDM_ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Debug -DTANDEM_SANITIZE=ON \
  -DTANDEM_WERROR=ON >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS"

# The throwaway database.
TMP=$(mktemp -d /tmp/tandem-test.XXXXXX)
chmod 755 "$TMP"
PGDATA_DIR=$TMP/pg/data
# Below the ephemeral range, locked against parallel runs until this script exits.
tdm_reserve_port PGPORT_FREE
cleanup() {
  local rc=$?
  tdm_pg_stop "$PGDATA_DIR"
  if [ "${TANDEM_TEST_KEEP:-0}" = 1 ]; then
    tdm_say "kept $TMP"
  else
    rm -rf "$TMP"
  fi
  exit $rc
}
trap cleanup EXIT
tdm_pg_init "$PGDATA_DIR" trust
tdm_pg_start "$PGDATA_DIR" "$PGPORT_FREE" "$TMP/pg" "$TMP/pg/postgres.log" \
  "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400"

export TANDEM_TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$PGPORT_FREE/postgres"
export TANDEM_TEST_PGDATA=$PGDATA_DIR
export TANDEM_TEST_PGPORT=$PGPORT_FREE
export TANDEM_TEST_PGSOCKET=$TMP/pg
export TANDEM_TEST_PGLOG=$TMP/pg/postgres.log
export TANDEM_TEST_PGCTL=$(tdm_pg_ctl_prefix)
export TANDEM_TEST_TMP=$TMP
export TANDEM_SOURCE_DIR=$TDM_ROOT
export TANDEM_BUILD_DIR=$BUILD_DIR
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" "$@" || status=1

if [ -x "$TDM_ROOT/tests/deploy/check.sh" ] && [ $# -eq 0 ]; then
  "$TDM_ROOT/tests/deploy/check.sh" || status=1
fi

if [ $status -eq 0 ]; then
  tdm_say "tests/run.sh: all tests passed"
else
  tdm_say "tests/run.sh: FAILED"
fi
exit $status
