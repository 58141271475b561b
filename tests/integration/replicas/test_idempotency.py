"""The gateway's own Idempotency-Key with two gateway replicas (API.md, "Many replicas,
one outcome").

CreateTenant, CreateApiKey and CreateWebhook are served by the gateway itself. A
client that retries with the same Idempotency-Key may reach another replica while
the first is still working; the key must be claimed in the same transaction as the
work, so whichever replica comes second waits for the first and answers its stored
response. Here each round sends one request to both gateways at the same moment:
exactly one tenant, API key or webhook must exist afterwards, and both answers must
name it.
"""
import json
import signal
import threading
import time
import unittest
import urllib.error
import urllib.request
import uuid

import harness

ROUNDS = 8
SECRET_KEY = "s" * 32


class Gateway:
    """A tandem-gateway process of the test's own, on the stack's database."""

    def __init__(self, stack, name, addr=None):
        self.key = stack.bootstrap_key
        env = {"TANDEM_WEBHOOK_SECRET_KEY": SECRET_KEY, "TANDEM_RATE_LIMIT_RPS": "1000",
               "TANDEM_RATE_LIMIT_BURST": "1000"}
        if addr is not None:
            env["TANDEM_LISTEN"] = addr
        self.proc, self.addr, self.log_path = harness.spawn_replica(stack, "gateway", name, env)

    def call(self, method, path, body=None, tenant=None, idempotency_key=None):
        headers = {"Content-Type": "application/json", "Authorization": "Bearer " + self.key}
        headers.update({k: v for k, v in (("X-Tandem-Tenant", tenant),
                                          ("Idempotency-Key", idempotency_key)) if v})
        req = urllib.request.Request("http://%s%s" % (self.addr, path), method=method,
                                     data=json.dumps(body).encode() if body else None,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def wait_serving(self, timeout=60):
        """Ready needs every peer; this stack runs enrolment only, so wait for the API."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("gateway exited:\n" + harness.tail(self.log_path))
            try:
                if self.call("GET", "/v1/tenants")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("gateway not serving:\n" + harness.tail(self.log_path))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


class GatewayIdempotencyAcrossReplicas(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = harness.Stack("gwidem")
        cls.gateways = []
        try:
            cls.stack.start("enrolment")
            cls.gateways = [Gateway(cls.stack, "gateway-a", cls.stack.addr("gateway")),
                            Gateway(cls.stack, "gateway-b")]
            for g in cls.gateways:
                g.wait_serving()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        bad = []
        for g in cls.gateways:
            rc = g.stop()
            if rc != 0:
                bad.append("gateway exit status %s:\n%s" % (rc, harness.tail(g.log_path, 60)))
        cls.stack.close()
        if bad:
            raise AssertionError("\n".join(bad))

    def both_at_once(self, method, path, body, key, tenant=None):
        """The same request, with the same Idempotency-Key, sent to both gateways at
        the same moment: their two answers."""
        answers = [None, None]
        barrier = threading.Barrier(2)

        def send(i):
            barrier.wait()
            answers[i] = self.gateways[i].call(method, path, body, tenant=tenant,
                                               idempotency_key=key)

        threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return answers

    def count(self, sql):
        return int(harness.psql(self.stack.super_url, sql))

    def assert_one(self, answers, what, n):
        for status, body in answers:
            self.assertEqual(status, 200, body)
        self.assertEqual(n, 1, "%d %s created for one Idempotency-Key" % (n, what))
        self.assertEqual(answers[0][1]["id"], answers[1][1]["id"])

    def tenant(self):
        status, t = self.gateways[0].call("POST", "/v1/tenants",
                                          {"name": "Firm", "slug": "f-" + uuid.uuid4().hex[:10]})
        self.assertEqual(status, 200, t)
        return t["id"]

    def test_create_tenant_once(self):
        for _ in range(ROUNDS):
            slug = "race-" + uuid.uuid4().hex[:10]
            answers = self.both_at_once("POST", "/v1/tenants", {"name": "Race", "slug": slug},
                                        "k-" + slug)
            n = self.count("SELECT count(*) FROM gateway.tenants WHERE slug = '%s'" % slug)
            self.assert_one(answers, "tenants", n)

    def test_create_api_key_once(self):
        tenant = self.tenant()
        for _ in range(ROUNDS):
            name = "race-" + uuid.uuid4().hex[:10]
            answers = self.both_at_once("POST", "/v1/tenants/%s/apiKeys" % tenant,
                                        {"displayName": name, "scopes": ["enrolment:read"],
                                         "kind": "TENANT"}, "k-" + name)
            n = self.count("SELECT count(*) FROM gateway.api_keys WHERE display_name = '%s'"
                           % name)
            self.assert_one(answers, "API keys", n)
            # The secret is shown once: to the request that created the key.
            self.assertEqual(sum(1 for _, body in answers if body.get("secret")), 1, answers)

    def test_create_webhook_once(self):
        tenant = self.tenant()
        for _ in range(ROUNDS):
            desc = "race-" + uuid.uuid4().hex[:10]
            answers = self.both_at_once("POST", "/v1/webhooks",
                                        {"url": "http://127.0.0.1:9/hook",
                                         "events": ["participant.enrolled"],
                                         "description": desc}, "k-" + desc, tenant=tenant)
            n = self.count("SELECT count(*) FROM gateway.webhooks WHERE description = '%s'"
                           % desc)
            self.assert_one(answers, "webhooks", n)
            self.assertEqual(sum(1 for _, body in answers if body.get("secret")), 1, answers)


if __name__ == "__main__":
    unittest.main()
