# deploy/lib.sh - shell functions shared by deploy/up.sh, deploy/down.sh and
# tests/run.sh: installing Debian packages, building, and running a PostgreSQL
# cluster as a non-root OS user (PostgreSQL refuses to run as root).
# Sourced, not executed.

TDM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TDM_PG_BIN=/usr/lib/postgresql/15/bin
TDM_PG_OS_USER=${TDM_PG_OS_USER:-tandempg}

tdm_say() { printf '%s\n' "$*" >&2; }
tdm_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Packages named in deploy/packages/<list>.txt (comments and blank lines skipped).
tdm_package_list() {
  local f
  for f in "$@"; do
    grep -v '^[[:space:]]*#' "$TDM_ROOT/deploy/packages/$f.txt" | awk 'NF { print $1 }'
  done
}

# Install whichever of the listed packages are missing. As root: apt-get update
# then install. Otherwise: print the one command that would do it, and fail.
tdm_install_packages() {
  tdm_install_named $(tdm_package_list "$@")
}

# Install whichever of the named packages are missing (same rules as above).
tdm_install_named() {
  local missing=() p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    tdm_die "missing Debian packages; install them with:
  sudo apt-get update && sudo apt-get install -y ${missing[*]}"
  fi
  tdm_say "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || tdm_die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    tdm_die "apt-get install failed for: ${missing[*]}"
}

# Run a command as the PostgreSQL OS user (creating that user when root).
tdm_as_pg_user() {
  if [ "$(id -u)" -eq 0 ]; then
    if ! id "$TDM_PG_OS_USER" >/dev/null 2>&1; then
      useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin "$TDM_PG_OS_USER"
    fi
    runuser -u "$TDM_PG_OS_USER" -- "$@"
  else
    "$@"
  fi
}

# The prefix a test uses to run pg_ctl as the right user.
tdm_pg_ctl_prefix() {
  if [ "$(id -u)" -eq 0 ]; then
    printf 'runuser -u %s -- %s/pg_ctl' "$TDM_PG_OS_USER" "$TDM_PG_BIN"
  else
    printf '%s/pg_ctl' "$TDM_PG_BIN"
  fi
}

# ---- ports ----------------------------------------------------------------------
# Linux hands ports of its ephemeral range (ip_local_port_range, 32768-60999 by
# default) to outgoing connections. A server port inside that range can be taken by
# any connection the machine opens, and stays taken for 60 s in TIME-WAIT after it
# closes; SO_REUSEADDR does not help against another socket's TIME-WAIT. So every
# port Tandem's scripts choose lies below the range, and each is checked before use.

# Directory of the lock files that keep a chosen port to one holder across every
# script and test process on the machine (tests/integration/harness.py uses it too).
TDM_PORT_LOCK_DIR=${TANDEM_TEST_PORT_LOCKS:-/tmp/tandem-test-ports}

# tdm_ephemeral_range: prints "LOW HIGH", the kernel's ephemeral port range.
tdm_ephemeral_range() {
  local low high
  if read -r low high </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null; then
    printf '%s %s\n' "$low" "$high"
  else
    printf '32768 60999\n'
  fi
}

