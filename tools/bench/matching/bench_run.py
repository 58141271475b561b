"""End-to-end matching run benchmark: a programme of 10,000 participants (a third
mentors with 1-3 seats, two thirds mentees) enrolled through tandem-enrolment, then
one StartMatchingRun through tandem-matching's gRPC API, timed until SUCCEEDED:
fetch (paged ListParticipants), score every pair, solve exactly, write the proposals.
Progress is polled every 20 ms, so the phases (fetch -> 0.3, score -> 0.5,
solve -> 0.8, write -> 1.0) are timed from outside too.

Run from the repository with a built tree and a PostgreSQL superuser URL:
    TANDEM_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
    TANDEM_BUILD_DIR=build/release /usr/bin/python3 tools/bench/matching/bench_run.py
BENCH_PEOPLE changes the size; BENCH_LIMIT_S the pass/fail limit (10 s). The
national-scale case of issue 23 is BENCH_PEOPLE=100000 BENCH_LIMIT_S=60 (enrolment,
in BatchEnrol pages of 5,000, comes first, untimed). The peak resident memory of
tandem-matching (VmHWM) is printed with the times. BENCH_SHAPE=national gives the
issue's proportions instead: a quarter mentors with 3 seats each, seniority and
reporting chains (managers outside the programme) such that every pair is admissible,
min_score 0 and no seniority gap (as tandem-matching-bench-plan with the same variable).
BENCH_VERBOSE=1 prints the enrolment's time and each new progress value as it is seen,
with tandem-matching's peak resident memory then: a run stopped early still says how far
it got.
"""
import os
import random
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "integration"))
import harness  # noqa: E402
from google.protobuf import wrappers_pb2  # noqa: E402
from tandem.v1 import common_pb2, enrolment_pb2 as E, matching_pb2 as M  # noqa: E402

PEOPLE = int(os.environ.get("BENCH_PEOPLE", "10000"))
NATIONAL = os.environ.get("BENCH_SHAPE") == "national"
LIMIT_S = float(os.environ.get("BENCH_LIMIT_S", "10"))
VERBOSE = os.environ.get("BENCH_VERBOSE") == "1"
OFFICES = ["London", "Paris", "Frankfurt", "New York", "Singapore", "Madrid"]
AREAS = ["Corporate", "Litigation", "Tax", "Employment", "Real Estate", "IP"]
SKILLS = ["generative AI", "legal tech", "data privacy", "client portals", "inclusion",
          "negotiation", "contract automation", "e-discovery", "AI tools", "analytics"]
GOALS = ["ai_tools", "inclusion", "client_tech", "generative AI", "data privacy basics",
         "contract automation"]
INTERESTS = ["pro bono", "cycling", "chess", "music", "AI", "legal design", "running",
             "podcasts", "innovation", "diversity"]
ZONES = ["Europe/London", "Europe/Paris", "America/New_York", "Asia/Singapore"]


def people(n):
    rnd = random.Random(42)
    out = []
    for i in range(n):
        mentor = i % 4 == 0 if NATIONAL else i % 3 == 0
        if NATIONAL:
            seniority = rnd.randint(0, 3) if mentor else rnd.randint(3, 10)
        else:
            seniority = rnd.randint(0, 5) if mentor else rnd.randint(3, 10)
        out.append(E.Participant(
            external_id="HR-%06d" % i, display_name="Person %d" % i,
            role=common_pb2.MENTOR if mentor else common_pb2.MENTEE,
            seniority_level=seniority,
            practice_area=rnd.choice(AREAS), office=rnd.choice(OFFICES),
            department="Dept %d" % rnd.randint(1, 40),
            reporting_chain=["PARTNER-%03d" % rnd.randint(0, 399) if NATIONAL
                             else "HR-%06d" % rnd.randint(0, n - 1)],
            skills=[E.Skill(name=s, level=rnd.randint(1, 5)) for s in rnd.sample(SKILLS, 4)],
            interests=rnd.sample(INTERESTS, 3), goals=rnd.sample(GOALS, 2),
            languages=["en", rnd.choice(["fr", "de", "es"])],
            availability_hours_per_month=rnd.randint(2, 12), timezone=rnd.choice(ZONES),
            capacity=(3 if NATIONAL else rnd.randint(1, 3)) if mentor else 0,
            consent=E.Consent(data_processing=True)))
    return out


