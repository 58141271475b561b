#!/usr/bin/env bash
# tools/bench/gateway/wrk_vs_pgbench.sh - the gateway's read path against the
# database's own ceiling, in one run on one machine.
#
# Builds a Release in its own build directory, starts a throwaway PostgreSQL 15
# cluster, starts tandem-enrolment and tandem-gateway the way deploy/up.sh does (same
# environment variables, the roles of deploy/sql/bootstrap.sql), creates a tenant, a
# tenant key (enrolment:read, rate limit out of the way) and a programme through the
# REST API, then for each client count:
#   wrk     GET /v1/programmes/{id} with the key (HTTP/1.1 keep-alive):
#           gateway (key lookup) -> gRPC -> enrolment -> PostgreSQL, one row
#   pgbench -S (select-only: one primary-key row per transaction) on the same
#           cluster, the physical ceiling for one row per request
# and prints both, with the CPU each process used. Everything started is stopped.
#
#   tools/bench/gateway/wrk_vs_pgbench.sh [seconds per run, default 20] [client counts, default "16 64"]
#
# Environment: TANDEM_BENCH_BUILD_DIR (default <repo>/build/bench-gateway),
# TANDEM_BENCH_WRK_THREADS (default 2), TANDEM_BENCH_PERF=1 to record `perf record -g`
# of the gateway and enrolment during the last wrk run (perf-*.data in the work dir,
# kept with TANDEM_BENCH_KEEP=1).
set -euo pipefail
source "$(dirname "$0")/../../../deploy/lib.sh"
cd "$TDM_ROOT"

SECONDS_PER_RUN=${1:-20}
CLIENTS=${2:-"16 64"}
BUILD_DIR=${TANDEM_BENCH_BUILD_DIR:-$TDM_ROOT/build/bench-gateway}
WRK_THREADS=${TANDEM_BENCH_WRK_THREADS:-2}
for tool in wrk "$TDM_PG_BIN/pgbench" curl; do
  command -v "$tool" >/dev/null 2>&1 || tdm_die "$tool is missing (apt-get install wrk postgresql-15)"
done

# ---- build -------------------------------------------------------------------------
# WERROR off as in deploy/up.sh: a Release build may warn where Debug does not.
cmake -S "$TDM_ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DTANDEM_WERROR=OFF >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target tandem-gateway tandem-enrolment >/dev/null ||
  tdm_die "build failed (run: cmake --build $BUILD_DIR)"
BIN=$BUILD_DIR/bin

# ---- throwaway PostgreSQL and the services, as deploy/up.sh starts them -------------
# shellcheck source=../stack.sh
source "$TDM_ROOT/tools/bench/stack.sh"
# Room for pgbench's 64 clients next to the services' pools; otherwise defaults.
bench_stack_start tandem-bench-gw TANDEM_BENCH_KEEP "-c max_connections=200"
# tandem-matching and tandem-feedback are not started: readiness is not waited on.
bench_start_service enrolment "$TANDEM_ENROLMENT_ADDR"
bench_wait_ready "$TANDEM_ENROLMENT_ADDR"
bench_start_service gateway "$GATEWAY"
PID_ENROLMENT=${PID_OF[enrolment]}
PID_GATEWAY=${PID_OF[gateway]}

