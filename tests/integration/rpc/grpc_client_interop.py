#!/usr/bin/python3
"""grpcio (an independent gRPC implementation) as the client of Tandem's transport.

Starts tdm_rpc_test_server on a free port and checks what a standard client sees:
unary calls, empty and ~4 MiB messages, 1000 concurrent calls, a 1 ms deadline on a
slow handler, metadata, unknown service/method, a 5 MiB message refused with the
channel still usable, field violations in grpc-status-details-bin, health, and
SIGTERM draining with exit status 0.

Usage: grpc_client_interop.py <tdm_rpc_test_server> <dir with echo_pb2.py> <proto gen dir>
"""
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import grpc

sys.path.insert(0, sys.argv[2])
sys.path.insert(0, sys.argv[3])
import echo_pb2  # noqa: E402
from google.rpc import error_details_pb2, status_pb2  # noqa: E402

FAILURES = []


def check(ok, name, why=""):
    print(("ok " if ok else "FAIL ") + name + ("" if ok else ": " + str(why)), flush=True)
    if not ok:
        FAILURES.append(name)


def method(ch, name, req=echo_pb2.EchoRequest, resp=echo_pb2.EchoResponse):
    return ch.unary_unary("/tandem.test.v1.EchoService/" + name,
                          request_serializer=req.SerializeToString,
                          response_deserializer=resp.FromString)


def raw(ch, path):
    return ch.unary_unary(path, request_serializer=lambda b: b, response_deserializer=lambda b: b)


def expect_code(fn, code, name):
    try:
        fn()
        check(False, name, "succeeded, want %s" % code)
    except grpc.RpcError as e:
        check(e.code() == code, name, "%s %s" % (e.code(), e.details()))
        return e
    return None


def main():
    server = subprocess.Popen([sys.argv[1], "0"], stdout=subprocess.PIPE, text=True)
    try:
        return run(server)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def run(server):
    port = int(server.stdout.readline().split()[1])
    opts = [("grpc.max_send_message_length", 64 << 20),
            ("grpc.max_receive_message_length", 64 << 20)]
    ch = grpc.insecure_channel("127.0.0.1:%d" % port, options=opts)
    echo = method(ch, "Echo")

    r = echo(echo_pb2.EchoRequest(message="hello", payload=b"abc"), timeout=5)
    check(r.message == "hello" and r.payload == b"abc", "unary")
    r = echo(echo_pb2.EchoRequest(), timeout=5)
    check(r.message == "" and r.payload == b"", "empty_message")
    big = os.urandom((4 << 20) - 64)
    r = echo(echo_pb2.EchoRequest(payload=big), timeout=20)
    check(r.payload == big, "four_mib_message")

    results = []
    lock = threading.Lock()
    done = threading.Event()

    def on_done(fut):
        with lock:
            results.append(fut.exception() is None and fut.result().message == "c")
            if len(results) == 1000:
                done.set()
    for _ in range(1000):
        echo.future(echo_pb2.EchoRequest(message="c"), timeout=30).add_done_callback(on_done)
    done.wait(60)
    check(len(results) == 1000 and all(results), "concurrent_1000",
          "%d done, %d ok" % (len(results), sum(results)))

    slow = method(ch, "Slow")
    t0 = time.monotonic()
    expect_code(lambda: slow(echo_pb2.EchoRequest(delay_ms=2000), timeout=0.001),
                grpc.StatusCode.DEADLINE_EXCEEDED, "deadline_1ms")
    check(time.monotonic() - t0 < 1.0, "deadline_1ms_prompt")
    r = slow(echo_pb2.EchoRequest(message="s", delay_ms=20), timeout=5)
    check(r.message == "s" and 0 < r.remaining_ms <= 5000, "slow_with_deadline",
          r.remaining_ms)

    r, call = echo.with_call(echo_pb2.EchoRequest(metadata_keys=["x-test", "x-test-bin"]),
                             metadata=[("x-test", "v1"), ("x-test-bin", b"\x01bin"),
                                       ("x-request-id", "abc-123")], timeout=5)
    md = {e.key: e.value for e in r.metadata}
    check(md.get("x-test") == "v1" and md.get("x-test-bin") == "\x01bin",
          "metadata_round_trip", md)
    check(r.request_id == "abc-123", "request_id_from_metadata", r.request_id)

    expect_code(lambda: raw(ch, "/tandem.test.v1.Nope/Echo")(b"", timeout=5),
                grpc.StatusCode.UNIMPLEMENTED, "unknown_service")
    expect_code(lambda: raw(ch, "/tandem.test.v1.EchoService/Nope")(b"", timeout=5),
                grpc.StatusCode.UNIMPLEMENTED, "unknown_method")
    expect_code(lambda: echo(echo_pb2.EchoRequest(payload=b"x" * (5 << 20)), timeout=20),
                grpc.StatusCode.RESOURCE_EXHAUSTED, "five_mib_resource_exhausted")
    r = echo(echo_pb2.EchoRequest(message="after"), timeout=5)
    check(r.message == "after", "channel_usable_after_refusal")
    r = method(ch, "Big")(echo_pb2.EchoRequest(payload=b"y" * (5 << 20)), timeout=30)
    check(len(r.payload) == 5 << 20, "per_method_limit_32mib")

    e = expect_code(lambda: method(ch, "Fail")(echo_pb2.EchoRequest(), timeout=5),
                    grpc.StatusCode.INVALID_ARGUMENT, "fail_invalid_argument")
    if e is not None:
        check(e.details() == "invalid echo request: 100% wrong \u2713", "grpc_message_decoded",
              e.details())
        bins = [v for k, v in e.trailing_metadata() if k == "grpc-status-details-bin"]
        st = status_pb2.Status.FromString(bins[0]) if bins else None
        ok = st is not None and st.code == 3 and len(st.details) == 1
        if ok:
            br = error_details_pb2.BadRequest()
            ok = st.details[0].Unpack(br) and [v.field for v in br.field_violations] == \
                ["message", "payload"]
        check(ok, "bad_request_details", st)

    health = ch.unary_unary("/grpc.health.v1.Health/Check",
                            request_serializer=lambda b: b, response_deserializer=lambda b: b)
    check(health(b"", timeout=5) == b"\x08\x01", "health_serving")
    name = b"tandem.test.v1.EchoService"
    check(health(b"\x0a" + bytes([len(name)]) + name, timeout=5) == b"\x08\x01",
          "health_serving_service")
    expect_code(lambda: health(b"\x0a\x04nope", timeout=5), grpc.StatusCode.NOT_FOUND,
                "health_unknown_service")

    with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port) as resp:
        check(resp.status == 200 and resp.read() == b"ok\n", "http_healthz")
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port) as resp:
        text = resp.read().decode()
        check(resp.headers["Content-Type"] == "text/plain; version=0.0.4" and
              'tandem_rpc_server_calls_total{service="tandem.test.v1.EchoService",'
              'method="Echo",code="OK"}' in text and
              'code="RESOURCE_EXHAUSTED"' in text, "metrics_per_method_and_code")

    # Draining: a call in flight finishes, then the process exits 0.
    fut = slow.future(echo_pb2.EchoRequest(message="drain", delay_ms=300), timeout=10)
    time.sleep(0.1)
    server.send_signal(signal.SIGTERM)
    try:
        check(fut.result().message == "drain", "drain_completes_in_flight")
    except grpc.RpcError as err:
        check(False, "drain_completes_in_flight", err)
    try:
        rc = server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
        rc = "timeout"
    check(rc == 0, "sigterm_exit_0", rc)
    ch.close()
    print("FAILED: %s" % FAILURES if FAILURES else "all passed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
