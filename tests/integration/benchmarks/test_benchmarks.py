"""Template benchmarks through the gateway (issue #18, API.md "Programme templates,
benchmarks and usage", docs/benchmarks.md), against real PostgreSQL and the real
services, with the benchmark job running every second
(TANDEM_BENCHMARK_INTERVAL_SECONDS=1) on two tandem-enrolment replicas.

Proves, in one story of firms joining a template one after another:
- with 4 contributing tenants the benchmark is withheld: published false, the number
  of contributing tenants and the minimum (5), no figures;
- with 5 it is published, each figure equal to a hand computation from the activity
  this test generated (per programme from its own counts, then the mean over the
  programmes), mean rating and NPS withheld while fewer than 5 tenants have them
  shown in their own report (one firm's ratings come from 2 people, under its
  threshold of 3), and published once a 6th firm adds them;
- asOf is present and moves each time the job runs again;
- a tenant sees its own programme's figures beside the benchmark, over REST and
  gRPC; another tenant's programme is NOT_FOUND; a tenant key is refused the
  template's benchmark (403 / PERMISSION_DENIED); a programme made without a
  template is FAILED_PRECONDITION; a malformed id is INVALID_ARGUMENT naming it.
"""
import os
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402
from gateway_client import Gateway  # noqa: E402

import grpc  # noqa: E402
from tandem.v1 import enrolment_pb2 as E  # noqa: E402

STACK = None
GW = None
ROOT = None
SCOPES = ["enrolment:read", "enrolment:write", "matching:read", "matching:write",
          "feedback:read", "feedback:write"]
THRESHOLD = 3
MIN_TENANTS = 5

# Each firm's activity: 3 junior mentors and 3 senior mentees, matched 3 pairs; of the
# pairs (in the order matching lists them), "A" both accept, "D" the mentee declines,
# "P" no answer yet; check-ins as (pair index, recorded by "mentor"/"mentee", rating);
# the NPS answers of three different participants (0-10).
FIRMS = [
    {"pairs": "AAA", "check_ins": [(0, "mentor", 5), (1, "mentee", 4), (2, "mentor", 3),
                                   (0, "mentee", 4)], "nps": [10, 9, 6]},
    {"pairs": "AAD", "check_ins": [(0, "mentor", 5), (0, "mentee", 3), (1, "mentor", 4)],
     "nps": [10, 7, 3]},
    # Ratings from 2 people only (under the threshold): its report withholds the mean
    # rating, and so does its benchmark contribution; no survey answers at all.
    {"pairs": "ADP", "check_ins": [(0, "mentor", 2), (0, "mentee", 4)], "nps": []},
    {"pairs": "AAP", "check_ins": [(0, "mentor", 5), (1, "mentee", 5), (1, "mentor", 4)],
     "nps": [9, 9, 9]},
    {"pairs": "AAA", "check_ins": [(0, "mentor", 3), (1, "mentor", 3), (2, "mentor", 4),
                                   (2, "mentor", 5)], "nps": [9, 6, 10]},
    {"pairs": "AAD", "check_ins": [(0, "mentor", 4), (0, "mentee", 2), (1, "mentee", 5)],
     "nps": [0, 10, 10]},
]


def setUpModule():
    global STACK, GW, ROOT
    STACK = harness.Stack("bench")
    fast = {"TANDEM_BENCHMARK_INTERVAL_SECONDS": "1"}
    STACK.start_all(extra_env={"gateway": {"TANDEM_RATE_LIMIT_RPS": "1000",
                                           "TANDEM_RATE_LIMIT_BURST": "1000"},
                               "enrolment": fast})
    # A second replica of the job: the runs happen once per interval whichever runs.
    STACK.start("enrolment", extra_env=fast, name="enrolment2")
    GW = Gateway(STACK)
    ROOT = STACK.bootstrap_key
    GW.wait_up(ROOT)


def tearDownModule():
    if STACK is not None:
        STACK.close()


def rfc3339(seconds_ago):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - seconds_ago))


def db(sql):
    return harness.psql(STACK.super_url, sql).strip()


