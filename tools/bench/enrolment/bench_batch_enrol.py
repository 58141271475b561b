"""BatchEnrol benchmark: 10,000 realistic rows through tandem-enrolment's gRPC API and
through the gateway's REST API (a fresh insert into a new programme, then an upsert of
the same rows), and in the same run the same rows loaded with `psql \\copy` into an
equivalent table (the physical reference). Prints the times and the gRPC/\\copy ratio.

Run from the repository with a built tree and a PostgreSQL superuser URL:
    TANDEM_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
    TANDEM_BUILD_DIR=build/release /usr/bin/python3 tools/bench/enrolment/bench_batch_enrol.py
BENCH_ROWS (default 10000) sets the rows, BENCH_REPEAT (default 1) how many rounds of
the four measurements one run makes (each round on new programmes). BENCH_REST_BODY
names a BatchEnrol JSON body for the REST calls instead of these rows (e.g. the output
of `tandemctl demo generate --count 10000 --seed 7`). Use a Release
build: the sanitizers of build/test make every figure several times slower.

BENCH_REST=0 skips the REST calls (on a heavily loaded machine the gateway's peer
probe can time out while tandem-enrolment is busy with a batch, and answer 503).

Each round also times the same rows sent as bytes serialized before the clock starts,
the answer left as bytes until it stops (wire_s, wire_ratio): the service's time
without the Python client's own protobuf work.

Besides the wall times, each round prints the CPU seconds the gRPC call cost
tandem-enrolment (enrolment_cpu_s) and the database's backends of the bench database
(pg_backends_cpu_s), from /proc: on a loaded machine they move far less than wall
times do. The database must run on this machine for the second one.
"""
import csv
import json
import os
import random
import sys
import tempfile
import time
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "integration"))
import harness  # noqa: E402
import grpc  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from tandem.v1 import common_pb2, enrolment_pb2 as P  # noqa: E402

