"""The four Tandem processes, started as operators start them, against a real
PostgreSQL: each answers grpc.health.v1 with grpcio's C-core client, /healthz,
/readyz and /metrics on its one port, refuses unknown methods and oversized
messages without losing the connection, and drains and exits 0 on SIGTERM.
"""
import os
import signal
import socket
import sys
import time
import unittest
import uuid

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import SERVICES, Stack  # noqa: E402

HEALTH_CHECK = "/grpc.health.v1.Health/Check"
SERVING = b"\x08\x01"  # HealthCheckResponse{status: SERVING}, hand-encoded


def identity(b):
    return b


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class FourProcesses(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack("proc")
        try:
            for svc in SERVICES:
                cls.stack.start(svc, wait=False)
            for svc in SERVICES:
                cls.stack.wait_ready(svc)
        except Exception:
            cls.stack.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    def health(self, channel, service=b""):
        # HealthCheckRequest{service} — field 1, length-delimited.
        request = (b"\x0a" + bytes([len(service)]) + service) if service else b""
        call = channel.unary_unary(HEALTH_CHECK, request_serializer=identity,
                                   response_deserializer=identity)
        return call(request, timeout=5)

    def test_grpcio_gets_serving_from_every_process(self):
        for svc in SERVICES:
            with self.subTest(service=svc), self.stack.channel(svc) as ch:
                self.assertEqual(self.health(ch), SERVING)

    def test_http_health_readiness_and_metrics_on_the_same_port(self):
        for svc in SERVICES:
            with self.subTest(service=svc):
                self.assertEqual(self.stack.http(svc, "/healthz")[0], 200)
                self.assertEqual(self.stack.http(svc, "/readyz")[0], 200)
                status, body = self.stack.http(svc, "/metrics")
                self.assertEqual(status, 200)
                self.assertIn("# TYPE tandem_up gauge", body)
                self.assertIn('tandem_up{service="%s"} 1' % svc, body)

    def test_unknown_method_is_unimplemented(self):
        for svc in SERVICES:
            with self.subTest(service=svc), self.stack.channel(svc) as ch:
                call = ch.unary_unary("/grpc.health.v1.Health/Nope",
                                      request_serializer=identity,
                                      response_deserializer=identity)
                with self.assertRaises(grpc.RpcError) as err:
                    call(b"", timeout=5)
                self.assertEqual(err.exception.code(), grpc.StatusCode.UNIMPLEMENTED)
                call = ch.unary_unary("/no.such.Service/Method", request_serializer=identity,
                                      response_deserializer=identity)
                with self.assertRaises(grpc.RpcError) as err:
                    call(b"", timeout=5)
                self.assertEqual(err.exception.code(), grpc.StatusCode.UNIMPLEMENTED)

    def test_five_mib_message_is_refused_and_the_channel_survives(self):
        options = [("grpc.max_send_message_length", 8 << 20)]
        for svc in SERVICES:
            with self.subTest(service=svc), \
                    grpc.insecure_channel(self.stack.addr(svc), options=options) as ch:
                self.assertEqual(self.health(ch), SERVING)
                big = b"\x0a" + varint(5 << 20) + b"x" * (5 << 20)  # service: 5 MiB
                call = ch.unary_unary(HEALTH_CHECK, request_serializer=identity,
                                      response_deserializer=identity)
                with self.assertRaises(grpc.RpcError) as err:
                    call(big, timeout=10)
                self.assertEqual(err.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
                self.assertEqual(self.health(ch), SERVING)

    def test_tandem_services_refuse_calls_without_a_request_context(self):
        for svc, method in (("enrolment", "/tandem.v1.EnrolmentService/ListProgrammes"),):
            with self.subTest(service=svc), self.stack.channel(svc) as ch:
                call = ch.unary_unary(method, request_serializer=identity,
                                      response_deserializer=identity)
                with self.assertRaises(grpc.RpcError) as err:
                    call(b"", timeout=5)
                self.assertEqual(err.exception.code(), grpc.StatusCode.UNAUTHENTICATED)

    def test_a_database_call_that_cannot_start_is_internal_not_unavailable(self):
        # A tenant id the pool refuses (not a UUID: only a bug of an internal caller
        # sends one) stops the call before it reaches PostgreSQL. That is INTERNAL:
        # UNAVAILABLE would tell the caller to retry what can never succeed.
        request = b"\x0a\x24" + str(uuid.uuid4()).encode()  # programme_id
        with self.stack.channel("matching") as ch:
            call = ch.unary_unary("/tandem.internal.v1.MatchColumnsService/ListMatchColumns",
                                  request_serializer=identity, response_deserializer=identity)
            with self.assertRaises(grpc.RpcError) as err:
                call(request, metadata=Stack.context("not-a-uuid"), timeout=10)
            self.assertEqual(err.exception.code(), grpc.StatusCode.INTERNAL)


class Shutdown(unittest.TestCase):
    def test_sigterm_drains_and_exits_zero_leaving_no_listener(self):
        stack = Stack("stop")
        try:
            stack.start("feedback")
            port = stack.ports["feedback"]
            started = time.monotonic()
            self.assertEqual(stack.stop("feedback", signal.SIGTERM, timeout=30), 0)
            self.assertLess(time.monotonic() - started, 10)
            with self.assertRaises(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
        finally:
            stack.close()

    def test_a_bad_variable_stops_start_up_naming_it(self):
        stack = Stack("badcfg")
        try:
            proc = stack.start("matching", {"TANDEM_RUN_LEASE_MS": "lots"}, wait=False)
            self.assertEqual(proc.wait(timeout=10), 2)
            self.assertIn("TANDEM_RUN_LEASE_MS", stack.log_tail("matching"))
            stack.procs.pop("matching")  # exiting 2 was the point: close() need not see it
        finally:
            stack.close()

    def test_not_ready_until_the_database_is_reachable(self):
        stack = Stack("nodb")
        try:
            bad = {"TANDEM_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
                   "TANDEM_MIGRATION_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
            stack.start("matching", bad, wait=False)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    if stack.http("matching", "/healthz", timeout=1)[0] == 200:
                        break
                except OSError:
                    time.sleep(0.1)
            self.assertEqual(stack.http("matching", "/healthz")[0], 200)
            status, body = stack.http("matching", "/readyz")
            self.assertEqual(status, 503)
            self.assertEqual(stack.stop("matching"), 0)
        finally:
            stack.close()


if __name__ == "__main__":
    unittest.main()
