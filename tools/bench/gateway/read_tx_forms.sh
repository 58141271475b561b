#!/usr/bin/env bash
# tools/bench/gateway/read_tx_forms.sh - what PostgreSQL pays for the two forms of a
# one-statement read that the pool can send (services/common/pg.c), measured with
# pgbench on a throwaway cluster, the statement being pgbench -S's own (one row by
# primary key), every statement prepared, each form in one pipeline (one round trip):
#   explicit  BEGIN READ ONLY; settings; SELECT; COMMIT   (the read before f245c5d)
#   implicit  settings; SELECT                             (tdm_store_op_read_once now)
# "settings" is the pool's set_config of app.tenant_id, statement_timeout (and
# transaction_read_only for the implicit form). The forms alternate, ROUNDS times,
# so a shared machine's load moves both alike.
#
#   tools/bench/gateway/read_tx_forms.sh [seconds per run, default 15] [clients, default 16] [rounds, default 3]
set -euo pipefail
source "$(dirname "$0")/../../../deploy/lib.sh"
cd "$TDM_ROOT"
SECONDS_PER_RUN=${1:-15}
CLIENTS=${2:-16}
ROUNDS=${3:-3}
command -v "$TDM_PG_BIN/pgbench" >/dev/null || tdm_die "pgbench is missing (apt-get install postgresql-15)"

WORK=$(mktemp -d /tmp/tandem-bench-forms.XXXXXX)
chmod 755 "$WORK"
PG_DATA=$WORK/pg/data
tdm_reserve_port PG_PORT
cleanup() { local rc=$?; tdm_pg_stop "$PG_DATA"; rm -rf "$WORK"; exit $rc; }
trap cleanup EXIT INT TERM
tdm_pg_init "$PG_DATA" trust
tdm_pg_start "$PG_DATA" "$PG_PORT" "$WORK/pg" "$WORK/pg/postgres.log" "-c max_connections=100"
tdm_as_pg_user "$TDM_PG_BIN/pgbench" -i -q -s 10 -h 127.0.0.1 -p "$PG_PORT" -U postgres postgres \
  >"$WORK/init.log" 2>&1

SETTINGS_EXPLICIT="SELECT set_config('app.tenant_id', '0b5f4c1e-6d1a-4c55-9a35-3f2c1a7e9d01', true), set_config('statement_timeout', '5000', true);"
SETTINGS_IMPLICIT="SELECT set_config('app.tenant_id', '0b5f4c1e-6d1a-4c55-9a35-3f2c1a7e9d01', true), set_config('statement_timeout', COALESCE('5000', current_setting('statement_timeout')), true), set_config('transaction_read_only', COALESCE('on', current_setting('transaction_read_only')), true);"
READ="SELECT abalance FROM pgbench_accounts WHERE aid = :aid;"
cat >"$WORK/explicit.sql" <<SQL
\set aid random(1, 1000000)
\startpipeline
BEGIN READ ONLY;
$SETTINGS_EXPLICIT
$READ
COMMIT;
\endpipeline
SQL
cat >"$WORK/implicit.sql" <<SQL
\set aid random(1, 1000000)
\startpipeline
$SETTINGS_IMPLICIT
$READ
\endpipeline
SQL

echo "machine: $(nproc) vCPUs; PostgreSQL $($TDM_PG_BIN/postgres -V | awk '{print $3}'); $CLIENTS clients, $SECONDS_PER_RUN s per run, prepared"
printf '%-6s %-9s %10s %12s  %s\n' round form "tx/s" "latency ms" "load (1/5/15 min) at start"
for r in $(seq 1 "$ROUNDS"); do
  for form in explicit implicit; do
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    tdm_as_pg_user "$TDM_PG_BIN/pgbench" -n -M prepared -f "$WORK/$form.sql" -c "$CLIENTS" -j 2 \
      -T "$SECONDS_PER_RUN" -h 127.0.0.1 -p "$PG_PORT" -U postgres postgres >"$WORK/$form-$r.txt" 2>&1 ||
      { cat "$WORK/$form-$r.txt"; tdm_die "pgbench failed"; }
    tps=$(awk '/^tps = / {print $3; exit}' "$WORK/$form-$r.txt")
    lat=$(awk '/^latency average/ {print $4}' "$WORK/$form-$r.txt")
    printf '%-6s %-9s %10.0f %12s  %s\n' "$r" "$form" "$tps" "$lat" "$load"
  done
done
