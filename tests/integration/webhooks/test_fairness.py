"""Webhook fairness between tenants (API.md, "The public edge"; issue #14).

Proves: a tenant may register at most 20 endpoints (the 21st is FAILED_PRECONDITION,
HTTP 400, and creates nothing; deleting one makes room again); and a tenant whose
20 endpoints all hang past the 10 s attempt timeout does not delay another tenant's
delivery by more than 5 s. Before deliveries were claimed round-robin across tenants
with a per-tenant in-flight cap, the hanging tenant's 80 deliveries took every one of
the gateway's 64 slots and the other tenant's event waited for their timeouts.
"""
import time
import unittest
import uuid

import harness
from harness import wait_for

EVENT = "participant.enrolled"
ENDPOINTS_MAX = 20
FAILED_PRECONDITION = 9


class Fairness(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.receiver = harness.WebhookReceiver()
        cls.stack = harness.Stack("fair")
        cls.stack.start_all({"gateway": {"TANDEM_RATE_LIMIT_RPS": "1000"}})

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()
        cls.receiver.close()

    def call(self, method, path, body=None, tenant=None, expect=200):
        status, answer = harness.rest(self.stack.addr("gateway"), method, path, body,
                                      self.stack.bootstrap_key, tenant)
        self.assertEqual(status, expect, (method, path, answer))
        return answer

    def tenant(self):
        t = self.call("POST", "/v1/tenants", {"name": "Firm",
                                              "slug": "fair-" + uuid.uuid4().hex[:10]})["id"]
        p = self.call("POST", "/v1/programmes", {"name": "Reverse", "kind": "REVERSE",
                                                 "status": "ENROLLING"}, tenant=t)["id"]
        return t, p

    def webhook(self, tenant, path, expect=200):
        return self.call("POST", "/v1/webhooks", {"url": self.receiver.url(path),
                                                  "events": [EVENT]}, tenant=tenant,
                         expect=expect)

    def enrol(self, tenant, programme):
        self.call("POST", "/v1/programmes/%s/participants" % programme,
                  {"externalId": "e-" + uuid.uuid4().hex[:8], "displayName": "Ada",
                   "role": "MENTEE"}, tenant=tenant)

    def test_at_most_twenty_endpoints_per_tenant(self):
        t, _ = self.tenant()
        made = [self.webhook(t, "/max-%d" % i)["id"] for i in range(ENDPOINTS_MAX)]
        err = self.webhook(t, "/max-extra", expect=400)
        self.assertEqual(err["code"], FAILED_PRECONDITION, err)
        self.assertIn("at most 20", err["message"])
        listed = self.call("GET", "/v1/webhooks?pageSize=100", tenant=t)["webhooks"]
        self.assertEqual(sorted(w["id"] for w in listed), sorted(made))
        # Another tenant is not counted against this one.
        other, _ = self.tenant()
        self.webhook(other, "/max-other")
        # A deleted endpoint makes room.
        self.call("DELETE", "/v1/webhooks/%s" % made[0], tenant=t)
        self.webhook(t, "/max-again")

    def test_a_tenant_whose_endpoints_hang_does_not_delay_another(self):
        slow, slow_programme = self.tenant()
        paths = ["/hang-%d-%s" % (i, uuid.uuid4().hex[:6]) for i in range(ENDPOINTS_MAX)]
        for path in paths:
            self.receiver.scripts[path] = ["sleep"] * 100  # 12 s each: past the timeout
            self.webhook(slow, path)
        for _ in range(4):  # 80 deliveries, more than the gateway's 64 slots
            self.enrol(slow, slow_programme)

        def hanging():
            return sum(len(self.receiver.at(p)) for p in paths)
        wait_for(lambda: hanging() >= 8, 30, "the slow tenant's attempts to hang")
        time.sleep(1)
        calm, calm_programme = self.tenant()
        path = "/calm-" + uuid.uuid4().hex
        self.webhook(calm, path)
        start = time.monotonic()
        self.enrol(calm, calm_programme)
        got = wait_for(lambda: self.receiver.at(path), 30, "the other tenant's delivery")
        self.assertLess(got[0]["time"] - start, 5,
                        "another tenant's hanging endpoints delayed this delivery")


if __name__ == "__main__":
    unittest.main()
