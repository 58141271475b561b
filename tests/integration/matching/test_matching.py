"""MatchingService through its gRPC API, with real PostgreSQL and the real
tandem-enrolment and tandem-matching processes.

The checks do not trust the service's own view: hard constraints are re-checked
from the enrolment data in Python, and participation is compared with a maximum
b-matching computed here (augmenting paths) over the admissible pairs.
"""
import os
import random
import sys
import threading
import time
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

import grpc  # noqa: E402
from google.protobuf import wrappers_pb2  # noqa: E402
from tandem.v1 import common_pb2, enrolment_pb2, matching_pb2  # noqa: E402
from tandem.internal.v1 import erasure_pb2  # noqa: E402

E = enrolment_pb2
M = matching_pb2
STACK = None
MENTOR, MENTEE = common_pb2.MENTOR, common_pb2.MENTEE


def call(svc, service, method, req, resp_type, tenant, scopes=harness.ALL_SCOPES, idem=None):
    md = harness.Stack.context(tenant, scopes=scopes)
    if idem:
        md.append(("idempotency-key", idem))
    ch = STACK.channel(svc)
    try:
        fn = ch.unary_unary("/%s/%s" % (service, method),
                            request_serializer=lambda m: m.SerializeToString(),
                            response_deserializer=resp_type.FromString)
        return fn(req, metadata=md, timeout=60)
    finally:
        ch.close()


def enr(method, req, resp, t, **kw):
    return call("enrolment", "tandem.v1.EnrolmentService", method, req, resp, t, **kw)


def mat(method, req, resp, t, **kw):
    return call("matching", "tandem.v1.MatchingService", method, req, resp, t, **kw)


def mat_fail(method, req, resp, t, **kw):
    try:
        mat(method, req, resp, t, **kw)
    except grpc.RpcError as e:
        return e
    raise AssertionError("%s succeeded unexpectedly" % method)


def setUpModule():
    global STACK
    STACK = harness.Stack("match")
    STACK.start("enrolment")
    STACK.start("matching")


def tearDownModule():
    if STACK is not None:
        STACK.close()


def new_tenant():
    return str(uuid.uuid4())


def programme(t, **policy):
    objectives = [E.Objective(key="ai_tools", title="AI tools"),
                  E.Objective(key="inclusion", title="Inclusion"),
                  E.Objective(key="client_tech", title="Client technology")]
    gap = policy.pop("gap", None)
    pol = E.MatchingPolicy(**policy)
    if gap is not None:
        pol.seniority_gap.CopyFrom(E.SeniorityGap(min=wrappers_pb2.Int32Value(value=gap[0]),
                                                  max=wrappers_pb2.Int32Value(value=gap[1])))
    prog = E.Programme(name="Reverse mentoring", kind=E.REVERSE, status=E.Programme.MATCHING,
                       objectives=objectives, matching_policy=pol)
    return enr("CreateProgramme", E.CreateProgrammeRequest(programme=prog), E.Programme, t)


def enrol_all(t, prog_id, people):
    r = enr("BatchEnrol", E.BatchEnrolRequest(programme_id=prog_id, participants=people),
            E.BatchEnrolResponse, t)
    out = []
    for res in r.results:
        assert res.HasField("participant"), res
        out.append(res.participant)
    return out


SKILLS = ["generative AI", "legal design", "data analytics", "automation", "client portals",
          "inclusion", "e-discovery", "contract tech"]
GOALS = ["ai_tools", "inclusion", "client_tech", "AI tools", "data skills", "automation basics"]
INTERESTS = ["pro bono", "cycling", "chess", "music", "AI", "legal design", "running"]
DEPTS = ["Tax", "Corporate", "Litigation"]
OFFICES = ["London", "Paris", "Frankfurt"]


