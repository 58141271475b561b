"""Event times come from the database's clock, not the writing replica's.

Replicas' clocks drift; events are compared with each other and with the resources'
times, which PostgreSQL stamps. Here tandem-enrolment runs a day behind (libfaketime),
enrols a person, and the participant.enrolled event's create_time must be the
database's time of that transaction, not the replica's.
"""
import os
import unittest
import uuid

import grpc

import harness
from tandem.v1 import common_pb2, enrolment_pb2 as E

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


class EventClock(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(FAKETIME_LIB):
            self.fail("libfaketime is missing: tests/run.sh installs package faketime")
        self.stack = harness.Stack("clock")
        # ASan wants to be first in the link order; libfaketime is preloaded before it.
        # LeakSanitizer would see libfaketime's own allocations: off for this process.
        asan = os.environ.get("ASAN_OPTIONS", "")
        self.stack.start("enrolment", extra_env={
            "LD_PRELOAD": FAKETIME_LIB, "FAKETIME": "-1d", "FAKETIME_DONT_RESET": "1",
            "ASAN_OPTIONS": (asan + ":" if asan else "") +
            "verify_asan_link_order=0:detect_leaks=0"})

    def tearDown(self):
        self.stack.close()

    def test_a_replica_a_day_behind_writes_events_at_the_databases_time(self):
        tenant = str(uuid.uuid4())
        md = harness.Stack.context(tenant)
        with grpc.insecure_channel(self.stack.addr("enrolment")) as ch:
            def call(method, req, resp):
                return ch.unary_unary("/tandem.v1.EnrolmentService/" + method,
                                      request_serializer=lambda m: m.SerializeToString(),
                                      response_deserializer=resp.FromString)(
                    req, metadata=md, timeout=30)
            prog = call("CreateProgramme", E.CreateProgrammeRequest(programme=E.Programme(
                name="Clock", kind=E.REVERSE, status=E.Programme.ENROLLING)), E.Programme)
            call("Enrol", E.EnrolRequest(programme_id=prog.id, participant=E.Participant(
                external_id="clock-1", display_name="Clock One", role=common_pb2.MENTEE)),
                E.Participant)
        skew = harness.psql(self.stack.super_url,
                            "SELECT max(abs(extract(epoch FROM now() - create_time))) "
                            "FROM enrolment.outbox WHERE tenant_id = '%s'" % tenant)
        self.assertNotEqual(skew, "", "no event was written")
        self.assertLess(float(skew), 600,
                        "the event's time is %s s away from the database's" % skew)


if __name__ == "__main__":
    unittest.main()
