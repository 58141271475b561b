#!/usr/bin/env bash
# deploy/up.sh - run the whole Tandem stack on this machine.
#
# Installs missing Debian packages (as root; otherwise prints the apt-get line),
# builds a Release, creates a local PostgreSQL cluster under $TANDEM_HOME (unless
# TANDEM_DATABASE_URL is given), starts the four services in the background with
# logs and pid files under $TANDEM_HOME, waits until each is ready, and prints how
# to call them. Idempotent: run again, it starts whatever is not running and leaves
# the rest alone. ./deploy/down.sh stops everything it started.
#
# Ports (defaults below Linux's ephemeral range, so outgoing connections never hold
# them): PostgreSQL 15432 (TANDEM_PG_PORT), gateway 8080 (TANDEM_LISTEN), enrolment
# 15051, matching 15052, feedback 15053 (TANDEM_*_ADDR). Before starting a process
# up.sh checks its port: it waits up to 60 s for closed connections in TIME-WAIT to
# expire, and stops, naming the process and the variable, if a process holds it.
#
#   ./deploy/up.sh            the stack
#   ./deploy/up.sh --demo     the stack, then a demo programme and the consultancy view
#                             (one template at six firms; needs tandemctl)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$TDM_ROOT"

DEMO=0
for arg in "$@"; do
  case $arg in
    --demo) DEMO=1 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) tdm_die "unknown argument: $arg (try --help)" ;;
  esac
done

# ---- ports (checked before anything is built) ------------------------------------
# check_port PORT VARIABLE: stop unless PORT (from VARIABLE) is a TCP port number.
check_port() {
  if ! [[ $1 =~ ^[0-9]{1,5}$ ]] || [ "$1" -lt 1 ] || [ "$1" -gt 65535 ]; then
    tdm_die "$2: '$1' is not a port number (1-65535)"
  fi
}

# Below the kernel's ephemeral range (deploy/lib.sh says why). Not the services' own
# defaults 50051-50053, kept for containers, where each has its network to itself.
PG_PORT=${TANDEM_PG_PORT:-15432}
check_port "$PG_PORT" TANDEM_PG_PORT
export TANDEM_ENROLMENT_ADDR=${TANDEM_ENROLMENT_ADDR:-127.0.0.1:15051}
export TANDEM_MATCHING_ADDR=${TANDEM_MATCHING_ADDR:-127.0.0.1:15052}
export TANDEM_FEEDBACK_ADDR=${TANDEM_FEEDBACK_ADDR:-127.0.0.1:15053}
GATEWAY_LISTEN=${TANDEM_LISTEN:-127.0.0.1:8080}
check_port "${TANDEM_ENROLMENT_ADDR##*:}" TANDEM_ENROLMENT_ADDR
check_port "${TANDEM_MATCHING_ADDR##*:}" TANDEM_MATCHING_ADDR
check_port "${TANDEM_FEEDBACK_ADDR##*:}" TANDEM_FEEDBACK_ADDR
check_port "${GATEWAY_LISTEN##*:}" TANDEM_LISTEN

export TANDEM_HOME=${TANDEM_HOME:-$TDM_ROOT/.tandem}
mkdir -p "$TANDEM_HOME"/{logs,run,secrets}
chmod 700 "$TANDEM_HOME/secrets"
TANDEM_HOME=$(cd "$TANDEM_HOME" && pwd)

if [ -n "${TANDEM_DATABASE_URL:-}" ]; then
  tdm_install_packages build
else
  tdm_install_packages build local
fi
command -v ss >/dev/null 2>&1 || tdm_install_named iproute2 # port checks (deploy/lib.sh)

BUILD_DIR=$TDM_ROOT/build/release
cmake -S "$TDM_ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DTANDEM_WERROR=OFF >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" >/dev/null || tdm_die "build failed (run: cmake --build $BUILD_DIR)"
BIN=$BUILD_DIR/bin

# A secret kept under $TANDEM_HOME/secrets, made once.
secret() {
  local f=$TANDEM_HOME/secrets/$1
  [ -s "$f" ] || (umask 077 && openssl rand -hex 24 >"$f")
  cat "$f"
}

# ---- PostgreSQL -------------------------------------------------------------------
PG_DATA=$TANDEM_HOME/pg/data
PG_SOCK=$TANDEM_HOME/pg/run
if [ -z "${TANDEM_DATABASE_URL:-}" ]; then
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    tdm_say "creating a PostgreSQL cluster in $PG_DATA"
    tdm_pg_init "$PG_DATA" scram
  fi
  if tdm_as_pg_user "$TDM_PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    # Already running (an earlier up.sh): use the port it listens on.
    running_port=$(sed -n 4p "$PG_DATA/postmaster.pid")
    if [ "$running_port" != "$PG_PORT" ]; then
      tdm_say "PostgreSQL is already running on port $running_port; using it" \
        "(./deploy/down.sh, then up.sh again, moves it to $PG_PORT)"
      PG_PORT=$running_port
    fi
  else
    tdm_warn_if_ephemeral "$PG_PORT" TANDEM_PG_PORT PostgreSQL
    tdm_wait_port 127.0.0.1 "$PG_PORT" TANDEM_PG_PORT PostgreSQL
    tdm_say "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    mkdir -p "$TANDEM_HOME/pg/log"
    tdm_pg_start "$PG_DATA" "$PG_PORT" "$PG_SOCK" "$TANDEM_HOME/pg/log/postgres.log"
  fi
  # Roles, database and schemas (idempotent).
  tdm_psql_super "$PG_SOCK" "$PG_PORT" -d postgres \
    -v owner_password="$(secret db-tandem_owner)" \
    -v gateway_password="$(secret db-tandem_gateway)" \
    -v enrolment_password="$(secret db-tandem_enrolment)" \
    -v matching_password="$(secret db-tandem_matching)" \
    -v feedback_password="$(secret db-tandem_feedback)" \
    -f "$TDM_ROOT/deploy/sql/bootstrap.sql" >/dev/null
  db_url() { printf 'postgresql://%s:%s@127.0.0.1:%s/tandem' "$1" "$(secret "db-$1")" "$PG_PORT"; }
  MIGRATION_URL=$(db_url tandem_owner)
