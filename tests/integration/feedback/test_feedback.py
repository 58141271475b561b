"""FeedbackService through its gRPC API, against real PostgreSQL.

One Stack (scratch database + the real tandem-enrolment + tandem-feedback) per
module. Matching is stood in for by a small grpcio server on its configured port
that implements GetMatch and ListMatches (paged) with the generated
tandem.v1.matching_pb2 messages, over matches the tests put in it directly, keyed
by the tenant of the caller's request context - so another tenant's match is
NOT_FOUND exactly as the real service answers. It also answers enrolment's
PersonDataService calls, so ErasePerson can run end to end.

Time is controlled by the data: check-ins and match starts carry past times.
Expected figures are computed here, independently, from the same inputs.
"""
import datetime
import os
import sys
import threading
import unittest
import uuid
from concurrent import futures

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

import grpc  # noqa: E402
from google.protobuf import timestamp_pb2, wrappers_pb2  # noqa: E402
from tandem.internal.v1 import context_pb2, erasure_pb2, report_inputs_pb2  # noqa: E402
import pgarray  # noqa: E402
from tandem.v1 import common_pb2, enrolment_pb2, feedback_pb2, matching_pb2  # noqa: E402

E, F, M = enrolment_pb2, feedback_pb2, matching_pb2
STACK = None
PEER = None
MATCHES = {}  # (tenant, match id) -> Match
LOCK = threading.Lock()

ADMIN = 0x01
ENROL_READ, ENROL_WRITE = 0x02, 0x04
FB_READ, FB_WRITE = 0x20, 0x40


# ---- the stand-in matching service ----------------------------------------------------

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


def list_matches(req, ctx):
    t = caller_tenant(ctx)
    with LOCK:
        ms = sorted((m for (mt, _), m in MATCHES.items()
                     if mt == t and m.programme_id == req.programme_id), key=lambda m: m.id)
    start = int(req.page_token or "0")
    size = req.page_size or 50
    page = ms[start:start + size]
    nxt = str(start + size) if start + size < len(ms) else ""
    return M.ListMatchesResponse(matches=page, next_page_token=nxt)