ROWS = int(os.environ.get("BENCH_ROWS", "10000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "1"))
WITH_REST = os.environ.get("BENCH_REST", "1") != "0"
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


def rest(stack, method, path, body, tenant=None):
    """(seconds, status, parsed JSON) of one REST call through the gateway."""
    req = urllib.request.Request("http://%s%s" % (stack.addr("gateway"), path), data=body,
                                 method=method)
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", "Bearer " + stack.bootstrap_key)
    if tenant is not None:
        req.add_header("X-Tandem-Tenant", tenant)
    t0 = time.monotonic()
    with urllib.request.urlopen(req, timeout=120) as r:
        raw = r.read()
        seconds = time.monotonic() - t0
        return seconds, r.status, json.loads(raw)


def wait_gateway(stack):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if stack.http("gateway", "/healthz")[0] == 200:
                rest(stack, "GET", "/v1/tenants", None)
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the gateway is not ready:\n" + stack.log_tail("gateway"))


def cpu_s(pid):
    """User + system CPU seconds of process pid so far (0 when it is gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backends_cpu_s(stack):
    """CPU seconds so far of the database's backends connected to the bench database."""
    pids = harness.psql(stack.super_url, "SELECT pid FROM pg_stat_activity WHERE datname ="
                        " current_database() AND pid <> pg_backend_pid()").split()
    return sum(cpu_s(int(p)) for p in pids)


def copy_rows(stack, tenant, programme_id, data):
    """Seconds to \\copy the rows into an equivalent table."""
    harness.psql(stack.super_url, "DROP TABLE IF EXISTS bench_copy; "
                 "CREATE TABLE bench_copy (LIKE enrolment.participants "
                 "INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)")
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        w = csv.writer(f)
        for p in data:
            w.writerow([tenant, programme_id, p.external_id, p.display_name, p.email, p.role,
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
    return copy_s


def main():
    stack = harness.Stack("bench")
    try:
        stack.start("enrolment")
        stack.start("gateway", extra_env={"TANDEM_RATE_LIMIT_RPS": "1000",
                                          "TANDEM_RATE_LIMIT_BURST": "1000"}, wait=False)
        wait_gateway(stack)
        slug = "bench-%s" % uuid.uuid4().hex[:8]
        tenant = rest(stack, "POST", "/v1/tenants",
                      json.dumps({"name": "Bench", "slug": slug}).encode())[2]["id"]
        md = harness.Stack.context(tenant)
        ch = stack.channel("enrolment")
        call = lambda m, req, typ: ch.unary_unary(  # noqa: E731
            "/tandem.v1.EnrolmentService/" + m, request_serializer=lambda x: x.SerializeToString(),
            response_deserializer=typ.FromString)(req, metadata=md, timeout=120)
        data = rows(ROWS)
        body = json.dumps({"participants": [json_format.MessageToDict(p) for p in data]},
                          separators=(",", ":")).encode()
        rest_rows = ROWS
        if os.environ.get("BENCH_REST_BODY"):
            with open(os.environ["BENCH_REST_BODY"], "rb") as f:
                body = f.read()
            rest_rows = len(json.loads(body)["participants"])
        programme = json.dumps({"name": "Bench", "kind": "REVERSE",
                                "status": "ENROLLING"}).encode()
        for _ in range(REPEAT):
            prog = call("CreateProgramme", P.CreateProgrammeRequest(programme=P.Programme(
                name="Bench", kind=P.REVERSE, status=P.Programme.ENROLLING)), P.Programme)
            req = P.BatchEnrolRequest(programme_id=prog.id, participants=data)
            enrolment_pid = stack.procs["enrolment"].pid
            cpu0, pg0 = cpu_s(enrolment_pid), backends_cpu_s(stack)
            t0 = time.monotonic()
            resp = call("BatchEnrol", req, P.BatchEnrolResponse)
            grpc_s = time.monotonic() - t0
            cpu1, pg1 = cpu_s(enrolment_pid), backends_cpu_s(stack)
            ok = sum(1 for r in resp.results if r.WhichOneof("result") == "participant")
            assert ok == ROWS, "only %d rows stored over gRPC" % ok

            # The same rows again into another new programme, the request serialized
            # before the clock starts and the answer parsed after it stops: the
            # service's time without the Python client's protobuf work (~0.1 s here).
            prog2 = call("CreateProgramme", P.CreateProgrammeRequest(programme=P.Programme(
                name="Bench", kind=P.REVERSE, status=P.Programme.ENROLLING)), P.Programme)
            wire = P.BatchEnrolRequest(programme_id=prog2.id,
                                       participants=data).SerializeToString()
            raw = ch.unary_unary("/tandem.v1.EnrolmentService/BatchEnrol",
                                 request_serializer=lambda b: b,
                                 response_deserializer=lambda b: b)
            t0 = time.monotonic()
            answer = raw(wire, metadata=md, timeout=120)
            wire_s = time.monotonic() - t0
            ok = sum(1 for r in P.BatchEnrolResponse.FromString(answer).results
                     if r.WhichOneof("result") == "participant")
            assert ok == ROWS, "only %d rows stored over gRPC (wire)" % ok

            times = [float("nan"), float("nan")]
            if WITH_REST:
                rest_prog = rest(stack, "POST", "/v1/programmes", programme, tenant)[2]["id"]
                path = "/v1/programmes/%s/participants:batchEnrol" % rest_prog
                times = []
            for _attempt in ("insert", "upsert") if WITH_REST else ():
                seconds, status, out = rest(stack, "POST", path, body, tenant)
                ok = sum(1 for r in out["results"] if "participant" in r)
                assert status == 200 and ok == rest_rows, "only %d rows stored over REST" % ok
                times.append(seconds)

            copy_s = copy_rows(stack, tenant, prog.id, data)
            print("rows=%d batch_enrol_grpc_s=%.3f wire_s=%.3f rest_insert_s=%.3f "
                  "rest_upsert_s=%.3f psql_copy_s=%.3f ratio=%.2f wire_ratio=%.2f "
                  "enrolment_cpu_s=%.3f pg_backends_cpu_s=%.3f request_bytes=%d "
                  "rest_request_bytes=%d"
                  % (ROWS, grpc_s, wire_s, times[0], times[1], copy_s, grpc_s / copy_s,
                     wire_s / copy_s, cpu1 - cpu0, pg1 - pg0, req.ByteSize(), len(body)),
                  flush=True)
        ch.close()
    finally:
        stack.close()


if __name__ == "__main__":
    main()
