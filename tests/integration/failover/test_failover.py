"""PostgreSQL failover under the four services (API.md, "Many replicas, one outcome").

The test makes a cluster of its own - a primary and a streaming standby made with
pg_basebackup - and starts every service with TANDEM_DATABASE_URL naming both hosts
(the gateway without target_session_attrs, which the pool then asks for itself; the
others with target_session_attrs=read-write, as docs/operations.md shows). Then:

- the primary turns read-only (default_transaction_read_only, as a demoted primary
  behaves): writes answer 503 UNAVAILABLE, the services drop their sessions (SQLSTATE
  25006) and are not ready while no writable server exists, and are ready again and
  writing once it is writable;
- with an HR platform enrolling people one by one through the gateway, the primary is
  stopped and the standby promoted: every service is ready again within 15 s of the
  promotion, and every enrolment the gateway acknowledged is there afterwards.
"""
import json
import os
import shutil
import subprocess
import threading
import time
import unittest
import urllib.error
import urllib.request
import uuid

import harness

# The bound docs/operations.md states (reconnection back-off at most 5 s apart, then the
# readiness timer and the gateway's peer probes, 1 s each). The other waits here are
# liveness bounds (it happens at all), 60 s, for a loaded machine.
READY_AFTER_PROMOTION_S = 15