else
  db_url() { printf '%s' "$TANDEM_DATABASE_URL"; }
  MIGRATION_URL=${TANDEM_MIGRATION_DATABASE_URL:-$TANDEM_DATABASE_URL}
fi

# ---- the services -----------------------------------------------------------------
# The demo ends with a template's benchmark, which the benchmark job computes every
# TANDEM_BENCHMARK_INTERVAL_SECONDS (default 1 h): a demo stack runs it every 10 s
# unless told otherwise (applies to the processes this run starts).
if [ $DEMO = 1 ]; then
  export TANDEM_BENCHMARK_INTERVAL_SECONDS=${TANDEM_BENCHMARK_INTERVAL_SECONDS:-10}
fi
export TANDEM_BOOTSTRAP_KEY=${TANDEM_BOOTSTRAP_KEY:-$(secret bootstrap-key)}
export TANDEM_WEBHOOK_SECRET_KEY=${TANDEM_WEBHOOK_SECRET_KEY:-$(secret webhook-key)}
export TANDEM_PERSON_HASH_KEY=${TANDEM_PERSON_HASH_KEY:-$(secret person-hash-key)}

running() {
  local pidfile=$TANDEM_HOME/run/$1.pid
  [ -f "$pidfile" ] && tdm_pid_runs "$(cat "$pidfile")" "tandem-$1"
}

# start_service NAME HOST:PORT VARIABLE (the variable that moves its port)
start_service() {
  local name=$1 listen=$2 var=$3
  if running "$name"; then
    tdm_say "tandem-$name already running (pid $(cat "$TANDEM_HOME/run/$name.pid"))"
    return 0
  fi
  tdm_warn_if_ephemeral "${listen##*:}" "$var" "tandem-$name"
  tdm_wait_port "${listen%:*}" "${listen##*:}" "$var" "tandem-$name"
  tdm_say "starting tandem-$name on $listen"
  TANDEM_LISTEN=$listen \
  TANDEM_DATABASE_URL=$(db_url "tandem_$name") \
  TANDEM_MIGRATION_DATABASE_URL=$MIGRATION_URL \
    nohup "$BIN/tandem-$name" >>"$TANDEM_HOME/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$TANDEM_HOME/run/$name.pid"
}

wait_ready() {
  local name=$1 addr=$2 i
  for i in $(seq 1 120); do
    if curl -fsS "http://$addr/readyz" >/dev/null 2>&1; then
      return 0
    fi
    if ! running "$name"; then
      tail -20 "$TANDEM_HOME/logs/$name.log" >&2
      tdm_die "tandem-$name exited (log: $TANDEM_HOME/logs/$name.log)"
    fi
    sleep 0.5
  done
  tail -20 "$TANDEM_HOME/logs/$name.log" >&2
  tdm_die "tandem-$name is not ready after 60 s (log: $TANDEM_HOME/logs/$name.log)"
}

start_service enrolment "$TANDEM_ENROLMENT_ADDR" TANDEM_ENROLMENT_ADDR
start_service matching "$TANDEM_MATCHING_ADDR" TANDEM_MATCHING_ADDR
start_service feedback "$TANDEM_FEEDBACK_ADDR" TANDEM_FEEDBACK_ADDR
start_service gateway "$GATEWAY_LISTEN" TANDEM_LISTEN
wait_ready enrolment "$TANDEM_ENROLMENT_ADDR"
wait_ready matching "$TANDEM_MATCHING_ADDR"
wait_ready feedback "$TANDEM_FEEDBACK_ADDR"
wait_ready gateway "$GATEWAY_LISTEN"

cat <<INFO

Tandem is running.
  gateway (REST+JSON and gRPC)  http://$GATEWAY_LISTEN
  enrolment / matching / feedback (gRPC, internal)
                                $TANDEM_ENROLMENT_ADDR  $TANDEM_MATCHING_ADDR  $TANDEM_FEEDBACK_ADDR
  health and metrics on every port: /healthz /readyz /metrics
  logs: $TANDEM_HOME/logs/   pids: $TANDEM_HOME/run/

The platform key (TANDEM_BOOTSTRAP_KEY) is in $TANDEM_HOME/secrets/bootstrap-key:
  export TANDEM_KEY=\$(cat $TANDEM_HOME/secrets/bootstrap-key)
  curl -s -H "Authorization: Bearer \$TANDEM_KEY" http://$GATEWAY_LISTEN/v1/tenants
Stop everything with ./deploy/down.sh
INFO

if [ $DEMO = 1 ]; then
  [ -x "$BIN/tandemctl" ] || tdm_die "--demo needs tandemctl, which this build does not have yet"
  TANDEM_URL=http://$GATEWAY_LISTEN TANDEM_KEY=$TANDEM_BOOTSTRAP_KEY "$BIN/tandemctl" demo
  # The consultancy's view: one template run at six firms, side by side.
  TANDEM_URL=http://$GATEWAY_LISTEN TANDEM_KEY=$TANDEM_BOOTSTRAP_KEY "$BIN/tandemctl" demo consultancy
fi
