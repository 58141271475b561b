"""GetProgrammeReport from maintained aggregates equals the from-scratch statement.

report_reference_sql.h here is services/feedback/report_sql.h as it was before the
aggregates of migration 060 (commit 4750ed8): it computes the report from the
responses, the NPS answers and each match's latest progress themselves. It is test
code only, never a product path. The service now reads only its maintained totals
in SQL and folds them with the owners' rows in C (services/feedback/report_fold.c).

Each test builds a RANDOM programme through the real tandem-enrolment (BatchEnrol,
UpdateParticipant, WithdrawParticipant, ErasePerson), tandem-matching (its matches
table, written as ApproveRun and RespondToMatch leave it, as tools/bench/feedback
does) and tandem-feedback (RecordCheckIn, CreateSurvey, SubmitSurveyResponse), so the
aggregates are maintained by the product's own transactions. After every stage it
asks feedback for the report (admin and non-admin) at the programme's threshold and
at every threshold from 3 (the contract's least) to 40, set by UpdateProgramme
between the calls, and compares each, field by field, with the reference statement
run on the same inputs: the participant and match columns the owners answer (the
internal column calls feedback itself makes), as the service role under row-level
security.

The seed of each programme is printed; TANDEM_REPORT_SEED=<n> replays one.

Also: erasure leaves no total keyed by the person; concurrent check-ins never deadlock
on the per-objective totals and leave them right; migration 060's backfill equals
the totals the triggers keep.
"""
import datetime
import json
import os
import random
import re
import struct
import sys
import threading
import time
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "feedback"))
import harness  # noqa: E402
import pgarray  # noqa: E402

from google.protobuf import field_mask_pb2, timestamp_pb2, wrappers_pb2  # noqa: E402
from tandem.internal.v1 import report_inputs_pb2  # noqa: E402
from tandem.v1 import common_pb2, enrolment_pb2, feedback_pb2  # noqa: E402

E, F = enrolment_pb2, feedback_pb2
HERE = os.path.dirname(os.path.abspath(__file__))
STACK = None
ADMIN = 0x01
NON_ADMIN = harness.ALL_SCOPES & ~ADMIN
OFFICES = ["London", "Paris", "Oslo", ""]
AREAS = ["Tax", "IP", "Disputes"]
CADENCE = 7
ACTIVE, ACCEPTED, DECLINED, ENDED = 4, 2, 3, 5


def setUpModule():
    global STACK
    STACK = harness.Stack("repagg")
    STACK.start("enrolment")
    STACK.start("matching")
    STACK.start("feedback")


def tearDownModule():
    if STACK is not None:
        STACK.close()


def call(svc, path, req, resp_type, tenant, scopes=harness.ALL_SCOPES, timeout=60):
    ch = STACK.channel(svc)
    try:
        fn = ch.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                            response_deserializer=resp_type.FromString)
        return fn(req, metadata=harness.Stack.context(tenant, scopes=scopes), timeout=timeout)
    finally:
        ch.close()


def enrol(method, req, resp_type, t):
    return call("enrolment", "/tandem.v1.EnrolmentService/" + method, req, resp_type, t)


def fb(method, req, resp_type, t, **kw):
    return call("feedback", "/tandem.v1.FeedbackService/" + method, req, resp_type, t, **kw)


def ts(days_ago):
    t = timestamp_pb2.Timestamp()
    t.FromDatetime(datetime.datetime.utcnow() - datetime.timedelta(days=days_ago))
    return t


def days_ago(rnd, at_most=4 * CADENCE):
    """A random past time (days ago), never within an hour of the at-risk boundary (twice
    the cadence), so the report and the reference, a moment apart, agree on it."""
    while True:
        d = rnd.uniform(0.05, at_most)
        if abs(d - 2 * CADENCE) > 0.05:
            return d


# ---- the reference --------------------------------------------------------------------

def statement(path):
    """The SQL text of FB_REPORT_SQL in a report_sql.h (as tools/bench/feedback reads it)."""
    with open(path) as f:
        text = f.read()
    body = text[text.index("FB_REPORT_SQL[] ="):].split("=", 1)[1]
    body = body[:body.index(";\n")]
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    tenant = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"
    out = []
    for tok in re.finditer(r'"((?:[^"\\]|\\.)*)"|FB_T', body):
        out.append(tenant if tok.group(0) == "FB_T" else tok.group(1).replace('\\"', '"'))
    return "".join(out)


