"""Webhooks through the gateway, with tandem-enrolment, PostgreSQL and a receiver
(http.server on 127.0.0.1) started here.

Proves: a participant enrolled through the REST API reaches a registered endpoint as
a signed JSON POST (the signature verifies with the secret shown once); a 500 or a
timeout is retried with the same Tandem-Delivery id and body until a 2xx; each
(event, endpoint) has its own stable id; the delivery log shows attempts and
outcomes, and the metric counts them; loopback, private, link-local and ::1
addresses are refused without TANDEM_WEBHOOK_ALLOW_PRIVATE, at registration and at
delivery time; an event written while the gateway is down is delivered after it
starts again. Retries use TANDEM_WEBHOOK_RETRY_BASE_MS=200 to stay fast.
"""
import hashlib
import hmac
import json
import time
import unittest
import urllib.error
import urllib.request
import uuid

import harness

RETRY_BASE_MS = "200"
EVENT = "participant.enrolled"


def wait_for(pred, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def verify(secret, headers, body):
    sig = dict(p.split("=", 1) for p in headers["Tandem-Signature"].split(","))
    mac = hmac.new(secret.encode(), sig["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, sig["v1"]) and abs(time.time() - int(sig["t"])) < 120


class Webhooks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = harness.Stack("wh")
        cls.receiver = harness.WebhookReceiver()
        cls.stack.start("enrolment")
        cls.stack.start("matching")  # ErasePerson asks both
        cls.stack.start("feedback")
        cls.start_gateway()
        cls.root = cls.stack.bootstrap_key

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()
        cls.receiver.close()

    @classmethod
    def start_gateway(cls, allow_private="1", key="k" * 32, previous_key=None):
        env = {"TANDEM_WEBHOOK_RETRY_BASE_MS": RETRY_BASE_MS,
               "TANDEM_WEBHOOK_ALLOW_PRIVATE": allow_private,
               "TANDEM_WEBHOOK_SECRET_KEY": key,
               "TANDEM_RATE_LIMIT_RPS": "1000"}
        if previous_key is not None:
            env["TANDEM_WEBHOOK_SECRET_KEY_PREVIOUS"] = previous_key
        cls.stack.start("gateway", extra_env=env, wait=False)
        # Ready needs every service; this stack runs enrolment only, so wait for the API.
        wait_for(lambda: cls.try_call("GET", "/v1/tenants", key=cls.stack.bootstrap_key) == 200,
                 60, "the gateway")

    @classmethod
    def try_call(cls, *args, **kw):
        try:
            return cls.call(*args, **kw)[0]
        except OSError:
            return None

    @classmethod
    def call(cls, method, path, body=None, key=None, tenant=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request("http://%s%s" % (cls.stack.addr("gateway"), path),
                                     data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        req.add_header("Authorization", "Bearer " + (key or cls.stack.bootstrap_key))
        if tenant is not None:
            req.add_header("X-Tandem-Tenant", tenant)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def ok(self, *args, **kw):
        status, body = self.call(*args, **kw)
        self.assertEqual(status, 200, body)
        return body

    def tenant(self):
        """A fresh tenant with an ENROLLING programme: (tenant id, programme id)."""
        slug = "wh-" + uuid.uuid4().hex[:10]
        t = self.ok("POST", "/v1/tenants", {"name": "Firm", "slug": slug})
        p = self.ok("POST", "/v1/programmes", {"name": "Reverse", "kind": "REVERSE",
                                               "status": "ENROLLING"}, tenant=t["id"])
        if p.get("status") != "ENROLLING":
            p = self.ok("PATCH", "/v1/programmes/%s?updateMask=status" % p["id"],
                        {"status": "ENROLLING"}, tenant=t["id"])
        return t["id"], p["id"]

    def enrol(self, tenant, programme):
        return self.ok("POST", "/v1/programmes/%s/participants" % programme,
                       {"externalId": "e-" + uuid.uuid4().hex[:8], "displayName": "Ada",
                        "role": "MENTEE"}, tenant=tenant)

    def enrol_directly(self, tenant, programme, external_id):
        """Enrol through tandem-enrolment's gRPC API, as the gateway would (for when no
        gateway runs): the Participant."""
        from tandem.v1 import common_pb2, enrolment_pb2 as P
        ch = self.stack.channel("enrolment")
        try:
            enrol = ch.unary_unary("/tandem.v1.EnrolmentService/Enrol",
                                   request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=P.Participant.FromString)
            return enrol(P.EnrolRequest(programme_id=programme, participant=P.Participant(
                external_id=external_id, display_name="Bo", role=common_pb2.MENTOR)),
                metadata=harness.Stack.context(tenant), timeout=10)
        finally:
            ch.close()

    def webhook(self, tenant, path, events=(EVENT,)):
        return self.ok("POST", "/v1/webhooks", {"url": self.receiver.url(path),
                                                "events": list(events)}, tenant=tenant)

    def deliveries(self, tenant, webhook_id):
        return self.ok("GET", "/v1/webhooks/%s/deliveries" % webhook_id,
                       tenant=tenant).get("webhookDeliveries", [])

    def settled(self, tenant, webhook_id, n=1):
        def done():
            ds = self.deliveries(tenant, webhook_id)
            return ds if len(ds) >= n and all(d["status"] != "PENDING" for d in ds) else None
        return wait_for(done, 60, "deliveries to settle")

    # ---- the tests --------------------------------------------------------------------

    def test_delivery_is_signed_and_carries_the_event(self):
        tenant, programme = self.tenant()
        path = "/signed-" + uuid.uuid4().hex
        w = self.webhook(tenant, path)
        self.assertTrue(w["secret"].startswith("whsec_"))
        self.assertEqual(len(w["secret"]), 49)
        listed = self.ok("GET", "/v1/webhooks", tenant=tenant)["webhooks"]
        self.assertEqual([x["id"] for x in listed], [w["id"]])
        self.assertNotIn("secret", listed[0])
        p = self.enrol(tenant, programme)
        got = wait_for(lambda: self.receiver.at(path), 30, "the delivery")
        r = got[0]
        self.assertEqual(r["headers"]["Tandem-Event"], EVENT)
        self.assertEqual(r["headers"]["Content-Type"], "application/json")
        self.assertTrue(verify(w["secret"], r["headers"], r["body"]))
        self.assertFalse(verify("whsec_wrong", r["headers"], r["body"]))
        body = json.loads(r["body"])
        self.assertEqual(body["type"], EVENT)
        self.assertEqual(body["tenantId"], tenant)
        self.assertEqual(body["data"]["participant"]["id"], p["id"])
        self.assertTrue(body["createTime"].endswith("Z"))
        uuid.UUID(body["id"])
        ds = self.settled(tenant, w["id"])
        self.assertEqual(ds[0]["status"], "SUCCEEDED")
        self.assertEqual(ds[0]["id"], r["headers"]["Tandem-Delivery"])
        self.assertEqual(ds[0]["eventId"], body["id"])
        self.assertEqual(ds[0]["attemptCount"], 1)
        self.assertEqual(ds[0]["lastStatusCode"], 200)
        # Another tenant sees neither the webhook nor its deliveries.
        other, _ = self.tenant()
        self.assertEqual(self.call("GET", "/v1/webhooks/%s/deliveries" % w["id"],
                                   tenant=other)[0], 404)
        self.assertEqual(self.ok("GET", "/v1/webhooks", tenant=other).get("webhooks", []), [])
        _, metrics = self.stack.http("gateway", "/metrics")
        self.assertIn('tandem_webhook_deliveries_total{outcome="succeeded"}', metrics)

    def test_500s_are_retried_with_the_same_delivery_id(self):
        tenant, programme = self.tenant()
        path = "/flaky-" + uuid.uuid4().hex
        self.receiver.scripts[path] = ["500", "503"]
        w = self.webhook(tenant, path)
        self.enrol(tenant, programme)
        got = wait_for(lambda: len(self.receiver.at(path)) >= 3 and self.receiver.at(path), 30,
                       "three attempts")
        self.assertEqual(len({r["headers"]["Tandem-Delivery"] for r in got}), 1)
        self.assertEqual(len({r["body"] for r in got}), 1)
        for r in got:
            self.assertTrue(verify(w["secret"], r["headers"], r["body"]))
        # Exponential backoff from the test's base of 200 ms: the second gap is longer
        # than the first could be at most (base), and both are well under 5 s.
        gaps = [b["time"] - a["time"] for a, b in zip(got, got[1:])]
        self.assertLess(gaps[0], 5)
        self.assertGreater(gaps[1], 0.19)
        ds = self.settled(tenant, w["id"])
        self.assertEqual((ds[0]["status"], ds[0]["attemptCount"], ds[0]["lastStatusCode"]),
                         ("SUCCEEDED", 3, 200))
        time.sleep(1)
        self.assertEqual(len(self.receiver.at(path)), 3)  # no delivery after a 2xx

    def test_a_timeout_is_retried(self):
        tenant, programme = self.tenant()
        path = "/slow-" + uuid.uuid4().hex
        self.receiver.scripts[path] = ["sleep"]
        w = self.webhook(tenant, path)
        self.enrol(tenant, programme)
        wait_for(lambda: len(self.receiver.at(path)) >= 2, 40, "the retry after the timeout")
        got = self.receiver.at(path)
        self.assertEqual(got[0]["headers"]["Tandem-Delivery"], got[1]["headers"]["Tandem-Delivery"])
        self.assertGreaterEqual(got[1]["time"] - got[0]["time"], 9.5)
        ds = self.settled(tenant, w["id"])
        self.assertEqual(ds[0]["status"], "SUCCEEDED")
        self.assertEqual(ds[0]["attemptCount"], 2)

    def test_delivery_ids_are_unique_per_event_and_endpoint(self):
        tenant, programme = self.tenant()
        a, b = "/a-" + uuid.uuid4().hex, "/b-" + uuid.uuid4().hex
        wa, wb = self.webhook(tenant, a), self.webhook(tenant, b)
        self.assertNotEqual(wa["secret"], wb["secret"])
        self.enrol(tenant, programme)
        self.enrol(tenant, programme)
        wait_for(lambda: len(self.receiver.at(a)) >= 2 and len(self.receiver.at(b)) >= 2, 30,
                 "four deliveries")
        ids = [r["headers"]["Tandem-Delivery"] for r in self.receiver.at(a) + self.receiver.at(b)]
        self.assertEqual(len(set(ids)), 4)
        events = [json.loads(r["body"])["id"] for r in self.receiver.at(a)]
        self.assertEqual(sorted(events),
                         sorted(json.loads(r["body"])["id"] for r in self.receiver.at(b)))
        # Deleting an endpoint stops its deliveries; the other keeps getting them.
        self.ok("DELETE", "/v1/webhooks/%s" % wa["id"], tenant=tenant)
        self.assertEqual(self.call("GET", "/v1/webhooks/%s/deliveries" % wa["id"],
                                   tenant=tenant)[0], 404)
        self.enrol(tenant, programme)
        wait_for(lambda: len(self.receiver.at(b)) >= 3, 30, "the third delivery")
        time.sleep(1)
        self.assertEqual(len(self.receiver.at(a)), 2)

    def test_grpc_door_serves_the_same_service(self):
        from tandem.v1 import webhook_pb2 as W
        tenant, _ = self.tenant()
        w = self.webhook(tenant, "/grpc-" + uuid.uuid4().hex)
        ch = self.stack.channel("gateway")
        try:
            call = ch.unary_unary("/tandem.v1.WebhookService/ListWebhooks",
                                  request_serializer=lambda m: m.SerializeToString(),
                                  response_deserializer=W.ListWebhooksResponse.FromString)
            r = call(W.ListWebhooksRequest(), timeout=10,
                     metadata=[("authorization", "Bearer " + self.root),
                               ("x-tandem-tenant", tenant)])
        finally:
            ch.close()
        self.assertEqual([x.id for x in r.webhooks], [w["id"]])
        self.assertEqual(r.webhooks[0].secret, "")

    def test_erasure_cancels_undelivered_webhooks_and_redacts_the_events(self):
        tenant, programme = self.tenant()
        path = "/down-" + uuid.uuid4().hex
        self.receiver.scripts[path] = ["500"] * 1000
        w = self.webhook(tenant, path)
        ext = "erase-" + uuid.uuid4().hex[:8]
        person = self.ok("POST", "/v1/programmes/%s/participants" % programme,
                         {"externalId": ext, "displayName": "Grace Hopper",
                          "email": "grace@example.com", "role": "MENTEE"}, tenant=tenant)
        other = self.enrol(tenant, programme)

        def attempts(pid):
            return [r for r in self.receiver.at(path)
                    if json.loads(r["body"])["data"]["participant"]["id"] == pid]
        first = wait_for(lambda: attempts(person["id"]), 30, "a failed attempt")[0]
        self.assertIn(b"grace@example.com", first["body"])
        event_id = json.loads(first["body"])["id"]
        wait_for(lambda: attempts(other["id"]), 30, "the other person's attempt")

        self.ok("POST", "/v1/people/%s:erase" % ext, {}, tenant=tenant)

        def delivery(eid):
            for d in self.deliveries(tenant, w["id"]):
                if d["eventId"] == eid:
                    return d
            return None
        cancelled = wait_for(lambda: (delivery(event_id) or {}).get("status") == "FAILED"
                             and delivery(event_id), 30, "the delivery to be cancelled")
        self.assertIn("erased", cancelled["lastError"])
        tried = len(attempts(person["id"]))
        time.sleep(2)  # retries of the test's 200 ms base would have come by now
        self.assertLessEqual(len(attempts(person["id"])), tried + 1)  # one may be in flight
        # The other person's delivery is untouched: still retried.
        other_event = json.loads(attempts(other["id"])[0]["body"])["id"]
        self.assertEqual(delivery(other_event)["status"], "PENDING")
        # The outbox keeps ids and role only; a person.erased event was written.
        payloads = harness.psql(self.stack.super_url,
                                "SELECT payload::text FROM enrolment.outbox"
                                " WHERE resource_id = '%s'" % person["id"])
        self.assertNotIn("grace", payloads.lower())
        self.assertIn('"role": "MENTEE"', payloads)
        erased = harness.psql(self.stack.super_url,
                              "SELECT count(*) FROM enrolment.outbox WHERE type = 'person.erased'"
                              " AND payload->'participantIds' ? '%s'" % person["id"])
        self.assertEqual(erased, "1")
        # A second erasure finds no one and writes no second event.
        self.ok("POST", "/v1/people/%s:erase" % ext, {}, tenant=tenant)
        self.receiver.scripts[path] = []  # let the other delivery through

    def test_update_changes_url_and_events(self):
        tenant, programme = self.tenant()
        before, after = "/before-" + uuid.uuid4().hex, "/after-" + uuid.uuid4().hex
        w = self.webhook(tenant, before)
        self.assertEqual(w["state"], "ACTIVE")
        u = self.ok("PATCH", "/v1/webhooks/%s?updateMask=url" % w["id"],
                    {"url": self.receiver.url(after)}, tenant=tenant)
        self.assertEqual((u["id"], u["url"], u["events"]), (w["id"], self.receiver.url(after),
                                                             [EVENT]))
        self.assertNotIn("secret", u)
        self.enrol(tenant, programme)
        got = wait_for(lambda: self.receiver.at(after), 30, "the delivery to the new url")
        self.assertTrue(verify(w["secret"], got[0]["headers"], got[0]["body"]))  # same secret
        self.assertEqual(self.receiver.at(before), [])
        # events (and description) by the mask; fields outside it are kept
        u = self.ok("PATCH", "/v1/webhooks/%s?updateMask=events,description" % w["id"],
                    {"url": "https://ignored.example/", "events": ["participant.withdrawn"],
                     "description": "leavers"}, tenant=tenant)
        self.assertEqual((u["url"], u["events"], u["description"]),
                         (self.receiver.url(after), ["participant.withdrawn"], "leavers"))
        for query, body, field in (("?updateMask=secret", {}, "update_mask"),
                                   ("?updateMask=events", {"events": ["nope"]},
                                    "webhook.events[0]"),
                                   ("?updateMask=url", {"url": "ftp://x.example/"},
                                    "webhook.url"),
                                   ("", {"url": self.receiver.url(after)}, "webhook.events")):
            status, err = self.call("PATCH", "/v1/webhooks/%s%s" % (w["id"], query), body,
                                    tenant=tenant)
            self.assertEqual(status, 400, (query, body, err))
            self.assertIn(field, [d["field"] for d in err["details"]])
        other, _ = self.tenant()
        self.assertEqual(self.call("PATCH", "/v1/webhooks/%s?updateMask=url" % w["id"],
                                   {"url": self.receiver.url(before)}, tenant=other)[0], 404)
        self.assertEqual(self.call("PATCH", "/v1/webhooks/%s?updateMask=url" % uuid.uuid4(),
                                   {"url": self.receiver.url(before)}, tenant=tenant)[0], 404)

    def test_an_endpoint_failing_for_72_hours_is_disabled_until_updated(self):
        tenant, programme = self.tenant()
        path = "/dead-" + uuid.uuid4().hex
        self.receiver.scripts[path] = ["500"] * 1000
        w = self.webhook(tenant, path)
        self.enrol(tenant, programme)
        wait_for(lambda: self.receiver.at(path), 30, "a failed attempt")
        # Its attempts have failed for 73 hours, as far as the database knows.
        harness.psql(self.stack.super_url,
                     "UPDATE gateway.webhooks SET failing_since = now() - interval '73 hours'"
                     " WHERE id = '%s'" % w["id"])

        def state():
            return self.ok("GET", "/v1/webhooks", tenant=tenant)["webhooks"][0]["state"]
        wait_for(lambda: state() == "DISABLED", 30, "the endpoint to be disabled")
        ds = self.settled(tenant, w["id"])
        self.assertEqual(ds[0]["status"], "FAILED")
        self.assertIn("disabled", ds[0]["lastError"])
        # No event is queued for a disabled endpoint, nor sent.
        tried = len(self.receiver.at(path))
        self.enrol(tenant, programme)
        time.sleep(3)
        self.assertEqual(len(self.receiver.at(path)), tried)
        self.assertEqual(len(self.deliveries(tenant, w["id"])), 1)
        # UpdateWebhook re-enables it; events from then on are delivered.
        self.receiver.scripts[path] = []
        u = self.ok("PATCH", "/v1/webhooks/%s?updateMask=url" % w["id"],
                    {"url": self.receiver.url(path)}, tenant=tenant)
        self.assertEqual(u["state"], "ACTIVE")
        self.enrol(tenant, programme)
        wait_for(lambda: len(self.receiver.at(path)) > tried, 30, "a delivery once re-enabled")
        ds = self.settled(tenant, w["id"], 2)
        self.assertEqual(ds[0]["status"], "SUCCEEDED")
        self.assertEqual(state(), "ACTIVE")

    def test_registration_is_validated(self):
        tenant, _ = self.tenant()
        for body, field in (({"url": "ftp://example.com/", "events": [EVENT]}, "webhook.url"),
                            ({"url": "https://example.com/", "events": []}, "webhook.events"),
                            ({"url": "https://example.com/", "events": ["nope"]},
                             "webhook.events[0]"),
                            ({"url": "https://example.com/", "events": [EVENT, EVENT]},
                             "webhook.events[1]")):
            status, err = self.call("POST", "/v1/webhooks", body, tenant=tenant)
            self.assertEqual(status, 400, body)
            self.assertIn(field, [d["field"] for d in err["details"]])
        # admin only
        key = self.ok("POST", "/v1/tenants/%s/apiKeys" % tenant,
                      {"displayName": "w", "scopes": ["enrolment:write"], "kind": "TENANT"})
        self.assertEqual(self.call("GET", "/v1/webhooks", key=key["secret"])[0], 403)

    def test_z_private_addresses_are_refused_without_allow_private(self):
        tenant, programme = self.tenant()
        path = "/later-" + uuid.uuid4().hex
        # Registered while private addresses are allowed: plain http, and https to the
        # receiver's loopback port (refused at connect, before any TLS).
        w = self.webhook(tenant, path)
        ws = self.ok("POST", "/v1/webhooks", {"url": "https://127.0.0.1:%d/tls" %
                                              self.receiver.port, "events": [EVENT]},
                     tenant=tenant)
        self.stack.stop("gateway")
        try:
            self.start_gateway(allow_private="0")
            for url in ("https://127.0.0.1/hook", "https://10.1.2.3/hook",
                        "https://169.254.169.254/latest", "https://[::1]/hook",
                        "https://192.168.0.10/", "https://localhost/hook",
                        "http://example.com/hook"):
                status, err = self.call("POST", "/v1/webhooks", {"url": url, "events": [EVENT]},
                                        tenant=tenant)
                self.assertEqual(status, 400, (url, err))
                self.assertEqual(err["details"][0]["field"], "webhook.url", url)
            # At delivery time, the address connected to is checked again.
            self.enrol(tenant, programme)

            def refused(webhook_id):
                ds = self.deliveries(tenant, webhook_id)
                return ds and ds[0].get("attemptCount", 0) >= 1 and ds  # 0 is omitted in JSON
            ds = wait_for(lambda: refused(ws["id"]), 30, "a refused attempt")
            self.assertEqual(ds[0]["status"], "PENDING")
            self.assertIn("refused: 127.0.0.1", ds[0]["lastError"])
            ds = wait_for(lambda: refused(w["id"]), 30, "a refused http attempt")
            self.assertEqual(ds[0]["status"], "PENDING")
            self.assertEqual(self.receiver.at(path), [])
            _, metrics = self.stack.http("gateway", "/metrics")
            self.assertIn('tandem_webhook_deliveries_total{outcome="blocked"}', metrics)
        finally:
            self.stack.stop("gateway")
            self.start_gateway()
        wait_for(lambda: self.receiver.at(path), 30, "the delivery once allowed")

    def test_z_key_rotation_seals_secrets_again_and_signatures_still_verify(self):
        tenant, programme = self.tenant()
        path = "/rotate-" + uuid.uuid4().hex
        w = self.webhook(tenant, path)

        def sealed():
            return harness.psql(self.stack.super_url,
                                "SELECT encode(secret_sealed, 'hex') FROM gateway.webhooks"
                                " WHERE id = '%s'" % w["id"])
        before = sealed()
        self.assertTrue(before.startswith("01"))  # AES-256-GCM under the suite's key
        new_key = "n" * 32
        try:
            self.stack.stop("gateway")
            self.start_gateway(key=new_key, previous_key="k" * 32)
            wait_for(lambda: sealed() != before, 30, "the secret to be sealed again")
            self.stack.stop("gateway")
            self.start_gateway(key=new_key)  # the old key is gone now
            self.enrol(tenant, programme)
            got = wait_for(lambda: self.receiver.at(path), 30, "the delivery")
            self.assertTrue(verify(w["secret"], got[0]["headers"], got[0]["body"]))
        finally:
            self.stack.stop("gateway")
            self.start_gateway()

    def test_z_nothing_is_lost_while_the_gateway_is_down(self):
        tenant, programme = self.tenant()
        path = "/restart-" + uuid.uuid4().hex
        self.webhook(tenant, path)
        self.stack.stop("gateway")
        try:
            # The event is written (with its change) while no gateway runs.
            p = self.enrol_directly(tenant, programme, "down-1")
        finally:
            self.start_gateway()
        got = wait_for(lambda: self.receiver.at(path), 30, "the delivery after the restart")
        self.assertEqual(json.loads(got[0]["body"])["data"]["participant"]["id"], p.id)

    def test_z_outbox_rows_past_retention_are_deleted_once_fanned_out(self):
        tenant, programme = self.tenant()
        path = "/retention-" + uuid.uuid4().hex
        w = self.webhook(tenant, path)
        old = self.enrol(tenant, programme)
        recent = self.enrol(tenant, programme)
        wait_for(lambda: len(self.receiver.at(path)) >= 2, 30, "both deliveries")
        self.stack.stop("gateway")
        try:
            unsent = self.enrol_directly(tenant, programme, "unsent-1")
            # Two rows older than the default week: one fanned out, one not yet (and a
            # webhook older still, which sees only events after its creation).
            harness.psql(self.stack.super_url,
                         "UPDATE enrolment.outbox SET create_time = now() - interval '200 hours'"
                         " WHERE resource_id IN ('%s', '%s');"
                         " UPDATE gateway.webhooks SET create_time = now() - interval '300 hours'"
                         " WHERE id = '%s'" % (old["id"], unsent.id, w["id"]))
        finally:
            self.start_gateway()

        def rows(pid):
            return harness.psql(self.stack.super_url,
                                "SELECT count(*) FROM enrolment.outbox WHERE resource_id = '%s'"
                                % pid)
        # The retention pass runs 5 s after start: the fanned-out old row goes; the
        # old row not fanned out yet is delivered first (nothing is lost); the recent
        # row stays.
        wait_for(lambda: rows(old["id"]) == "0", 30, "the old row to be deleted")
        got = wait_for(lambda: [r for r in self.receiver.at(path)
                                if json.loads(r["body"])["data"]["participant"]["id"] == unsent.id],
                       30, "the delivery of the row written while the gateway was down")
        self.assertEqual(len(got), 1)
        self.assertEqual(rows(recent["id"]), "1")
        _, log = self.stack.http("gateway", "/healthz")  # still serving


if __name__ == "__main__":
    unittest.main()