def call(stack, svc, service, method, req, resp, md):
    ch = stack.channel(svc)
    try:
        fn = ch.unary_unary("/%s/%s" % (service, method),
                            request_serializer=lambda m: m.SerializeToString(),
                            response_deserializer=resp.FromString)
        return fn(req, metadata=md, timeout=600)
    finally:
        ch.close()


def peak_rss_mib(proc):
    """The process's peak resident set (VmHWM) in MiB, or None when unreadable."""
    try:
        with open("/proc/%d/status" % proc.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def main():
    stack = harness.Stack("benchmatch")
    try:
        stack.start("enrolment")
        stack.start("matching")
        tenant = str(uuid.uuid4())
        md = harness.Stack.context(tenant)
        if NATIONAL:
            pol = E.MatchingPolicy(default_mentor_capacity=3, min_score=0)
        else:
            pol = E.MatchingPolicy(
                default_mentor_capacity=2, min_score=10,
                seniority_gap=E.SeniorityGap(min=wrappers_pb2.Int32Value(value=0),
                                             max=wrappers_pb2.Int32Value(value=8)))
        prog = call(stack, "enrolment", "tandem.v1.EnrolmentService", "CreateProgramme",
                    E.CreateProgrammeRequest(programme=E.Programme(
                        name="Bench", kind=E.REVERSE, status=E.Programme.MATCHING,
                        objectives=[E.Objective(key="ai_tools", title="AI tools"),
                                    E.Objective(key="inclusion", title="Inclusion"),
                                    E.Objective(key="client_tech", title="Client technology")],
                        matching_policy=pol)), E.Programme, md)
        rows = people(PEOPLE)
        t_enrol = time.monotonic()
        for k in range(0, len(rows), 5000):
            call(stack, "enrolment", "tandem.v1.EnrolmentService", "BatchEnrol",
                 E.BatchEnrolRequest(programme_id=prog.id, participants=rows[k:k + 5000]),
                 E.BatchEnrolResponse, md)
        if VERBOSE:
            print("enrolled %d in %.1f s (BatchEnrol pages of 5,000)"
                  % (len(rows), time.monotonic() - t_enrol), flush=True)
        t0 = time.monotonic()
        run = call(stack, "matching", "tandem.v1.MatchingService", "StartMatchingRun",
                   M.StartMatchingRunRequest(programme_id=prog.id), M.MatchingRun, md)
        seen = {}
        while True:
            run = call(stack, "matching", "tandem.v1.MatchingService", "GetMatchingRun",
                       M.GetMatchingRunRequest(id=run.id), M.MatchingRun, md)
            at = round(run.progress, 2)
            if VERBOSE and at not in seen:
                hwm = peak_rss_mib(stack.procs["matching"])
                print("progress %.2f at %.1f s, tandem-matching peak resident %s MiB"
                      % (at, time.monotonic() - t0, "%.0f" % hwm if hwm else "?"), flush=True)
            seen.setdefault(at, time.monotonic() - t0)
            if run.status in (M.MatchingRun.SUCCEEDED, M.MatchingRun.FAILED):
                break
            time.sleep(0.02)
        wall = time.monotonic() - t0
        if run.status != M.MatchingRun.SUCCEEDED:
            raise SystemExit("run failed: " + run.error_message)
        s = run.stats
        print("participants %d (mentors %d, mentees %d)" % (s.participants, s.mentors,
                                                           s.mentees))
        print("admissible pairs %d, proposed pairs %d, unmatched mentees %d, mean score %.2f"
              % (s.admissible_pairs, s.pairs, s.unmatched_mentee_count, s.mean_score))
        print("progress first seen at: " + ", ".join(
            "%.2f@%.2fs" % (p, t) for p, t in sorted(seen.items())))
        print("server elapsed %.2f s; StartMatchingRun -> SUCCEEDED seen by the client %.2f s"
              % (s.elapsed_ms / 1000.0, wall))
        hwm = peak_rss_mib(stack.procs["matching"])
        print("tandem-matching peak resident %s" %
              ("%.0f MiB" % hwm if hwm is not None else "unknown"))
        print("limit %.1f s: %s" % (LIMIT_S, "PASS" if wall <= LIMIT_S else "FAIL"))
        return 0 if wall <= LIMIT_S else 1
    finally:
        stack.close()


if __name__ == "__main__":
    sys.exit(main())