def lib(script):
    """Runs shell code with deploy/lib.sh loaded (the cluster helpers up.sh uses)."""
    out = subprocess.run(["bash", "-c", "set -euo pipefail; source \"$0\"; " + script,
                          os.path.join(harness.SOURCE_DIR, "deploy", "lib.sh")],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError("%s failed:\n%s%s" % (script, out.stdout, out.stderr))
    return out.stdout


class Cluster:
    """A primary on one port and, once replicate() ran, its standby on another."""

    def __init__(self):
        base = os.environ.get("TANDEM_TEST_TMP", "/tmp")
        self.dir = os.path.join(base, "failover-%s" % uuid.uuid4().hex[:8])
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        self.primary_port = harness.free_port()
        self.standby_port = harness.free_port()
        self.primary = os.path.join(self.dir, "primary", "data")
        self.standby = os.path.join(self.dir, "standby", "data")
        lib('tdm_pg_init "%s" trust && tdm_pg_start "%s" %d "%s/primary/sock" '
            '"%s/primary/pg.log" -c wal_level=replica -c max_wal_senders=8 -c fsync=off '
            '-c max_connections=200'
            % (self.primary, self.primary, self.primary_port, self.dir, self.dir))

    def replicate(self):
        lib('mkdir -p "{d}/standby" && chown "$TDM_PG_OS_USER" "{d}/standby" && '
            'tdm_as_pg_user "$TDM_PG_BIN/pg_basebackup" -h 127.0.0.1 -p {p} -U postgres '
            '-D "{s}" -R -X stream -c fast && '
            'tdm_pg_start "{s}" {q} "{d}/standby/sock" "{d}/standby/pg.log" '
            '-c max_connections=200'
            .format(d=self.dir, p=self.primary_port, s=self.standby, q=self.standby_port))

    def url(self, port):
        return "postgresql://postgres@127.0.0.1:%d/postgres" % port

    def stop_primary(self):
        lib('tdm_as_pg_user "$TDM_PG_BIN/pg_ctl" -D "%s" -m fast -w -t 60 stop' % self.primary)

    def promote_standby(self):
        lib('tdm_as_pg_user "$TDM_PG_BIN/pg_ctl" -D "%s" -w -t 60 promote' % self.standby)

    def close(self):
        lib('tdm_pg_stop "%s"; tdm_pg_stop "%s"' % (self.primary, self.standby))
        shutil.rmtree(self.dir, ignore_errors=True)


def rest(stack, method, path, body=None, tenant=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://%s%s" % (stack.addr("gateway"), path), data=data,
                                 method=method)
    req.add_header("Authorization", "Bearer " + stack.bootstrap_key)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if tenant:
        req.add_header("X-Tandem-Tenant", tenant)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")
    except OSError as e:
        return 0, {"transport": repr(e)}


def person(ext):
    return {"externalId": ext, "displayName": "Person " + ext, "role": "MENTEE",
            "seniorityLevel": 5, "office": "London", "practiceArea": "Corporate",
            "languages": ["en"]}


class Failover(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster()
        try:
            cls.cluster.replicate()
            cls.stack = harness.Stack("failover", cluster_url=cls.cluster.url(
                cls.cluster.primary_port))
        except Exception:
            cls.cluster.close()
            raise
        try:
            cls.stack.start_all({svc: cls.both_hosts(svc) for svc in harness.SERVICES})
        except Exception:
            cls.cluster.close()
            raise
        try:
            status, t = rest(cls.stack, "POST", "/v1/tenants",
                             {"name": "Failover LLP", "slug": "fo-" + uuid.uuid4().hex[:8]})
            assert status == 200, t
            cls.tenant = t["id"]
            status, prog = rest(cls.stack, "POST", "/v1/programmes",
                                {"name": "Failover", "kind": "REVERSE", "status": "ENROLLING"},
                                tenant=cls.tenant)
            assert status == 200, prog
            cls.prog = prog["id"]
        except Exception:
            cls.stack.close()
            cls.cluster.close()
            raise

    @classmethod
    def both_hosts(cls, svc):
        """Both hosts for this service's role (and the migrations' owner)."""
        c, stack = cls.cluster, cls.stack
        query = "" if svc == "gateway" else "?target_session_attrs=read-write"

        def url(role):
            return "postgresql://%s:%s@127.0.0.1:%d,127.0.0.1:%d/%s%s" % (
                role, stack.password, c.primary_port, c.standby_port, stack.dbname, query)
        return {"TANDEM_DATABASE_URL": url("tandem_" + svc),
                "TANDEM_MIGRATION_DATABASE_URL": url("tandem_owner")}

    @classmethod
    def tearDownClass(cls):
        try:
            cls.stack.close()
        finally:
            cls.cluster.close()

    def ready(self, svc):
        """/readyz answered 200. An answer however slow counts (a 1 s timeout here took
        a slow answer on a loaded machine for "not ready"); no answer within 30 s, or
        a refused connection, is not ready."""
        try:
            return self.stack.http(svc, "/readyz", timeout=30)[0] == 200
        except OSError:
            return False

    def all_ready(self, timeout):
        """When every service was ready (the monotonic time of the last one's first
        200), each polled by a thread of its own so that one slow answer does not
        delay seeing the others; fails after timeout seconds."""
        seen, deadline = {}, time.monotonic() + timeout

        def poll(svc):
            while time.monotonic() < deadline:
                if self.ready(svc):
                    seen[svc] = time.monotonic()
                    return
                time.sleep(0.1)

        threads = [threading.Thread(target=poll, args=(svc,)) for svc in harness.SERVICES]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        missing = [svc for svc in harness.SERVICES if svc not in seen]
        if missing:
            self.fail("%s not ready within %s s" % (", ".join(missing), timeout))
        return max(seen.values())

    def wait_until(self, what, cond, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return time.monotonic()
            time.sleep(0.1)
        self.fail("%s: not within %s s" % (what, timeout))

    def enrol(self, ext):
        return rest(self.stack, "POST", "/v1/programmes/%s/participants" % self.prog,
                    person(ext), tenant=self.tenant)

    def listed(self):
        seen, token = set(), ""
        while True:
            status, page = rest(self.stack, "GET", "/v1/programmes/%s/participants?pageSize=500"
                                "&pageToken=%s" % (self.prog, token), tenant=self.tenant)
            self.assertEqual(status, 200, page)
            seen.update(p["externalId"] for p in page.get("participants", []))
            token = page.get("nextPageToken", "")
            if not token:
                return seen

    def test_1_a_primary_turned_read_only_is_left_and_found_again(self):
        primary = self.cluster.url(self.cluster.primary_port)
        self.assertEqual(self.enrol("ro-before")[0], 200)
        harness.psql(primary, "ALTER SYSTEM SET default_transaction_read_only = on; "
                     "SELECT pg_reload_conf();")
        # pg_reload_conf() only signals the postmaster: it rereads the file and then
        # signals every session, after the call has returned. A new session that sees
        # the setting on was forked after that, so from then on every open session
        # applies it before its next command (CI once sent a write in between).
        self.wait_until("the server read-only", lambda: harness.psql(
            primary, "SHOW default_transaction_read_only") == "on", 30)
        try:
            # Sessions already open learn of it at their next transaction: the write
            # is refused as retryable, and the session is dropped, not kept.
            def refused():
                status, body = self.enrol("ro-during-%s" % uuid.uuid4().hex[:6])
                self.assertNotEqual(status, 200, "a write succeeded on a read-only server")
                return status == 503
            self.wait_until("a write answered 503", refused, 60)
            # No writable server among the hosts: not ready (the standby is read-only
            # too), rather than ready and failing every write.
            self.wait_until("enrolment not ready", lambda: not self.ready("enrolment"), 60)
        finally:
            harness.psql(primary, "ALTER SYSTEM RESET default_transaction_read_only; "
                         "SELECT pg_reload_conf();")
        self.all_ready(60)
        self.wait_until("a write accepted again", lambda: self.enrol("ro-after")[0] == 200, 60)
        self.assertTrue({"ro-before", "ro-after"} <= self.listed())

    def test_2_the_standby_promoted_takes_over_and_nothing_acknowledged_is_lost(self):
        acked, lock, stop = set(), threading.Lock(), threading.Event()

        def writer():
            n = 0
            while not stop.is_set():
                ext = "fo-%05d" % n
                n += 1
                status, body = self.enrol(ext)
                if status == 200:
                    with lock:
                        acked.add(body["externalId"])
                else:
                    time.sleep(0.05)

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            self.wait_until("20 enrolments before the failover", lambda: len(acked) >= 20, 60)
            self.cluster.stop_primary()
            self.wait_until("gateway not ready without a primary",
                            lambda: not self.ready("gateway"), 60)
            self.cluster.promote_standby()
            promoted = time.monotonic()
            ready_at = self.all_ready(60)
            self.assertLessEqual(ready_at - promoted, READY_AFTER_PROMOTION_S,
                                 "services took %.1f s to be ready on the new primary"
                                 % (ready_at - promoted))
            before = len(acked)
            self.wait_until("enrolments on the new primary", lambda: len(acked) > before + 10,
                            60)
        finally:
            stop.set()
            thread.join()
        missing = acked - self.listed()
        self.assertEqual(missing, set(), "acknowledged enrolments lost in the failover")


if __name__ == "__main__":
    unittest.main()
