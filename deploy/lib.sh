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

# A TCP port nobody listens on now.
# tdm_free_port: a port nobody listens on, from below the kernel's ephemeral range so
# that no outgoing connection takes it before our server binds it.
tdm_free_port() {
  /usr/bin/python3 - <<'PY'
import random, socket
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except (OSError, ValueError, IndexError):
    low = 32768
for _ in range(1000):
    port = random.randint(max(1024, low - 12001), low - 1)
    with socket.socket() as s:
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

# psql as the superuser over the socket.
tdm_psql_super() {
  local sock=$1 port=$2
  shift 2
  tdm_as_pg_user /usr/bin/psql -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U postgres "$@"
}
