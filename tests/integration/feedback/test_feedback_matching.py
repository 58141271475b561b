"""FeedbackService against the real tandem-matching (and tandem-enrolment).

The pairs come from a real matching run: enrol, run, approve, both sides accept.
Then check-ins are checked against those matches, a declined match is at risk, and
the report counts the real matches. test_feedback.py covers every rule with a
stand-in; this module proves the two services agree on the wire.
"""
import os
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

import grpc  # noqa: E402
from google.protobuf import timestamp_pb2  # noqa: E402
from tandem.internal.v1 import report_inputs_pb2  # noqa: E402
from tandem.v1 import common_pb2, enrolment_pb2, feedback_pb2, matching_pb2  # noqa: E402
import pgarray  # noqa: E402

E, F, M = enrolment_pb2, feedback_pb2, matching_pb2
STACK = None


def setUpModule():
    global STACK
    STACK = harness.Stack("fbm")
    STACK.start("enrolment")
    STACK.start("matching")
    STACK.start("feedback")


def tearDownModule():
    if STACK is not None:
        STACK.close()


def call(svc, service, method, req, resp_type, tenant):
    ch = STACK.channel(svc)
    try:
        fn = ch.unary_unary("/tandem.v1.%s/%s" % (service, method),
                            request_serializer=lambda m: m.SerializeToString(),
                            response_deserializer=resp_type.FromString)
        return fn(req, metadata=harness.Stack.context(tenant), timeout=60)
    finally:
        ch.close()


def enrolment(method, req, resp_type, t):
    return call("enrolment", "EnrolmentService", method, req, resp_type, t)


def matching(method, req, resp_type, t):
    return call("matching", "MatchingService", method, req, resp_type, t)


def feedback(method, req, resp_type, t):
    return call("feedback", "FeedbackService", method, req, resp_type, t)


def match_columns(t, prog_id, scopes=harness.ALL_SCOPES):
    ch = STACK.channel("matching")
    try:
        fn = ch.unary_unary("/tandem.internal.v1.MatchColumnsService/ListMatchColumns",
                            request_serializer=lambda m: m.SerializeToString(),
                            response_deserializer=report_inputs_pb2.MatchColumns.FromString)
        return fn(report_inputs_pb2.ListMatchColumnsRequest(programme_id=prog_id),
                  metadata=harness.Stack.context(t, scopes=scopes), timeout=60)
    finally:
        ch.close()


def now_minus(hours):
    ts = timestamp_pb2.Timestamp()
    ts.FromSeconds(int(time.time() - hours * 3600))
    return ts


