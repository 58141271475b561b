"""The public edge: hostile clients against the real gateway (API.md "The public edge").

tandem-gateway and tandem-enrolment run on a scratch database (harness.Stack). Each
attack runs while a legitimate client keeps calling through the gateway; every
legitimate call must succeed and the gateway's peak resident memory (VmHWM) must
stay under the stated bound. Messages are raw bytes, so nothing here depends on
generated Python code: `78 00` is field 15 as a varint 0 (unknown to every
message), `12 00` an empty BatchEnrol row.
"""
import json
import sys
import os
import secrets
import threading
import time
import unittest
import urllib.error
import urllib.request
import uuid

import grpc

import harness

PEAK_RSS_LIMIT_KB = 128 * 1024
MIB = 1024 * 1024


def peak_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM for %d" % pid)


def random_key():
    """A well-formed key nobody issued: it costs the gateway a directory lookup."""
    return "tdm_" + secrets.token_urlsafe(32)[:43]


class Edge(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = harness.Stack("edge")
        cls.stack.start("enrolment")
        # Matching and feedback are not running, so the gateway never turns ready:
        # wait until it answers with the bootstrap key instead.
        cls.stack.start("gateway", extra_env={"TANDEM_RATE_LIMIT_RPS": "1000",
                                              "TANDEM_RATE_LIMIT_BURST": "1000"}, wait=False)
        cls.root = cls.stack.bootstrap_key
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if cls.call("GET", "/v1/tenants", key=cls.root, timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        slug = "edge-%s" % uuid.uuid4().hex[:8]
        status, cls.tenant = cls.call("POST", "/v1/tenants", {"name": "edge", "slug": slug},
                                      key=cls.root)
        assert status == 200, (status, cls.tenant)
        cls.pid = cls.stack.procs["gateway"].pid

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    @classmethod
    def call(cls, method, path, body=None, key=None, tenant=None, timeout=30):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request("http://%s%s" % (cls.stack.addr("gateway"), path),
                                     data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if key is not None:
            req.add_header("Authorization", "Bearer " + key)
        if tenant is not None:
            req.add_header("X-Tandem-Tenant", tenant)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw or b"{}")
            except ValueError:
                return e.code, {"raw": raw.decode(errors="replace")}

    def legitimate_client(self, stop, results):
        """ListProgrammes over gRPC with the bootstrap key, on its own connection,
        until told to stop: every answer is recorded."""
        channel = self.stack.channel("gateway")
        list_programmes = channel.unary_unary("/tandem.v1.EnrolmentService/ListProgrammes")
        md = [("authorization", "Bearer " + self.root), ("x-tandem-tenant", self.tenant["id"])]
        while not stop.is_set():
            started = time.monotonic()
            try:
                list_programmes(b"", metadata=md, timeout=30)
                results.append(("OK", time.monotonic() - started))
            except grpc.RpcError as e:
                results.append((e.code().name, time.monotonic() - started))
            time.sleep(0.05)
        channel.close()

    def attack_while_serving(self, attack):
        """Run attack() with a legitimate client calling alongside; return the
        legitimate results and the gateway's peak RSS."""
        stop = threading.Event()
        results = []
        legit = threading.Thread(target=self.legitimate_client, args=(stop, results))
        legit.start()
        try:
            attack()
        finally:
            time.sleep(0.5)
            stop.set()
            legit.join(60)
        peak = peak_rss_kb(self.pid)
        sys.stderr.write("%s: gateway peak RSS %d KiB, %d legitimate calls\n" %
                         (self.id(), peak, len(results)))
        return results, peak

    def unauthenticated_grpc(self, path, payload, calls, channels):
        """`calls` concurrent calls of `payload`, half without a key and half with
        random keys, spread over `channels` connections; returns their codes."""
        chans = [grpc.insecure_channel(self.stack.addr("gateway"), options=[
            ("grpc.max_send_message_length", 64 * MIB)]) for _ in range(channels)]
        futures = []
        for i in range(calls):
            stub = chans[i % channels].unary_unary(path)
            md = [] if i % 2 == 0 else [("authorization", "Bearer " + random_key())]
            md.append(("x-tandem-tenant", self.tenant["id"]))
            futures.append(stub.future(payload, metadata=md, timeout=120))
        codes = []
        for f in futures:
            try:
                f.result()
                codes.append("OK")
            except grpc.RpcError as e:
                codes.append(e.code().name)
        for c in chans:
            c.close()
        return codes

    def assert_served(self, results):
        self.assertGreater(len(results), 0, "the legitimate client made no call")
        failed = [r for r in results if r[0] != "OK"]
        self.assertEqual(failed, [], "legitimate calls failed during the attack")

    def test_unknown_field_amplification_without_a_key(self):
        """64 concurrent unauthenticated gRPC calls of 4 MiB of unknown fields."""
        payload = b"\x78\x00" * (2 * MIB)
        codes = []

        def attack():
            codes.extend(self.unauthenticated_grpc(
                "/tandem.v1.EnrolmentService/ListProgrammes", payload, 64, 8))

        results, peak = self.attack_while_serving(attack)
        self.assertEqual(set(codes), {"UNAUTHENTICATED"}, codes)
        self.assertLess(peak, PEAK_RSS_LIMIT_KB, "peak RSS %d KiB" % peak)
        self.assert_served(results)

    def test_batch_enrol_of_empty_rows_without_a_key(self):
        """16 concurrent unauthenticated 32 MiB BatchEnrol messages of empty rows."""
        payload = b"\x12\x00" * (16 * MIB)
        codes = []

        def attack():
            codes.extend(self.unauthenticated_grpc(
                "/tandem.v1.EnrolmentService/BatchEnrol", payload, 16, 4))

        results, peak = self.attack_while_serving(attack)
        self.assertEqual(set(codes), {"UNAUTHENTICATED"}, codes)
        self.assertLess(peak, PEAK_RSS_LIMIT_KB, "peak RSS %d KiB" % peak)
        self.assert_served(results)

    def test_a_client_that_writes_its_whole_body_first_sees_the_413(self):
        """A 5 MiB body (the limit is 1 MiB) sent in full before reading, as urllib
        and http.client do: the answer is 413, not a connection reset."""
        import http.client
        body = b"{" + b" " * (5 * MIB) + b"}"
        for attempt in range(3):
            req = urllib.request.Request("http://%s/v1/programmes" % self.stack.addr("gateway"),
                                         data=body, method="POST")
            req.add_header("Content-Type", "application/json")
            req.add_header("Authorization", "Bearer " + self.root)
            with self.assertRaises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(req, timeout=30)
            self.assertEqual(err.exception.code, 413)
            host, port = self.stack.addr("gateway").split(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            conn.request("POST", "/v1/programmes", body=body,
                         headers={"Content-Type": "application/json"})
            self.assertEqual(conn.getresponse().status, 413)
            conn.close()

    def test_forwarded_bytes_keep_unknown_fields_and_answers(self):
        """With a key, a message is forwarded as received: an unknown field does
        not stop it, and the service's answer comes back whole."""
        channel = self.stack.channel("gateway")
        stub = channel.unary_unary("/tandem.v1.EnrolmentService/ListProgrammes")
        md = [("authorization", "Bearer " + self.root), ("x-tandem-tenant", self.tenant["id"])]
        stub(b"\x78\x00" * 8, metadata=md, timeout=30)
        channel.close()


if __name__ == "__main__":
    unittest.main()
