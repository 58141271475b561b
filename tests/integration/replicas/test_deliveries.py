"""Webhook deliveries with two gateway replicas on one PostgreSQL (API.md, "Many
replicas, one outcome"): a delivery's outcome is recorded by the replica that holds
its claim only.

The receiver holds each attempt open ("hold:<code>") so the test decides when the
sending gateway gets its answer:
- kill -9 of the gateway between a delivery's send and its record: the other replica
  sends it again once the claim's lease (30 s) has run out - one extra delivery at
  most, with the same Tandem-Delivery - and records it;
- a gateway frozen (SIGSTOP) between send and record past its lease, while the other
  replica has taken the delivery over and is sending it: when it wakes, its stale
  outcome is not recorded. Before claims were fenced by a claim id it was, and the
  failure it recorded released the other replica's claim, so the delivery was sent a
  third time while the second attempt was still in flight.
Gateways are started by hand here (not by the harness) so they can be killed.
"""
import signal
import time
import unittest
import uuid

import harness
from harness import wait_for

LEASE_S = 30  # delivery.c LEASE_MS
EVENT = "participant.enrolled"


class DeliveryClaims(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = harness.Stack("deliveries")
        cls.receiver = harness.WebhookReceiver()
        try:
            for svc in ("enrolment", "matching", "feedback"):
                cls.stack.start(svc, wait=False)
            for svc in ("enrolment", "matching", "feedback"):
                cls.stack.wait_ready(svc)
        except Exception:
            cls.stack.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()
        cls.receiver.close()

    def setUp(self):
        self.gateways = []

    def tearDown(self):
        for g in self.gateways:
            g.close()

    def gateway(self, name):
        g = harness.Replica(self.stack, "gateway", name, {
            "TANDEM_WEBHOOK_RETRY_BASE_MS": "200", "TANDEM_RATE_LIMIT_RPS": "1000",
            "TANDEM_LOG_LEVEL": "info"})
        self.gateways.append(g)
        return g

    def call(self, gw, method, path, body=None, tenant=None):
        status, answer = harness.rest(gw.addr, method, path, body, self.stack.bootstrap_key,
                                      tenant)
        self.assertEqual(status, 200, (method, path, answer))
        return answer

    def first_attempt(self, gw, path):
        """A tenant, a webhook at path and an enrolment, with gw alone running: (tenant,
        webhook id) once the first attempt is held open at the receiver."""
        t = self.call(gw, "POST", "/v1/tenants", {"name": "Firm",
                                                  "slug": "dl-" + uuid.uuid4().hex[:10]})["id"]
        p = self.call(gw, "POST", "/v1/programmes", {"name": "Reverse", "kind": "REVERSE",
                                                     "status": "ENROLLING"}, tenant=t)
        w = self.call(gw, "POST", "/v1/webhooks", {"url": self.receiver.url(path),
                                                   "events": [EVENT]}, tenant=t)
        self.call(gw, "POST", "/v1/programmes/%s/participants" % p["id"],
                  {"externalId": "e-" + uuid.uuid4().hex[:8], "displayName": "Ada",
                   "role": "MENTEE"}, tenant=t)
        wait_for(lambda: self.receiver.at(path), 30, "the first attempt")
        return t, w["id"]

    def deliveries(self, gw, tenant, webhook_id):
        return self.call(gw, "GET", "/v1/webhooks/%s/deliveries" % webhook_id,
                         tenant=tenant).get("webhookDeliveries", [])

    def test_kill_9_between_send_and_record_costs_one_extra_delivery_at_most(self):
        path = "/kill-" + uuid.uuid4().hex
        self.receiver.scripts[path] = ["hold:200", "hold:200"]
        a = self.gateway("gw-a-kill")
        tenant, webhook_id = self.first_attempt(a, path)
        b = self.gateway("gw-b-kill")
        a.signal(signal.SIGKILL)
        a.proc.wait(timeout=30)
        self.receiver.release(path)  # the answer reaches no one
        got = wait_for(lambda: len(self.receiver.at(path)) >= 2 and self.receiver.at(path),
                       LEASE_S + 30, "the other replica's attempt")
        self.receiver.release(path)
        ds = wait_for(lambda: [d for d in self.deliveries(b, tenant, webhook_id)
                               if d["status"] == "SUCCEEDED"], 30, "the delivery to succeed")
        time.sleep(3)
        got = self.receiver.at(path)
        self.assertEqual(len(got), 2, "one extra delivery at most")
        self.assertEqual({r["headers"]["Tandem-Delivery"] for r in got}, {ds[0]["id"]})
        self.assertEqual(ds[0]["attemptCount"], 1)  # only the surviving replica recorded

    def test_a_stale_outcome_is_not_recorded_over_another_replicas_claim(self):
        path = "/stale-" + uuid.uuid4().hex
        # The frozen replica's attempt is answered 500, the other replica's is held.
        self.receiver.scripts[path] = ["hold:500", "hold:200"]
        a = self.gateway("gw-a-stale")
        tenant, webhook_id = self.first_attempt(a, path)
        b = self.gateway("gw-b-stale")
        a.signal(signal.SIGSTOP)
        self.receiver.release(path)  # A's 500 waits, unread, in its socket
        wait_for(lambda: len(self.receiver.at(path)) >= 2, LEASE_S + 30,
                 "the other replica taking the delivery over")
        a.signal(signal.SIGCONT)
        # A wakes and records its failure (the 500 or its timeout), or tries to: the
        # delivery must not be released to be sent a third time meanwhile.
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and len(self.receiver.at(path)) < 3:
            time.sleep(0.1)
        self.assertEqual(len(self.receiver.at(path)), 2,
                         "a stale outcome released the other replica's claim")
        self.assertIn("the claim passed to another replica", a.log())
        self.receiver.release(path)
        ds = wait_for(lambda: [d for d in self.deliveries(b, tenant, webhook_id)
                               if d["status"] == "SUCCEEDED"], 30, "the delivery to succeed")
        self.assertEqual(ds[0]["attemptCount"], 1)
        self.assertEqual(len(self.receiver.at(path)), 2)


if __name__ == "__main__":
    unittest.main()
