"""Resident memory of tandem-enrolment for a large BatchEnrol of compact rows (an
external id, a display name and a role: 29 bytes a row), the request shape that
decoded to 12x its size when every row became a 256-byte Participant (#14).

Starts tandem-enrolment of the given build on a scratch database, reads its peak
resident set (VmHWM) once it is ready, sends BENCH_RSS_CALLS (default 1, then 4 at
once) BatchEnrol requests of BENCH_RSS_MIB (default 32) MiB straight over gRPC, and
prints the peak after each round. Such a request has far more than 10,000 rows, so
the service refuses it after decoding it (INVALID_ARGUMENT, or RESOURCE_EXHAUSTED
when decoding it would pass a limit); what is measured is what decoding it costs.

    TANDEM_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:$PORT/postgres \\
    TANDEM_BUILD_DIR=build/release /usr/bin/python3 tools/bench/enrolment/rss_batch_enrol.py
"""
import os
import sys
import threading
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "integration"))
import harness  # noqa: E402
import grpc  # noqa: E402
from tandem.v1 import common_pb2, enrolment_pb2 as P  # noqa: E402

MIB = int(os.environ.get("BENCH_RSS_MIB", "32"))
CALLS = [int(x) for x in os.environ.get("BENCH_RSS_CALLS", "1,4").split(",")]


def compact_request(mib):
    """A BatchEnrolRequest of compact rows, just under `mib` MiB."""
    row = P.Participant(external_id="pg00000", display_name="Person pg00000",
                        role=common_pb2.MENTEE)
    per_row = row.ByteSize() + 2
    n = (mib * 1024 * 1024 - 64) // per_row
    rows = [P.Participant(external_id="pg%05d" % (i % 100000),
                          display_name="Person pg%05d" % (i % 100000), role=common_pb2.MENTEE)
            for i in range(n)]
    return P.BatchEnrolRequest(programme_id=str(uuid.uuid4()), participants=rows).SerializeToString()


def peak_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main():
    body = compact_request(MIB)
    stack = harness.Stack("rss")
    try:
        proc = stack.start("enrolment")
        md = harness.Stack.context(str(uuid.uuid4()))
        ch = grpc.insecure_channel(stack.addr("enrolment"),
                                   options=[("grpc.max_send_message_length", 64 << 20)])
        call = ch.unary_unary("/tandem.v1.EnrolmentService/BatchEnrol",
                              request_serializer=lambda b: b,
                              response_deserializer=P.BatchEnrolResponse.FromString)
        print("request_bytes=%d ready_peak_mib=%.1f"
              % (len(body), peak_kib(proc.pid) / 1024.0), flush=True)
        for n in CALLS:
            codes = []

            def one():
                try:
                    call(body, metadata=md, timeout=120)
                    codes.append("OK")
                except grpc.RpcError as e:
                    codes.append("%s: %s" % (e.code().name, e.details()[:80]))
            threads = [threading.Thread(target=one) for _ in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            print("calls=%d peak_mib=%.1f answers=%s"
                  % (n, peak_kib(proc.pid) / 1024.0, sorted(set(codes))), flush=True)
        ch.close()
    finally:
        stack.close()


if __name__ == "__main__":
    main()