def start_matching(port):
    def unary(fn, req_type):
        return grpc.unary_unary_rpc_method_handler(
            fn, request_deserializer=req_type.FromString,
            response_serializer=lambda m: m.SerializeToString())

    matching = grpc.method_handlers_generic_handler("tandem.v1.MatchingService", {
        "GetMatch": unary(get_match, M.GetMatchRequest),
        "ListMatches": unary(list_matches, M.ListMatchesRequest),
    })
    persondata = grpc.method_handlers_generic_handler("tandem.internal.v1.PersonDataService", {
        "ExportParticipants": unary(lambda r, c: erasure_pb2.ExportParticipantsResponse(),
                                    erasure_pb2.ExportParticipantsRequest),
        "EraseParticipants": unary(lambda r, c: erasure_pb2.EraseParticipantsResponse(
            counts=common_pb2.ErasureCounts()), erasure_pb2.EraseParticipantsRequest),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((matching, persondata))
    server.add_insecure_port("127.0.0.1:%d" % port)
    server.start()
    return server


def setUpModule():
    global STACK, PEER
    STACK = harness.Stack("fb")
    PEER = start_matching(STACK.ports["matching"])
    STACK.start("enrolment")
    STACK.start("feedback")


def tearDownModule():
    if PEER is not None:
        PEER.stop(0)
    if STACK is not None:
        STACK.close()


# ---- helpers ----------------------------------------------------------------------------

def call(svc, path, req, resp_type, tenant, scopes=harness.ALL_SCOPES, idem=None, timeout=60,
         person=None):
    md = harness.Stack.context(tenant, scopes=scopes, person=person)
    if idem:
        md.append(("idempotency-key", idem))
    ch = STACK.channel(svc)
    try:
        fn = ch.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                            response_deserializer=resp_type.FromString)
        return fn(req, metadata=md, timeout=timeout)
    finally:
        ch.close()


def fb(method, req, resp_type, tenant, **kw):
    return call("feedback", "/tandem.v1.FeedbackService/" + method, req, resp_type, tenant, **kw)


def fb_fail(method, req, resp_type, tenant, **kw):
    try:
        fb(method, req, resp_type, tenant, **kw)
    except grpc.RpcError as e:
        return e
    raise AssertionError("%s succeeded unexpectedly" % method)


def enrol_call(method, req, resp_type, tenant, **kw):
    return call("enrolment", "/tandem.v1.EnrolmentService/" + method, req, resp_type, tenant,
                **kw)


def violations(err):
    from google.rpc import error_details_pb2, status_pb2
    fields = []
    for k, v in (err.trailing_metadata() or ()):
        if k == "grpc-status-details-bin":
            for d in status_pb2.Status.FromString(v).details:
                br = error_details_pb2.BadRequest()
                if d.Unpack(br):
                    fields += [f.field for f in br.field_violations]
    return fields


def tenant():
    return str(uuid.uuid4())


def ts(days_ago=0.0, hours_ago=0.0):
    t = timestamp_pb2.Timestamp()
    t.FromDatetime(datetime.datetime.utcnow()
                   - datetime.timedelta(days=days_ago, hours=hours_ago))
    return t


def programme(t, threshold=5, cadence=14, objectives=("digital", "inclusion")):
    p = E.Programme(name="Reverse mentoring", kind=E.REVERSE, status=E.Programme.ACTIVE,
                    anonymity_threshold=threshold, check_in_cadence_days=cadence,
                    objectives=[E.Objective(key=k, title=k.title()) for k in objectives])
    return enrol_call("CreateProgramme", E.CreateProgrammeRequest(programme=p), E.Programme, t)


def people(t, prog_id, rows):
    """rows: dicts of Participant fields; returns the participants, in order."""
    parts = []
    for i, r in enumerate(rows):
        r = dict(r)
        r.setdefault("external_id", "p-%d-%s" % (i, uuid.uuid4().hex[:6]))
        r.setdefault("display_name", "Person %d" % i)
        r.setdefault("role", common_pb2.MENTOR if i % 2 == 0 else common_pb2.MENTEE)
        div = r.pop("diversity", None)
        if div is not None:
            r["diversity"] = E.Diversity(**div)
            r["consent"] = E.Consent(data_processing=True, diversity_data=True)
        parts.append(E.Participant(**r))
    resp = enrol_call("BatchEnrol", E.BatchEnrolRequest(programme_id=prog_id, participants=parts),
                      E.BatchEnrolResponse, t)
    out = []
    for res in resp.results:
        assert res.HasField("participant"), res
        out.append(res.participant)
    return out


def add_match(t, prog_id, mentor, mentee, status=M.Match.ACTIVE, start_days_ago=1.0,
              declined_by=None):
    m = M.Match(id=str(uuid.uuid4()), programme_id=prog_id, mentor_id=mentor.id,
                mentee_id=mentee.id, status=status, create_time=ts(start_days_ago + 1),
                start_time=ts(start_days_ago))
    if declined_by == "mentor":
        m.mentor_response.decision = M.MatchResponse.DECLINED
    elif declined_by == "mentee":
        m.mentee_response.decision = M.MatchResponse.DECLINED
    with LOCK:
        MATCHES[(t, m.id)] = m
    return m


def check_in(t, match, by, rating=4, days_ago=1.0, notes="", goals=(), idem=None, **kw):
    req = F.RecordCheckInRequest(match_id=match.id, participant_id=by.id,
                                 occurred_time=ts(days_ago), rating=rating, notes=notes,
                                 goal_progress=[F.GoalProgress(objective_key=k, percent=p)
                                                for k, p in goals], **kw)
    return fb("RecordCheckIn", req, F.CheckIn, t, idem=idem)


def pair(t, threshold=5, cadence=14):
    prog = programme(t, threshold=threshold, cadence=cadence)
    mentor, mentee = people(t, prog.id, [{"role": common_pb2.MENTOR},
                                         {"role": common_pb2.MENTEE}])
    return prog, mentor, mentee, add_match(t, prog.id, mentor, mentee)


def outbox(t, event_type):
    return int(harness.psql(STACK.super_url,
                            "SELECT count(*) FROM feedback.outbox WHERE tenant_id = '%s'"
                            " AND type = '%s'" % (t, event_type)))


# ---- check-ins ------------------------------------------------------------------------------

class CheckInTest(unittest.TestCase):
    def test_every_validation_rule_names_its_field(self):
        t = tenant()
        prog, mentor, mentee, m = pair(t)
        cases = [
            (dict(match_id="nope"), "match_id"),
            (dict(participant_id=""), "participant_id"),
            (dict(participant_id="x"), "participant_id"),
            (dict(occurred_time=None), "occurred_time"),
            (dict(occurred_time=ts(hours_ago=-2)), "occurred_time"),
            (dict(occurred_time=ts(days_ago=366)), "occurred_time"),
            (dict(duration_minutes=601), "duration_minutes"),
            (dict(duration_minutes=-1), "duration_minutes"),
            (dict(rating=0), "rating"),
            (dict(rating=6), "rating"),
            (dict(topics=["t%d" % i for i in range(21)]), "topics"),
            (dict(topics=["x" * 101]), "topics[0]"),
            (dict(topics=[""]), "topics[0]"),
            (dict(goal_progress=[F.GoalProgress(objective_key="digital", percent=101)]),
             "goal_progress[0].percent"),
            (dict(goal_progress=[F.GoalProgress(objective_key="digital", percent=5),
                                 F.GoalProgress(objective_key="digital", percent=6)]),
             "goal_progress[1].objective_key"),
            (dict(goal_progress=[F.GoalProgress(objective_key="k%d" % i, percent=1)
                                 for i in range(21)]), "goal_progress"),
            (dict(notes="n" * 10001), "notes"),
        ]
        for change, field in cases:
            base = dict(match_id=m.id, participant_id=mentor.id, occurred_time=ts(1), rating=4)
            base.update(change)
            if base["occurred_time"] is None:
                del base["occurred_time"]
            e = fb_fail("RecordCheckIn", F.RecordCheckInRequest(**base), F.CheckIn, t)
            self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT, field)
            self.assertIn(field, violations(e), (field, violations(e)))
        # An objective the programme does not have (checked against enrolment).
        e = fb_fail("RecordCheckIn", F.RecordCheckInRequest(
            match_id=m.id, participant_id=mentor.id, occurred_time=ts(1), rating=4,
            goal_progress=[F.GoalProgress(objective_key="unknown", percent=5)]), F.CheckIn, t)
        self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("goal_progress[0].objective_key", violations(e))

    def test_limits_accepted_and_past_the_match_start(self):
        t = tenant()
        prog, mentor, mentee, m = pair(t)
        c = check_in(t, m, mentee, rating=5, days_ago=364, duration_minutes=600,
                     topics=["AI", "legal tech"], goals=[("digital", 100), ("inclusion", 0)])
        self.assertEqual(c.match_id, m.id)
        self.assertEqual(c.programme_id, prog.id)
        self.assertEqual(list(c.topics), ["AI", "legal tech"])
        self.assertEqual(c.duration_minutes, 600)
        self.assertEqual(outbox(t, "check_in.recorded"), 1)

    def test_participant_outside_the_match_cannot_record(self):
        t = tenant()
        prog, mentor, mentee, m = pair(t)
        (stranger,) = people(t, prog.id, [{"role": common_pb2.MENTEE}])
        req = F.RecordCheckInRequest(match_id=m.id, participant_id=stranger.id,
                                     occurred_time=ts(1), rating=4)
        e = fb_fail("RecordCheckIn", req, F.CheckIn, t)
        self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("participant_id", violations(e))

    def test_match_must_be_accepted_or_active(self):
        t = tenant()
        prog, mentor, mentee, _ = pair(t)
        for status in (M.Match.PROPOSED, M.Match.DECLINED, M.Match.ENDED):
            m = add_match(t, prog.id, mentor, mentee, status=status)
            e = fb_fail("RecordCheckIn", F.RecordCheckInRequest(
                match_id=m.id, participant_id=mentor.id, occurred_time=ts(1), rating=3),
                F.CheckIn, t)
            self.assertEqual(e.code(), grpc.StatusCode.FAILED_PRECONDITION)

    def test_another_tenant_sees_not_found(self):
        t, other = tenant(), tenant()
        prog, mentor, mentee, m = pair(t)
        check_in(t, m, mentor)
        req = F.RecordCheckInRequest(match_id=m.id, participant_id=mentor.id,
                                     occurred_time=ts(1), rating=4)
        self.assertEqual(fb_fail("RecordCheckIn", req, F.CheckIn, other).code(),
                         grpc.StatusCode.NOT_FOUND)
        self.assertEqual(fb_fail("ListCheckIns", F.ListCheckInsRequest(match_id=m.id),
                                 F.ListCheckInsResponse, other).code(),
                         grpc.StatusCode.NOT_FOUND)
        self.assertEqual(fb_fail("GetProgrammeReport",
                                 F.GetProgrammeReportRequest(programme_id=prog.id),
                                 F.ProgrammeReport, other).code(), grpc.StatusCode.NOT_FOUND)

    def test_notes_only_for_a_side_and_pages_latest_first(self):
        t = tenant()
        prog, mentor, mentee, m = pair(t)
        days = [5, 1, 9, 3, 7, 2, 8]
        for d in days:
            check_in(t, m, mentor, days_ago=d, notes="private %d" % d)
        (stranger,) = people(t, prog.id, [{"role": common_pb2.MENTOR}])
        seen, token = [], ""
        while True:
            r = fb("ListCheckIns", F.ListCheckInsRequest(match_id=m.id, page_size=3,
                                                        page_token=token,
                                                        participant_id=stranger.id),
                   F.ListCheckInsResponse, t)
            seen += list(r.check_ins)
            token = r.next_page_token
            if not token:
                break
            # A check-in recorded between pages lands before the cursor.
            check_in(t, m, mentee, days_ago=0.01) if len(seen) == 3 else None
        self.assertEqual([c.notes for c in seen[:7]], [""] * 7)
        times = [c.occurred_time.ToMicroseconds() for c in seen]
        self.assertEqual(times, sorted(times, reverse=True))
        self.assertEqual(len(seen), len(days))  # the late one is newer than the cursor
        # An API key naming a side proves nothing: no notes. A participant token
        # (its context) of a side reads them.
        named = fb("ListCheckIns", F.ListCheckInsRequest(match_id=m.id, page_size=100,
                                                        participant_id=mentee.id),
                   F.ListCheckInsResponse, t)
        self.assertEqual({c.notes for c in named.check_ins}, {""})
        mine = fb("ListCheckIns", F.ListCheckInsRequest(match_id=m.id, page_size=100),
                  F.ListCheckInsResponse, t, person=(mentee.id, prog.id))
        self.assertIn("private 5", [c.notes for c in mine.check_ins])
        bad = fb_fail("ListCheckIns", F.ListCheckInsRequest(match_id=m.id, page_token="zz!"),
                      F.ListCheckInsResponse, t)
        self.assertEqual(bad.code(), grpc.StatusCode.INVALID_ARGUMENT)

    def test_idempotency_key_replays_and_refuses_a_different_body(self):
        t = tenant()
        prog, mentor, mentee, m = pair(t)
        req = F.RecordCheckInRequest(match_id=m.id, participant_id=mentor.id,
                                     occurred_time=ts(1), rating=4)
        a = fb("RecordCheckIn", req, F.CheckIn, t, idem="k-1")
        b = fb("RecordCheckIn", req, F.CheckIn, t, idem="k-1")
        self.assertEqual(a.id, b.id)
        req.rating = 2
        e = fb_fail("RecordCheckIn", req, F.CheckIn, t, idem="k-1")
        self.assertEqual(e.code(), grpc.StatusCode.ABORTED)
        self.assertEqual(outbox(t, "check_in.recorded"), 1)

    def test_scopes(self):
        t = tenant()
        prog, mentor, mentee, m = pair(t)
        req = F.RecordCheckInRequest(match_id=m.id, participant_id=mentor.id,
                                     occurred_time=ts(1), rating=4)
        e = fb_fail("RecordCheckIn", req, F.CheckIn, t, scopes=FB_READ)
        self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)
        fb("RecordCheckIn", req, F.CheckIn, t, scopes=FB_WRITE)