def random_people(rng, n_mentors, n_mentees, prefix="p"):
    people = []
    for i in range(n_mentors):
        people.append(E.Participant(
            external_id="%s-m%d" % (prefix, i), display_name="Mentor %d" % i, role=MENTOR,
            seniority_level=rng.randint(1, 4), department=rng.choice(DEPTS),
            office=rng.choice(OFFICES), practice_area=rng.choice(DEPTS),
            skills=[E.Skill(name=s, level=rng.randint(1, 5)) for s in rng.sample(SKILLS, 3)],
            interests=rng.sample(INTERESTS, 2), goals=rng.sample(GOALS[:3], 1),
            languages=rng.sample(["en", "fr", "de"], rng.randint(1, 2)),
            availability_hours_per_month=rng.randint(2, 10), timezone="Europe/London",
            capacity=rng.randint(1, 3)))
    for i in range(n_mentees):
        chain = ["%s-m%d" % (prefix, rng.randrange(n_mentors))] if rng.random() < 0.3 else []
        people.append(E.Participant(
            external_id="%s-e%d" % (prefix, i), display_name="Mentee %d" % i, role=MENTEE,
            seniority_level=rng.randint(2, 9), department=rng.choice(DEPTS),
            office=rng.choice(OFFICES), practice_area=rng.choice(DEPTS), reporting_chain=chain,
            interests=rng.sample(INTERESTS, 3), goals=rng.sample(GOALS, 2),
            languages=rng.sample(["en", "fr", "de"], rng.randint(1, 2)),
            availability_hours_per_month=rng.randint(1, 8), timezone="Europe/Paris"))
    return people


