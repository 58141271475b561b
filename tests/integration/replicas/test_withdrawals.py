"""The withdrawal follower (services/matching/withdrawals.c) with two replicas of
tandem-matching: one replica follows enrolment's outbox at a time (it holds the
cursor row's lease), so the work of a withdrawal is done once, not once per replica;
when the follower dies, the other replica takes over once the lease has expired.

To see who works, matching.matches is locked (SHARE) while participants withdraw:
a replica in a pass waits inside it, at its first write of matches, for as long as
the test needs whatever the machine's load; the test counts the replicas waiting.
"""
import signal
import time
import unittest
import uuid

import grpc

import harness
from test_runs import Replica
from tandem.v1 import common_pb2, enrolment_pb2 as E

ENDED = "live matches of withdrawn participants ended"
FOLLOWER_LEASE_S = 10  # FOLLOWER_LEASE_MS in withdrawals.c


class FollowerAcrossReplicas(unittest.TestCase):
    def setUp(self):
        self.stack = harness.Stack("wdr")
        self.replicas = []
        try:
            self.stack.start("enrolment")
            self.tenant = str(uuid.uuid4())
            prog = self.enrol("CreateProgramme", E.CreateProgrammeRequest(
                programme=E.Programme(name="Follower", kind=E.REVERSE,
                                       status=E.Programme.ENROLLING)), E.Programme)
            people = [E.Participant(external_id="p%d" % i, display_name="Person %d" % i,
                                    role=common_pb2.MENTEE if i % 2 else common_pb2.MENTOR,
                                    seniority_level=3, languages=["en"])
                      for i in range(6)]
            res = self.enrol("BatchEnrol", E.BatchEnrolRequest(programme_id=prog.id,
                                                               participants=people),
                             E.BatchEnrolResponse)
            self.ids = [r.participant.id for r in res.results]
            self.assertTrue(all(self.ids))
        except Exception:
            self.stack.close()
            raise

    def tearDown(self):
        for r in self.replicas:
            r.kill(signal.SIGKILL)
        self.stack.close()

    def enrol(self, method, req, resp_type):
        with grpc.insecure_channel(self.stack.addr("enrolment")) as ch:
            fn = ch.unary_unary("/tandem.v1.EnrolmentService/%s" % method,
                                request_serializer=lambda m: m.SerializeToString(),
                                response_deserializer=resp_type.FromString)
            return fn(req, metadata=harness.Stack.context(self.tenant), timeout=60)

    def withdraw(self, pid):
        self.enrol("WithdrawParticipant", E.WithdrawParticipantRequest(id=pid, reason="left"),
                   E.Participant)

    def waiting_on_matches(self):
        """Sessions of tandem-matching waiting for a lock (the test's, on matches)."""
        return int(harness.psql(
            self.stack.super_url,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'tandem-matching' AND wait_event_type = 'Lock'"))

    def ended_by(self, replica):
        return sum(1 for line in replica.log().splitlines() if ENDED in line)

    def test_one_replica_follows_at_a_time_and_another_takes_over(self):
        a, b = Replica(self.stack, "wa"), Replica(self.stack, "wb")
        self.replicas += [a, b]
        time.sleep(2)  # both replicas have ticked: one of them holds the lease
        lock = harness.TableLock(self.stack.super_url, "matching.matches")
        try:
            for pid in self.ids[:2]:
                self.withdraw(pid)
            harness.wait_until("a replica is in a pass",
                               lambda: self.waiting_on_matches() >= 1, 60)
            time.sleep(3)  # three more ticks of each replica
            self.assertEqual(self.waiting_on_matches(), 1,
                             "both replicas are doing the same withdrawals")
        finally:
            lock.release()
        harness.wait_until("the withdrawals were followed",
                           lambda: self.ended_by(a) + self.ended_by(b), 30)
        time.sleep(2)
        self.assertEqual(self.ended_by(a) + self.ended_by(b), 1,
                         "the same withdrawals were followed by both replicas")
        follower, other = (a, b) if self.ended_by(a) else (b, a)

        # The follower dies: the other replica follows once its lease has expired.
        follower.kill(signal.SIGKILL)
        killed = time.monotonic()
        self.withdraw(self.ids[2])
        harness.wait_until("the other replica took over", lambda: self.ended_by(other),
                           3 * FOLLOWER_LEASE_S)
        self.assertLess(time.monotonic() - killed, 2 * FOLLOWER_LEASE_S + 5)
        cursor = harness.psql(self.stack.super_url,
                              "SELECT last_seq > 0 FROM matching.enrolment_cursor")
        self.assertEqual(cursor, "t")


if __name__ == "__main__":
    unittest.main()
