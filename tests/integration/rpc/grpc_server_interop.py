#!/usr/bin/python3
"""Tandem's gRPC client against grpcio's server (an independent implementation).

Runs a grpcio server implementing tandem.test.v1.EchoService (and health) on a free
port, then tdm_rpc_test_client against it; the C client checks each case and exits
0 when all passed. With a third argument (tdm_rpc_test_server) the same client runs
against Tandem's own server instead.

Usage: grpc_server_interop.py <tdm_rpc_test_client> <gen dir> [tdm_rpc_test_server]
"""
import subprocess
import sys
import threading
from concurrent import futures

import grpc

sys.path.insert(0, sys.argv[2])
import echo_pb2  # noqa: E402
from google.protobuf import any_pb2  # noqa: E402
from google.rpc import error_details_pb2, status_pb2  # noqa: E402
from tandem.internal.v1 import context_pb2  # noqa: E402


def context_of(ctx):
    md = dict(ctx.invocation_metadata())
    rc = context_pb2.RequestContext()
    if "x-tandem-context-bin" in md:
        rc.ParseFromString(md["x-tandem-context-bin"])
    return md, rc


def echo(req, ctx):
    md, rc = context_of(ctx)
    resp = echo_pb2.EchoResponse(message=req.message, payload=req.payload,
                                 request_id=rc.request_id or md.get("x-request-id", ""),
                                 tenant_id=rc.tenant_id)
    rem = ctx.time_remaining()
    resp.remaining_ms = int(rem * 1000) if rem is not None else -1
    for k in req.metadata_keys:
        if k in md:
            v = md[k]
            resp.metadata.add(key=k, value=v.decode("latin-1") if isinstance(v, bytes) else v)
    return resp


def slow(req, ctx):
    done = threading.Event()
    ctx.add_callback(done.set)
    done.wait(req.delay_ms / 1000.0)
    return echo(req, ctx)


def fail(req, ctx):
    br = error_details_pb2.BadRequest()
    br.field_violations.add(field="message", description="must not be empty")
    br.field_violations.add(field="payload", description="must be at most 16 bytes")
    detail = any_pb2.Any()
    detail.Pack(br)
    st = status_pb2.Status(code=3, message="invalid echo request", details=[detail])
    ctx.set_trailing_metadata((("grpc-status-details-bin", st.SerializeToString()),))
    ctx.abort(grpc.StatusCode.INVALID_ARGUMENT, "invalid echo request")


def handler(fn):
    return grpc.unary_unary_rpc_method_handler(
        fn, request_deserializer=echo_pb2.EchoRequest.FromString,
        response_serializer=echo_pb2.EchoResponse.SerializeToString)


def main():
    if len(sys.argv) > 3:
        server_proc = subprocess.Popen([sys.argv[3], "0"], stdout=subprocess.PIPE, text=True)
        port = int(server_proc.stdout.readline().split()[1])
    else:
        server_proc = None
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=16),
                             options=[("grpc.max_receive_message_length", 4 << 20)])
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "tandem.test.v1.EchoService",
            {"Echo": handler(echo), "Slow": handler(slow), "Fail": handler(fail),
             "Big": handler(echo)}),))
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
    rc = subprocess.call([sys.argv[1], str(port)], timeout=150)
    if server_proc is not None:
        server_proc.terminate()
        server_proc.wait(10)
    else:
        server.stop(0)
    return rc


if __name__ == "__main__":
    sys.exit(main())
