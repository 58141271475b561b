"""FeedbackService's read calls GetCheckIn, GetSurvey and ListSurveys through the
gateway's public door, over REST and over gRPC, against real PostgreSQL and the real
tandem-gateway, tandem-enrolment and tandem-feedback. Matching is stood in for by a
small grpcio server answering GetMatch for the matches the tests put in it, keyed by
the caller's tenant (so another tenant's match is NOT_FOUND, as the real service
answers).

Proves: each call answers what was written, in both transports alike; another
tenant's id is NOT_FOUND (404) and a malformed one INVALID_ARGUMENT naming the field;
ListSurveys pages newest first without overlap, refuses a forged page token and
answers NOT_FOUND for a programme it does not know; GetCheckIn never carries the
private notes; a key without feedback:read is refused.
"""
import datetime
import os
import sys
import threading
import time
import unittest
import uuid
from concurrent import futures

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

import grpc  # noqa: E402
from google.protobuf import timestamp_pb2  # noqa: E402
from tandem.internal.v1 import context_pb2  # noqa: E402
from tandem.v1 import common_pb2, enrolment_pb2, feedback_pb2, matching_pb2  # noqa: E402

E, F, M = enrolment_pb2, feedback_pb2, matching_pb2
STACK = None
PEER = None
MATCHES = {}  # (tenant, match id) -> Match
LOCK = threading.Lock()
ROOT = None


def caller_tenant(ctx):
    for k, v in ctx.invocation_metadata():
        if k == "x-tandem-context-bin":
            return context_pb2.RequestContext.FromString(v).tenant_id
    return None


def get_match(req, ctx):
    with LOCK:
        m = MATCHES.get((caller_tenant(ctx), req.id))
    if m is None:
        ctx.abort(grpc.StatusCode.NOT_FOUND, "match not found")
    return m