api() { # method path [body] -> body on stdout; fails on non-2xx
  local method=$1 path=$2 body=${3:-}
  curl -fsS -X "$method" -H "Authorization: Bearer $API_KEY" -H "Content-Type: application/json" \
    ${TENANT:+-H "X-Tandem-Tenant: $TENANT"} ${body:+--data "$body"} "http://$GATEWAY$path"
}
json_field() { /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

API_KEY=$TANDEM_BOOTSTRAP_KEY
TENANT=
for _ in $(seq 1 120); do # the bootstrap key exists once the gateway has migrated
  api GET /v1/tenants >/dev/null 2>&1 && break
  sleep 0.5
done
TENANT=$(api POST /v1/tenants "{\"name\":\"Bench\",\"slug\":\"bench-$$\"}" | json_field id)
TENANT_ID=$TENANT
TENANT=
KEY=$(api POST "/v1/tenants/$TENANT_ID/apiKeys" \
  '{"displayName":"bench","scopes":["enrolment:read"],"kind":"TENANT","rateLimit":{"requestsPerSecond":1000000,"burst":1000000}}' |
  json_field secret)
TENANT=$TENANT_ID
PROGRAMME=$(api POST /v1/programmes '{"name":"Bench programme","kind":"PEER"}' | json_field id)
TENANT=
API_KEY=$KEY
api GET "/v1/programmes/$PROGRAMME" >/dev/null || tdm_die "GET /v1/programmes/$PROGRAMME failed"

cat >"$WORK/auth.lua" <<'LUA'
-- Every request carries the tenant key (wrk counts non-2xx answers itself).
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TANDEM_BENCH_KEY")
LUA

# pgbench's tables in their own database (scale 10: 1,000,000 accounts).
tdm_psql_super "$WORK/pg" "$PG_PORT" -d postgres -c "CREATE DATABASE pgbench" >/dev/null
PGB_LOGS=$WORK/pgbench-logs # written by pgbench as the PostgreSQL OS user
mkdir -p "$PGB_LOGS"
[ "$(id -u)" -eq 0 ] && chown "$TDM_PG_OS_USER" "$PGB_LOGS"
tdm_as_pg_user "$TDM_PG_BIN/pgbench" -i -q -s 10 -h 127.0.0.1 -p "$PG_PORT" -U postgres pgbench \
  >"$WORK/pgbench-init.log" 2>&1

# CPU seconds (user+system) of a process; of the cluster: the postmaster with the
# backends it has reaped (cutime, cstime) and those still running.
cpu_of() {
  awk '{ printf "%.2f", ($14 + $15) / '"$(getconf CLK_TCK)"' }' "/proc/$1/stat" 2>/dev/null || echo 0
}
cpu_pg() {
  local pm pid total
  pm=$(head -1 "$PG_DATA/postmaster.pid")
  total=$(awk '{ printf "%.2f", ($14 + $15 + $16 + $17) / '"$(getconf CLK_TCK)"' }' "/proc/$pm/stat")
  for pid in $(pgrep -P "$pm"); do
    total=$(echo "$total + $(cpu_of "$pid")" | bc)
  done
  echo "$total"
}

# The gateway's API key lookups and key-cache hits so far (older builds: lookups only).
key_metrics() {
  curl -fsS "http://$GATEWAY/metrics" | awk '
    $1 == "tandem_gateway_key_lookups_total" { l = $2 }
    $1 == "tandem_gateway_key_cache_hits_total" { h = $2 }
    END { printf "%s / %s", (l == "" ? 0 : l), (h == "" ? "-" : h) }'
}

echo "machine: $(nproc) vCPUs, load $(cut -d' ' -f1-3 /proc/loadavg); PostgreSQL $($TDM_PG_BIN/postgres -V | awk '{print $3}'); $SECONDS_PER_RUN s per run"
printf '%-9s %7s %10s %8s %8s %8s %8s  %s\n' run clients "req|tx/s" "p50 ms" "p99 ms" errors \
  "" "CPU s: gateway enrolment postgres"
export TANDEM_BENCH_KEY=$KEY
last=${CLIENTS##* }
for c in $CLIENTS; do
  # Warm-up: connections, pools, caches.
  wrk -t "$WRK_THREADS" -c "$c" -d 3s -s "$WORK/auth.lua" "http://$GATEWAY/v1/programmes/$PROGRAMME" >/dev/null
  g0=$(cpu_of "$PID_GATEWAY") e0=$(cpu_of "$PID_ENROLMENT") p0=$(cpu_pg)
  perf_pids=()
  if [ "${TANDEM_BENCH_PERF:-0}" = 1 ] && [ "$c" = "$last" ]; then
    perf record -g -o "$WORK/perf-gateway.data" -p "$PID_GATEWAY" -- sleep "$SECONDS_PER_RUN" >/dev/null 2>&1 &
    perf_pids+=($!)
    perf record -g -o "$WORK/perf-enrolment.data" -p "$PID_ENROLMENT" -- sleep "$SECONDS_PER_RUN" >/dev/null 2>&1 &
    perf_pids+=($!)
  fi
  wrk -t "$WRK_THREADS" -c "$c" -d "${SECONDS_PER_RUN}s" --latency -s "$WORK/auth.lua" \
    "http://$GATEWAY/v1/programmes/$PROGRAMME" >"$WORK/wrk-$c.txt"
  for pid in "${perf_pids[@]}"; do wait "$pid" || true; done
  g1=$(cpu_of "$PID_GATEWAY") e1=$(cpu_of "$PID_ENROLMENT") p1=$(cpu_pg)
  rps=$(awk '/^Requests\/sec/ {print $2}' "$WORK/wrk-$c.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$WORK/wrk-$c.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$WORK/wrk-$c.txt")
  errs=$(awk '/Non-2xx|Socket errors/ {sub(/^[^:]*: */, ""); printf "%s ", $0}' "$WORK/wrk-$c.txt")
  printf '%-9s %7s %10s %8s %8s %8s %8s  %s %s %s\n' wrk "$c" "$rps" "$p50" "$p99" "${errs:-0}" "" \
    "$(echo "$g1 - $g0" | bc)" "$(echo "$e1 - $e0" | bc)" "$(echo "$p1 - $p0" | bc)"
  echo "          (load $(cut -d' ' -f1-3 /proc/loadavg) after this wrk run; gateway key lookups / cache hits so far: $(key_metrics))"

  for mode in simple prepared; do
    p0=$(cpu_pg)
    tdm_as_pg_user "$TDM_PG_BIN/pgbench" -S -M "$mode" -c "$c" -j "$WRK_THREADS" -T "$SECONDS_PER_RUN" \
      --log --log-prefix="$PGB_LOGS/$c-$mode" -h 127.0.0.1 -p "$PG_PORT" -U postgres pgbench \
      >"$WORK/pgbench-$c-$mode.txt" 2>&1
    p1=$(cpu_pg)
    tps=$(awk '/^tps = / {print $3; exit}' "$WORK/pgbench-$c-$mode.txt")
    lat=$(awk '/^latency average/ {print $4}' "$WORK/pgbench-$c-$mode.txt")
    # p50/p99 from the per-transaction log (column 3: microseconds).
    pct=$(cat "$PGB_LOGS/$c-$mode".* 2>/dev/null | awk '{print $3}' | sort -n |
      awk '{v[NR]=$1} END { if (NR) printf "%.2f %.2f", v[int(NR*0.5)]/1000, v[int(NR*0.99)]/1000 }')
    printf '%-9s %7s %10.0f %8s %8s %8s %8s  - - %s\n' "pgbench-${mode:0:4}" "$c" "$tps" \
      "${pct%% *}" "${pct##* }" 0 "(avg ${lat} ms)" "$(echo "$p1 - $p0" | bc)"
  done
done
echo "wrk outputs, pgbench outputs and service logs: $WORK (TANDEM_BENCH_KEEP=1 keeps them)"
