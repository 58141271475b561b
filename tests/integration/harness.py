"""Integration-test harness: real PostgreSQL, real Tandem processes.

tests/run.sh starts a throwaway PostgreSQL cluster and exports
TANDEM_TEST_DATABASE_URL (a superuser connection), TANDEM_SOURCE_DIR and
TANDEM_BUILD_DIR. A Stack creates its own database in that cluster (so test files
run in parallel), the roles and schemas of deploy/sql/bootstrap.sql, starts the
services it is asked for on free ports with the same environment variables a
deployment uses, waits for /readyz, and tears everything down at the end.

Run with Debian's interpreter (/usr/bin/python3): grpcio and protobuf come from
Debian packages. Generated Python modules of the protos are in
$TANDEM_BUILD_DIR/python.
"""
import fcntl
import http.server
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

SOURCE_DIR = os.environ.get("TANDEM_SOURCE_DIR", os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))))
BUILD_DIR = os.environ.get("TANDEM_BUILD_DIR", os.path.join(SOURCE_DIR, "build", "test"))
SUPER_URL = os.environ.get("TANDEM_TEST_DATABASE_URL")
sys.path.insert(0, os.path.join(BUILD_DIR, "python"))

SERVICES = ("gateway", "enrolment", "matching", "feedback")
ALL_SCOPES = 0x7F  # admin and every :read/:write bit (tandem.internal.v1.RequestContext)


def require_database():
    if not SUPER_URL:
        raise SystemExit("TANDEM_TEST_DATABASE_URL is not set: run through ./tests/run.sh")


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


# Ports handed out by reserve_port() stay taken, across every test process on the
# machine (parallel runs of tests/run.sh included), until the holder exits: a lock
# file per port in PORT_LOCK_DIR, held open.
PORT_LOCK_DIR = os.environ.get("TANDEM_TEST_PORT_LOCKS", "/tmp/tandem-test-ports")


def reserve_port():
    """A port for a service this test will start, and the open lock file that keeps it.

    Binding port 0 and closing the socket hands back a port from the ephemeral range:
    before the service binds it, any outgoing connection on the machine (a service
    dialling PostgreSQL, another test's client) or another test's free_port() may take
    it, and the test then talks to somebody else's process. So ports come from below
    the ephemeral range, where the kernel never picks, and a lock file per port keeps
    parallel test processes apart. Keep the returned file open while the port is used.
    """
    os.makedirs(PORT_LOCK_DIR, exist_ok=True)
    high = min(_ephemeral_low(), 65536) - 1
    low = max(1024, high - 12000)
    rng = random.Random()
    for _ in range(1000):
        port = rng.randint(low, high)
        lock = open(os.path.join(PORT_LOCK_DIR, str(port)), "a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port))
        except OSError:
            lock.close()
            continue
        return port, lock
    raise RuntimeError("no free port below the ephemeral range")


_HELD = []


def free_port():
    """A port nobody listens on, held for the life of this test process."""
    port, lock = reserve_port()
    _HELD.append(lock)
    return port


def with_database(url, dbname):
    """The same connection URL pointing at another database."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, ""))


def with_user(url, user, password):
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname + (":%d" % parts.port if parts.port else "")
    netloc = "%s:%s@%s" % (user, password, host)
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def psql(url, sql, *args, check=True):
    """Run SQL through psql; returns stdout (tuples only, unaligned)."""
    cmd = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", url, *args]
    out = subprocess.run(cmd, input=sql, capture_output=True, text=True)
    if check and out.returncode != 0:
        raise RuntimeError("psql failed: %s" % out.stderr.strip())
    return out.stdout.strip()


def rest(addr, method, path, body=None, key=None, tenant=None, headers=None, timeout=10):
    """(status, decoded JSON body) of a REST call to the gateway at addr, errors included
    (a body that is not JSON comes back as {"raw": text})."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://%s%s" % (addr, path), data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if key is not None:
        req.add_header("Authorization", "Bearer " + key)
    if tenant is not None:
        req.add_header("X-Tandem-Tenant", tenant)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw or b"{}")
        except ValueError:
            return e.code, {"raw": raw.decode(errors="replace")}


