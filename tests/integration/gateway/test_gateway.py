"""The gateway through its public door, with tandem-enrolment and PostgreSQL.

Proves: the bootstrap key works; tenants and keys are created and secrets shown once;
each scope admits exactly its route class; a tenant's key never reaches another
tenant's data (404, data unchanged); revocation applies to the next request; a key
over its rate limit gets 429 with Retry-After while another key is unaffected;
malformed HTTP is refused and the process stays healthy; gRPC goes through the
gateway with `authorization` metadata.
"""
import socket
import time
import unittest
import urllib.error
import urllib.request
import uuid

import harness


class Gateway(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = harness.Stack("gw")
        cls.stack.start("enrolment")
        cls.stack.start("gateway", extra_env={"TANDEM_RATE_LIMIT_RPS": "1000",
                                              "TANDEM_RATE_LIMIT_BURST": "1000"}, wait=False)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if cls.stack.http("gateway", "/healthz")[0] == 200:
                    status, _ = cls.call("GET", "/v1/tenants", key=cls.stack.bootstrap_key)
                    if status == 200:
                        break
            except OSError:
                pass
            time.sleep(0.2)
        cls.root = cls.stack.bootstrap_key
        cls.tenant_a = cls.make_tenant("firm-a")
        cls.tenant_b = cls.make_tenant("firm-b")

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    @classmethod
    def call(cls, method, path, body=None, key=None, tenant=None, headers=None):
        return harness.rest(cls.stack.addr("gateway"), method, path, body, key=key,
                            tenant=tenant, headers=headers)

    @classmethod
    def make_tenant(cls, prefix):
        slug = "%s-%s" % (prefix, uuid.uuid4().hex[:8])
        status, t = cls.call("POST", "/v1/tenants", {"name": prefix, "slug": slug}, key=cls.root)
        assert status == 200, (status, t)
        return t

    def make_key(self, tenant, scopes, kind="TENANT", rate=None):
        body = {"displayName": "test", "scopes": scopes, "kind": kind}
        if rate:
            body["rateLimit"] = rate
        status, k = self.call("POST", "/v1/tenants/%s/apiKeys" % tenant["id"], body, key=self.root)
        self.assertEqual(status, 200, k)
        self.assertTrue(k["secret"].startswith("tdm_"))
        return k

    def test_missing_and_invalid_keys_are_unauthenticated(self):
        for key in (None, "tdm_" + "x" * 43):
            status, body = self.call("GET", "/v1/programmes", key=key)
            self.assertEqual(status, 401)
            self.assertEqual(body["code"], 16)

    def test_secret_is_shown_once(self):
        k = self.make_key(self.tenant_a, ["enrolment:read"])
        status, page = self.call("GET", "/v1/tenants/%s/apiKeys" % self.tenant_a["id"],
                                 key=self.root)
        self.assertEqual(status, 200)
        listed = [x for x in page["apiKeys"] if x["id"] == k["id"]]
        self.assertEqual(len(listed), 1)
        self.assertNotIn("secret", listed[0])

    def test_each_scope_admits_its_route_class(self):
        read = self.make_key(self.tenant_a, ["enrolment:read"])["secret"]
        write = self.make_key(self.tenant_a, ["enrolment:write"])["secret"]
        other = self.make_key(self.tenant_a, ["matching:read"])["secret"]
        self.assertEqual(self.call("GET", "/v1/programmes", key=read)[0], 200)
        self.assertEqual(self.call("GET", "/v1/programmes", key=write)[0], 403)
        self.assertEqual(self.call("GET", "/v1/programmes", key=other)[0], 403)
        self.assertEqual(self.call("POST", "/v1/programmes", {"name": "x"}, key=read)[0], 403)
        self.assertNotIn(self.call("POST", "/v1/programmes", {"name": "p", "kind": "REVERSE"},
                                   key=write)[0], (401, 403))
        # ExportPerson needs admin.
        self.assertEqual(self.call("GET", "/v1/people/nobody:export", key=read)[0], 403)
        # TenantService is for platform keys.
        self.assertEqual(self.call("GET", "/v1/tenants", key=read)[0], 403)

    def test_scope_matrix_over_every_route_class(self):
        # (method, path, body, scope that admits it); matching and feedback are not
        # running here, so an admitted call to them ends 503, never 401/403.
        pid = str(uuid.uuid4())
        routes = [
            ("GET", "/v1/programmes", None, "enrolment:read"),
            ("POST", "/v1/programmes", {"name": "m", "kind": "PEER"}, "enrolment:write"),
            ("GET", "/v1/matchingRuns/%s" % pid, None, "matching:read"),
            ("POST", "/v1/programmes/%s/matchingRuns" % pid, {}, "matching:write"),
            ("GET", "/v1/programmes/%s/report" % pid, None, "feedback:read"),
            ("POST", "/v1/matches/%s/checkIns" % pid, {}, "feedback:write"),
            ("GET", "/v1/people/nobody:export", None, "admin"),
        ]
        scopes = ["enrolment:read", "enrolment:write", "matching:read", "matching:write",
                  "feedback:read", "feedback:write", "admin"]
        keys = {sc: self.make_key(self.tenant_a, [sc])["secret"] for sc in scopes}
        for method, path, body, needed in routes:
            for sc, secret in keys.items():
                status, err = self.call(method, path, body, key=secret)
                with self.subTest(route=path, method=method, scope=sc):
                    if sc == needed or sc == "admin":
                        self.assertNotIn(status, (401, 403), err)
                    else:
                        self.assertEqual(status, 403, err)
                        self.assertEqual(err["code"], 7)

    def test_platform_key_must_name_an_existing_tenant(self):
        status, body = self.call("GET", "/v1/programmes", key=self.root)
        self.assertEqual(status, 400)
        self.assertEqual(body["details"][0]["field"], "X-Tandem-Tenant")
        self.assertEqual(self.call("GET", "/v1/programmes", key=self.root,
                                   tenant="no-such-firm")[0], 404)
        self.assertEqual(self.call("GET", "/v1/programmes", key=self.root,
                                   tenant=self.tenant_a["slug"])[0], 200)
        self.assertEqual(self.call("GET", "/v1/programmes", key=self.root,
                                   tenant=self.tenant_a["id"])[0], 200)

    def test_tenant_key_naming_another_tenant_is_forbidden(self):
        k = self.make_key(self.tenant_a, ["admin"])["secret"]
        for ref in (self.tenant_b["id"], self.tenant_b["slug"]):
            self.assertEqual(self.call("GET", "/v1/programmes", key=k, tenant=ref)[0], 403)
        self.assertEqual(self.call("GET", "/v1/tenants/%s" % self.tenant_b["id"], key=k)[0], 404)
        self.assertEqual(self.call("GET", "/v1/tenants/%s" % self.tenant_a["id"], key=k)[0], 200)

    def test_cross_tenant_ids_are_not_found_and_data_unchanged(self):
        a = self.make_key(self.tenant_a, ["admin"])["secret"]
        b = self.make_key(self.tenant_b, ["admin"])["secret"]
        status, prog = self.call("POST", "/v1/programmes",
                                 {"name": "A programme", "kind": "REVERSE",
                                  "status": "ENROLLING"}, key=a)
        self.assertEqual(status, 200, prog)
        status, person = self.call("POST", "/v1/programmes/%s/participants" % prog["id"],
                                   {"externalId": "e-1", "displayName": "Ada",
                                    "role": "MENTOR"}, key=a)
        self.assertEqual(status, 200, person)
        pid, gid = prog["id"], person["id"]
        attempts = [
            ("GET", "/v1/programmes/%s" % pid, None),
            ("PATCH", "/v1/programmes/%s?updateMask=name" % pid, {"name": "stolen"}),
            ("POST", "/v1/programmes/%s/participants" % pid,
             {"externalId": "e-2", "displayName": "Eve", "role": "MENTEE"}),
            ("POST", "/v1/programmes/%s/participants:batchEnrol" % pid,
             {"participants": [{"externalId": "e-3", "displayName": "Eve", "role": "MENTEE"}]}),
            ("GET", "/v1/programmes/%s/participants" % pid, None),
            ("GET", "/v1/participants/%s" % gid, None),
            ("PATCH", "/v1/participants/%s?updateMask=displayName" % gid, {"displayName": "x"}),
            ("POST", "/v1/participants/%s:withdraw" % gid, {}),
            ("GET", "/v1/people/e-1:export", None),
            ("POST", "/v1/people/e-1:erase", {}),
        ]
        for method, path, body in attempts:
            status, _ = self.call(method, path, body, key=b)
            self.assertEqual(status, 404, (method, path))
        status, again = self.call("GET", "/v1/participants/%s" % gid, key=a)
        self.assertEqual(status, 200)
        self.assertEqual(again["displayName"], "Ada")
        self.assertNotEqual(again.get("status"), "WITHDRAWN")
        self.assertEqual(self.call("GET", "/v1/programmes/%s" % pid, key=a)[1]["name"],
                         "A programme")

    def test_revocation_applies_to_the_next_request(self):
        k = self.make_key(self.tenant_a, ["enrolment:read"])
        self.assertEqual(self.call("GET", "/v1/programmes", key=k["secret"])[0], 200)
        status, revoked = self.call("POST", "/v1/apiKeys/%s:revoke" % k["id"], {}, key=self.root)
        self.assertEqual(status, 200)
        self.assertIn("revokeTime", revoked)
        self.assertEqual(self.call("GET", "/v1/programmes", key=k["secret"])[0], 401)

    def test_rate_limit_answers_429_and_spares_other_keys(self):
        slow = self.make_key(self.tenant_a, ["enrolment:read"],
                             rate={"requestsPerSecond": 1, "burst": 2})["secret"]
        other = self.make_key(self.tenant_a, ["enrolment:read"])["secret"]
        statuses = []
        for _ in range(4):
            req = urllib.request.Request("http://%s/v1/programmes" % self.stack.addr("gateway"))
            req.add_header("Authorization", "Bearer " + slow)
            try:
                with urllib.request.urlopen(req, timeout=5) as r:
                    statuses.append((r.status, None))
            except urllib.error.HTTPError as e:
                statuses.append((e.code, e.headers.get("Retry-After")))
        limited = [s for s in statuses if s[0] == 429]
        self.assertTrue(limited, statuses)
        self.assertGreaterEqual(int(limited[0][1]), 1)
        self.assertEqual(self.call("GET", "/v1/programmes", key=other)[0], 200)

    def test_idempotent_create_tenant_replays(self):
        slug = "idem-%s" % uuid.uuid4().hex[:8]
        h = {"Idempotency-Key": "k-" + slug}
        s1, t1 = self.call("POST", "/v1/tenants", {"name": "I", "slug": slug}, key=self.root,
                           headers=h)
        s2, t2 = self.call("POST", "/v1/tenants", {"name": "I", "slug": slug}, key=self.root,
                           headers=h)
        self.assertEqual((s1, s2), (200, 200))
        self.assertEqual(t1["id"], t2["id"])
        s3, _ = self.call("POST", "/v1/tenants", {"name": "J", "slug": slug}, key=self.root,
                          headers=h)
        self.assertEqual(s3, 409)

    def raw(self, data):
        with socket.create_connection(("127.0.0.1", self.stack.ports["gateway"]), timeout=5) as s:
            s.sendall(data)
            try:
                return s.recv(4096)
            except (ConnectionResetError, socket.timeout):
                return b""

    def test_malformed_http_is_refused_and_the_process_survives(self):
        cases = [
            b"GARBAGE\r\n\r\n",
            b"GET /v1/programmes HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i
                                                         for i in range(5000)) + b"\r\n",
            b"POST /v1/programmes HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
            b"POST /v1/programmes HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"ffffffffffffffffff\r\nabc\r\n",
            b"POST /v1/programmes HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n",
        ]
        for data in cases:
            answer = self.raw(data)
            if answer:
                self.assertRegex(answer.split(b"\r\n", 1)[0], rb"^HTTP/1\.1 4\d\d", data[:40])
        self.assertEqual(self.stack.http("gateway", "/healthz")[0], 200)

    def test_errors_have_the_contract_body(self):
        status, body = self.call("POST", "/v1/tenants", {"name": "", "slug": "X"}, key=self.root)
        self.assertEqual(status, 400)
        self.assertEqual(body["code"], 3)
        fields = {d["field"] for d in body["details"]}
        self.assertIn("tenant.slug", fields)

    def test_request_id_is_echoed_or_generated(self):
        req = urllib.request.Request("http://%s/v1/tenants" % self.stack.addr("gateway"))
        req.add_header("Authorization", "Bearer " + self.root)
        req.add_header("X-Request-Id", "it-req-123")
        with urllib.request.urlopen(req, timeout=10) as r:
            self.assertEqual(r.headers["X-Request-Id"], "it-req-123")
        req = urllib.request.Request("http://%s/v1/tenants" % self.stack.addr("gateway"))
        req.add_header("Authorization", "Bearer " + self.root)
        with urllib.request.urlopen(req, timeout=10) as r:
            self.assertTrue(r.headers["X-Request-Id"])

    def test_metrics_count_requests_by_route_template(self):
        self.call("GET", "/v1/tenants/%s" % self.tenant_a["id"], key=self.root)
        status, body = self.stack.http("gateway", "/metrics")
        self.assertEqual(status, 200)
        self.assertIn('tandem_http_requests_total{route="/v1/tenants/{id}",method="GET",'
                      'status="200"}', body)
        self.assertIn("tandem_http_request_duration_seconds", body)
        self.assertIn("tandem_ratelimit_rejections_total", body)

    def test_openapi_document_is_served(self):
        status, doc = self.call("GET", "/openapi.json")
        self.assertEqual(status, 200)
        self.assertIn("/v1/programmes/{programmeId}/participants:batchEnrol", doc["paths"])

    def test_grpc_through_the_gateway(self):
        import grpc
        from tandem.v1 import enrolment_pb2
        k = self.make_key(self.tenant_a, ["enrolment:read"])["secret"]
        channel = self.stack.channel("gateway")
        list_programmes = channel.unary_unary(
            "/tandem.v1.EnrolmentService/ListProgrammes",
            request_serializer=enrolment_pb2.ListProgrammesRequest.SerializeToString,
            response_deserializer=enrolment_pb2.ListProgrammesResponse.FromString)
        list_programmes(enrolment_pb2.ListProgrammesRequest(),
                        metadata=[("authorization", "Bearer " + k)], timeout=10)
        with self.assertRaises(grpc.RpcError) as err:
            list_programmes(enrolment_pb2.ListProgrammesRequest(), timeout=10)
        self.assertEqual(err.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        create = channel.unary_unary(
            "/tandem.v1.EnrolmentService/CreateProgramme",
            request_serializer=enrolment_pb2.CreateProgrammeRequest.SerializeToString,
            response_deserializer=enrolment_pb2.Programme.FromString)
        with self.assertRaises(grpc.RpcError) as err:
            create(enrolment_pb2.CreateProgrammeRequest(
                programme=enrolment_pb2.Programme(name="x")),
                metadata=[("authorization", "Bearer " + k)], timeout=10)
        self.assertEqual(err.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
        # A forged context is ignored: the key decides.
        forged = harness.Stack.context(self.tenant_b["id"])
        with self.assertRaises(grpc.RpcError) as err:
            list_programmes(enrolment_pb2.ListProgrammesRequest(), metadata=forged, timeout=10)
        self.assertEqual(err.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        channel.close()


if __name__ == "__main__":
    unittest.main()