# ---- surveys --------------------------------------------------------------------------------

def survey(t, prog_id, questions=None):
    qs = questions or [
        F.Question(id="rate", text="How useful?", kind=F.RATING_1_5, required=True),
        F.Question(id="nps", text="Recommend?", kind=F.NPS_0_10, required=True),
        F.Question(id="why", text="Why?", kind=F.TEXT),
        F.Question(id="fmt", text="Format?", kind=F.CHOICE, choices=["online", "in person"]),
    ]
    return fb("CreateSurvey", F.CreateSurveyRequest(
        programme_id=prog_id, survey=F.Survey(title="Mid-term", questions=qs)), F.Survey, t)


def answer(t, s, who, nps=9, rate=4, text="", choice=""):
    ans = [F.Answer(question_id="rate", score=wrappers_pb2.Int32Value(value=rate)),
           F.Answer(question_id="nps", score=wrappers_pb2.Int32Value(value=nps))]
    if text:
        ans.append(F.Answer(question_id="why", text=text))
    if choice:
        ans.append(F.Answer(question_id="fmt", choice=choice))
    return fb("SubmitSurveyResponse", F.SubmitSurveyResponseRequest(
        survey_id=s.id, participant_id=who.id, answers=ans), F.SurveyResponse, t)


class SurveyTest(unittest.TestCase):
    def test_survey_validation(self):
        t = tenant()
        prog = programme(t)
        bad = F.Survey(title="", questions=[
            F.Question(id="a b", text="x", kind=F.TEXT),
            F.Question(id="q", text="", kind=0),
            F.Question(id="q", text="y", kind=F.CHOICE, choices=["only"]),
            F.Question(id="r", text="y", kind=F.RATING_1_5, choices=["a", "b"]),
            F.Question(id="c", text="y", kind=F.CHOICE, choices=["a", "a"]),
        ])
        e = fb_fail("CreateSurvey", F.CreateSurveyRequest(programme_id=prog.id, survey=bad),
                    F.Survey, t)
        self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT)
        f = violations(e)
        for field in ("survey.title", "survey.questions[0].id", "survey.questions[1].text",
                      "survey.questions[1].kind", "survey.questions[2].id",
                      "survey.questions[2].choices", "survey.questions[3].choices",
                      "survey.questions[4].choices[1]"):
            self.assertIn(field, f)
        e = fb_fail("CreateSurvey", F.CreateSurveyRequest(programme_id=prog.id,
                                                          survey=F.Survey(title="x")),
                    F.Survey, t)
        self.assertIn("survey.questions", violations(e))
        e = fb_fail("CreateSurvey", F.CreateSurveyRequest(
            programme_id=str(uuid.uuid4()), survey=F.Survey(title="x", questions=[
                F.Question(id="q", text="t", kind=F.TEXT)])), F.Survey, t)
        self.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND)

    def test_answers_checked_against_their_kind(self):
        t = tenant()
        prog = programme(t)
        (p,) = people(t, prog.id, [{}])
        s = survey(t, prog.id)
        self.assertEqual([q.id for q in s.questions], ["rate", "nps", "why", "fmt"])
        I32 = wrappers_pb2.Int32Value
        cases = [
            ([F.Answer(question_id="rate", score=I32(value=6)),
              F.Answer(question_id="nps", score=I32(value=5))], "answers[0].score"),
            ([F.Answer(question_id="rate", score=I32(value=3)),
              F.Answer(question_id="nps", score=I32(value=11))], "answers[1].score"),
            ([F.Answer(question_id="rate", text="five"),
              F.Answer(question_id="nps", score=I32(value=5))], "answers[0].score"),
            ([F.Answer(question_id="rate", score=I32(value=3)),
              F.Answer(question_id="nps", score=I32(value=5)),
              F.Answer(question_id="fmt", choice="by post")], "answers[2].choice"),
            ([F.Answer(question_id="rate", score=I32(value=3)),
              F.Answer(question_id="nps", score=I32(value=5)),
              F.Answer(question_id="why", score=I32(value=1))], "answers[2].score"),
            ([F.Answer(question_id="rate", score=I32(value=3)),
              F.Answer(question_id="nps", score=I32(value=5)),
              F.Answer(question_id="why", text="x" * 5001)], "answers[2].text"),
            ([F.Answer(question_id="rate", score=I32(value=3)),
              F.Answer(question_id="nps", score=I32(value=5)),
              F.Answer(question_id="nope", text="x")], "answers[2].question_id"),
            ([F.Answer(question_id="rate", score=I32(value=3)),
              F.Answer(question_id="rate", score=I32(value=3)),
              F.Answer(question_id="nps", score=I32(value=5))], "answers[1].question_id"),
            ([F.Answer(question_id="rate", score=I32(value=3))], "answers"),
        ]
        for answers, field in cases:
            e = fb_fail("SubmitSurveyResponse", F.SubmitSurveyResponseRequest(
                survey_id=s.id, participant_id=p.id, answers=answers), F.SurveyResponse, t)
            self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT, field)
            self.assertIn(field, violations(e), field)

    def test_one_response_per_participant(self):
        t = tenant()
        prog = programme(t)
        a, b = people(t, prog.id, [{}, {}])
        s = survey(t, prog.id)
        r = answer(t, s, a, text="helpful", choice="online")
        self.assertEqual(r.survey_id, s.id)
        self.assertEqual(r.programme_id, prog.id)
        e = fb_fail("SubmitSurveyResponse", F.SubmitSurveyResponseRequest(
            survey_id=s.id, participant_id=a.id, answers=[
                F.Answer(question_id="rate", score=wrappers_pb2.Int32Value(value=1)),
                F.Answer(question_id="nps", score=wrappers_pb2.Int32Value(value=1))]),
            F.SurveyResponse, t)
        self.assertEqual(e.code(), grpc.StatusCode.ALREADY_EXISTS)
        answer(t, s, b)
        # Someone of another programme is not a respondent of this survey.
        other = programme(t)
        (x,) = people(t, other.id, [{}])
        e = fb_fail("SubmitSurveyResponse", F.SubmitSurveyResponseRequest(
            survey_id=s.id, participant_id=x.id, answers=[
                F.Answer(question_id="rate", score=wrappers_pb2.Int32Value(value=1)),
                F.Answer(question_id="nps", score=wrappers_pb2.Int32Value(value=1))]),
            F.SurveyResponse, t)
        self.assertEqual(e.code(), grpc.StatusCode.FAILED_PRECONDITION)
        e = fb_fail("SubmitSurveyResponse", F.SubmitSurveyResponseRequest(
            survey_id=s.id, participant_id=a.id), F.SurveyResponse, tenant())
        self.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND)