# tdm_free_port: a port nobody uses now (no listener, no connection, no TIME-WAIT),
# from the 12,000 ports below the kernel's ephemeral range, whose lock file no other
# holder keeps. Prefer tdm_reserve_port, which also keeps the lock.
tdm_free_port() {
  local low _
  read -r low _ < <(tdm_ephemeral_range)
  if mkdir -p "$TDM_PORT_LOCK_DIR" 2>/dev/null; then chmod 1777 "$TDM_PORT_LOCK_DIR" 2>/dev/null || true; fi
  /usr/bin/python3 - "$low" "$TDM_PORT_LOCK_DIR" <<'PY'
import fcntl, os, random, socket, sys
low, lock_dir = int(sys.argv[1]), sys.argv[2]
for _ in range(1000):
    port = random.randint(max(1024, low - 12001), low - 1)
    try:
        with open(os.path.join(lock_dir, str(port)), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released on close
    except OSError:
        continue
    with socket.socket() as s:  # no SO_REUSEADDR: a TIME-WAIT socket fails it too
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
    print(port)
    break
else:
    raise SystemExit("no free port below the ephemeral range")
PY
}

# tdm_reserve_port VAR: sets VAR to a free port (as tdm_free_port) and keeps its lock
# file open in this shell until it exits, so that no parallel test run or benchmark
# picks the same port before our server has bound it.
tdm_reserve_port() {
  local __var=$1 __port __fd __i
  for __i in $(seq 1 20); do
    __port=$(tdm_free_port) || return 1
    exec {__fd}>>"$TDM_PORT_LOCK_DIR/$__port"
    if flock -n "$__fd"; then
      printf -v "$__var" '%s' "$__port"
      return 0
    fi
    exec {__fd}>&- # taken between the choice and the lock: choose again
  done
  tdm_die "could not reserve a free port below the ephemeral range"
}

# tdm_warn_if_ephemeral PORT VARIABLE WHAT: say so when a configured port lies in
# the kernel's ephemeral range (it may then be taken by an outgoing connection).
tdm_warn_if_ephemeral() {
  local port=$1 var=$2 what=$3 low high
  read -r low high < <(tdm_ephemeral_range)
  if [ "$port" -ge "$low" ] && [ "$port" -le "$high" ]; then
    tdm_say "warning: $what's port $port lies in the kernel's ephemeral port range" \
      "($low-$high), where outgoing connections may take it; set $var to a port below $low"
  fi
}

# tdm_port_bindable HOST PORT: whether a server could bind HOST:PORT now, as Tandem's
# services and PostgreSQL do (with SO_REUSEADDR, so their own old TIME-WAIT
# connections do not count). Exit status 0 yes, 1 address in use, 2 other error
# (printed).
tdm_port_bindable() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import errno, socket, sys
host, port = sys.argv[1].strip("[]"), int(sys.argv[2])
try:
    info = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                              flags=socket.AI_PASSIVE)[0]
except socket.gaierror as e:
    print("cannot resolve %s: %s" % (host, e), file=sys.stderr)
    sys.exit(2)
with socket.socket(info[0], socket.SOCK_STREAM) as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(info[4])
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            sys.exit(1)
        print("cannot bind %s:%d: %s" % (host, port, e.strerror), file=sys.stderr)
        sys.exit(2)
PY
}

# tdm_port_holders PORT: "name (pid N)" of each process with a socket on local port
# PORT, one a line (ss shows other users' processes to root only).
tdm_port_holders() {
  ss -Htanp "sport = :$1" 2>/dev/null |
    grep -o 'users:((.*))' | grep -o '"[^"]*",pid=[0-9]*' |
    sed 's/^"\([^"]*\)",pid=\([0-9]*\)$/\1 (pid \2)/' | sort -u || true # none: no error
}

# TDM_PORT_WAIT_S: how long tdm_wait_port waits for TIME-WAIT connections to go.
TDM_PORT_WAIT_S=${TDM_PORT_WAIT_S:-60}

