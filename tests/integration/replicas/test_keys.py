"""API keys with two gateway replicas on one PostgreSQL (API.md, "Many replicas, one
outcome"): each gateway verifies a key from memory after its first lookup, and a
revocation reaches every replica within 1 s (LISTEN/NOTIFY), so:
- a key revoked through one gateway is refused by both within 1 s, and from the
  moment the revocation is acknowledged plus 1 s it never passes again on either;
- a key revoked by SQL straight in the database (no gateway involved) likewise;
- when the LISTEN connection is killed (pg_terminate_backend) the cache is emptied:
  the next request looks its key up again;
- a key limited to 50 requests/s gets 50 +- 5 a second through both gateways at once
  (TANDEM_RATE_LIMIT_MODE=shared, the default; with "replica" each gateway would let
  50 through, 100 in all).
The cache's hits and lookups are read from /metrics.
"""
import http.client
import os
import re
import threading
import time
import unittest
import uuid

import harness

GATEWAYS = ("gateway", "gateway2")
# The revocation tests send a revoked key hundreds of times from 127.0.0.1: the
# failed-authentication limit per address would answer later tests' new keys 429.
GATEWAY_ENV = {"TANDEM_AUTH_FAILURES_PER_ADDRESS": "1000000"}


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
        k = self.make_key(rate={"requestsPerSecond": 50, "burst": 50})
        start = time.monotonic()
        until = start + 7.5
        passed = []
        lock = threading.Lock()

        def client(gw):
            host, port = self.stack.addr(gw).split(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
            headers = {"Authorization": "Bearer " + k["secret"]}
            while time.monotonic() < until:
                conn.request("GET", "/v1/programmes", headers=headers)
                r = conn.getresponse()
                r.read()
                t = time.monotonic()
                self.assertIn(r.status, (200, 429))
                if r.status == 200:
                    with lock:
                        passed.append(t - start)
            conn.close()

        threads = [threading.Thread(target=client, args=(gw,)) for gw in GATEWAYS for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # The first second spends the burst; from the second on, the refill rate. The
        # rate is measured over 5 s (the contract's +-10 %); single seconds are also
        # bounded, more loosely: on a loaded machine a response delayed across a second's
        # boundary moves a few requests from one second to the next (seen: 44 then 55).
        per_second = [sum(1 for t in passed if s <= t < s + 1) for s in range(2, 7)]
        mode = os.environ.get("TANDEM_RATE_LIMIT_MODE", "shared")
        rate = sum(per_second) / len(per_second)
        self.assertTrue(45 <= rate <= 55, "%.1f requests/s passed through both gateways, by "
                                          "second %s (mode %s)" % (rate, per_second, mode))
        for n in per_second:
            self.assertTrue(40 <= n <= 60, "requests passed a second through both gateways: "
                                           "%s (mode %s)" % (per_second, mode))

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
