#!/bin/sh
# docker-entrypoint.sh - entrypoint of the all-in-one Tandem image: the first
# argument chooses the process.
#
#   gateway | enrolment | matching | feedback [args]   exec that service
#   healthcheck [/healthz|/readyz]                     probe this container's service
#   anything else (tandemctl ..., tandem-assign ...)   exec'd as given
#
# Every branch that starts a program uses `exec`, so the program replaces this shell,
# becomes PID 1 and receives SIGTERM from `docker stop` or the kubelet directly.
set -eu

cmd=${1:-gateway}
[ $# -gt 0 ] && shift

case $cmd in
  gateway | enrolment | matching | feedback)
    exec "/usr/local/bin/tandem-$cmd" "$@"
    ;;
  healthcheck)
    path=${1:-/healthz}
    case $path in
      /healthz | /readyz) ;;
      *) echo "healthcheck: path must be /healthz or /readyz, not $path" >&2; exit 2 ;;
    esac
    # The port the service answers probes on: TANDEM_ADMIN_LISTEN's when it has one
    # (host:port or [v6]:port), else TANDEM_LISTEN's, or else each default port in
    # turn (a container runs one service, so at most one of them answers).
    if [ -n "${TANDEM_ADMIN_LISTEN:-}" ]; then
      ports=${TANDEM_ADMIN_LISTEN##*:}
    elif [ -n "${TANDEM_LISTEN:-}" ]; then
      ports=${TANDEM_LISTEN##*:}
    else
      ports="8080 50051 50052 50053"
    fi
    for port in $ports; do
      if curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port$path" 2>/dev/null; then
        exit 0
      fi
    done
    echo "healthcheck: no answer on $path from 127.0.0.1 port(s) $ports" >&2
    exit 1
    ;;
  *)
    exec "$cmd" "$@"
    ;;
esac