class RealMatchingTest(unittest.TestCase):
    def test_check_ins_and_report_over_real_matches(self):
        t = str(uuid.uuid4())
        prog = enrolment("CreateProgramme", E.CreateProgrammeRequest(programme=E.Programme(
            name="Reverse", kind=E.REVERSE, status=E.Programme.ENROLLING,
            check_in_cadence_days=14, anonymity_threshold=3,
            objectives=[E.Objective(key="digital", title="Digital")])), E.Programme, t)
        rows = []
        for i in range(2):
            rows.append(E.Participant(external_id="mentor-%d" % i, display_name="Trainee %d" % i,
                                      role=common_pb2.MENTOR, seniority_level=1, capacity=1,
                                      office="London", languages=["en"], interests=["AI"]))
            rows.append(E.Participant(external_id="mentee-%d" % i, display_name="Partner %d" % i,
                                      role=common_pb2.MENTEE, seniority_level=9,
                                      office="London", languages=["en"], interests=["AI"]))
        res = enrolment("BatchEnrol", E.BatchEnrolRequest(programme_id=prog.id,
                                                          participants=rows),
                        E.BatchEnrolResponse, t)
        people = [r.participant for r in res.results]
        self.assertEqual(len(people), 4)
        run = matching("StartMatchingRun", M.StartMatchingRunRequest(
            programme_id=prog.id, algorithm=M.OPTIMAL), M.MatchingRun, t)
        deadline = time.monotonic() + 60
        while run.status in (M.MatchingRun.QUEUED, M.MatchingRun.RUNNING):
            self.assertLess(time.monotonic(), deadline, "the run did not finish")
            time.sleep(0.2)
            run = matching("GetMatchingRun", M.GetMatchingRunRequest(id=run.id),
                           M.MatchingRun, t)
        self.assertEqual(run.status, M.MatchingRun.SUCCEEDED, run.error_message)
        matching("ApproveRun", M.ApproveRunRequest(id=run.id), M.MatchingRun, t)
        matches = matching("ListMatches", M.ListMatchesRequest(programme_id=prog.id),
                           M.ListMatchesResponse, t).matches
        self.assertEqual(len(matches), 2)
        accepted, declined = matches
        for side in (accepted.mentor_id, accepted.mentee_id):
            matching("RespondToMatch", M.RespondToMatchRequest(
                id=accepted.id, participant_id=side, accept=True), M.Match, t)
        matching("RespondToMatch", M.RespondToMatchRequest(
            id=declined.id, participant_id=declined.mentee_id, accept=False), M.Match, t)

        c = feedback("RecordCheckIn", F.RecordCheckInRequest(
            match_id=accepted.id, participant_id=accepted.mentee_id, occurred_time=now_minus(2),
            rating=5, duration_minutes=30, notes="private",
            goal_progress=[F.GoalProgress(objective_key="digital", percent=40)]), F.CheckIn, t)
        self.assertEqual(c.programme_id, prog.id)
        stranger = [p.id for p in people if p.id not in (accepted.mentor_id,
                                                           accepted.mentee_id)][0]
        with self.assertRaises(grpc.RpcError) as e:
            feedback("RecordCheckIn", F.RecordCheckInRequest(
                match_id=accepted.id, participant_id=stranger, occurred_time=now_minus(1),
                rating=4), F.CheckIn, t)
        self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        with self.assertRaises(grpc.RpcError) as e:
            feedback("RecordCheckIn", F.RecordCheckInRequest(
                match_id=declined.id, participant_id=declined.mentor_id,
                occurred_time=now_minus(1), rating=4), F.CheckIn, t)
        self.assertEqual(e.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)
        with self.assertRaises(grpc.RpcError) as e:
            feedback("ListCheckIns", F.ListCheckInsRequest(match_id=accepted.id),
                     F.ListCheckInsResponse, str(uuid.uuid4()))
        self.assertEqual(e.exception.code(), grpc.StatusCode.NOT_FOUND)

        risky = feedback("ListAtRiskMatches", F.ListAtRiskMatchesRequest(programme_id=prog.id),
                         F.ListAtRiskMatchesResponse, t).at_risk_matches
        self.assertEqual([(x.match.id, list(x.reasons)) for x in risky],
                         [(declined.id, [F.PARTICIPANT_DECLINED])])
        rep = feedback("GetProgrammeReport", F.GetProgrammeReportRequest(programme_id=prog.id),
                       F.ProgrammeReport, t)
        self.assertEqual((rep.enrolled_mentors, rep.enrolled_mentees), (2, 2))
        self.assertEqual(rep.active_matches, 1)
        self.assertEqual(rep.matched, 2)
        self.assertEqual(rep.check_ins, 1)
        # One person rated: the mean would be their rating, so it is withheld.
        self.assertEqual(rep.mean_rating, 0)
        self.assertIn("meanRating", rep.suppressed)
        self.assertEqual(rep.at_risk_count, 1)
        self.assertEqual([(o.objective_key, o.mean_percent) for o in rep.objective_progress],
                         [("digital", 40)])

        # The report read the matches through ListMatchColumns: the same matches as
        # ListMatches, only for the tenant, only with matching:read or feedback:read
        # (a feedback:read caller's report reads them with its own scopes).
        listed = matching("ListMatches", M.ListMatchesRequest(programme_id=prog.id),
                          M.ListMatchesResponse, t).matches
        cols = match_columns(t, prog.id)
        self.assertEqual(cols.count, len(listed))
        by_id = {m.id: m for m in listed}
        ids = pgarray.uuids(cols.id)
        self.assertEqual(set(ids), set(by_id))
        self.assertEqual(pgarray.uuids(cols.mentor_id), [by_id[i].mentor_id for i in ids])
        self.assertEqual(pgarray.ints(cols.status), [by_id[i].status for i in ids])
        self.assertEqual(pgarray.bools(cols.declined), [i == declined.id for i in ids])
        self.assertEqual(match_columns(str(uuid.uuid4()), prog.id).count, 0)
        self.assertEqual(match_columns(t, prog.id, scopes=0x20).count, cols.count)
        with self.assertRaises(grpc.RpcError) as e:
            match_columns(t, prog.id, scopes=0x40)  # feedback:write alone
        self.assertEqual(e.exception.code(), grpc.StatusCode.PERMISSION_DENIED)


if __name__ == "__main__":
    unittest.main()
