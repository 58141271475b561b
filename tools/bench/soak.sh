#!/usr/bin/env bash
# tools/bench/soak.sh - a long run of a realistic mix through the gateway, watching
# every process for leaks.
#
# Builds a Release (its own build directory), starts a throwaway PostgreSQL 15
# cluster and the four services the way deploy/up.sh does (same environment
# variables, the roles of deploy/sql/bootstrap.sql), seeds one programme with
# `tandemctl demo` (a tenant, 300 generated lawyers, OPTIMAL matching approved,
# check-ins, a survey, the report), then for DURATION drives wrk with
# tools/bench/soak/mix.lua - a weighted mix of authenticated REST calls: list, get
# and enrol participants, list matches, score pairs, suggest mentors, record
# check-ins, programme reports (the weights are at the top of mix.lua) - and starts a
# dry-run OPTIMAL matching run every SOAK_MATCH_EVERY seconds. Every SOAK_SAMPLE
# seconds it records the RSS (VmRSS of /proc/<pid>/status) and the number of open
# file descriptors (/proc/<pid>/fd) of the four services and of the postmaster.
# At the end tools/bench/soak/analyse.py fits a line to each process's RSS after
# warm-up and prints the slope (KiB/min) and the fd ranges. Everything started is
# stopped; exit 1 if a service died or the mix saw transport errors.
#
#   tools/bench/soak.sh [DURATION seconds, default 600]
#
# Environment: TANDEM_SOAK_BUILD_DIR (default <repo>/build/soak), SOAK_CONNECTIONS
# (wrk connections, default 16), SOAK_THREADS (wrk threads, default 2), SOAK_DELAY_MS
# (pause of each connection between its requests, default 20), SOAK_SAMPLE (seconds
# between samples, default 5), SOAK_WARMUP (seconds left out of the fit, default 120),
# SOAK_MATCH_EVERY (default 60), TANDEM_SOAK_KEEP=1 keeps the work directory (samples,
# wrk output, service logs).
set -euo pipefail
source "$(dirname "$0")/../../deploy/lib.sh"
cd "$TDM_ROOT"

DURATION=${1:-600}
BUILD_DIR=${TANDEM_SOAK_BUILD_DIR:-$TDM_ROOT/build/soak}
CONNECTIONS=${SOAK_CONNECTIONS:-16}
THREADS=${SOAK_THREADS:-2}
SAMPLE=${SOAK_SAMPLE:-5}
WARMUP=${SOAK_WARMUP:-120}
MATCH_EVERY=${SOAK_MATCH_EVERY:-60}
export SOAK_DELAY_MS=${SOAK_DELAY_MS:-20}
SOAK_DIR=$TDM_ROOT/tools/bench/soak
for tool in wrk curl; do
  command -v "$tool" >/dev/null 2>&1 || tdm_die "$tool is missing (apt-get install wrk curl)"
done

# ---- build -------------------------------------------------------------------------
cmake -S "$TDM_ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DTANDEM_WERROR=OFF >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target tandem-gateway tandem-enrolment \
  tandem-matching tandem-feedback tandemctl >/dev/null ||
  tdm_die "build failed (run: cmake --build $BUILD_DIR)"
BIN=$BUILD_DIR/bin

# ---- throwaway PostgreSQL and the four services, as deploy/up.sh starts them --------
# shellcheck source=bench/stack.sh
source "$TDM_ROOT/tools/bench/stack.sh"
bench_stack_start tandem-soak TANDEM_SOAK_KEEP "-c max_connections=200"
export TANDEM_LOG_LEVEL=${TANDEM_LOG_LEVEL:-warn}
bench_start_service enrolment "$TANDEM_ENROLMENT_ADDR"
bench_start_service matching "$TANDEM_MATCHING_ADDR"
bench_start_service feedback "$TANDEM_FEEDBACK_ADDR"
bench_start_service gateway "$GATEWAY"
for a in "$TANDEM_ENROLMENT_ADDR" "$TANDEM_MATCHING_ADDR" "$TANDEM_FEEDBACK_ADDR" "$GATEWAY"; do
  bench_wait_ready "$a"
done

# ---- seed: the demo programme, then the mix's key, intake programme and ids ------------
TANDEM_URL=http://$GATEWAY TANDEM_KEY=$TANDEM_BOOTSTRAP_KEY \
  "$BIN/tandemctl" demo --count 300 --seed 2027 --json >"$WORK/demo.json" \
  2>"$WORK/demo.err" || { cat "$WORK/demo.err" >&2; tdm_die "tandemctl demo failed"; }
/usr/bin/python3 "$SOAK_DIR/setup.py" "$GATEWAY" "$TANDEM_BOOTSTRAP_KEY" "$WORK/demo.json" "$WORK"
# shellcheck source=/dev/null
source "$WORK/setup.env"
export SOAK_DATA=$WORK/data.lua

# ---- sampler: RSS and fds of every process ---------------------------------------------
PID_OF[postgres]=$(head -1 "$PG_DATA/postmaster.pid")
SAMPLES=$WORK/samples.csv
echo "seconds,process,pid,rss_kib,fds" >"$SAMPLES"
T0=$(date +%s)
sampler() {
  while :; do
    local now name pid rss fds
    now=$(($(date +%s) - T0))
    for name in gateway enrolment matching feedback postgres; do
      pid=${PID_OF[$name]}
      [ -d "/proc/$pid" ] || continue
      rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || continue
      fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
      echo "$now,$name,$pid,$rss,$fds" >>"$SAMPLES"
    done
    sleep "$SAMPLE"
  done
}
sampler &
SAMPLER=$!
PIDS+=($SAMPLER)

# ---- a dry-run matching run every MATCH_EVERY seconds ----------------------------------
matcher() {
  while :; do
    sleep "$MATCH_EVERY"
    curl -sS -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer $SOAK_KEY" \
      -H "Content-Type: application/json" -d '{"algorithm":"OPTIMAL","dryRun":true}' \
      "http://$GATEWAY/v1/programmes/$SOAK_PROGRAMME/matchingRuns" >>"$WORK/match-runs.txt" 2>&1 || true
  done
}
matcher &
PIDS+=($!)

echo "machine: $(nproc) vCPUs, load $(cut -d' ' -f1-3 /proc/loadavg); $DURATION s; wrk -t$THREADS -c$CONNECTIONS, ${SOAK_DELAY_MS} ms between a connection's requests; samples every $SAMPLE s; warm-up $WARMUP s"
wrk -t "$THREADS" -c "$CONNECTIONS" -d "${DURATION}s" --timeout 30s --latency -s "$SOAK_DIR/mix.lua" \
  "http://$GATEWAY" | tee "$WORK/wrk.txt"
sleep "$SAMPLE"
status=0
for name in gateway enrolment matching feedback; do
  if ! kill -0 "${PID_OF[$name]}" 2>/dev/null; then
    echo "tandem-$name DIED during the soak: $(tail -5 "$WORK/$name.log")"
    status=1
  fi
done
grep -q "Socket errors" "$WORK/wrk.txt" && status=1
echo "matching runs started (HTTP status: count): $(sort "$WORK/match-runs.txt" 2>/dev/null | uniq -c | awk '{printf "%s: %s  ", $2, $1}')"
/usr/bin/python3 "$SOAK_DIR/analyse.py" "$SAMPLES" "$WARMUP" || status=1
cp "$SAMPLES" "${TANDEM_SOAK_SAMPLES_OUT:-/dev/null}" 2>/dev/null || true
echo "samples, wrk output and service logs: $WORK (TANDEM_SOAK_KEEP=1 keeps them)"
exit $status