# tdm_wait_port HOST PORT VARIABLE WHAT: before starting a server on HOST:PORT. Returns
# when the port can be bound. If a process holds it, stops with a message naming the
# port, the process and VARIABLE (which moves WHAT to another port). If only closed
# connections in TIME-WAIT hold it, says so and waits for them, up to
# TDM_PORT_WAIT_S seconds (Linux keeps TIME-WAIT for 60 s).
tdm_wait_port() {
  local host=$1 port=$2 var=$3 what=$4 rc holders waited=0 tw now_us deadline_us
  deadline_us=$((${EPOCHREALTIME/./} + TDM_PORT_WAIT_S * 1000000))
  while :; do
    rc=0
    tdm_port_bindable "$host" "$port" || rc=$?
    [ $rc -eq 0 ] && return 0
    [ $rc -eq 2 ] && tdm_die "$what cannot use $host:$port (set $var to another address)"
    holders=$(tdm_port_holders "$port" | paste -sd, | sed 's/,/, /g') || true
    if [ -n "$holders" ]; then
      tdm_die "port $port is in use by $holders, so $what cannot listen on it;" \
        "stop that process or set $var to move $what to another port"
    fi
    tw=$(ss -Htan state time-wait "sport = :$port" 2>/dev/null | wc -l)
    if [ "$tw" -eq 0 ] && [ $waited -eq 0 ]; then
      # In use, yet no socket of ours to see: another user's process, when not root.
      tdm_die "port $port is in use by a process this user cannot see, so $what" \
        "cannot listen on it; stop that process or set $var to move $what to another port"
    fi
    if [ $waited -eq 0 ]; then
      tdm_say "port $port ($what) is held by $tw closed connection(s) in TIME-WAIT;" \
        "waiting for them to expire (up to ${TDM_PORT_WAIT_S} s; $var moves $what)"
    fi
    now_us=${EPOCHREALTIME/./}
    if [ "$now_us" -ge "$deadline_us" ]; then
      tdm_die "port $port is still held after ${TDM_PORT_WAIT_S} s;" \
        "set $var to move $what to another port"
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
}

# tdm_pg_init DATA_DIR AUTH: create a cluster owned by the PostgreSQL OS user.
# AUTH is "trust" (throwaway test clusters) or "scram" (local deployments: the
# superuser connects over the Unix socket only; TCP needs a password).
tdm_pg_init() {
  local data=$1 auth=$2 parent
  parent=$(dirname "$data")
  mkdir -p "$parent"
  if [ "$(id -u)" -eq 0 ]; then
    tdm_as_pg_user true # creates the user
    chown "$TDM_PG_OS_USER" "$parent"
  fi
  if [ "$auth" = trust ]; then
    tdm_as_pg_user "$TDM_PG_BIN/initdb" -D "$data" -U postgres --auth=trust \
      --encoding=UTF8 --locale=C.UTF-8 >/dev/null || tdm_die "initdb failed"
  else
    # The superuser is reached only through the Unix socket, which only the
    # cluster's OS user (and root) may open (unix_socket_permissions 0700, set
    # below); TCP always needs a password.
    tdm_as_pg_user "$TDM_PG_BIN/initdb" -D "$data" -U postgres --auth-local=trust \
      --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null ||
      tdm_die "initdb failed"
    printf "unix_socket_permissions = 0700\n" | tdm_as_pg_user tee -a "$data/postgresql.conf" >/dev/null
  fi
}

# tdm_pg_start DATA_DIR PORT SOCKET_DIR LOGFILE [extra postgres options]
tdm_pg_start() {
  local data=$1 port=$2 sock=$3 log=$4
  shift 4
  mkdir -p "$sock"
  [ "$(id -u)" -eq 0 ] && chown "$TDM_PG_OS_USER" "$sock" "$(dirname "$log")"
  tdm_as_pg_user "$TDM_PG_BIN/pg_ctl" -D "$data" -l "$log" -w -t 60 \
    -o "-p $port -k $sock -c listen_addresses=127.0.0.1 $*" start >/dev/null ||
    { tail -20 "$log" >&2; tdm_die "PostgreSQL did not start (log: $log)"; }
}

tdm_pg_stop() {
  local data=$1
  [ -f "$data/postmaster.pid" ] || return 0
  tdm_as_pg_user "$TDM_PG_BIN/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

# tdm_pid_runs PID PROGRAM: whether process PID is alive and runs PROGRAM (the name
# of its executable). A pid file outlives its process (a crash, a reboot), and its
# number is soon another process's (pid_max is 32768 here): only this check keeps
# up.sh from taking a stranger for a running service and down.sh from killing it.
tdm_pid_runs() {
  local exe
  [[ $1 =~ ^[0-9]+$ ]] && kill -0 "$1" 2>/dev/null || return 1
  exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
  exe=${exe% (deleted)} # the binary was rebuilt while it ran
  [ "${exe##*/}" = "$2" ]
}

# psql as the superuser over the socket.
tdm_psql_super() {
  local sock=$1 port=$2
  shift 2
  tdm_as_pg_user /usr/bin/psql -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U postgres "$@"
}