REFERENCE = statement(os.path.join(HERE, "report_reference_sql.h"))
TYPES = ["uuid", "int", "int", "text[]", "uuid[]", "int[]", "int[]", "text[]", "text[]",
         "int[]", "text[]", "text[]", "text[]", "text[]", "uuid[]", "uuid[]", "uuid[]",
         "int[]", "timestamptz[]", "bool[]", "bool"]
PG_EPOCH = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)


def literal(vals):
    def one(v):
        if v is None:
            return "NULL"
        if isinstance(v, bool):
            return "t" if v else "f"
        if isinstance(v, int):
            return str(v)
        return '"%s"' % str(v).replace("\\", "\\\\").replace('"', '\\"')
    return "{" + ",".join(one(v) for v in vals) + "}"


def timestamps(data):
    out = []
    for e in pgarray.elements(data):
        if e is None:
            out.append(None)
            continue
        (us,) = struct.unpack(">q", e)
        out.append((PG_EPOCH + datetime.timedelta(microseconds=us)).isoformat())
    return out


def inputs(t, prog, scopes):
    """The statement's 21 parameters as text, from the owners' column calls as feedback
    makes them (with the caller's scopes)."""
    pc = call("enrolment", "/tandem.internal.v1.ParticipantColumnsService/ListParticipantColumns",
              report_inputs_pb2.ListParticipantColumnsRequest(programme_id=prog.id),
              report_inputs_pb2.ParticipantColumns, t, scopes=scopes)
    mc = call("matching", "/tandem.internal.v1.MatchColumnsService/ListMatchColumns",
              report_inputs_pb2.ListMatchColumnsRequest(programme_id=prog.id),
              report_inputs_pb2.MatchColumns, t, scopes=scopes)
    assert pc.next_after == 0 and mc.next_after == 0
    threshold = prog.anonymity_threshold
    return [prog.id, str(threshold), str(prog.check_in_cadence_days),
            literal(o.key for o in prog.objectives),
            literal(pgarray.uuids(pc.id)), literal(pgarray.ints(pc.role)),
            literal(pgarray.ints(pc.status)), literal(pgarray.texts(pc.office)),
            literal(pgarray.texts(pc.practice_area)), literal(pgarray.ints(pc.seniority)),
            literal(pgarray.texts(pc.gender)), literal(pgarray.texts(pc.ethnicity)),
            literal(pgarray.texts(pc.first_generation)), literal(pgarray.texts(pc.disability)),
            literal(pgarray.uuids(mc.id)), literal(pgarray.uuids(mc.mentor_id)),
            literal(pgarray.uuids(mc.mentee_id)), literal(pgarray.ints(mc.status)),
            literal(timestamps(mc.start_time)), literal(pgarray.bools(mc.declined)),
            "true" if scopes & ADMIN else "false"]


def run_reference(t, params, thresholds):
    """The reference's JSON for each anonymity threshold in thresholds (in place of
    $2), run as the service role under row-level security."""
    lines = ["SET ROLE tandem_feedback;", "SET app.tenant_id = '%s';" % t]
    for i, v in enumerate(params):
        path = "/tmp/repagg-%s-p%d.txt" % (t, i)
        with open(path, "w") as f:
            f.write(v)
        lines.append("\\set p%d `cat %s`" % (i, path))
    lines.append("PREPARE ref(%s) AS %s;" % (", ".join(TYPES), REFERENCE))
    for k in thresholds:
        args = ", ".join("'%d'" % k if i == 1 else ":'p%d'" % i for i in range(len(params)))
        lines.append("EXECUTE ref(%s);" % args)
    try:
        out = harness.psql(STACK.super_url, "\n".join(lines) + "\n").splitlines()
    finally:
        for i in range(len(params)):
            os.unlink("/tmp/repagg-%s-p%d.txt" % (t, i))
    return [json.loads(x) for x in out]