def wait_run(t, run_id, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = mat("GetMatchingRun", M.GetMatchingRunRequest(id=run_id), M.MatchingRun, t)
        if run.status in (M.MatchingRun.SUCCEEDED, M.MatchingRun.FAILED):
            return run
        time.sleep(0.1)
    raise AssertionError("run %s did not finish" % run_id)


def run_and_wait(t, prog_id, **kw):
    run = mat("StartMatchingRun", M.StartMatchingRunRequest(programme_id=prog_id, **kw),
              M.MatchingRun, t)
    done = wait_run(t, run.id)
    assert done.status == M.MatchingRun.SUCCEEDED, done.error_message
    return done


def proposals(t, run_id):
    out, token = [], ""
    while True:
        r = mat("ListProposals", M.ListProposalsRequest(run_id=run_id, page_size=7,
                                                        page_token=token),
                M.ListProposalsResponse, t)
        out += list(r.proposals)
        token = r.next_page_token
        if not token:
            return out


def hard_ok(policy, mentor, mentee):
    """The hard constraints, independently of the service."""
    if mentor.status == E.Participant.WITHDRAWN or mentee.status == E.Participant.WITHDRAWN:
        return False
    gap = mentee.seniority_level - mentor.seniority_level  # REVERSE
    if gap < 0:
        return False
    g = policy.seniority_gap
    if g.HasField("min") and gap < g.min.value:
        return False
    if g.HasField("max") and gap > g.max.value:
        return False
    if policy.forbid_same_department and mentor.department and \
            mentor.department.lower() == mentee.department.lower():
        return False
    forbid_line = policy.forbid_reporting_line.value if policy.HasField(
        "forbid_reporting_line") else True
    if forbid_line and (mentor.external_id in mentee.reporting_chain or
                        mentee.external_id in mentor.reporting_chain):
        return False
    if policy.require_shared_language and not (
            {x.lower() for x in mentor.languages} & {x.lower() for x in mentee.languages}):
        return False
    return True


def max_b_matching(mentors, mentees, capacity, edges):
    """Maximum cardinality with capacities, by augmenting paths (Ford-Fulkerson)."""
    adj = {e: [m for (m, x) in edges if x == e] for e in mentees}
    owner = {}  # mentee -> mentor
    load = {m: 0 for m in mentors}

    def augment(e, seen):
        for m in adj[e]:
            if m in seen:
                continue
            seen.add(m)
            if load[m] < capacity[m]:
                owner[e] = m
                load[m] += 1
                return True
            for e2, m2 in list(owner.items()):
                if m2 == m and augment(e2, seen):
                    owner[e] = m
                    return True
        return False

    return sum(1 for e in mentees if augment(e, set()))


class RunTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = new_tenant()
        rng = random.Random(7)
        cls.prog = programme(cls.t, min_score=15, default_mentor_capacity=2, gap=(0, 6),
                             forbid_same_department=True, require_shared_language=True)
        cls.people = enrol_all(cls.t, cls.prog.id, random_people(rng, 8, 22))
        # One withdrawn mentee and one withdrawn mentor.
        for p in (cls.people[0], cls.people[-1]):
            enr("WithdrawParticipant", E.WithdrawParticipantRequest(id=p.id, reason="left"),
                E.Participant, cls.t)
        cls.people = [enr("GetParticipant", E.GetParticipantRequest(id=p.id), E.Participant,
                          cls.t) for p in cls.people]
        cls.mentors = [p for p in cls.people if p.role == MENTOR]
        cls.mentees = [p for p in cls.people if p.role == MENTEE]
        cls.by_id = {p.id: p for p in cls.people}
        cls.policy = cls.prog.matching_policy
        # Every pair's admissibility (hard constraints and min_score) by ScorePair.
        cls.scored = {}
        for m in cls.mentors:
            for e in cls.mentees:
                cls.scored[(m.id, e.id)] = mat("ScorePair", M.ScorePairRequest(
                    programme_id=cls.prog.id, mentor_id=m.id, mentee_id=e.id),
                    M.ScorePairResponse, cls.t)
        ok = [k for k, v in cls.scored.items() if v.admissible]
        assert len(ok) > 6, "the random programme has too few admissible pairs"
        cls.pin = ok[0]
        cls.excluded = next(k for k in ok if k[0] != cls.pin[0] and k[1] != cls.pin[1])
        mat("PinPair", M.PinPairRequest(programme_id=cls.prog.id, mentor_id=cls.pin[0],
                                        mentee_id=cls.pin[1], reason="requested"), M.Pin, cls.t)
        mat("ExcludePair", M.ExcludePairRequest(programme_id=cls.prog.id,
                                                mentor_id=cls.excluded[0],
                                                mentee_id=cls.excluded[1]), M.Exclusion, cls.t)
        cls.mrun = run_and_wait(cls.t, cls.prog.id)
        cls.props = proposals(cls.t, cls.mrun.id)

    def capacity(self, m):
        return m.capacity or self.policy.default_mentor_capacity or 1

    def test_every_proposal_meets_every_hard_constraint(self):
        self.assertTrue(self.props)
        for p in self.props:
            mentor, mentee = self.by_id[p.mentor_id], self.by_id[p.mentee_id]
            self.assertEqual((mentor.role, mentee.role), (MENTOR, MENTEE))
            self.assertTrue(hard_ok(self.policy, mentor, mentee), (mentor, mentee))
            if not p.pinned:
                self.assertGreaterEqual(p.score, self.policy.min_score)
        load = {}
        for p in self.props:
            load[p.mentor_id] = load.get(p.mentor_id, 0) + 1
        for mid, n in load.items():
            self.assertLessEqual(n, self.capacity(self.by_id[mid]))
        self.assertEqual(len({p.mentee_id for p in self.props}), len(self.props))

    def test_service_admissibility_agrees_with_independent_check(self):
        for (mid, eid), r in self.scored.items():
            ok = hard_ok(self.policy, self.by_id[mid], self.by_id[eid]) and \
                r.score >= self.policy.min_score
            self.assertEqual(r.admissible, ok, (mid, eid, list(r.inadmissible_reasons)))

    def test_pin_kept_and_exclusion_never_proposed(self):
        pairs = {(p.mentor_id, p.mentee_id): p for p in self.props}
        self.assertIn(self.pin, pairs)
        self.assertTrue(pairs[self.pin].pinned)
        self.assertIn("pin", [x.criterion for x in pairs[self.pin].explanation])
        self.assertNotIn(self.excluded, pairs)
        self.assertEqual(self.mrun.stats.pinned_pairs, 1)

    def test_participation_is_the_independent_maximum(self):
        mentors = [m.id for m in self.mentors if m.status != E.Participant.WITHDRAWN]
        mentees = [e.id for e in self.mentees if e.status != E.Participant.WITHDRAWN]
        cap = {m: self.capacity(self.by_id[m]) for m in mentors}
        # The pin is kept: its mentee leaves, its mentor has one seat less.
        cap[self.pin[0]] -= 1
        rest = [e for e in mentees if e != self.pin[1]]
        edges = [k for k, v in self.scored.items()
                 if v.admissible and k != self.excluded and k[1] != self.pin[1]]
        best = max_b_matching(mentors, rest, cap, edges) + 1
        self.assertEqual(len(self.props), best)
        self.assertEqual(self.mrun.stats.pairs, best)

    def test_unmatched_mentees_have_reasons(self):
        st = self.mrun.stats
        considered = [e for e in self.mentees if e.status != E.Participant.WITHDRAWN]
        self.assertEqual(st.mentees, len(considered))
        self.assertEqual(st.unmatched_mentee_count, len(considered) - len(self.props))
        matched = {p.mentee_id for p in self.props}
        listed = {u.mentee_id: u for u in st.unmatched_mentees}
        self.assertEqual(set(listed), {e.id for e in considered} - matched)
        for eid, u in listed.items():
            admissible = [k for k, v in self.scored.items()
                          if k[1] == eid and v.admissible and k != self.excluded]
            if admissible:
                self.assertEqual(u.reason, M.ALL_ADMISSIBLE_MENTORS_FULL, u)
            else:
                self.assertIn(u.reason, (M.NO_ADMISSIBLE_MENTOR, M.BELOW_MIN_SCORE, M.EXCLUDED))
            self.assertTrue(u.detail)

    def test_explanations_add_up_and_say_why(self):
        for p in self.props:
            self.assertAlmostEqual(sum(x.contribution for x in p.explanation), p.score, places=1)
            names = {x.criterion for x in p.explanation}
            self.assertTrue({"skills", "interests", "language", "seniority"} <= names)
        details = " ".join(x.detail for v in self.scored.values() for x in v.explanation)
        self.assertIn("offers", details)
        self.assertIn("(level", details)

    def test_run_progress_and_listing(self):
        self.assertEqual(self.mrun.progress, 1.0)
        self.assertGreater(self.mrun.stats.admissible_pairs, 0)
        runs = mat("ListMatchingRuns", M.ListMatchingRunsRequest(programme_id=self.prog.id),
                   M.ListMatchingRunsResponse, self.t)
        self.assertIn(self.mrun.id, [r.id for r in runs.matching_runs])
        self.assertEqual([p.score for p in self.props],
                         sorted([p.score for p in self.props], reverse=True))

    def test_stable_and_greedy_keep_every_rule(self):
        for algorithm in (M.STABLE, M.GREEDY):
            run = run_and_wait(self.t, self.prog.id, algorithm=algorithm, dry_run=True, seed=5)
            props = proposals(self.t, run.id)
            pairs = {(p.mentor_id, p.mentee_id) for p in props}
            self.assertIn(self.pin, pairs)
            self.assertNotIn(self.excluded, pairs)
            for p in props:
                self.assertTrue(self.scored[(p.mentor_id, p.mentee_id)].admissible)
            self.assertLessEqual(len(props), len(self.props))  # OPTIMAL matches the most
            if algorithm == M.STABLE:
                self.assertEqual(run.stats.blocking_pairs, 0)

    def test_suggestions_are_admissible_with_free_seats(self):
        eid = self.mentees[3].id
        r = mat("SuggestMentors", M.SuggestMentorsRequest(programme_id=self.prog.id,
                                                          mentee_id=eid, k=3),
                M.SuggestMentorsResponse, self.t)
        self.assertLessEqual(len(r.suggestions), 3)
        for s in r.suggestions:
            self.assertTrue(self.scored[(s.mentor_id, eid)].admissible or
                            (s.mentor_id, eid) == self.excluded)
            self.assertNotEqual((s.mentor_id, eid), self.excluded)
            self.assertGreaterEqual(s.free_capacity, 1)
        self.assertEqual([s.score for s in r.suggestions],
                         sorted([s.score for s in r.suggestions], reverse=True))


class LifecycleTest(unittest.TestCase):
    def test_approve_respond_end_and_unmatched_scope(self):
        t = new_tenant()
        rng = random.Random(11)
        prog = programme(t, default_mentor_capacity=2)
        enrol_all(t, prog.id, random_people(rng, 4, 8, prefix="a"))
        dry = run_and_wait(t, prog.id, dry_run=True)
        e = mat_fail("ApproveRun", M.ApproveRunRequest(id=dry.id), M.MatchingRun, t)
        self.assertEqual(e.code(), grpc.StatusCode.FAILED_PRECONDITION)
        run = run_and_wait(t, prog.id)
        approved = mat("ApproveRun", M.ApproveRunRequest(id=run.id), M.MatchingRun, t)
        self.assertTrue(approved.HasField("approve_time"))
        again = mat("ApproveRun", M.ApproveRunRequest(id=run.id), M.MatchingRun, t)
        self.assertEqual(again.approve_time, approved.approve_time)
        matches = mat("ListMatches", M.ListMatchesRequest(programme_id=prog.id),
                      M.ListMatchesResponse, t).matches
        self.assertEqual(len(matches), run.stats.pairs)  # approving twice made no more
        self.assertTrue(all(m.status == M.Match.PROPOSED for m in matches))
        props = {p.match_id for p in proposals(t, run.id)}
        self.assertEqual(props, {m.id for m in matches})

        # Accept on both sides -> ACTIVE; a decline frees the seat.
        a, b = matches[0], matches[1]
        r = mat("RespondToMatch", M.RespondToMatchRequest(id=a.id, participant_id=a.mentor_id,
                                                          accept=True), M.Match, t)
        self.assertEqual(r.status, M.Match.ACCEPTED)
        r = mat("RespondToMatch", M.RespondToMatchRequest(id=a.id, participant_id=a.mentee_id,
                                                          accept=True), M.Match, t)
        self.assertEqual(r.status, M.Match.ACTIVE)
        self.assertTrue(r.HasField("start_time"))
        r = mat("RespondToMatch", M.RespondToMatchRequest(id=b.id, participant_id=b.mentee_id,
                                                          accept=False, reason="timing"),
                M.Match, t)
        self.assertEqual(r.status, M.Match.DECLINED)
        e = mat_fail("RespondToMatch", M.RespondToMatchRequest(
            id=a.id, participant_id=str(uuid.uuid4()), accept=True), M.Match, t)
        self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT)
        got = mat("GetMatch", M.GetMatchRequest(id=a.id), M.Match, t)
        self.assertEqual(got.mentor_response.decision, M.MatchResponse.ACCEPTED)
        ended = mat("EndMatch", M.EndMatchRequest(id=matches[2].id, reason="moved office"),
                    M.Match, t) if len(matches) > 2 else None
        if ended is not None:
            self.assertEqual(ended.status, M.Match.ENDED)
            self.assertEqual(ended.end_reason, "moved office")

        # Late joiners: scope UNMATCHED fills free seats and leaves live pairs alone.
        before = {m.id: (m.status, m.mentor_id, m.mentee_id) for m in mat(
            "ListMatches", M.ListMatchesRequest(programme_id=prog.id), M.ListMatchesResponse,
            t).matches}
        live = [m for m in mat("ListMatches", M.ListMatchesRequest(programme_id=prog.id),
                               M.ListMatchesResponse, t).matches
                if m.status in (M.Match.PROPOSED, M.Match.ACCEPTED, M.Match.ACTIVE)]
        enrol_all(t, prog.id, random_people(random.Random(12), 0, 4, prefix="late"))
        late = run_and_wait(t, prog.id, scope=M.UNMATCHED)
        live_mentees = {m.mentee_id for m in live}
        people = {p.id: p for p in enr("ListParticipants", E.ListParticipantsRequest(
            programme_id=prog.id, page_size=500), E.ListParticipantsResponse, t).participants}
        seats = {}
        for m in live:
            seats[m.mentor_id] = seats.get(m.mentor_id, 0) + 1
        for p in proposals(t, late.id):
            self.assertNotIn(p.mentee_id, live_mentees)
            seats[p.mentor_id] = seats.get(p.mentor_id, 0) + 1
        for mid, n in seats.items():
            self.assertLessEqual(n, people[mid].capacity or 2)
        self.assertEqual(late.stats.mentees, len([p for p in people.values()
                                                  if p.role == MENTEE]) - len(live_mentees))
        mat("ApproveRun", M.ApproveRunRequest(id=late.id), M.MatchingRun, t)
        # Every change wrote its event in its own transaction (the outbox).
        events = dict(row.split("|") for row in harness.psql(
            STACK.super_url, "SELECT type, count(*) FROM matching.outbox WHERE tenant_id = '%s'"
            " GROUP BY type" % t).splitlines())
        self.assertEqual(int(events["matching_run.completed"]), 3)
        self.assertGreaterEqual(int(events["match.proposed"]), len(before))
        self.assertEqual(int(events["match.accepted"]), 2)
        self.assertEqual(int(events["match.declined"]), 1)
        self.assertEqual(int(events.get("match.ended", 0)), 1 if ended is not None else 0)
        after = {m.id: (m.status, m.mentor_id, m.mentee_id) for m in mat(
            "ListMatches", M.ListMatchesRequest(programme_id=prog.id, page_size=500),
            M.ListMatchesResponse, t).matches}
        for mid, v in before.items():
            self.assertEqual(after[mid], v)

    def test_concurrent_starts_run_once(self):
        t = new_tenant()
        prog = programme(t)
        enrol_all(t, prog.id, random_people(random.Random(3), 3, 6, prefix="c"))
        results = []
        barrier = threading.Barrier(6)

        def start():
            barrier.wait()
            try:
                results.append(mat("StartMatchingRun", M.StartMatchingRunRequest(
                    programme_id=prog.id), M.MatchingRun, t).id)
            except grpc.RpcError as e:
                results.append(e.code())

        threads = [threading.Thread(target=start) for _ in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        ids = [r for r in results if isinstance(r, str)]
        refused = [r for r in results if not isinstance(r, str)]
        # Starts that met a queued or running run were refused; a start arriving
        # after the run ended may begin the next one, but never alongside it.
        self.assertTrue(ids)
        self.assertTrue(refused, results)
        self.assertTrue(all(r == grpc.StatusCode.ALREADY_EXISTS for r in refused), results)
        done = [wait_run(t, i) for i in ids]
        self.assertTrue(all(d.status == M.MatchingRun.SUCCEEDED for d in done))
        # Never alongside: a run starts only after the one before it ended. (Not
        # create_time: a start that waited on the first run's completion for the
        # one-live-run index formed its row, and its timestamp, before the wait.)
        spans = sorted((d.start_time.ToNanoseconds(), d.end_time.ToNanoseconds()) for d in done)
        for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
            self.assertLessEqual(e1, s2)
        runs = mat("ListMatchingRuns", M.ListMatchingRunsRequest(programme_id=prog.id),
                   M.ListMatchingRunsResponse, t).matching_runs
        self.assertEqual(sorted(r.id for r in runs), sorted(ids))

    def test_approval_refuses_withdrawn_and_superseded(self):
        t = new_tenant()
        prog = programme(t)
        enrol_all(t, prog.id, random_people(random.Random(21), 3, 5, prefix="w"))
        first = run_and_wait(t, prog.id)
        second = run_and_wait(t, prog.id)
        e = mat_fail("ApproveRun", M.ApproveRunRequest(id=first.id), M.MatchingRun, t)
        self.assertEqual(e.code(), grpc.StatusCode.FAILED_PRECONDITION)  # not the latest
        p = proposals(t, second.id)[0]
        enr("WithdrawParticipant", E.WithdrawParticipantRequest(id=p.mentee_id), E.Participant, t)
        e = mat_fail("ApproveRun", M.ApproveRunRequest(id=second.id), M.MatchingRun, t)
        self.assertEqual(e.code(), grpc.StatusCode.FAILED_PRECONDITION)
        self.assertIn("withdrawn", e.details())
        third = run_and_wait(t, prog.id)
        self.assertNotIn(p.mentee_id, [x.mentee_id for x in proposals(t, third.id)])
        mat("ApproveRun", M.ApproveRunRequest(id=third.id), M.MatchingRun, t)

    def test_a_withdrawal_ends_the_participants_live_matches(self):
        t = new_tenant()
        prog = programme(t)
        enrol_all(t, prog.id, random_people(random.Random(31), 4, 6, prefix="x"))
        run = run_and_wait(t, prog.id)
        mat("ApproveRun", M.ApproveRunRequest(id=run.id), M.MatchingRun, t)

        def listed():
            return {m.id: m for m in mat("ListMatches", M.ListMatchesRequest(
                programme_id=prog.id, page_size=500), M.ListMatchesResponse, t).matches}
        matches = list(listed().values())
        self.assertGreaterEqual(len(matches), 2)
        a, b = matches[0], matches[1]
        for side in (a.mentor_id, a.mentee_id):  # a becomes ACTIVE
            mat("RespondToMatch", M.RespondToMatchRequest(id=a.id, participant_id=side,
                                                          accept=True), M.Match, t)
        gone = {a.mentor_id, b.mentee_id}
        for pid in gone:
            enr("WithdrawParticipant", E.WithdrawParticipantRequest(id=pid), E.Participant, t)
        expect_ended = {m.id for m in matches if m.mentor_id in gone or m.mentee_id in gone}
        deadline = time.monotonic() + 30
        while True:
            now = listed()
            if all(now[i].status == M.Match.ENDED for i in expect_ended):
                break
            self.assertLess(time.monotonic(), deadline, "live matches of withdrawn people")
            time.sleep(0.2)
        for i, m in now.items():
            if i in expect_ended:
                self.assertEqual(m.end_reason, "the participant withdrew from the programme")
                self.assertTrue(m.HasField("end_time"))
            else:
                self.assertEqual(m.status, M.Match.PROPOSED)  # the others are untouched

        def ended_events():
            return int(harness.psql(STACK.super_url, "SELECT count(*) FROM matching.outbox"
                                    " WHERE tenant_id = '%s' AND type = 'match.ended'" % t))
        self.assertEqual(ended_events(), len(expect_ended))
        # Reading the same withdrawals again (a crash before the cursor moved, or a
        # second replica) ends nothing twice.
        harness.psql(STACK.super_url, "UPDATE matching.enrolment_cursor"
                     " SET last_xact = '0', last_seq = 0")
        deadline = time.monotonic() + 30
        while harness.psql(STACK.super_url,
                           "SELECT last_seq FROM matching.enrolment_cursor") == "0":
            self.assertLess(time.monotonic(), deadline, "the follower to read again")
            time.sleep(0.2)
        self.assertEqual(ended_events(), len(expect_ended))

    def test_idempotency_key_replays_the_run(self):
        t = new_tenant()
        prog = programme(t)
        enrol_all(t, prog.id, random_people(random.Random(5), 2, 3, prefix="i"))
        req = M.StartMatchingRunRequest(programme_id=prog.id, dry_run=True)
        a = mat("StartMatchingRun", req, M.MatchingRun, t, idem="k1")
        b = mat("StartMatchingRun", req, M.MatchingRun, t, idem="k1")
        self.assertEqual(a.id, b.id)
        wait_run(t, a.id)


class ReasonsTest(unittest.TestCase):
    def test_each_unmatched_reason(self):
        t = new_tenant()
        prog = programme(t, min_score=30)

        def mentee(ext, level, **kw):
            return E.Participant(external_id=ext, display_name=ext, role=MENTEE,
                                 seniority_level=level, **kw)

        good = dict(goals=["ai_tools", "inclusion"], interests=["AI", "chess"],
                    languages=["en"], availability_hours_per_month=6, timezone="Europe/London",
                    office="Paris")
        people = enrol_all(t, prog.id, [
            E.Participant(external_id="m1", display_name="m1", role=MENTOR, seniority_level=3,
                          capacity=1, skills=[E.Skill(name="generative AI", level=5),
                                              E.Skill(name="inclusion", level=4)],
                          interests=["AI", "chess"], goals=["ai_tools"], languages=["en"],
                          availability_hours_per_month=6, timezone="Europe/London",
                          office="London"),
            mentee("junior", 1, **good),          # more junior than the mentor: none
            mentee("excluded", 6, **good),        # the only pair is excluded
            mentee("unrelated", 6, office="London"),  # scores below min_score
            mentee("d", 6, **good), mentee("e", 7, **good),  # compete for one seat
        ])
        ids = {p.external_id: p.id for p in people}
        mat("ExcludePair", M.ExcludePairRequest(programme_id=prog.id, mentor_id=ids["m1"],
                                                mentee_id=ids["excluded"]), M.Exclusion, t)
        e = mat_fail("PinPair", M.PinPairRequest(programme_id=prog.id, mentor_id=ids["m1"],
                                                 mentee_id=ids["excluded"]), M.Pin, t)
        self.assertEqual(e.code(), grpc.StatusCode.FAILED_PRECONDITION)
        run = run_and_wait(t, prog.id)
        reasons = {u.mentee_id: u.reason for u in run.stats.unmatched_mentees}
        self.assertEqual(reasons[ids["junior"]], M.NO_ADMISSIBLE_MENTOR)
        self.assertEqual(reasons[ids["excluded"]], M.EXCLUDED)
        self.assertEqual(reasons[ids["unrelated"]], M.BELOW_MIN_SCORE)
        self.assertEqual(run.stats.pairs, 1)
        self.assertEqual(sorted(reasons.get(ids[x], -1) for x in ("d", "e")),
                         [-1, M.ALL_ADMISSIBLE_MENTORS_FULL], reasons)
        sp = mat("ScorePair", M.ScorePairRequest(programme_id=prog.id, mentor_id=ids["m1"],
                                                 mentee_id=ids["junior"]),
                 M.ScorePairResponse, t)
        self.assertFalse(sp.admissible)
        self.assertTrue(any("more senior" in r for r in sp.inadmissible_reasons))
        sp = mat("ScorePair", M.ScorePairRequest(programme_id=prog.id, mentor_id=ids["m1"],
                                                 mentee_id=ids["excluded"]),
                 M.ScorePairResponse, t)
        self.assertIn("excluded", list(sp.inadmissible_reasons))
        skills = next(x for x in sp.explanation if x.criterion == "skills")
        self.assertIn("offers generative AI (level 5) for goal 'ai_tools'", skills.detail)


class RestartTest(unittest.TestCase):
    def test_run_queued_while_no_worker_runs_after_restart(self):
        t = new_tenant()
        prog = programme(t)
        enrol_all(t, prog.id, random_people(random.Random(4), 2, 4, prefix="r"))
        STACK.stop("matching")
        # A run queued by a replica that went away before any worker claimed it.
        run_id = harness.psql(STACK.super_url, (
            "WITH r AS (INSERT INTO matching.runs (tenant_id, id, programme_id, algorithm, scope,"
            " objective, seed, principal_id, principal_kind, scopes, request_id)"
            " VALUES ('%s', gen_random_uuid(), '%s', 1, 1, 1, 7, 'it-key', 1, 127, 'restart')"
            " RETURNING tenant_id, id), q AS (INSERT INTO matching.run_queue (tenant_id, run_id)"
            " SELECT tenant_id, id FROM r) SELECT id FROM r") % (t, prog.id))
        STACK.start("matching")
        done = wait_run(t, run_id)
        self.assertEqual(done.status, M.MatchingRun.SUCCEEDED, done.error_message)
        self.assertEqual(done.progress, 1.0)
        self.assertEqual(harness.psql(STACK.super_url,
                                      "SELECT count(*) FROM matching.run_queue"), "0")


class TenancyAndDataTest(unittest.TestCase):
    def test_other_tenant_sees_nothing_and_export_erase(self):
        t, other = new_tenant(), new_tenant()
        prog = programme(t)
        people = enrol_all(t, prog.id, random_people(random.Random(9), 2, 3, prefix="x"))
        run = run_and_wait(t, prog.id)
        mat("ApproveRun", M.ApproveRunRequest(id=run.id), M.MatchingRun, t)
        match = mat("ListMatches", M.ListMatchesRequest(programme_id=prog.id),
                    M.ListMatchesResponse, t).matches[0]
        for method, req, resp in (("GetMatch", M.GetMatchRequest(id=match.id), M.Match),
                                  ("GetMatchingRun", M.GetMatchingRunRequest(id=run.id),
                                   M.MatchingRun),
                                  ("StartMatchingRun",
                                   M.StartMatchingRunRequest(programme_id=prog.id),
                                   M.MatchingRun),
                                  ("ListMatches", M.ListMatchesRequest(programme_id=prog.id),
                                   M.ListMatchesResponse),
                                  ("ListPins", M.ListPinsRequest(programme_id=prog.id),
                                   M.ListPinsResponse)):
            e = mat_fail(method, req, resp, other)
            self.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND, method)
        e = mat_fail("GetMatch", M.GetMatchRequest(id=match.id), M.Match, t,
                     scopes=1 << 4)  # matching:write only
        self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)

        pds = "tandem.internal.v1.PersonDataService"
        ids = [match.mentee_id]
        ex = call("matching", pds, "ExportParticipants",
                  erasure_pb2.ExportParticipantsRequest(participant_ids=ids),
                  erasure_pb2.ExportParticipantsResponse, t)
        self.assertEqual([m.id for m in ex.matches], [match.id])
        self.assertTrue(ex.proposals)
        none = call("matching", pds, "ExportParticipants",
                    erasure_pb2.ExportParticipantsRequest(participant_ids=ids),
                    erasure_pb2.ExportParticipantsResponse, other)
        self.assertFalse(none.matches)
        er = call("matching", pds, "EraseParticipants",
                  erasure_pb2.EraseParticipantsRequest(participant_ids=ids),
                  erasure_pb2.EraseParticipantsResponse, t)
        self.assertEqual(er.counts.matches, 1)
        self.assertGreaterEqual(er.counts.proposals, 1)
        again = call("matching", pds, "EraseParticipants",
                     erasure_pb2.EraseParticipantsRequest(participant_ids=ids),
                     erasure_pb2.EraseParticipantsResponse, t)
        self.assertEqual(again.counts.matches, 0)
        got = mat("GetMatch", M.GetMatchRequest(id=match.id), M.Match, t)
        self.assertEqual(len(got.explanation), 0)
        self.assertEqual(got.status, M.Match.ENDED)
        self.assertTrue(people)


if __name__ == "__main__":
    unittest.main()