# ---- the report -------------------------------------------------------------------------------

def nps_of(scores):
    return 100.0 * (sum(s >= 9 for s in scores) - sum(s <= 6 for s in scores)) / len(scores)


def group(report, dimension):
    for b in report.breakdowns:
        if b.dimension == dimension:
            return b
    return None


class ReportTest(unittest.TestCase):
    def test_figures_equal_independent_computation(self):
        t = tenant()
        prog = programme(t, threshold=3)
        offices = ["London"] * 6 + ["Paris"] * 4 + ["Oslo"] * 1 + ["Rome"] * 1
        rows = [{"office": o, "practice_area": "Disputes" if i < 8 else "Tax",
                 "seniority_level": i % 11} for i, o in enumerate(offices)]
        ps = people(t, prog.id, rows)
        mentors = [p for p in ps if p.role == common_pb2.MENTOR]
        mentees = [p for p in ps if p.role == common_pb2.MENTEE]
        ms = [add_match(t, prog.id, mentors[i], mentees[i]) for i in range(5)]
        ms.append(add_match(t, prog.id, mentors[5], mentees[5], status=M.Match.ENDED))
        ratings, progress = [], {}
        plan = [(0, 5, 3, [("digital", 10)]), (0, 4, 2, [("digital", 30)]),
                (1, 2, 4, [("digital", 50), ("inclusion", 20)]), (2, 3, 1, []),
                (3, 5, 6, [("inclusion", 70)]), (4, 1, 2, [])]
        for mi, rating, days, goals in plan:
            check_in(t, ms[mi], mentors[mi], rating=rating, days_ago=days, goals=goals,
                     notes="SECRET-NOTE-%d" % mi)
            ratings.append(rating)
            for k, pct in goals:
                prev = progress.get((mi, k))
                if prev is None or days < prev[0]:
                    progress[(mi, k)] = (days, pct)
        s1 = survey(t, prog.id)
        survey(t, prog.id, [F.Question(id="q", text="t", kind=F.TEXT)])
        nps_scores = [10, 9, 7, 3, 0]
        for p, score in zip(ps, nps_scores):
            answer(t, s1, p, nps=score, text="FREE-TEXT-ANSWER")
        rep = fb("GetProgrammeReport", F.GetProgrammeReportRequest(programme_id=prog.id),
                 F.ProgrammeReport, t)
        self.assertEqual(rep.enrolled_mentors, len(mentors))
        self.assertEqual(rep.enrolled_mentees, len(mentees))
        self.assertEqual(rep.matched, 10)  # the ENDED match's pair is not live
        self.assertEqual(rep.active_matches, 5)
        self.assertEqual(rep.check_ins, len(ratings))
        self.assertAlmostEqual(rep.mean_rating, sum(ratings) / len(ratings), places=12)
        # Survey figures move in steps of the threshold: the first 3 of 5 responses.
        counted = nps_scores[:3]
        self.assertAlmostEqual(rep.nps.value, nps_of(counted), places=12)
        self.assertEqual(rep.surveys, 2)
        self.assertEqual(rep.survey_responses, 3)
        self.assertAlmostEqual(rep.survey_response_rate, 3 / (2 * len(ps)), places=12)
        self.assertEqual(rep.anonymity_threshold, 3)
        got = {o.objective_key: (o.mean_percent, o.matches_reporting)
               for o in rep.objective_progress}
        for key in ("digital", "inclusion"):
            vals = [pct for (mi, k), (_, pct) in progress.items() if k == key]
            self.assertAlmostEqual(got[key][0], sum(vals) / len(vals), places=12)
            self.assertEqual(got[key][1], len(vals))
        # Offices: Oslo and Rome are under 3 (suppressed); two suppressed groups
        # cannot be told apart, so London and Paris stay.
        office = group(rep, "office")
        self.assertEqual({g.key: g.count for g in office.groups}, {"London": 6, "Paris": 4})
        self.assertEqual(office.suppressed_groups, 2)
        london = [g for g in office.groups if g.key == "London"][0]
        london_ids = {p.id for p, o in zip(ps, offices) if o == "London"}
        london_matches = [i for i, m in enumerate(ms)
                          if m.mentor_id in london_ids or m.mentee_id in london_ids]
        lr = [r for (mi, r, _, _) in plan if mi in london_matches]
        self.assertEqual(london.check_ins, len(lr))
        self.assertAlmostEqual(london.mean_rating, sum(lr) / len(lr), places=12)
        self.assertEqual(london.matched, len([i for i in london_ids
                                              if any(i in (m.mentor_id, m.mentee_id)
                                                     for m in ms[:5])]))
        london_nps = [s for p, s in zip(ps, counted) if p.id in london_ids]
        self.assertAlmostEqual(london.nps.value, nps_of(london_nps), places=12)
        # Paris is large enough to show, but its mean rating rests on 2 check-ins and
        # its members gave no NPS answer: neither figure is shown.
        paris = [g for g in office.groups if g.key == "Paris"][0]
        self.assertEqual(paris.check_ins, 2)
        self.assertEqual(paris.mean_rating, 0)
        self.assertFalse(paris.HasField("nps"))
        # Practice areas: Tax (4) shown, Disputes (8) shown.
        self.assertEqual(group(rep, "practice_area").suppressed_groups, 0)
        # Nothing private in the report's bytes.
        raw = rep.SerializeToString()
        self.assertNotIn(b"SECRET-NOTE", raw)
        self.assertNotIn(b"FREE-TEXT", raw)

    def test_complementary_suppression(self):
        t = tenant()
        prog = programme(t, threshold=3)
        offices = ["London"] * 5 + ["Paris"] * 3 + ["Oslo"] * 2
        ps = people(t, prog.id, [{"office": o} for o in offices])
        self.assertEqual(len(ps), 10)
        rep = fb("GetProgrammeReport", F.GetProgrammeReportRequest(programme_id=prog.id),
                 F.ProgrammeReport, t)
        office = group(rep, "office")
        # Oslo (2) is under the threshold; alone it would be 10 - 5 - 3, so the
        # smallest shown group (Paris) is suppressed with it.
        self.assertEqual([g.key for g in office.groups], ["London"])
        self.assertEqual(office.suppressed_groups, 2)
        self.assertIsNone(rep.nps.value if rep.HasField("nps") else None)
        self.assertEqual(rep.survey_response_rate, 0)
        self.assertEqual(rep.mean_rating, 0)

    def test_diversity_only_for_admins_and_consented(self):
        t = tenant()
        prog = programme(t, threshold=3)
        rows = [{"office": "London", "diversity": {"gender": "woman"}} for _ in range(4)]
        rows += [{"office": "London", "diversity": {"gender": "man"}} for _ in range(3)]
        people(t, prog.id, rows)
        rep = fb("GetProgrammeReport", F.GetProgrammeReportRequest(programme_id=prog.id),
                 F.ProgrammeReport, t)
        gender = group(rep, "gender")
        self.assertEqual({g.key: g.count for g in gender.groups}, {"woman": 4, "man": 3})
        rep = fb("GetProgrammeReport", F.GetProgrammeReportRequest(programme_id=prog.id),
                 F.ProgrammeReport, t, scopes=FB_READ)
        self.assertEqual([b.dimension for b in rep.breakdowns],
                         ["office", "practice_area", "seniority_band"])