def start_matching(port):
    handler = grpc.method_handlers_generic_handler("tandem.v1.MatchingService", {
        "GetMatch": grpc.unary_unary_rpc_method_handler(
            get_match, request_deserializer=M.GetMatchRequest.FromString,
            response_serializer=lambda m: m.SerializeToString()),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port("127.0.0.1:%d" % port)
    server.start()
    return server


def rest(method, path, body=None, key=None):
    return harness.rest(STACK.addr("gateway"), method, path, body, key=key, timeout=30)


def rpc(service, method, req, resp_type, key, idem=None):
    """A gRPC call through the gateway with the key's authorization."""
    md = [("authorization", "Bearer " + key)]
    if idem:
        md.append(("idempotency-key", idem))
    ch = STACK.channel("gateway")
    try:
        fn = ch.unary_unary("/tandem.v1.%s/%s" % (service, method),
                            request_serializer=lambda m: m.SerializeToString(),
                            response_deserializer=resp_type.FromString)
        return fn(req, metadata=md, timeout=30)
    finally:
        ch.close()


def rpc_fail(service, method, req, resp_type, key):
    try:
        rpc(service, method, req, resp_type, key)
    except grpc.RpcError as e:
        return e.code()
    raise AssertionError("%s succeeded unexpectedly" % method)


def new_tenant(scopes):
    """(tenant id, secret of a key of that tenant with the scopes)."""
    slug = "reads-%s" % uuid.uuid4().hex[:8]
    status, t = rest("POST", "/v1/tenants", {"name": slug, "slug": slug}, key=ROOT)
    assert status == 200, (status, t)
    status, k = rest("POST", "/v1/tenants/%s/apiKeys" % t["id"],
                     {"displayName": "reads", "scopes": scopes, "kind": "TENANT"}, key=ROOT)
    assert status == 200, (status, k)
    return t["id"], k["secret"]


def setUpModule():
    global STACK, PEER, ROOT
    STACK = harness.Stack("fbr")
    PEER = start_matching(STACK.ports["matching"])
    STACK.start("enrolment")
    STACK.start("feedback")
    STACK.start("gateway", extra_env={"TANDEM_RATE_LIMIT_RPS": "1000",
                                      "TANDEM_RATE_LIMIT_BURST": "1000"}, wait=False)
    ROOT = STACK.bootstrap_key
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if STACK.http("gateway", "/healthz")[0] == 200 and \
                    rest("GET", "/v1/tenants", key=ROOT)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the gateway did not come up:\n" + STACK.log_tail("gateway"))


def tearDownModule():
    if PEER is not None:
        PEER.stop(0)
    if STACK is not None:
        STACK.close()


ALL = ["enrolment:read", "enrolment:write", "feedback:read", "feedback:write"]


def programme(key):
    p = E.Programme(name="Reverse mentoring", kind=E.REVERSE, status=E.Programme.ACTIVE,
                    objectives=[E.Objective(key="digital", title="Digital")])
    return rpc("EnrolmentService", "CreateProgramme", E.CreateProgrammeRequest(programme=p),
               E.Programme, key)


def survey(key, prog_id, title):
    s = F.Survey(title=title, description="About " + title, questions=[
        F.Question(id="q1", text="How useful?", kind=F.RATING_1_5, required=True),
        F.Question(id="q2", text="Which format?", kind=F.CHOICE, choices=["video", "in person"]),
    ])
    return rpc("FeedbackService", "CreateSurvey",
               F.CreateSurveyRequest(programme_id=prog_id, survey=s), F.Survey, key)


def ts(days_ago):
    t = timestamp_pb2.Timestamp()
    t.FromDatetime(datetime.datetime.utcnow() - datetime.timedelta(days=days_ago))
    return t


class Surveys(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tenant, cls.key = new_tenant(ALL)
        cls.other_tenant, cls.other_key = new_tenant(ALL)
        cls.prog = programme(cls.key)
        cls.survey = survey(cls.key, cls.prog.id, "Midpoint")

    def test_get_survey_answers_it_over_rest_and_grpc(self):
        status, body = rest("GET", "/v1/surveys/%s" % self.survey.id, key=self.key)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["id"], self.survey.id)
        self.assertEqual(body["programmeId"], self.prog.id)
        self.assertEqual(body["title"], "Midpoint")
        self.assertEqual(body["description"], "About Midpoint")
        self.assertEqual([q["id"] for q in body["questions"]], ["q1", "q2"])
        self.assertEqual(body["questions"][0]["kind"], "RATING_1_5")
        self.assertTrue(body["questions"][0]["required"])
        self.assertEqual(body["questions"][1]["choices"], ["video", "in person"])
        got = rpc("FeedbackService", "GetSurvey", F.GetSurveyRequest(id=self.survey.id),
                  F.Survey, self.key)
        self.assertEqual(got, self.survey)

    def test_get_survey_of_another_tenant_or_unknown_is_not_found(self):
        for sid in (self.survey.id, str(uuid.uuid4())):
            with self.subTest(survey=sid):
                status, body = rest("GET", "/v1/surveys/%s" % sid, key=self.other_key)
                self.assertEqual(status, 404, body)
                self.assertEqual(
                    rpc_fail("FeedbackService", "GetSurvey", F.GetSurveyRequest(id=sid),
                             F.Survey, self.other_key), grpc.StatusCode.NOT_FOUND)

    def test_get_survey_with_a_malformed_id_names_the_field(self):
        status, body = rest("GET", "/v1/surveys/not-a-uuid", key=self.key)
        self.assertEqual(status, 400, body)
        self.assertIn("id", {d.get("field") for d in body.get("details", [])})
        self.assertEqual(rpc_fail("FeedbackService", "GetSurvey", F.GetSurveyRequest(id="x"),
                                  F.Survey, self.key), grpc.StatusCode.INVALID_ARGUMENT)

    def test_list_surveys_pages_newest_first(self):
        prog = programme(self.key)
        made = [survey(self.key, prog.id, "Survey %d" % i) for i in range(3)]
        survey(self.key, self.prog.id, "Another programme's")
        status, page1 = rest("GET", "/v1/programmes/%s/surveys?pageSize=2" % prog.id,
                             key=self.key)
        self.assertEqual(status, 200, page1)
        self.assertEqual([s["id"] for s in page1["surveys"]], [made[2].id, made[1].id])
        self.assertEqual(page1["surveys"][0]["questions"][0]["id"], "q1")
        self.assertTrue(page1["nextPageToken"])
        status, page2 = rest("GET", "/v1/programmes/%s/surveys?pageSize=2&pageToken=%s"
                             % (prog.id, page1["nextPageToken"]), key=self.key)
        self.assertEqual(status, 200, page2)
        self.assertEqual([s["id"] for s in page2["surveys"]], [made[0].id])
        self.assertNotIn("nextPageToken", page2)
        whole = rpc("FeedbackService", "ListSurveys", F.ListSurveysRequest(programme_id=prog.id),
                    F.ListSurveysResponse, self.key)
        self.assertEqual(list(whole.surveys), list(reversed(made)))
        self.assertEqual(whole.next_page_token, "")

    def test_list_surveys_refuses_what_it_cannot_answer(self):
        status, body = rest("GET", "/v1/programmes/%s/surveys?pageToken=forged" % self.prog.id,
                            key=self.key)
        self.assertEqual(status, 400, body)
        status, body = rest("GET", "/v1/programmes/%s/surveys?pageSize=-1" % self.prog.id,
                            key=self.key)
        self.assertEqual(status, 400, body)
        status, body = rest("GET", "/v1/programmes/%s/surveys" % uuid.uuid4(), key=self.key)
        self.assertEqual(status, 404, body)
        self.assertEqual(
            rpc_fail("FeedbackService", "ListSurveys",
                     F.ListSurveysRequest(programme_id=self.prog.id), F.ListSurveysResponse,
                     self.other_key), grpc.StatusCode.NOT_FOUND)
        self.assertEqual(
            rpc_fail("FeedbackService", "ListSurveys", F.ListSurveysRequest(programme_id="p"),
                     F.ListSurveysResponse, self.key), grpc.StatusCode.INVALID_ARGUMENT)

    def test_reads_need_feedback_read(self):
        _, enrol_only = new_tenant(["enrolment:read"])
        status, body = rest("GET", "/v1/surveys/%s" % self.survey.id, key=enrol_only)
        self.assertEqual(status, 403, body)
        status, body = rest("GET", "/v1/programmes/%s/surveys" % self.prog.id, key=enrol_only)
        self.assertEqual(status, 403, body)
        status, body = rest("GET", "/v1/checkIns/%s" % uuid.uuid4(), key=enrol_only)
        self.assertEqual(status, 403, body)


class CheckIns(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tenant, cls.key = new_tenant(ALL)
        cls.other_tenant, cls.other_key = new_tenant(ALL)
        prog = programme(cls.key)
        people = rpc("EnrolmentService", "BatchEnrol", E.BatchEnrolRequest(
            programme_id=prog.id, participants=[
                E.Participant(external_id="mentor-%s" % uuid.uuid4().hex[:6],
                              display_name="Mentor", role=common_pb2.MENTOR),
                E.Participant(external_id="mentee-%s" % uuid.uuid4().hex[:6],
                              display_name="Mentee", role=common_pb2.MENTEE)]),
            E.BatchEnrolResponse, cls.key)
        mentor, mentee = (r.participant for r in people.results)
        match = M.Match(id=str(uuid.uuid4()), programme_id=prog.id, mentor_id=mentor.id,
                        mentee_id=mentee.id, status=M.Match.ACTIVE, create_time=ts(3),
                        start_time=ts(2))
        with LOCK:
            MATCHES[(cls.tenant, match.id)] = match
        cls.match = match
        cls.check_in = rpc("FeedbackService", "RecordCheckIn", F.RecordCheckInRequest(
            match_id=match.id, participant_id=mentee.id, occurred_time=ts(1),
            duration_minutes=45, topics=["career"], rating=4,
            goal_progress=[F.GoalProgress(objective_key="digital", percent=30)],
            notes="private to the pair"), F.CheckIn, cls.key)

    def test_get_check_in_answers_it_without_notes(self):
        self.assertEqual(self.check_in.notes, "private to the pair")
        status, body = rest("GET", "/v1/checkIns/%s" % self.check_in.id, key=self.key)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["id"], self.check_in.id)
        self.assertEqual(body["matchId"], self.match.id)
        self.assertEqual(body["programmeId"], self.match.programme_id)
        self.assertEqual(body["participantId"], self.match.mentee_id)
        self.assertEqual(body["rating"], 4)
        self.assertEqual(body["durationMinutes"], 45)
        self.assertEqual(body["topics"], ["career"])
        self.assertEqual(body["goalProgress"], [{"objectiveKey": "digital", "percent": 30}])
        self.assertNotIn("notes", body)
        got = rpc("FeedbackService", "GetCheckIn", F.GetCheckInRequest(id=self.check_in.id),
                  F.CheckIn, self.key)
        expected = F.CheckIn()
        expected.CopyFrom(self.check_in)
        expected.notes = ""
        self.assertEqual(got, expected)

    def test_get_check_in_of_another_tenant_or_unknown_is_not_found(self):
        for cid, key in ((self.check_in.id, self.other_key), (str(uuid.uuid4()), self.key)):
            with self.subTest(check_in=cid):
                status, body = rest("GET", "/v1/checkIns/%s" % cid, key=key)
                self.assertEqual(status, 404, body)
                self.assertEqual(
                    rpc_fail("FeedbackService", "GetCheckIn", F.GetCheckInRequest(id=cid),
                             F.CheckIn, key), grpc.StatusCode.NOT_FOUND)

    def test_get_check_in_with_a_malformed_id_names_the_field(self):
        status, body = rest("GET", "/v1/checkIns/zzz", key=self.key)
        self.assertEqual(status, 400, body)
        self.assertIn("id", {d.get("field") for d in body.get("details", [])})


if __name__ == "__main__":
    unittest.main()
