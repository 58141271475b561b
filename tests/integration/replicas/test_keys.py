"""API keys with two gateway replicas on one PostgreSQL (API.md, "Many replicas, one
outcome"): each gateway verifies a key from memory after its first lookup, and a
revocation reaches every replica within 1 s (LISTEN/NOTIFY), so:
- a key revoked through one gateway is refused by both within 1 s, and from the
  moment the revocation is acknowledged plus 1 s it never passes again on either;
- a key revoked by SQL straight in the database (no gateway involved) likewise;
- when the LISTEN connection is killed (pg_terminate_backend) the cache is emptied:
  the next request looks its key up again;
- a key limited to 50 requests/s gets 50 +- 5 a second through both gateways at once
  while its clients ask for more (TANDEM_RATE_LIMIT_MODE=shared, the default; with
  "replica" each gateway would let 50 through, 100 in all).
The cache's hits and lookups are read from /metrics.
"""
import bisect
import http.client
import os
import re
import sys
import threading
import time
import unittest
import uuid

import harness

GATEWAYS = ("gateway", "gateway2")
# The revocation tests send a revoked key hundreds of times from 127.0.0.1: the
# failed-authentication limit per address would answer later tests' new keys 429.
GATEWAY_ENV = {"TANDEM_AUTH_FAILURES_PER_ADDRESS": "1000000"}
# Two refusals at most this far apart (the bucket empty at both) bound time the key was
# over its limit: well under burst / rps (1 s), in which the bucket could fill up.
SATURATED_GAP_S = 0.5


