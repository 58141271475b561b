#!/usr/bin/env bash
# tools/bench/grpc/run.sh - h2load against grpc.health.v1.Health/Check on one
# connection at 1, 16 and 100 concurrent streams: Tandem's transport (Release
# build), nghttpd serving a 2-byte file (the HTTP/2 ceiling on this machine) and a
# python3-grpcio server (the reference implementation). Prints a Markdown table.
#
#   tools/bench/grpc/run.sh [requests per run, default 200000]
# TANDEM_BENCH_BUILD_DIR (default build-rpc-rel) and TANDEM_BENCH_SOURCE_DIR override paths.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
source "$ROOT/deploy/lib.sh"
N=${1:-200000}
BUILD=${TANDEM_BENCH_BUILD_DIR:-$ROOT/build-rpc-rel}
cmake -S "${TANDEM_BENCH_SOURCE_DIR:-$ROOT}" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" --target tdm_rpc_test_server -j "$(nproc)" >/dev/null

TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

# An empty HealthCheckRequest framed for gRPC: 5-byte prefix, no body.
printf '\x00\x00\x00\x00\x00' > "$TMP/empty.grpc"
printf 'ok' > "$TMP/ok"

"$BUILD/bin/tdm_rpc_test_server" 0 > "$TMP/tandem.port" &
PIDS+=($!)
/usr/bin/python3 "$ROOT/tools/bench/grpc/health_server.py" 8 > "$TMP/grpcio.port" &
PIDS+=($!)
# nghttpd cannot take port 0: a free port below the ephemeral range, locked
# (deploy/lib.sh). The other two bind port 0 themselves and print it.
tdm_reserve_port NGHTTPD_PORT
nghttpd --no-tls -d "$TMP" "$NGHTTPD_PORT" >/dev/null 2>&1 &
PIDS+=($!)
# Wait until all three listen (up to 60 s), rather than for a fixed time.
for _ in $(seq 1 600); do
  [ -s "$TMP/tandem.port" ] && [ -s "$TMP/grpcio.port" ] &&
    [ -n "$(ss -Hltn "sport = :$NGHTTPD_PORT")" ] && break
  sleep 0.1
done
TANDEM_PORT=$(awk '{print $2}' "$TMP/tandem.port")
GRPCIO_PORT=$(awk '{print $2}' "$TMP/grpcio.port")
[ -n "$TANDEM_PORT" ] && [ -n "$GRPCIO_PORT" ] && [ -n "$(ss -Hltn "sport = :$NGHTTPD_PORT")" ] ||
  tdm_die "a server did not start within 60 s"

# h2load: one client, one connection, -m concurrent streams; prints req/s and the
# p99 of request latency (from its per-request timings, -l not needed: the
# "time for request" row gives min/max/mean/sd; p99 comes from the log file).
run() { # name url concurrency requests [grpc]
  local name=$1 url=$2 m=$3 n=$4 grpc=${5:-}
  local args=(-n "$n" -c 1 -m "$m" --log-file="$TMP/log")
  if [ -n "$grpc" ]; then
    args+=(-H 'content-type: application/grpc' -H 'te: trailers' -d "$TMP/empty.grpc")
  fi
  local out
  out=$(h2load "${args[@]}" "$url" 2>&1)
  local rps ok p99
  rps=$(echo "$out" | awk '/^finished in/ {print $4}')
  ok=$(echo "$out" | awk '/^requests:/ {print $8}')
  p99=$(awk '{print $3}' "$TMP/log" | sort -n | awk '{a[NR]=$1} END {i=int(NR*0.99); if (i<1) i=1; printf "%.2f", a[i]/1000}')
  printf '| %s | %s | %s | %s | %s |\n' "$name" "$m" "$rps" "$p99" "$ok"
}

echo "| server | streams | requests/s | p99 ms | succeeded |"
echo "|---|---|---|---|---|"
for m in 1 16 100; do
  n=$N
  run "tandem (Health/Check)" "http://127.0.0.1:$TANDEM_PORT/grpc.health.v1.Health/Check" "$m" "$n" grpc
  run "nghttpd (2-byte file)" "http://127.0.0.1:$NGHTTPD_PORT/ok" "$m" "$n"
  gn=$((n / 10))
  run "python3-grpcio (Health/Check)" "http://127.0.0.1:$GRPCIO_PORT/grpc.health.v1.Health/Check" "$m" "$gn" grpc
done