def wait_until(what, cond, timeout=60, interval=0.1):
    """cond()'s first true value, polled every interval seconds; AssertionError naming
    what was awaited when none comes within timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("%s: not within %s s" % (what, timeout))


def tail(path, lines=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return "(no log)"


def await_ready(proc, addr, name, log_path, timeout=60):
    """Until the process at addr answers /readyz 200; RuntimeError (with its log's
    tail) when it exits or is not ready within timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %s:\n%s" % (name, proc.returncode, tail(log_path)))
        try:
            with urllib.request.urlopen("http://%s/readyz" % addr, timeout=1) as r:
                if r.status == 200:
                    return
        except urllib.error.HTTPError:
            pass
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("%s not ready after %ss:\n%s" % (name, timeout, tail(log_path)))


def wait_for(pred, timeout=30, what="condition", interval=0.1):
    """wait_until with the predicate first (the older callers' order)."""
    return wait_until(what, pred, timeout, interval)


class Replica:
    """One more process of a stack's service, on a port of its own, started by a test
    so it can kill it (the stack's own processes are stopped by its close())."""

    def __init__(self, stack, svc, name, extra_env=None):
        self.port, self.port_lock = reserve_port()
        self.proc, self.addr, self.log_path = spawn_replica(
            stack, svc, name, dict(extra_env or {}, TANDEM_LISTEN="127.0.0.1:%d" % self.port))
        await_ready(self.proc, self.addr, "%s replica %s" % (svc, name), self.log_path)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def close(self):
        """Kill it (a stopped one too) and free its port."""
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGKILL)
        self.proc.wait(timeout=60)
        self.port_lock.close()