# ---- the report's inputs from enrolment (tandem.internal.v1) ------------------------------

class ParticipantColumnsTest(unittest.TestCase):
    """ListParticipantColumns answers what ListParticipants would, as columns, under the
    same tenant, scope and diversity rules. (The stand-in matching here serves no
    column call, so every report in this module also proves the UNIMPLEMENTED
    fallback to ListMatches.)"""

    def columns(self, t, prog_id, scopes=harness.ALL_SCOPES):
        return call("enrolment",
                    "/tandem.internal.v1.ParticipantColumnsService/ListParticipantColumns",
                    report_inputs_pb2.ListParticipantColumnsRequest(programme_id=prog_id),
                    report_inputs_pb2.ParticipantColumns, t, scopes=scopes)

    def test_columns_equal_the_participants_and_diversity_only_for_admins(self):
        t = tenant()
        prog = programme(t)
        ps = people(t, prog.id, [
            {"office": "London", "practice_area": "Tax", "seniority_level": 3,
             "diversity": {"gender": "woman", "first_generation_professional":
                           wrappers_pb2.BoolValue(value=True)}},
            {"office": "Paris", "seniority_level": 9},
            {"practice_area": "IP"}])
        enrol_call("WithdrawParticipant", E.WithdrawParticipantRequest(id=ps[2].id),
                   E.Participant, t)
        c = self.columns(t, prog.id)
        self.assertEqual((c.count, c.next_after), (3, 0))
        self.assertEqual(pgarray.uuids(c.id), [p.id for p in ps])
        self.assertEqual(pgarray.ints(c.role), [common_pb2.MENTOR, common_pb2.MENTEE,
                                                common_pb2.MENTOR])
        self.assertEqual(pgarray.ints(c.status), [1, 1, 3])
        self.assertEqual(pgarray.texts(c.office), ["London", "Paris", ""])
        self.assertEqual(pgarray.texts(c.practice_area), ["Tax", "", "IP"])
        self.assertEqual(pgarray.ints(c.seniority), [3, 9, 0])
        self.assertEqual(pgarray.texts(c.gender), ["woman", None, None])
        self.assertEqual(pgarray.texts(c.first_generation), ["yes", None, None])
        self.assertEqual(pgarray.texts(c.disability), [None, None, None])
        c = self.columns(t, prog.id, scopes=ENROL_READ)
        self.assertEqual(pgarray.texts(c.gender), [None, None, None])
        self.assertEqual(pgarray.texts(c.first_generation), [None, None, None])

    def test_tenant_and_scope_hold(self):
        t = tenant()
        prog = programme(t)
        people(t, prog.id, [{}])
        # feedback:read may read them (a feedback:read caller's report, with its own
        # scopes); feedback:write alone may not.
        self.assertEqual(self.columns(t, prog.id, scopes=FB_READ).count, 1)
        for other, scopes, code in ((tenant(), harness.ALL_SCOPES, grpc.StatusCode.NOT_FOUND),
                                    (t, FB_WRITE, grpc.StatusCode.PERMISSION_DENIED)):
            with self.assertRaises(grpc.RpcError) as e:
                self.columns(other, prog.id, scopes=scopes)
            self.assertEqual(e.exception.code(), code)
        empty = programme(t)
        c = self.columns(t, empty.id)
        self.assertEqual((c.count, c.next_after, c.id), (0, 0, b""))


