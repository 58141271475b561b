#!/usr/bin/env bash
# deploy/down.sh - stop what deploy/up.sh started: the four services (SIGTERM, then
# SIGKILL after the drain deadline) and the local PostgreSQL cluster, by pid.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
export TANDEM_HOME=${TANDEM_HOME:-$TDM_ROOT/.tandem}
[ -d "$TANDEM_HOME" ] || { tdm_say "nothing to stop ($TANDEM_HOME does not exist)"; exit 0; }
DRAIN_S=$(( (${TANDEM_DRAIN_TIMEOUT_MS:-15000} + 999) / 1000 + 5 ))

stop_service() {
  local name=$1 pidfile=$TANDEM_HOME/run/$1.pid pid i
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if ! tdm_pid_runs "$pid" "tandem-$name"; then
    tdm_say "tandem-$name is not running (stale pid file: pid $pid is gone or another program)"
  else
    tdm_say "stopping tandem-$name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 $((DRAIN_S * 10))); do
      tdm_pid_runs "$pid" "tandem-$name" || break
      sleep 0.1
    done
    if tdm_pid_runs "$pid" "tandem-$name"; then
      tdm_say "tandem-$name did not stop within ${DRAIN_S}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
}

# The gateway first, so nothing new reaches the services while they drain.
stop_service gateway
stop_service enrolment
stop_service matching
stop_service feedback

if [ -f "$TANDEM_HOME/pg/data/postmaster.pid" ]; then
  tdm_say "stopping PostgreSQL"
  tdm_pg_stop "$TANDEM_HOME/pg/data"
fi
tdm_say "stopped"
