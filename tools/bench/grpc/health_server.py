#!/usr/bin/python3
"""The python3-grpcio reference for the benchmark: grpc.health.v1.Health/Check
answering SERVING, as a standard server would. Prints "port <n>"."""
import sys
from concurrent import futures

import grpc


def check(request, context):
    return b"\x08\x01"


def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=int(sys.argv[1])
                                                    if len(sys.argv) > 1 else 8))
    handler = grpc.unary_unary_rpc_method_handler(check, request_deserializer=lambda b: b,
                                                  response_serializer=lambda b: b)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("grpc.health.v1.Health", {"Check": handler}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print("port %d" % port, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
