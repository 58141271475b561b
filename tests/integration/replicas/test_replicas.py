"""Several replicas of a service behind one address (API.md, "Many replicas, one
outcome").

A Kubernetes Service spreads connections, not calls, over a service's replicas, and a
gateway keeps one HTTP/2 connection per peer. Here a round-robin TCP proxy stands for
the Service, with two "replicas" of enrolment behind it: one sick (it answers the
health check NOT_SERVING, as a replica that lost its database does) and the real one.
"""
import concurrent.futures
import itertools
import json
import socket
import threading
import unittest
import urllib.error
import urllib.request
import uuid

import grpc

import harness

NOT_SERVING = b"\x08\x02"  # grpc.health.v1.HealthCheckResponse{status: NOT_SERVING}


class RoundRobinProxy:
    """Each accepted connection goes to the next backend in turn, as kube-proxy does."""

    def __init__(self, backends):
        self.backends = itertools.cycle(backends)
        self.port = harness.free_port()
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.accepted = []
        self.closed = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            backend = next(self.backends)
            self.accepted.append(backend)
            try:
                upstream = socket.create_connection(("127.0.0.1", backend))
            except OSError:
                client.close()
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self.pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.closed = True
        self.listener.close()


def sick_replica():
    """A gRPC server whose health check answers NOT_SERVING."""
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=4))
    handler = grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
        "Check": grpc.unary_unary_rpc_method_handler(lambda request, context: NOT_SERVING)})
    server.add_generic_rpc_handlers((handler,))
    port = harness.free_port()
    server.add_insecure_port("127.0.0.1:%d" % port)
    server.start()
    return server, port


class SickReplica(unittest.TestCase):
    def setUp(self):
        self.stack = harness.Stack("replicas")
        self.sick, sick_port = sick_replica()
        self.proxy = None
        try:
            self.proxy = RoundRobinProxy([sick_port, self.stack.ports["enrolment"]])
            for svc in harness.SERVICES[1:]:
                self.stack.start(svc)
            # Not waited for: its first connection lands on the sick replica, so it is
            # not ready until it moves on (the test).
            self.stack.start("gateway", wait=False, extra_env={
                "TANDEM_ENROLMENT_ADDR": "127.0.0.1:%d" % self.proxy.port})
        except Exception:
            self.tearDown()
            raise

    def tearDown(self):
        try:
            self.stack.close()
        finally:
            if self.proxy is not None:
                self.proxy.close()
            self.sick.stop(0)

    def test_a_gateway_first_connected_to_a_sick_replica_moves_to_a_healthy_one(self):
        # The gateway's first connection lands on the sick replica: it is not ready.
        # It must connect again rather than stay pinned to that pod for ever.
        self.stack.wait_ready("gateway", timeout=30)
        self.assertGreaterEqual(len(self.proxy.accepted), 2, "the gateway never connected again")
        req = urllib.request.Request("http://%s/v1/tenants" % self.stack.addr("gateway"),
                                     data=json.dumps({"name": "Replica LLP",
                                                      "slug": "rp-" + uuid.uuid4().hex[:8]})
                                     .encode(), method="POST")
        req.add_header("Authorization", "Bearer " + self.stack.bootstrap_key)
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=10) as r:
            tenant = json.loads(r.read())
        req = urllib.request.Request("http://%s/v1/programmes" % self.stack.addr("gateway"),
                                     data=json.dumps({"name": "Through a healthy replica",
                                                      "kind": "REVERSE"}).encode(),
                                     method="POST")
        req.add_header("Authorization", "Bearer " + self.stack.bootstrap_key)
        req.add_header("Content-Type", "application/json")
        req.add_header("X-Tandem-Tenant", tenant["id"])
        with urllib.request.urlopen(req, timeout=10) as r:
            self.assertEqual(r.status, 200)


if __name__ == "__main__":
    unittest.main()