class Stack:
    """A database and some Tandem services, started for one test module."""

    def __init__(self, name="it", cluster_url=None):
        """cluster_url: a superuser URL of another cluster than the suite's (a test
        that stops its database, e.g. a failover), else TANDEM_TEST_DATABASE_URL."""
        require_database()
        self.cluster_url = cluster_url or SUPER_URL
        self.dbname = "tandem_%s_%s" % (name, uuid.uuid4().hex[:8])
        self.password = secrets.token_hex(12)
        self.procs = {}
        self.ports = {}
        self.logs = {}
        self.bootstrap_key = "tk_" + secrets.token_hex(24)
        self.person_hash_key = secrets.token_hex(16)
        psql(self.cluster_url, "CREATE DATABASE %s" % self.dbname)
        self.super_url = with_database(self.cluster_url, self.dbname)
        pw = self.password
        psql(self.super_url, "", "-v", "owner_password=" + pw, "-v", "gateway_password=" + pw,
             "-v", "enrolment_password=" + pw, "-v", "matching_password=" + pw,
             "-v", "feedback_password=" + pw, "-v", "dbname=" + self.dbname,
             "-f", os.path.join(SOURCE_DIR, "deploy", "sql", "bootstrap.sql"))
        self.port_locks = []
        for svc in SERVICES:
            self.ports[svc], lock = reserve_port()
            self.port_locks.append(lock)

    def url(self, role):
        return with_user(self.super_url, role, self.password)

    def addr(self, svc):
        return "127.0.0.1:%d" % self.ports[svc]

    def env(self, svc, extra=None):
        env = dict(os.environ)
        env.update({
            "TANDEM_DATABASE_URL": self.url("tandem_" + svc),
            "TANDEM_MIGRATION_DATABASE_URL": self.url("tandem_owner"),
            "TANDEM_LISTEN": self.addr(svc),
            "TANDEM_ENROLMENT_ADDR": self.addr("enrolment"),
            "TANDEM_MATCHING_ADDR": self.addr("matching"),
            "TANDEM_FEEDBACK_ADDR": self.addr("feedback"),
            "TANDEM_BOOTSTRAP_KEY": self.bootstrap_key,
            "TANDEM_LOG_LEVEL": os.environ.get("TANDEM_TEST_LOG_LEVEL", "warn"),
            "TANDEM_WEBHOOK_ALLOW_PRIVATE": "1",
            "TANDEM_DRAIN_TIMEOUT_MS": "5000",
            "TANDEM_PERSON_HASH_KEY": self.person_hash_key,
        })
        env.update(extra or {})
        return env

    def start(self, svc, extra_env=None, wait=True, name=None):
        """Start tandem-<svc>. name: another replica of it, under that name (its own
        port, log and process, addressed as stack.addr(name), stopped by close())."""
        name = name or svc
        env = self.env(svc, extra_env)
        if name not in self.ports:
            self.ports[name], lock = reserve_port()
            self.port_locks.append(lock)
        if name != svc:
            env["TANDEM_LISTEN"] = self.addr(name)
        binary = os.path.join(BUILD_DIR, "bin", "tandem-" + svc)
        log_path = os.path.join(os.environ.get("TANDEM_TEST_TMP", "/tmp"),
                                "%s-%s.log" % (self.dbname, name))
        log = open(log_path, "ab")
        self.logs[name] = log_path
        self.procs[name] = subprocess.Popen([binary], env=env,
                                            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        if wait:
            self.wait_ready(name)
        return self.procs[name]

    def http(self, svc, path, timeout=2):
        """(status, body) of GET http://<svc>/<path>."""
        try:
            with urllib.request.urlopen("http://%s%s" % (self.addr(svc), path),
                                        timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def wait_ready(self, svc, timeout=60):
        """svc: a service, or the name of a replica started with start(name=...)."""
        await_ready(self.procs[svc], self.addr(svc), "tandem-" + svc, self.logs[svc], timeout)

    def start_all(self, extra_env=None):
        """Every service, the gateway last (it is ready only once its peers are);
        extra_env: {service: {variable: value}}. On failure the stack is closed."""
        extra_env = extra_env or {}
        try:
            for svc in SERVICES[1:]:
                self.start(svc, extra_env=extra_env.get(svc), wait=False)
            for svc in SERVICES[1:]:
                self.wait_ready(svc)
            self.start("gateway", extra_env=extra_env.get("gateway"))
        except Exception:
            self.close()
            raise

    def log_tail(self, svc, lines=30):
        return tail(self.logs.get(svc, ""), lines)

    def stop(self, svc, sig=signal.SIGTERM, timeout=30):
        """Stop a service; returns its exit status."""
        proc = self.procs.pop(svc, None)
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
        elif proc.returncode != 0:
            # It died on its own: say why, or the test's failure is a mystery.
            sys.stderr.write("tandem-%s had exited with %s; its log ends:\n%s\n" %
                             (svc, proc.returncode, self.log_tail(svc)))
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise

    def close(self):
        """Stop every service, drop the database; then fail if a service did not exit
        0 on SIGTERM - under the sanitizers that is how a leak (LeakSanitizer's exit
        status 23) or any other error at exit shows, so every test leaves no leak."""
        bad = []
        for svc in list(self.procs):
            try:
                rc = self.stop(svc)
            except subprocess.TimeoutExpired:
                rc = "no exit within 30 s of SIGTERM"
            if rc != 0:
                bad.append("tandem-%s: exit status %s; its log ends:\n%s" %
                           (svc, rc, self.log_tail(svc, 60)))
        # Sessions of the services are gone; drop the scratch database.
        psql(self.cluster_url, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.dbname,
             check=False)
        for lock in self.port_locks:
            lock.close()
        self.port_locks = []
        if bad:
            raise AssertionError("a service did not stop cleanly:\n" + "\n".join(bad))

    # ---- gRPC helpers ------------------------------------------------------------

    def channel(self, svc):
        import grpc
        return grpc.insecure_channel(self.addr(svc))

    @staticmethod
    def context(tenant_id, scopes=ALL_SCOPES, principal_id="it-key", kind=1, request_id=None,
                person=None):
        """gRPC metadata carrying a request context, as the gateway attaches it;
        person=(participant id, programme id): a participant token's."""
        from tandem.internal.v1 import context_pb2
        ctx = context_pb2.RequestContext(tenant_id=tenant_id, principal_id=principal_id,
                                         scopes=scopes, request_id=request_id or uuid.uuid4().hex)
        if person is not None:
            kind = 3
            ctx.participant_id, ctx.participant_programme_id = person
        try:
            ctx.principal_kind = kind
        except (AttributeError, TypeError, ValueError):
            pass
        return [("x-tandem-context-bin", ctx.SerializeToString())]


def spawn_replica(stack, svc, name, extra_env=None):
    """Another process of svc on the stack's database - a replica the test starts,
    stops and kills itself - on a port of its own unless extra_env sets TANDEM_LISTEN.
    Returns (Popen, address, log path); it is not waited for."""
    env = {"TANDEM_LISTEN": "127.0.0.1:%d" % free_port()}
    env.update(extra_env or {})
    log_path = os.path.join(os.environ.get("TANDEM_TEST_TMP", "/tmp"),
                            "%s-%s.log" % (stack.dbname, name))
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([os.path.join(BUILD_DIR, "bin", "tandem-" + svc)],
                                env=stack.env(svc, env), stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL)
    return proc, env["TANDEM_LISTEN"], log_path


class TableLock:
    """LOCK TABLE ... IN <mode> MODE held by a psql session of its own until release():
    a transaction writing that table waits inside it, for as long as the test needs,
    whatever the machine's load. SHARE (the default) blocks writers only; ACCESS
    EXCLUSIVE blocks readers too."""

    def __init__(self, url, table, mode="SHARE"):
        self.proc = subprocess.Popen(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                                      url], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        self.proc.stdin.write("BEGIN;\nLOCK TABLE %s IN %s MODE;\n\\echo locked\n"
                              % (table, mode))
        self.proc.stdin.flush()
        line = self.proc.stdout.readline().strip()
        if line != "locked":
            self.proc.kill()
            raise RuntimeError("could not lock %s: %r" % (table, line))

    def release(self):
        if self.proc.poll() is None:
            self.proc.stdin.write("COMMIT;\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
            self.proc.stdout.close()


class WebhookReceiver:
    """A webhook endpoint on 127.0.0.1: records every POST; per path, a script of
    answers ("500", "sleep", "200"; 200 when the script is empty; "hold:<code>" keeps
    the request open until release(path), then answers <code>)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.scripts = {}
        self.holds = {}
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer.lock:
                    outer.requests.append({"path": self.path, "headers": dict(self.headers),
                                           "body": body, "time": time.monotonic(),
                                           "wall_time": time.time()})
                    script = outer.scripts.get(self.path, [])
                    action = script.pop(0) if script else "200"
                if action == "sleep":
                    time.sleep(12)
                    action = "200"
                elif action.startswith("hold:"):
                    outer.hold(self.path).acquire()
                    action = action[len("hold:"):]
                code = int(action)
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                try:
                    self.wfile.write(b"ok")
                except OSError:
                    pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def hold(self, path):
        with self.lock:
            return self.holds.setdefault(path, threading.Semaphore(0))

    def release(self, path):
        """Let one request held at path ("hold:<code>") have its answer."""
        self.hold(path).release()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def at(self, path):
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    def saw(self, text):
        """Whether any request's body contains text."""
        with self.lock:
            return any(text.encode() in r["body"] for r in self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Api:
    """One credential (an API key or a participant token) against a stack's gateway,
    optionally naming the tenant (X-Tandem-Tenant), over REST: call() answers the decoded
    JSON body and fails the test unless the status is `expect` (None: any)."""

    def __init__(self, stack, key, tenant=None):
        self.base = "http://%s" % stack.addr("gateway")
        self.key = key
        self.tenant = tenant

    def call(self, method, path, body=None, expect=200, idempotency_key=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.key)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.tenant:
            req.add_header("X-Tandem-Tenant", self.tenant)
        if idempotency_key:
            req.add_header("Idempotency-Key", idempotency_key)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, payload = r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            status, payload = e.code, json.loads(e.read() or b"{}")
        if expect is not None and status != expect:
            raise AssertionError("%s %s -> %s %s" % (method, path, status, payload))
        return payload