def person(ext, role, level):
    return {"externalId": ext, "displayName": "Person " + ext, "role": role,
            "seniorityLevel": level, "office": "London", "languages": ["en"],
            "interests": ["legal tech"], "consent": {"dataProcessing": True}}


class Firm:
    """A tenant running a programme made from the template, and what it did."""

    def __init__(self, template_id, i, plan):
        self.tenant, key = GW.new_tenant(ROOT, SCOPES, prefix="firm%d" % i)
        self.api = harness.Api(STACK, key)
        self.key = key
        self.plan = plan
        self.programme = self.api.call("POST", "/v1/programmes:fromTemplate", {
            "templateId": template_id, "name": "Firm %d reverse mentoring" % i,
            "startDate": "2027-01-04", "overrides": {"status": "ENROLLING"},
            "updateMask": "status"})
        pid = self.programme["id"]
        people = [person("m%d" % k, "MENTOR", 1 + k % 2) for k in range(3)] + \
                 [person("s%d" % k, "MENTEE", 8 + k % 2) for k in range(3)]
        out = self.api.call("POST", "/v1/programmes/%s/participants:batchEnrol" % pid,
                            {"participants": people})
        self.participants = [r["participant"] for r in out["results"]]
        run = self.api.call("POST", "/v1/programmes/%s/matchingRuns" % pid,
                            {"algorithm": "OPTIMAL"})
        harness.wait_until("matching run of firm %d" % i, lambda: self.api.call(
            "GET", "/v1/matchingRuns/%s" % run["id"])["status"] in ("SUCCEEDED", "FAILED"))
        self.api.call("POST", "/v1/matchingRuns/%s:approve" % run["id"], {})
        matches = self.api.call("GET", "/v1/programmes/%s/matches" % pid)["matches"]
        assert len(matches) == 3, matches
        matches.sort(key=lambda m: m["id"])
        for m, what in zip(matches, plan["pairs"]):
            if what == "A":
                for side in ("mentorId", "menteeId"):
                    self.api.call("POST", "/v1/matches/%s:respond" % m["id"],
                                  {"participantId": m[side], "accept": True})
            elif what == "D":
                self.api.call("POST", "/v1/matches/%s:respond" % m["id"],
                              {"participantId": m["menteeId"], "accept": False,
                               "reason": "we already work together"})
        self.matches = matches
        for pair, side, rating in plan["check_ins"]:
            m = matches[pair]
            self.api.call("POST", "/v1/matches/%s/checkIns" % m["id"], {
                "participantId": m[side + "Id"], "occurredTime": rfc3339(600),
                "durationMinutes": 30, "rating": rating})
        if plan["nps"]:
            survey = self.api.call("POST", "/v1/programmes/%s/surveys" % pid, {
                "title": "How is it going?",
                "questions": [{"id": "nps", "text": "Recommend it?", "kind": "NPS_0_10"}]})
            for p, score in zip(self.participants, plan["nps"]):
                self.api.call("POST", "/v1/surveys/%s/responses" % survey["id"], {
                    "participantId": p["id"], "answers": [{"questionId": "nps",
                                                           "score": score}]})

    def expected(self):
        """The programme's figures computed by hand from the plan (docs/benchmarks.md):
        None where there is nothing to compute from or the report withholds it."""
        pairs = self.plan["pairs"]
        participants = 6
        live = sum(1 for p in pairs if p in "AP")   # PROPOSED / ACTIVE pairs
        active = pairs.count("A")
        decided = active + pairs.count("D")
        ratings = [r for _, _, r in self.plan["check_ins"]]
        raters = {(pair, side) for pair, side, _ in self.plan["check_ins"]}
        on_active = sum(1 for pair, _, _ in self.plan["check_ins"] if pairs[pair] == "A")
        nps = self.plan["nps"]
        return {
            "participants": float(participants),
            "matchRate": 2.0 * live / participants,
            "acceptanceRate": active / decided if decided else None,
            # Every match started moments ago: each counts one month.
            "checkInsPerActiveMatchPerMonth": on_active / active if active else None,
            "meanRating": (sum(ratings) / len(ratings)
                           if len(raters) >= THRESHOLD else None),
            "nps": (100.0 * (sum(1 for s in nps if s >= 9) - sum(1 for s in nps if s <= 6))
                    / len(nps) if len(nps) >= THRESHOLD else None),
        }