# ---- at risk ------------------------------------------------------------------------------------

class AtRiskTest(unittest.TestCase):
    def listing(self, t, prog_id, page_size=50):
        out, token = [], ""
        while True:
            r = fb("ListAtRiskMatches", F.ListAtRiskMatchesRequest(
                programme_id=prog_id, page_size=page_size, page_token=token),
                F.ListAtRiskMatchesResponse, t)
            out += list(r.at_risk_matches)
            token = r.next_page_token
            if not token:
                return out

    def test_each_rule_on_its_own(self):
        t = tenant()
        prog = programme(t, cadence=7)
        ps = people(t, prog.id, [{} for _ in range(14)])
        pairs = [(ps[i], ps[i + 1]) for i in range(0, 14, 2)]
        healthy = add_match(t, prog.id, *pairs[0], start_days_ago=30)
        check_in(t, healthy, pairs[0][0], rating=4, days_ago=2)
        overdue = add_match(t, prog.id, *pairs[1], start_days_ago=60)
        check_in(t, overdue, pairs[1][0], rating=5, days_ago=15)  # > 2 x 7 days
        silent = add_match(t, prog.id, *pairs[2], start_days_ago=15)  # no check-in
        low = add_match(t, prog.id, *pairs[3], start_days_ago=3)
        check_in(t, low, pairs[3][1], rating=5, days_ago=2)
        check_in(t, low, pairs[3][1], rating=2, days_ago=1)
        # An older low rating does not make a match at risk: the latest counts.
        recovered = add_match(t, prog.id, *pairs[4], start_days_ago=3)
        check_in(t, recovered, pairs[4][0], rating=1, days_ago=2)
        check_in(t, recovered, pairs[4][0], rating=4, days_ago=1)
        declined = add_match(t, prog.id, *pairs[5], status=M.Match.ACCEPTED,
                             start_days_ago=1, declined_by="mentee")
        ended = add_match(t, prog.id, *pairs[6], status=M.Match.ENDED, start_days_ago=90)
        got = {x.match.id: list(x.reasons) for x in self.listing(t, prog.id, page_size=2)}
        self.assertEqual(got, {overdue.id: [F.CHECK_IN_OVERDUE],
                               silent.id: [F.CHECK_IN_OVERDUE],
                               low.id: [F.LOW_RATING],
                               declined.id: [F.PARTICIPANT_DECLINED]})
        self.assertNotIn(healthy.id, got)
        self.assertNotIn(ended.id, got)
        order = [x.match.id for x in self.listing(t, prog.id)]
        self.assertEqual(order[0], overdue.id)  # most overdue first
        rep = fb("GetProgrammeReport", F.GetProgrammeReportRequest(programme_id=prog.id),
                 F.ProgrammeReport, t)
        self.assertEqual(rep.at_risk_count, 4)
        # Listing emits nothing (a GET never writes; feedback's sweep does, and here
        # matching is a stand-in without an outbox to follow). The two events are
        # RecordCheckIn's: the low match's and the recovered match's LOW_RATING, each
        # opening an at-risk episode when a rating of 2 or less was the latest.
        self.listing(t, prog.id)
        self.assertEqual(outbox(t, "match.at_risk"), 2)
        last = [x for x in self.listing(t, prog.id) if x.match.id == low.id][0]
        self.assertEqual(last.last_rating, 2)