def as_report(doc):
    """The statement's JSON as ProgrammeReport fields (services/feedback/rows.c's mapping:
    an absent number reads 0, an absent DoubleValue stays absent)."""
    def group(g):
        return {"key": g["key"], "count": g["count"], "matched": g["matched"],
                "check_ins": g["check_ins"], "mean_rating": g["mean_rating"] or 0.0,
                "nps": g["nps"], "suppressed": g["suppressed"]}
    return {
        "enrolled_mentors": doc["enrolled_mentors"], "enrolled_mentees": doc["enrolled_mentees"],
        "matched": doc["matched"], "active_matches": doc["active_matches"],
        "check_ins": doc["check_ins"], "mean_rating": doc["mean_rating"] or 0.0,
        "nps": doc["nps"], "suppressed": doc["suppressed"], "surveys": doc["surveys"],
        "survey_responses": doc["survey_responses"],
        "survey_respondents": doc["survey_respondents"],
        "survey_figures_as_of_us": doc["survey_figures_as_of_us"],
        "survey_response_rate": doc["survey_response_rate"],
        "at_risk_count": doc["at_risk_count"],
        "objective_progress": [(o["key"], o["mean"], o["n"]) for o in doc["objective_progress"]],
        "breakdowns": [(b["dimension"], [group(g) for g in b["groups"]], b["suppressed"])
                       for b in doc["breakdowns"]],
    }


def from_proto(rep):
    def opt(msg, field):
        return getattr(msg, field).value if msg.HasField(field) else None

    def group(g):
        return {"key": g.key, "count": g.count, "matched": g.matched, "check_ins": g.check_ins,
                "mean_rating": g.mean_rating, "nps": opt(g, "nps"),
                "suppressed": list(g.suppressed)}
    as_of = None
    if rep.HasField("survey_figures_as_of"):
        as_of = rep.survey_figures_as_of.seconds * 1000000 + rep.survey_figures_as_of.nanos // 1000
    return {
        "enrolled_mentors": rep.enrolled_mentors, "enrolled_mentees": rep.enrolled_mentees,
        "matched": rep.matched, "active_matches": rep.active_matches,
        "check_ins": rep.check_ins, "mean_rating": rep.mean_rating, "nps": opt(rep, "nps"),
        "suppressed": list(rep.suppressed), "surveys": rep.surveys,
        "survey_responses": rep.survey_responses,
        "survey_respondents": rep.survey_respondents,
        "survey_figures_as_of_us": as_of, "survey_response_rate": rep.survey_response_rate,
        "at_risk_count": rep.at_risk_count,
        "objective_progress": [(o.objective_key, o.mean_percent, o.matches_reporting)
                               for o in rep.objective_progress],
        "breakdowns": [(b.dimension, [group(g) for g in b.groups], b.suppressed_groups)
                       for b in rep.breakdowns],
    }


# ---- a random programme -----------------------------------------------------------------