def metric(stack, gw, name):
    status, text = stack.http(gw, "/metrics")
    assert status == 200, status
    m = re.search(r"^%s(?:\{\})? ([0-9.e+]+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else 0.0


class KeysAcrossReplicas(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = harness.Stack("keys")
        cls.stack.start_all(extra_env={"gateway": GATEWAY_ENV})
        try:
            cls.stack.start("gateway", name="gateway2", extra_env=GATEWAY_ENV)
            cls.root = cls.stack.bootstrap_key
            slug = "keys-%s" % uuid.uuid4().hex[:8]
            status, cls.tenant = harness.rest(cls.stack.addr("gateway"), "POST", "/v1/tenants",
                                      {"name": "Keys LLP", "slug": slug}, key=cls.root)
            assert status == 200, cls.tenant
        except Exception:
            cls.stack.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    def make_key(self, rate=None):
        body = {"displayName": "replicas", "scopes": ["enrolment:read"], "kind": "TENANT"}
        if rate:
            body["rateLimit"] = rate
        status, k = harness.rest(self.stack.addr("gateway"), "POST",
                         "/v1/tenants/%s/apiKeys" % self.tenant["id"], body, key=self.root)
        self.assertEqual(status, 200, k)
        return k

    def get(self, gw, key):
        return harness.rest(self.stack.addr(gw), "GET", "/v1/programmes", key=key)[0]

    def warm(self, key):
        """Both gateways have verified the key and answer it from memory."""
        for gw in GATEWAYS:
            self.assertEqual(self.get(gw, key), 200)
            hits = metric(self.stack, gw, "tandem_gateway_key_cache_hits_total")
            deadline = time.monotonic() + 10
            # The first lookup may have raced the listener's first ping: ask again.
            while True:
                self.assertEqual(self.get(gw, key), 200)
                if metric(self.stack, gw, "tandem_gateway_key_cache_hits_total") > hits:
                    break
                self.assertLess(time.monotonic(), deadline, "%s never used its key cache" % gw)
                time.sleep(0.1)

    def hammer(self, key, until, out):
        """Requests to both gateways until `until` (monotonic): out[gw] = [(t, status)]."""
        def run(gw):
            while time.monotonic() < until:
                out[gw].append((time.monotonic(), self.get(gw, key)))
        threads = [threading.Thread(target=run, args=(gw,)) for gw in GATEWAYS]
        for t in threads:
            t.start()
        return threads

    def assert_refused_within_a_second(self, revoke):
        k = self.make_key()
        self.warm(k["secret"])
        seen = {gw: [] for gw in GATEWAYS}
        threads = self.hammer(k["secret"], time.monotonic() + 3.5, seen)
        time.sleep(0.5)
        revoke(k)
        acked = time.monotonic()
        for t in threads:
            t.join()
        for gw in GATEWAYS:
            late = [(round(t - acked, 3), s) for t, s in seen[gw] if t >= acked + 1.0 and s != 401]
            self.assertEqual(late, [], "%s let a revoked key through more than 1 s after its "
                                       "revocation" % gw)
            self.assertTrue(any(s == 401 for _, s in seen[gw]), seen[gw][-5:])
            self.assertTrue(any(s == 200 for t, s in seen[gw] if t < acked), "never passed before")

    def test_a_key_revoked_on_one_gateway_is_refused_by_both_within_a_second(self):
        def revoke(k):
            status, body = harness.rest(self.stack.addr("gateway"), "POST",
                                "/v1/apiKeys/%s:revoke" % k["id"], {}, key=self.root)
            self.assertEqual(status, 200, body)
        self.assert_refused_within_a_second(revoke)

    def test_a_key_revoked_in_the_database_is_refused_by_both_within_a_second(self):
        def revoke(k):
            harness.psql(self.stack.super_url,
                         "UPDATE gateway.api_keys SET revoke_time = now() WHERE id = '%s'" % k["id"])
        self.assert_refused_within_a_second(revoke)

    def test_the_revoking_gateway_refuses_the_very_next_request(self):
        k = self.make_key()
        self.warm(k["secret"])
        status, _ = harness.rest(self.stack.addr("gateway"), "POST",
                                 "/v1/apiKeys/%s:revoke" % k["id"], {}, key=self.root)
        self.assertEqual(status, 200)
        self.assertEqual(self.get("gateway", k["secret"]), 401)

    def test_a_rate_limit_holds_across_both_gateways(self):
        """50/s, burst 50, through both gateways at once: 50 +- 10 % a second passed while
        the key was over its limit.

        A limit shows only while the clients ask for more than it: a token not asked for
        is not lost while the bucket fills, and is lost once it is full (burst). On a
        loaded machine the clients (and the gateways) stall at times, so a fixed window
        of wall-clock time (this test's first form: "45 to 55 in each of 5 seconds",
        which failed at load 30+) measures the machine, not the limiter. Here the rate is
        measured only over the time the key was seen saturated: between two refusals
        (the bucket was empty at each) less than SATURATED_GAP_S apart, so the bucket
        cannot have filled up in between, the passes are exactly the tokens it earned,
        rps * gap, whatever the load. The clients run until 5 s of such time is
        collected (at most 120 s)."""
        rps, burst = 50, 50
        k = self.make_key(rate={"requestsPerSecond": rps, "burst": burst})
        start = time.monotonic()
        stop = threading.Event()
        passed, refused, other = [], [], []
        lock = threading.Lock()

        def client(gw):
            host, port = self.stack.addr(gw).split(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            headers = {"Authorization": "Bearer " + k["secret"]}
            try:
                while not stop.is_set():
                    # The gateway's own GetTenant: no peer service in the way.
                    conn.request("GET", "/v1/tenants/%s" % self.tenant["id"], headers=headers)
                    r = conn.getresponse()
                    body = r.read()
                    t = time.monotonic() - start
                    with lock:
                        if r.status == 200:
                            passed.append(t)
                        elif r.status == 429:
                            refused.append(t)
                        else:
                            other.append((gw, r.status, body[:200]))
            except Exception as e:  # reported below: a thread's failure is not the test's
                with lock:
                    other.append((gw, repr(e)))
            finally:
                conn.close()

        def measure():
            """(seconds saturated, passes in them, intervals) after the first refusal
            plus a second (the burst spent, the refill rate alone passing)."""
            with lock:
                ts, ps = sorted(refused), sorted(passed)
            if not ts:
                return 0.0, 0, []
            begin = ts[0] + 1.0
            ts = [t for t in ts if t >= begin]
            intervals = []
            for a, b in zip(ts, ts[1:]):
                if b - a > SATURATED_GAP_S:
                    continue
                if intervals and intervals[-1][1] == a:
                    intervals[-1][1] = b
                else:
                    intervals.append([a, b])
            seconds = sum(b - a for a, b in intervals)
            n = sum(bisect.bisect_right(ps, b) - bisect.bisect_right(ps, a) for a, b in intervals)
            return seconds, n, intervals

        threads = [threading.Thread(target=client, args=(gw,)) for gw in GATEWAYS for _ in range(3)]
        for t in threads:
            t.start()
        try:
            harness.wait_until("5 s of the key over its limit",
                               lambda: other or measure()[0] >= 5.0, 120, 0.2)
        finally:
            stop.set()
            for t in threads:
                t.join()
        elapsed = time.monotonic() - start
        self.assertEqual(other, [], "answers other than 200 and 429")
        self.assertTrue(refused, "the key was never limited (%d passed)" % len(passed))
        mode = os.environ.get("TANDEM_RATE_LIMIT_MODE", "shared")
        # The burst: until the first refusal no more than burst + what the refill earned.
        first = min(refused)
        early = sum(1 for t in passed if t < first)
        self.assertLessEqual(early, 1.1 * (burst + rps * first),
                             "%d passed in the %.2f s before the first refusal (mode %s)"
                             % (early, first, mode))
        # Over the whole run, whatever the load: burst + rps * elapsed at most.
        self.assertLessEqual(len(passed), 1.1 * (burst + rps * elapsed),
                             "%d passed in %.1f s (mode %s)" % (len(passed), elapsed, mode))
        seconds, n, intervals = measure()
        rate = n / seconds
        sys.stderr.write("%s: %d passed, %d refused in %.1f s; %.2f s saturated in %d "
                         "intervals, %d passed in them: %.1f/s\n"
                         % (self.id(), len(passed), len(refused), elapsed, seconds,
                            len(intervals), n, rate))
        self.assertTrue(0.9 * rps <= rate <= 1.1 * rps,
                        "%.1f requests/s passed through both gateways while the key was over "
                        "its limit (%d in %.2f s; mode %s)" % (rate, n, seconds, mode))

    def test_the_cache_is_emptied_when_the_listen_connection_is_killed(self):
        k = self.make_key()
        self.warm(k["secret"])
        listeners = ("SELECT pid FROM pg_stat_activity WHERE application_name = "
                     "'tandem-gateway-listen' AND datname = current_database() ORDER BY pid")
        before = harness.psql(self.stack.super_url, listeners).split()
        self.assertEqual(len(before), 2, "each gateway holds one LISTEN connection")
        harness.psql(self.stack.super_url,
                     "SELECT pg_terminate_backend(pid) FROM (%s) l" % listeners)
        # Each gateway connects again (after about a second) with a new backend.
        deadline = time.monotonic() + 15
        while True:
            now = harness.psql(self.stack.super_url, listeners).split()
            if len(now) == 2 and not set(now) & set(before):
                break
            self.assertLess(time.monotonic(), deadline, "the gateways did not LISTEN again")
            time.sleep(0.1)
        for gw in GATEWAYS:
            lookups = metric(self.stack, gw, "tandem_gateway_key_lookups_total")
            self.assertEqual(self.get(gw, k["secret"]), 200)
            self.assertEqual(metric(self.stack, gw, "tandem_gateway_key_lookups_total"),
                             lookups + 1, "%s answered from a cache it should have emptied" % gw)


if __name__ == "__main__":
    unittest.main()