FIGURES = ["participants", "matchRate", "acceptanceRate", "checkInsPerActiveMatchPerMonth",
           "meanRating", "nps"]


def pooled(firms):
    """The benchmark by hand: each figure the mean over the programmes that have it,
    published when at least MIN_TENANTS tenants have it; else None (withheld)."""
    out = {}
    for f in FIGURES:
        values = [x.expected()[f] for x in firms if x.expected()[f] is not None]
        out[f] = sum(values) / len(values) if len(values) >= MIN_TENANTS else None
    return out


def db_now():
    return db("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")


def benchmark_after(template_id, after):
    """The template's benchmark once the job has run after `after` (RFC 3339, UTC,
    microseconds): asOf is the start of the run, so a later asOf has seen everything
    done before `after`."""
    seen = {}

    def ran():
        status, b = GW.rest("GET", "/v1/templates/%s/benchmark" % template_id, key=ROOT)
        assert status == 200, (status, b)
        seen["b"] = b
        return b.get("asOf", "") > after

    harness.wait_until("a benchmark run after %s" % after, ran, timeout=120, interval=0.3)
    return seen["b"]


class Benchmarks(unittest.TestCase):
    maxDiff = None

    def assertFigures(self, got, expected):
        for f in FIGURES:
            if expected[f] is None:
                self.assertNotIn(f, got, f)
            else:
                self.assertIn(f, got, f)
                self.assertAlmostEqual(got[f], expected[f], places=6, msg=f)

    def test_withheld_with_4_tenants_published_with_5_and_checked_by_hand(self):
        status, t = GW.rest("POST", "/v1/templates", {
            "name": "Reverse mentoring, benchmarked", "kind": "REVERSE",
            "objectives": [{"key": "digital", "title": "Digital literacy"}],
            "checkInCadenceDays": 14, "anonymityThreshold": THRESHOLD,
            "matchingPolicy": {"defaultMentorCapacity": 1}}, key=ROOT)
        self.assertEqual(status, 200, t)
        tid = t["id"]
        # Before any firm: nothing to publish, and the job's asOf is there.
        b = benchmark_after(tid, db_now())
        # proto3 JSON leaves false and 0 out.
        self.assertEqual((b.get("published", False), b.get("contributingTenants", 0),
                          b["minTenants"]),
                         (False, 0, MIN_TENANTS))
        self.assertNotIn("figures", b)

        firms = [Firm(tid, i, FIRMS[i]) for i in range(4)]
        # One firm runs a second programme from the template: programmes count, but a
        # tenant contributes once.
        firms[0].api.call("POST", "/v1/programmes:fromTemplate", {
            "templateId": tid, "name": "Second cohort", "startDate": "2027-09-01"})
        b4 = benchmark_after(tid, db_now())
        self.assertEqual(b4.get("published", False), False, b4)
        self.assertEqual((b4["contributingTenants"], b4["minTenants"], b4["programmes"]),
                         (4, MIN_TENANTS, 5))
        self.assertNotIn("figures", b4)

        firms.append(Firm(tid, 4, FIRMS[4]))
        # The second cohort (an empty programme: 0 participants, no rates) is part of
        # the pooling: the hand computation includes it.
        empty = type("Empty", (), {"expected": lambda self: {
            "participants": 0.0, "matchRate": None, "acceptanceRate": None,
            "checkInsPerActiveMatchPerMonth": None, "meanRating": None, "nps": None}})()
        b5 = benchmark_after(tid, db_now())
        self.assertTrue(b5.get("published"), b5)
        self.assertEqual((b5["contributingTenants"], b5["programmes"]), (5, 6))
        self.assertGreater(b5["asOf"], b4["asOf"])
        want = pooled(firms + [empty])
        self.assertIsNone(want["meanRating"])  # only 4 firms have it shown
        self.assertFigures(b5["figures"], want)
        self.assertEqual(sorted(b5["figures"].get("withheld", [])), ["meanRating", "nps"])

        firms.append(Firm(tid, 5, FIRMS[5]))
        b6 = benchmark_after(tid, db_now())
        want = pooled(firms + [empty])
        self.assertIsNotNone(want["meanRating"])
        self.assertIsNotNone(want["nps"])
        self.assertFigures(b6["figures"], want)
        self.assertNotIn("withheld", b6["figures"])
        self.assertGreater(b6["asOf"], b5["asOf"])

        # A firm sees its own programme beside the benchmark, over REST and gRPC.
        own = firms[2]
        status, pb = GW.rest("GET", "/v1/programmes/%s/benchmark" % own.programme["id"],
                             key=own.key)
        self.assertEqual(status, 200, pb)
        self.assertEqual(pb["template"], {"id": tid, "version": 1})
        self.assertFigures(pb["programme"], own.expected())
        self.assertEqual(pb["benchmark"]["figures"], b6["figures"])
        self.assertEqual(pb["benchmark"]["asOf"], b6["asOf"])
        got = GW.rpc("EnrolmentService", "GetProgrammeBenchmark",
                     E.GetProgrammeBenchmarkRequest(id=own.programme["id"]),
                     E.ProgrammeBenchmark, own.key)
        self.assertAlmostEqual(got.programme.acceptance_rate.value,
                               own.expected()["acceptanceRate"], places=6)
        self.assertFalse(got.programme.HasField("mean_rating"))  # its report withholds it
        self.assertTrue(got.benchmark.published)
        # The platform over gRPC.
        got = GW.rpc("EnrolmentService", "GetTemplateBenchmark",
                     E.GetTemplateBenchmarkRequest(id=tid), E.TemplateBenchmark, ROOT)
        self.assertEqual((got.published, got.contributing_tenants), (True, 6))
        self.assertAlmostEqual(got.figures.nps.value, want["nps"], places=6)

        # Another tenant's programme is NOT_FOUND, never its figures.
        other = firms[3]
        status, e = GW.rest("GET", "/v1/programmes/%s/benchmark" % own.programme["id"],
                            key=other.key)
        self.assertEqual(status, 404, e)
        self.assertEqual(GW.rpc_code("EnrolmentService", "GetProgrammeBenchmark",
                                     E.GetProgrammeBenchmarkRequest(id=own.programme["id"]),
                                     E.ProgrammeBenchmark, other.key),
                         grpc.StatusCode.NOT_FOUND)
        # A tenant key is refused the template's benchmark, whatever its scopes.
        status, e = GW.rest("GET", "/v1/templates/%s/benchmark" % tid, key=own.key)
        self.assertEqual(status, 403, e)
        self.assertEqual(GW.rpc_code("EnrolmentService", "GetTemplateBenchmark",
                                     E.GetTemplateBenchmarkRequest(id=tid),
                                     E.TemplateBenchmark, own.key),
                         grpc.StatusCode.PERMISSION_DENIED)

    def test_refusals(self):
        tenant, key = GW.new_tenant(ROOT, SCOPES, prefix="plain")
        api = harness.Api(STACK, key)
        plain = api.call("POST", "/v1/programmes", {"name": "No template", "kind": "PEER"})
        status, e = GW.rest("GET", "/v1/programmes/%s/benchmark" % plain["id"], key=key)
        self.assertEqual(status, 400, e)
        self.assertIn("template", e["message"])
        status, e = GW.rest("GET", "/v1/programmes/not-a-uuid/benchmark", key=key)
        self.assertEqual(status, 400, e)
        self.assertEqual([d["field"] for d in e["details"]], ["id"])
        status, e = GW.rest("GET", "/v1/programmes/%s/benchmark" % uuid.uuid4(), key=key)
        self.assertEqual(status, 404, e)
        status, e = GW.rest("GET", "/v1/templates/%s/benchmark" % uuid.uuid4(), key=ROOT)
        self.assertEqual(status, 404, e)
        status, e = GW.rest("GET", "/v1/templates/nope/benchmark", key=ROOT)
        self.assertEqual(status, 400, e)
        # A key without enrolment:read is refused its own programme's benchmark.
        _, fb_key = GW.new_tenant(ROOT, ["feedback:read"], prefix="fbonly")
        status, e = GW.rest("GET", "/v1/programmes/%s/benchmark" % plain["id"], key=fb_key)
        self.assertIn(status, (403, 404), e)

    def test_a_live_lease_is_respected_and_a_dead_one_taken_over(self):
        """A replica that claimed the run and died leaves its lease: no replica runs
        while it lasts, and one takes the run over once it has ended. (Simulated by
        a claim no live replica holds, with a 3 s lease.)"""
        lease_until = db("UPDATE enrolment.benchmark_job SET claim_id = gen_random_uuid(),"
                         " lease_until = now() + interval '3 seconds', next_run_time = now()"
                         " RETURNING to_char(lease_until AT TIME ZONE 'UTC',"
                         " 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
        runs = int(db("SELECT runs FROM enrolment.benchmark_job"))
        harness.wait_until("the run taken over", lambda: int(
            db("SELECT runs FROM enrolment.benchmark_job")) > runs, timeout=120)
        # The run that followed began only after the dead holder's lease had ended.
        as_of = db("SELECT to_char(as_of AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
                   " FROM enrolment.benchmark_job")
        self.assertGreaterEqual(as_of, lease_until)
        self.assertEqual(db("SELECT claim_id IS NULL FROM enrolment.benchmark_job"), "t")

    def test_the_jobs_tenantless_reads_see_ids_only(self):
        """The job lists programmes across tenants in a transaction bound to no tenant:
        as the enrolment service's role, such a transaction sees every row of
        template_programmes (ids only) and still no programme, participant or
        anything else."""
        tenant, key = GW.new_tenant(ROOT, SCOPES, prefix="ids")
        status, t = GW.rest("POST", "/v1/templates", {"name": "Ids", "kind": "REVERSE"},
                            key=ROOT)
        self.assertEqual(status, 200, t)
        status, p = GW.rest("POST", "/v1/programmes:fromTemplate",
                            {"templateId": t["id"], "name": "Ids only",
                             "startDate": "2027-01-04"}, key=key)
        self.assertEqual(status, 200, p)
        role = STACK.url("tandem_enrolment")
        self.assertEqual(harness.psql(role, "SELECT count(*) FROM enrolment.template_programmes "
                                      "WHERE programme_id = '%s'" % p["id"]).strip(), "1")
        for table in ("programmes", "participants"):
            self.assertEqual(harness.psql(role, "SELECT count(*) FROM enrolment.%s" % table)
                             .strip(), "0", table)
        # Bound to another tenant, not even the ids.
        other = str(uuid.uuid4())
        self.assertEqual(harness.psql(role, "SELECT set_config('app.tenant_id', '%s', false); "
                                      "SELECT count(*) FROM enrolment.template_programmes"
                                      % other).strip().splitlines()[-1], "0")

    def test_runs_once_per_interval_across_replicas(self):
        """Two replicas poll every second; a run is claimed by one of them and the next
        falls due a whole interval (1 s) after it is written, so the run counter can
        never grow faster than one a second - two replicas each running would double
        it. (An upper bound: a slow machine only makes it easier to hold.)"""
        def runs():
            return int(db("SELECT runs FROM enrolment.benchmark_job"))
        harness.wait_until("a first run", lambda: runs() >= 1, timeout=120)
        t0, r0 = time.monotonic(), runs()
        harness.wait_until("five more runs", lambda: runs() >= r0 + 5, timeout=120)
        elapsed = time.monotonic() - t0
        self.assertLessEqual(runs() - r0, elapsed + 1)
        self.assertNotEqual(db("SELECT as_of FROM enrolment.benchmark_job"), "")

if __name__ == "__main__":
    unittest.main()
