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
import threading
import unittest
import uuid

import harness

ROUNDS = 8
GATEWAY_ENV = {"TANDEM_WEBHOOK_SECRET_KEY": "s" * 32, "TANDEM_RATE_LIMIT_RPS": "1000",
               "TANDEM_RATE_LIMIT_BURST": "1000"}


class GatewayIdempotencyAcrossReplicas(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = harness.Stack("gwidem")
        cls.stack.start_all(extra_env={"gateway": GATEWAY_ENV})
        try:
            cls.replica = harness.Replica(cls.stack, "gateway", "gateway-b", GATEWAY_ENV)
        except Exception:
            cls.stack.close()
            raise
        cls.addrs = [cls.stack.addr("gateway"), cls.replica.addr]

    @classmethod
    def tearDownClass(cls):
        cls.replica.close()
        cls.stack.close()

    def call(self, i, method, path, body, tenant=None, idempotency_key=None):
        """A REST call with the bootstrap key to gateway i (0: the stack's, 1: the replica)."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return harness.rest(self.addrs[i], method, path, body, key=self.stack.bootstrap_key,
                            tenant=tenant, headers=headers, timeout=30)

    def both_at_once(self, method, path, body, key, tenant=None):
        """The same request, with the same Idempotency-Key, sent to both gateways at
        the same moment: their two answers."""
        answers = [None, None]
        barrier = threading.Barrier(2)

        def send(i):
            barrier.wait()
            answers[i] = self.call(i, method, path, body, tenant=tenant, idempotency_key=key)

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
        status, t = self.call(0, "POST", "/v1/tenants",
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
