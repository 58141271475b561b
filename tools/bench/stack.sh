# shellcheck shell=bash
# shellcheck disable=SC2034 # GATEWAY, PID_OF and the rest are for the sourcing script
# tools/bench/stack.sh - sourced by the benchmarks that need a whole local stack
# (gateway/wrk_vs_pgbench.sh, soak.sh): a throwaway PostgreSQL 15 cluster with the
# roles of deploy/sql/bootstrap.sql, and Tandem services started the way
# deploy/up.sh starts them. Needs deploy/lib.sh sourced and BIN set.
#
#   bench_stack_start PREFIX KEEP_VAR [postgres options]
#       WORK (a new /tmp/PREFIX.XXXXXX), PG_DATA, PG_PORT, PASSWORD, db_url; the
#       peers' addresses, TANDEM_BOOTSTRAP_KEY and GATEWAY exported or set; on exit
#       every started service is stopped, the cluster too, and WORK removed unless
#       the variable named KEEP_VAR is 1.
#   bench_start_service NAME LISTEN   its pid in PID_OF[NAME] (and PIDS)
#   bench_wait_ready ADDR             /readyz answers 200 within 60 s, or die

declare -A PID_OF
PIDS=()

bench_stack_cleanup() {
  local rc=$? pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  tdm_pg_stop "$PG_DATA"
  if [ "${!BENCH_KEEP_VAR:-0}" = 1 ]; then tdm_say "kept $WORK"; else rm -rf "$WORK"; fi
  exit $rc
}

bench_stack_start() {
  local prefix=$1
  BENCH_KEEP_VAR=$2
  WORK=$(mktemp -d "/tmp/$prefix.XXXXXX")
  chmod 755 "$WORK"
  PG_DATA=$WORK/pg/data
  tdm_reserve_port PG_PORT
  trap bench_stack_cleanup EXIT INT TERM
  tdm_pg_init "$PG_DATA" trust
  tdm_pg_start "$PG_DATA" "$PG_PORT" "$WORK/pg" "$WORK/pg/postgres.log" "${3:-}"
  PASSWORD=$(openssl rand -hex 12)
  tdm_psql_super "$WORK/pg" "$PG_PORT" -d postgres -c "CREATE DATABASE tandem" >/dev/null
  tdm_psql_super "$WORK/pg" "$PG_PORT" -d tandem -v owner_password="$PASSWORD" \
    -v gateway_password="$PASSWORD" -v enrolment_password="$PASSWORD" \
    -v matching_password="$PASSWORD" -v feedback_password="$PASSWORD" -v dbname=tandem \
    -f "$TDM_ROOT/deploy/sql/bootstrap.sql" >/dev/null
  # Ports below the ephemeral range, locked until this script exits (deploy/lib.sh).
  local port
  tdm_reserve_port port && TANDEM_ENROLMENT_ADDR=127.0.0.1:$port
  tdm_reserve_port port && TANDEM_MATCHING_ADDR=127.0.0.1:$port
  tdm_reserve_port port && TANDEM_FEEDBACK_ADDR=127.0.0.1:$port
  TANDEM_BOOTSTRAP_KEY=tk_$(openssl rand -hex 24)
  export TANDEM_ENROLMENT_ADDR TANDEM_MATCHING_ADDR TANDEM_FEEDBACK_ADDR TANDEM_BOOTSTRAP_KEY
  tdm_reserve_port port && GATEWAY=127.0.0.1:$port
}

db_url() { printf 'postgresql://%s:%s@127.0.0.1:%s/tandem' "$1" "$PASSWORD" "$PG_PORT"; }

bench_start_service() {
  local name=$1 listen=$2
  TANDEM_LISTEN=$listen TANDEM_DATABASE_URL=$(db_url "tandem_$name") \
    TANDEM_MIGRATION_DATABASE_URL=$(db_url tandem_owner) \
    "$BIN/tandem-$name" >>"$WORK/$name.log" 2>&1 </dev/null &
  PIDS+=($!)
  PID_OF[$name]=$!
}

bench_wait_ready() {
  for _ in $(seq 1 120); do
    curl -fsS "http://$1/readyz" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  tdm_die "$1 not ready"
}