class Programme:
    def __init__(self, seed):
        self.rnd = random.Random(seed)
        self.t = str(uuid.uuid4())
        self.gone = set()
        rnd = self.rnd
        self.prog = enrol("CreateProgramme", E.CreateProgrammeRequest(programme=E.Programme(
            name="Random %d" % seed, kind=E.REVERSE, status=E.Programme.ACTIVE,
            anonymity_threshold=rnd.choice([3, 4, 5]), check_in_cadence_days=CADENCE,
            objectives=[E.Objective(key=k, title=k) for k in ("digital", "inclusion", "clients")])),
            E.Programme, self.t)
        rows = []
        for i in range(rnd.randint(28, 44)):
            div = None
            if rnd.random() < 0.6:
                div = E.Diversity(gender=rnd.choice(["woman", "man", "non-binary", ""]),
                                  ethnicity=rnd.choice(["a", "b", ""]))
                if rnd.random() < 0.5:
                    div.first_generation_professional.value = rnd.random() < 0.5
                if rnd.random() < 0.3:
                    div.disability.value = rnd.random() < 0.3
            rows.append(E.Participant(
                external_id="rnd-%d-%d" % (seed, i), display_name="Person %d" % i,
                role=common_pb2.MENTOR if rnd.random() < 0.4 else common_pb2.MENTEE,
                office=rnd.choice(OFFICES), practice_area=rnd.choice(AREAS),
                seniority_level=rnd.randint(0, 10), diversity=div,
                consent=E.Consent(data_processing=True, diversity_data=div is not None)))
        res = enrol("BatchEnrol", E.BatchEnrolRequest(programme_id=self.prog.id, participants=rows),
                    E.BatchEnrolResponse, self.t)
        self.people = [r.participant for r in res.results]
        assert all(p.id for p in self.people)
        mentors = [p for p in self.people if p.role == common_pb2.MENTOR]
        mentees = [p for p in self.people if p.role == common_pb2.MENTEE]
        # Mentors take one to three mentees, so some raters rate several matches.
        self.matches = []
        for mentee in mentees:
            if mentors and rnd.random() < 0.85:
                mentor = rnd.choice(mentors)
                self.matches.append((str(uuid.uuid4()), mentor.id, mentee.id))
        self.started = {}
        sql = ["SET app.tenant_id = '%s';" % self.t]
        for mid, mentor, mentee in self.matches:
            self.started[mid] = days_ago(rnd, 6 * CADENCE)
            while self.started[mid] < 0.5:  # room for check-ins after the start
                self.started[mid] = days_ago(rnd, 6 * CADENCE)
            start = time.time() - self.started[mid] * 86400
            sql.append(
                "INSERT INTO matching.matches (tenant_id, id, programme_id, mentor_id, mentee_id,"
                " score, status, mentor_response, mentee_response, create_time, start_time)"
                " VALUES ('%s', '%s', '%s', '%s', '%s', 50, %d, 1, 1, to_timestamp(%f),"
                " to_timestamp(%f));" % (self.t, mid, self.prog.id, mentor, mentee, ACTIVE,
                                         start, start))
        harness.psql(STACK.super_url, "\n".join(sql))
        self.surveys = []

    def check_ins(self, n):
        rnd = self.rnd
        live = [m for m in self.matches if self.status(m[0]) in (ACCEPTED, ACTIVE)]
        for _ in range(n if live else 0):
            mid, mentor, mentee = rnd.choice(live)
            goals = [F.GoalProgress(objective_key=k, percent=rnd.randint(0, 100))
                     for k in ("digital", "inclusion", "clients") if rnd.random() < 0.3]
            fb("RecordCheckIn", F.RecordCheckInRequest(
                match_id=mid, participant_id=rnd.choice([mentor, mentee]),
                occurred_time=ts(days_ago(rnd, self.started[mid] - 0.01)),
                rating=rnd.randint(1, 5), notes="private", goal_progress=goals), F.CheckIn, self.t)

    def status(self, mid):
        return int(harness.psql(STACK.super_url, "SELECT status FROM matching.matches"
                                " WHERE tenant_id = '%s' AND id = '%s'" % (self.t, mid)))

    def survey(self):
        s = fb("CreateSurvey", F.CreateSurveyRequest(programme_id=self.prog.id, survey=F.Survey(
            title="Survey %d" % len(self.surveys), questions=[
                F.Question(id="nps", text="Recommend?", kind=F.NPS_0_10),
                F.Question(id="rate", text="Useful?", kind=F.RATING_1_5),
                F.Question(id="why", text="Why?", kind=F.TEXT)])), F.Survey, self.t)
        self.surveys.append((s, set()))

    def responses(self, share):
        rnd = self.rnd
        live = {p.id for p in self.enrolled()}
        for s, answered in self.surveys:
            for p in self.people:
                if p.id in live and p.id not in answered and rnd.random() < share:
                    ans = [F.Answer(question_id="why", text="free text")]
                    if rnd.random() < 0.85:
                        ans.append(F.Answer(question_id="nps", score=wrappers_pb2.Int32Value(
                            value=rnd.randint(0, 10))))
                    if rnd.random() < 0.5:
                        ans.append(F.Answer(question_id="rate", score=wrappers_pb2.Int32Value(
                            value=rnd.randint(1, 5))))
                    fb("SubmitSurveyResponse", F.SubmitSurveyResponseRequest(
                        survey_id=s.id, participant_id=p.id, answers=ans), F.SurveyResponse, self.t)
                    answered.add(p.id)

    def enrolled(self):
        return [p for p in self.people if p.id not in self.gone]

    def change_attributes(self, n):
        rnd = self.rnd
        for p in rnd.sample(self.enrolled(), n):
            p.office = rnd.choice(OFFICES)
            p.practice_area = rnd.choice(AREAS)
            enrol("UpdateParticipant", E.UpdateParticipantRequest(
                participant=E.Participant(id=p.id, office=p.office,
                                          practice_area=p.practice_area),
                update_mask=field_mask_pb2.FieldMask(paths=["office", "practice_area"])),
                E.Participant, self.t)

    def withdraw(self, n):
        for p in self.rnd.sample(self.enrolled(), n):
            enrol("WithdrawParticipant", E.WithdrawParticipantRequest(id=p.id), E.Participant,
                  self.t)
            self.gone = self.gone | {p.id}
        # matching ends a withdrawn person's live matches (its follower of enrolment's
        # events): wait for it, so the report and the reference read the same matches.
        ids = "', '".join(self.gone)
        harness.wait_until("the withdrawn participants' matches ended", lambda: harness.psql(
            STACK.super_url, "SELECT count(*) FROM matching.matches WHERE tenant_id = '%s'"
            " AND status IN (1, 2, 4) AND (mentor_id IN ('%s') OR mentee_id IN ('%s'))"
            % (self.t, ids, ids)) == "0")

    def erase(self, n):
        for p in self.rnd.sample(self.enrolled(), n):
            enrol("ErasePerson", E.ErasePersonRequest(external_id=p.external_id),
                  E.ErasePersonResponse, self.t)
            self.gone = self.gone | {p.id}

    def end_matches(self, n):
        """Some matches end or are declined (as matching's own calls leave them)."""
        rnd = self.rnd
        sql = ["SET app.tenant_id = '%s';" % self.t]
        for mid, _, _ in rnd.sample(self.matches, min(n, len(self.matches))):
            st = rnd.choice([ENDED, DECLINED, ACCEPTED])
            sql.append("UPDATE matching.matches SET status = %d%s WHERE tenant_id = '%s'"
                       " AND id = '%s';" % (st, ", mentee_response = 2" if st == DECLINED else "",
                                            self.t, mid))
        harness.psql(STACK.super_url, "\n".join(sql))


