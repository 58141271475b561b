"""TANDEM_ADMIN_LISTEN: every process serves /metrics, /healthz and /readyz on an
admin port of its own, and its public port then no longer answers /metrics (while
/healthz, /readyz and gRPC health stay there for the gateway and old probes). The
admin port follows readiness, has no gRPC service and no reflection, and closes
with the process on SIGTERM.
"""
import os
import socket
import sys
import time
import unittest
import urllib.error
import urllib.request

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import SERVICES, Stack, reserve_port  # noqa: E402

REFLECTION = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"


def get(addr, path):
    try:
        with urllib.request.urlopen("http://%s%s" % (addr, path), timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class AdminPort(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack("admin")
        cls.admin = {}
        cls.locks = []
        extra = {}
        for svc in SERVICES:
            port, lock = reserve_port()
            cls.locks.append(lock)
            cls.admin[svc] = "127.0.0.1:%d" % port
            # As the production overlay runs it: reflection off, metrics on the side.
            extra[svc] = {"TANDEM_ADMIN_LISTEN": cls.admin[svc], "TANDEM_REFLECTION": "0"}
        cls.stack.start_all(extra)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.stack.close()
        finally:
            for lock in cls.locks:
                lock.close()

    def test_metrics_and_probes_are_served_on_the_admin_port(self):
        for svc in SERVICES:
            with self.subTest(service=svc):
                self.assertEqual(get(self.admin[svc], "/healthz")[0], 200)
                self.assertEqual(get(self.admin[svc], "/readyz"), (200, "ready\n"))
                status, body = get(self.admin[svc], "/metrics")
                self.assertEqual(status, 200)
                self.assertIn('tandem_up{service="%s"} 1' % svc, body)
                # The public port's own traffic is counted in the one registry.
                self.assertIn("tandem_http_requests_total", body)

    def test_the_public_port_no_longer_answers_metrics(self):
        for svc in SERVICES:
            with self.subTest(service=svc):
                status, body = self.stack.http(svc, "/metrics")
                self.assertEqual(status, 404)
                self.assertNotIn("tandem_up", body)
                # The probes stay where callers that knew only one port find them.
                self.assertEqual(self.stack.http(svc, "/readyz")[0], 200)
                self.assertEqual(self.stack.http(svc, "/healthz")[0], 200)

    def test_the_admin_port_serves_no_api_and_no_reflection(self):
        status, _ = get(self.admin["gateway"], "/v1/programmes")
        self.assertEqual(status, 404)
        for svc in SERVICES:
            for addr in (self.admin[svc], self.stack.addr(svc)):
                with self.subTest(service=svc, addr=addr), grpc.insecure_channel(addr) as ch:
                    call = ch.stream_stream(REFLECTION, request_serializer=lambda b: b,
                                            response_deserializer=lambda b: b)
                    with self.assertRaises(grpc.RpcError) as err:
                        list(call(iter([b""]), timeout=5))
                    self.assertEqual(err.exception.code(), grpc.StatusCode.UNIMPLEMENTED)
        with grpc.insecure_channel(self.admin["enrolment"]) as ch:
            call = ch.unary_unary("/tandem.v1.EnrolmentService/ListProgrammes",
                                  request_serializer=lambda b: b,
                                  response_deserializer=lambda b: b)
            with self.assertRaises(grpc.RpcError) as err:
                call(b"", timeout=5)
            self.assertEqual(err.exception.code(), grpc.StatusCode.UNIMPLEMENTED)


class AdminPortLifecycle(unittest.TestCase):
    def test_not_ready_on_the_admin_port_until_the_database_is_and_closed_at_exit(self):
        stack = Stack("adminlife")
        port, lock = reserve_port()
        admin = "127.0.0.1:%d" % port
        try:
            bad = {"TANDEM_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
                   "TANDEM_MIGRATION_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
                   "TANDEM_ADMIN_LISTEN": admin}
            stack.start("feedback", bad, wait=False)
            deadline = time.monotonic() + 30
            status = None
            while time.monotonic() < deadline:
                try:
                    status = get(admin, "/healthz")[0]
                    break
                except OSError:
                    time.sleep(0.1)
            self.assertEqual(status, 200)
            status, body = get(admin, "/readyz")
            self.assertEqual(status, 503)
            self.assertIn("not ready", body)
            self.assertEqual(stack.stop("feedback"), 0)
            with self.assertRaises(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
        finally:
            stack.close()
            lock.close()

    def test_the_admin_port_must_differ_from_the_public_one(self):
        stack = Stack("adminsame")
        try:
            proc = stack.start("matching", {"TANDEM_ADMIN_LISTEN": stack.addr("matching")},
                               wait=False)
            self.assertEqual(proc.wait(timeout=10), 2)
            self.assertIn("TANDEM_ADMIN_LISTEN", stack.log_tail("matching"))
            stack.procs.pop("matching")
        finally:
            stack.close()


if __name__ == "__main__":
    unittest.main()
