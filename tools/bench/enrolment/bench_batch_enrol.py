"""BatchEnrol benchmark: 10,000 realistic rows through tandem-enrolment's gRPC API,
and in the same run the same rows loaded with `psql \\copy` into an equivalent table
(the physical reference). Prints both times and their ratio.

Run from the repository with a built tree and a PostgreSQL superuser URL:
    TANDEM_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
    TANDEM_BUILD_DIR=build/test /usr/bin/python3 tools/bench/enrolment/bench_batch_enrol.py
(The gateway's REST path replaces gRPC here once it exists.)
"""
import csv
import os
import random
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "integration"))
import harness  # noqa: E402
import grpc  # noqa: E402
from tandem.v1 import common_pb2, enrolment_pb2 as P  # noqa: E402

ROWS = int(os.environ.get("BENCH_ROWS", "10000"))
OFFICES = ["London", "Paris", "Frankfurt", "New York", "Singapore", "Madrid"]
AREAS = ["Corporate", "Litigation", "Tax", "Employment", "Real Estate", "IP"]
SKILLS = ["generative AI", "legal tech", "data privacy", "client service", "inclusion",
          "negotiation", "contract automation", "e-discovery"]
ZONES = ["Europe/London", "Europe/Paris", "America/New_York", "Asia/Singapore"]


def rows(n):
    rnd = random.Random(42)
    out = []
    for i in range(n):
        mentor = i % 3 == 0
        out.append(P.Participant(
            external_id="HR-%06d" % i, display_name="Person %d" % i,
            email="person%d@firm.example" % i,
            role=common_pb2.MENTOR if mentor else common_pb2.MENTEE,
            seniority_level=rnd.randint(0, 10), years_qualified=rnd.randint(0, 30),
            practice_area=rnd.choice(AREAS), office=rnd.choice(OFFICES),
            department="Dept %d" % rnd.randint(1, 40),
            reporting_chain=["HR-%06d" % rnd.randint(0, n - 1)],
            skills=[P.Skill(name=s, level=rnd.randint(1, 5)) for s in rnd.sample(SKILLS, 3)],
            interests=rnd.sample(SKILLS, 2), goals=["digital_literacy"],
            languages=["en", rnd.choice(["fr", "de", "es"])],
            availability_hours_per_month=rnd.randint(2, 12), timezone=rnd.choice(ZONES),
            capacity=rnd.randint(1, 3) if mentor else 0,
            consent=P.Consent(data_processing=True)))
    return out


def main():
    stack = harness.Stack("bench")
    try:
        stack.start("enrolment")
        tenant = str(uuid.uuid4())
        md = harness.Stack.context(tenant)
        ch = stack.channel("enrolment")
        call = lambda m, req, typ: ch.unary_unary(  # noqa: E731
            "/tandem.v1.EnrolmentService/" + m, request_serializer=lambda x: x.SerializeToString(),
            response_deserializer=typ.FromString)(req, metadata=md, timeout=120)
        prog = call("CreateProgramme", P.CreateProgrammeRequest(programme=P.Programme(
            name="Bench", kind=P.REVERSE, status=P.Programme.ENROLLING)), P.Programme)
        data = rows(ROWS)
        req = P.BatchEnrolRequest(programme_id=prog.id, participants=data)
        t0 = time.monotonic()
        resp = call("BatchEnrol", req, P.BatchEnrolResponse)
        grpc_s = time.monotonic() - t0
        ok = sum(1 for r in resp.results if r.WhichOneof("result") == "participant")
        assert ok == ROWS, "only %d rows stored" % ok

        # The physical reference: the same rows, \copy into an equivalent table.
        harness.psql(stack.super_url, "CREATE TABLE bench_copy (LIKE enrolment.participants "
                     "INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)")
        with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
            w = csv.writer(f)
            for p in data:
                w.writerow([tenant, prog.id, p.external_id, p.display_name, p.email, p.role,
                            p.seniority_level, p.years_qualified, p.practice_area, p.office,
                            p.department, "{%s}" % ",".join(p.reporting_chain),
                            "{%s}" % ",".join('"%s"' % s.name for s in p.skills),
                            "{%s}" % ",".join(str(s.level) for s in p.skills),
                            "{%s}" % ",".join('"%s"' % s for s in p.interests),
                            "{%s}" % ",".join(p.goals), "{%s}" % ",".join(p.languages),
                            p.availability_hours_per_month, p.timezone, p.capacity, "t"])
            path = f.name
        cols = ("tenant_id, programme_id, external_id, display_name, email, role, "
                "seniority_level, years_qualified, practice_area, office, department, "
                "reporting_chain, skill_names, skill_levels, interests, goals, languages, "
                "availability_hours_per_month, timezone, capacity, consent_data_processing")
        t0 = time.monotonic()
        harness.psql(stack.super_url, "\\copy bench_copy (%s) FROM '%s' WITH (FORMAT csv)"
                     % (cols, path))
        copy_s = time.monotonic() - t0
        os.unlink(path)
        print("rows=%d batch_enrol_grpc_s=%.3f psql_copy_s=%.3f ratio=%.2f request_bytes=%d"
              % (ROWS, grpc_s, copy_s, grpc_s / copy_s, req.ByteSize()))
        ch.close()
    finally:
        stack.close()


if __name__ == "__main__":
    main()