# ---- personal data ---------------------------------------------------------------------------------

class PersonDataTest(unittest.TestCase):
    def test_export_and_erase_keep_aggregates(self):
        t = tenant()
        prog, mentor, mentee, m = pair(t, threshold=3)
        check_in(t, m, mentor, rating=2, notes="mentor note", topics=["AI"])
        check_in(t, m, mentee, rating=5, notes="mentee note")
        s = survey(t, prog.id)
        answer(t, s, mentor, nps=10, text="very personal")
        before = fb("GetProgrammeReport", F.GetProgrammeReportRequest(programme_id=prog.id),
                    F.ProgrammeReport, t)

        def pd(method, resp_type):
            req_type = getattr(erasure_pb2, method + "Request")
            return call("feedback", "/tandem.internal.v1.PersonDataService/" + method,
                        req_type(participant_ids=[mentor.id]), resp_type, t)

        exp = pd("ExportParticipants", erasure_pb2.ExportParticipantsResponse)
        # Both check-ins of their match; only the notes they wrote.
        self.assertEqual(sorted(c.notes for c in exp.check_ins), ["", "mentor note"])
        self.assertEqual(len(exp.survey_responses), 1)
        erased = pd("EraseParticipants", erasure_pb2.EraseParticipantsResponse)
        self.assertEqual(erased.counts.check_ins, 1)
        self.assertEqual(erased.counts.survey_responses, 1)
        again = pd("EraseParticipants", erasure_pb2.EraseParticipantsResponse)
        self.assertEqual(again.counts.check_ins, 0)
        self.assertEqual(len(pd("ExportParticipants",
                                erasure_pb2.ExportParticipantsResponse).check_ins), 0)
        left = harness.psql(STACK.super_url,
                            "SELECT count(*) FROM feedback.check_ins WHERE tenant_id = '%s'"
                            " AND ('%s' IN (participant_id, mentor_id, mentee_id)"
                            " OR notes = 'mentor note')" % (t, mentor.id))
        self.assertEqual(left, "0")
        texts = harness.psql(STACK.super_url,
                             "SELECT count(*) FROM feedback.survey_answers WHERE tenant_id = '%s'"
                             " AND text IS NOT NULL" % t)
        self.assertEqual(texts, "0")
        after = fb("GetProgrammeReport", F.GetProgrammeReportRequest(programme_id=prog.id),
                   F.ProgrammeReport, t)
        self.assertEqual(after.check_ins, before.check_ins)
        self.assertEqual(after.mean_rating, before.mean_rating)
        self.assertEqual(after.nps, before.nps)
        self.assertEqual(after.survey_responses, before.survey_responses)
        e = None
        try:
            call("feedback", "/tandem.internal.v1.PersonDataService/EraseParticipants",
                 erasure_pb2.EraseParticipantsRequest(participant_ids=[mentor.id]),
                 erasure_pb2.EraseParticipantsResponse, t, scopes=FB_WRITE)
        except grpc.RpcError as err:
            e = err
        self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)

    def test_erase_person_through_enrolment(self):
        t = tenant()
        prog, mentor, mentee, m = pair(t)
        check_in(t, m, mentee, rating=4, notes="to be forgotten")
        exp = enrol_call("ExportPerson", E.ExportPersonRequest(external_id=mentee.external_id),
                         E.PersonExport, t)
        self.assertEqual([c.notes for c in exp.check_ins], ["to be forgotten"])
        out = enrol_call("ErasePerson", E.ErasePersonRequest(external_id=mentee.external_id),
                         E.ErasePersonResponse, t)
        self.assertEqual(out.feedback.check_ins, 1)
        rep = fb("GetProgrammeReport", F.GetProgrammeReportRequest(programme_id=prog.id),
                 F.ProgrammeReport, t)
        self.assertEqual(rep.check_ins, 1)
        # One person's rating: withheld by the anonymity rules, erased or not.
        self.assertIn("meanRating", rep.suppressed)


if __name__ == "__main__":
    unittest.main()