class ReportFromAggregatesTest(unittest.TestCase):
    def assert_report_equals_reference(self, prog, stage):
        """The report equals the reference's at the programme's threshold and, for an
        admin, at EVERY threshold from 3 to 40 on the same inputs, so each
        distinct-person count (raters, NPS people, respondents, group sizes) is
        checked exactly, not just on which side of one threshold it falls, and the
        survey figures' step is tried at every size (a non-admin's report is the same
        fold without the diversity dimensions: a few thresholds). The threshold is set
        by UpdateProgramme between the calls; the report reads the programme afresh."""
        p = prog.prog
        channels = {svc: STACK.channel(svc) for svc in ("enrolment", "feedback")}

        def rpc(svc, path, resp_type):
            return channels[svc].unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                                             response_deserializer=resp_type.FromString)
        report = rpc("feedback", "/tandem.v1.FeedbackService/GetProgrammeReport", F.ProgrammeReport)
        update = rpc("enrolment", "/tandem.v1.EnrolmentService/UpdateProgramme", E.Programme)

        def set_threshold(k):
            update(E.UpdateProgrammeRequest(
                programme=E.Programme(id=p.id, anonymity_threshold=k),
                update_mask=field_mask_pb2.FieldMask(paths=["anonymity_threshold"])),
                timeout=60, metadata=harness.Stack.context(prog.t))
        try:
            for scopes, every in ((harness.ALL_SCOPES, range(3, 41)),
                                  (NON_ADMIN, (3, 5, 8, 13, 21, 34))):
                thresholds = [p.anonymity_threshold] + list(every)
                refs = run_reference(prog.t, inputs(prog.t, p, scopes), thresholds)
                what = "%s, %s caller" % (stage, "admin" if scopes & ADMIN else "non-admin")
                for k, ref in zip(thresholds, refs):
                    set_threshold(k)
                    rep = report(F.GetProgrammeReportRequest(programme_id=p.id), timeout=60,
                                 metadata=harness.Stack.context(prog.t, scopes=scopes))
                    self.assertEqual(from_proto(rep), as_report(ref),
                                     "%s, threshold %d" % (what, k))
        finally:
            set_threshold(p.anonymity_threshold)
            for ch in channels.values():
                ch.close()
        return refs[0]

    def test_random_programmes(self):
        seeds = ([int(os.environ["TANDEM_REPORT_SEED"])] if os.environ.get("TANDEM_REPORT_SEED")
                 else [random.randrange(1 << 30) for _ in range(2)])
        for seed in seeds:
            print("report_aggregates: seed %d" % seed, file=sys.stderr)
            with self.subTest(seed=seed):
                prog = Programme(seed)
                self.assert_report_equals_reference(prog, "empty")
                prog.check_ins(prog.rnd.randint(40, 70))
                prog.survey()
                prog.responses(0.5)
                prog.survey()
                prog.responses(0.4)
                ref = self.assert_report_equals_reference(prog, "check-ins and responses")
                # The data must exercise what is compared.
                self.assertGreater(ref["check_ins"], 0)
                self.assertGreater(ref["survey_responses"] + prog.prog.anonymity_threshold, 0)
                prog.change_attributes(5)
                self.assert_report_equals_reference(prog, "attributes changed")
                prog.withdraw(3)
                prog.end_matches(4)
                self.assert_report_equals_reference(prog, "withdrawals, ended matches")
                prog.erase(3)
                self.assert_report_equals_reference(prog, "erasures")
                prog.check_ins(prog.rnd.randint(10, 30))
                prog.responses(0.5)
                prog.survey()
                prog.responses(0.3)
                ref = self.assert_report_equals_reference(prog, "after erasure, more data")
                self.assertGreater(ref["survey_respondents"], 0)

    def test_erasure_leaves_no_respondent_row(self):
        """The per-respondent totals are keyed by the participant id until erasure,
        then by each response's random id: nothing keyed by the person remains."""
        prog = Programme(7)
        prog.survey()
        prog.responses(1.0)
        victim = prog.enrolled()[0]
        q = ("SELECT count(*) FROM feedback.report_respondents WHERE tenant_id = '%s'"
             " AND respondent_id = '%s'" % (prog.t, victim.id))
        self.assertEqual(harness.psql(STACK.super_url, q), "1")
        enrol("ErasePerson", E.ErasePersonRequest(external_id=victim.external_id),
              E.ErasePersonResponse, prog.t)
        self.assertEqual(harness.psql(STACK.super_url, q), "0")
        self.assert_report_equals_reference(prog, "erased")

    def test_concurrent_check_ins_keep_objective_totals(self):
        """Check-ins of one programme's matches, recorded at once with their objectives in
        opposite orders, all succeed (each locks the programme's per-objective totals in
        the same order, never deadlocking) and leave the totals equal to the latest
        progress rows they sum."""
        prog = Programme(11)
        live = [m for m in prog.matches]
        self.assertGreaterEqual(len(live), 4)
        errors = []

        def record(i):
            keys = ["digital", "inclusion", "clients"]
            if i % 2:
                keys.reverse()
            try:
                for j in range(12):
                    mid, mentor, _ = live[(i + j) % len(live)]
                    fb("RecordCheckIn", F.RecordCheckInRequest(
                        match_id=mid, participant_id=mentor,
                        occurred_time=ts(min(prog.started[mid] - 0.01, 0.2 + j * 0.01)),
                        rating=3, goal_progress=[F.GoalProgress(objective_key=k, percent=9 * j)
                                                 for k in keys]), F.CheckIn, prog.t)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=record, args=(i,)) for i in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual(errors, [])
        q = ("SELECT s.objective_key, s.percent_sum, s.matches, sum(g.percent), count(g.*)"
             " FROM feedback.objective_stats s JOIN feedback.goal_progress_latest g"
             " ON g.tenant_id = s.tenant_id AND g.programme_id = s.programme_id"
             " AND g.objective_key = s.objective_key WHERE s.tenant_id = '%s'"
             " GROUP BY 1, 2, 3 ORDER BY 1" % prog.t)
        rows = [r.split("|") for r in harness.psql(STACK.super_url, q).splitlines()]
        self.assertEqual(len(rows), 3)
        for key, total, n, ref_total, ref_n in rows:
            self.assertEqual((total, n), (ref_total, ref_n), key)
        self.assert_report_equals_reference(prog, "concurrent check-ins")


    def test_migration_backfill_equals_the_maintained_totals(self):
        """Migration 060's backfill, run again over every row of the database (emptied
        totals first), gives exactly the totals the triggers kept."""
        prog = Programme(13)
        prog.check_ins(30)
        prog.survey()
        prog.responses(0.6)
        prog.survey()
        prog.responses(0.5)
        prog.erase(2)
        with open(os.path.join(harness.SOURCE_DIR, "services", "feedback", "migrations",
                               "060_report_aggregates.sql")) as f:
            migration = f.read()
        backfill = migration[migration.index("-- Backfill from the rows already there."):
                             migration.index("DO $$")]
        snapshot = ("SELECT * FROM feedback.report_respondents ORDER BY 1, 2, 3;"
                    " SELECT * FROM feedback.objective_stats ORDER BY 1, 2, 3;")
        kept = harness.psql(STACK.super_url, snapshot)
        self.assertIn(prog.t, kept)
        self.assertIn("|t|", kept)  # an erased respondent's anonymous row is among them
        harness.psql(STACK.super_url, "BEGIN; DELETE FROM feedback.report_respondents;"
                     " DELETE FROM feedback.objective_stats;\n" + backfill + "\nCOMMIT;")
        self.assertEqual(harness.psql(STACK.super_url, snapshot), kept)

if __name__ == "__main__":
    unittest.main()
