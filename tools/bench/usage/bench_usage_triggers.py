"""What the usage triggers cost BatchEnrol: 10,000 realistic rows (the rows of
tools/bench/enrolment/bench_batch_enrol.py) enrolled through tandem-enrolment's gRPC
API into a new programme, then upserted again, with the participant span triggers of
migrations/040_usage.sql in place and with them dropped, alternately, on the same
database in the same run. The triggers are per statement (one INSERT ... SELECT per
BatchEnrol); for comparison the run also measures per-row triggers doing the same
work, the shape a first version had.

Run from the repository with a built tree and a PostgreSQL superuser URL:
    TANDEM_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
    TANDEM_BUILD_DIR=build/test /usr/bin/python3 tools/bench/usage/bench_usage_triggers.py
BENCH_ROWS (default 10000), BENCH_REPEAT (default 3 rounds of the three variants).
"""
import importlib.util
import os
import statistics
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "integration"))
import harness  # noqa: E402
from tandem.v1 import enrolment_pb2 as P  # noqa: E402

spec = importlib.util.spec_from_file_location(
    "bench_batch_enrol", os.path.join(HERE, "..", "enrolment", "bench_batch_enrol.py"))
batch = importlib.util.module_from_spec(spec)
spec.loader.exec_module(batch)

ROWS = int(os.environ.get("BENCH_ROWS", "10000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
TRIGGERS = ("usage_participants_inserted", "usage_participants_updated")

# The per-row shape, for comparison only.
ROW_TRIGGER_SQL = """
CREATE FUNCTION enrolment.bench_usage_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was boolean := TG_OP = 'UPDATE' AND OLD.status IN (1, 2) AND OLD.erase_time IS NULL;
    is_now boolean := NEW.status IN (1, 2) AND NEW.erase_time IS NULL;
BEGIN
    IF is_now AND NOT was THEN
        INSERT INTO enrolment.usage_participant_spans (tenant_id, participant_id, start_time)
        VALUES (NEW.tenant_id, NEW.id, enrolment.usage_now()) ON CONFLICT DO NOTHING;
    ELSIF was AND NOT is_now THEN
        UPDATE enrolment.usage_participant_spans
           SET end_time = greatest(start_time, enrolment.usage_now())
         WHERE tenant_id = NEW.tenant_id AND participant_id = NEW.id AND end_time IS NULL;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER bench_usage_row AFTER INSERT OR UPDATE OF status, erase_time
    ON enrolment.participants FOR EACH ROW EXECUTE FUNCTION enrolment.bench_usage_row();
"""
DROP_ROW_TRIGGER_SQL = """
DROP TRIGGER IF EXISTS bench_usage_row ON enrolment.participants;
DROP FUNCTION IF EXISTS enrolment.bench_usage_row();
"""


def enrol(stack, tenant, method, req, resp):
    ch = stack.channel("enrolment")
    try:
        fn = ch.unary_unary("/tandem.v1.EnrolmentService/%s" % method,
                            request_serializer=lambda m: m.SerializeToString(),
                            response_deserializer=resp.FromString)
        return fn(req, metadata=harness.Stack.context(tenant), timeout=300)
    finally:
        ch.close()


def timed_batch(stack, tenant, programme_id, people):
    t0 = time.monotonic()
    res = enrol(stack, tenant, "BatchEnrol",
                P.BatchEnrolRequest(programme_id=programme_id, participants=people),
                P.BatchEnrolResponse)
    seconds = time.monotonic() - t0
    bad = [r for r in res.results if r.HasField("error")]
    assert not bad, bad[:3]
    return seconds


def main():
    stack = harness.Stack("bench_usage")
    try:
        stack.start("enrolment")
        defs = harness.psql(stack.super_url,
                            "SELECT pg_get_triggerdef(oid) || ';' FROM pg_trigger "
                            "WHERE tgname IN ('%s') ORDER BY tgname" % "','".join(TRIGGERS))
        assert defs.count("CREATE TRIGGER") == 2, defs
        drop = "".join("DROP TRIGGER %s ON enrolment.participants;" % t for t in TRIGGERS)
        people = batch.rows(ROWS)
        results = {"statement triggers": [], "no triggers": [], "row triggers": []}
        for round_ in range(REPEAT):
            for variant in ("statement triggers", "no triggers", "row triggers"):
                if variant != "statement triggers":
                    harness.psql(stack.super_url, drop)
                if variant == "row triggers":
                    harness.psql(stack.super_url, ROW_TRIGGER_SQL)
                tenant = str(uuid.uuid4())
                prog = enrol(stack, tenant, "CreateProgramme", P.CreateProgrammeRequest(
                    programme=P.Programme(name="Bench", kind=P.REVERSE,
                                          status=P.Programme.ENROLLING)), P.Programme)
                load = os.getloadavg()[0]
                insert = timed_batch(stack, tenant, prog.id, people)
                upsert = timed_batch(stack, tenant, prog.id, people)
                spans = harness.psql(stack.super_url,
                                     "SELECT count(*) FROM enrolment.usage_participant_spans "
                                     "WHERE tenant_id = '%s'" % tenant)
                results[variant].append((insert, upsert))
                print("round %d  %-18s  load %5.2f  insert %6.2f s  upsert %6.2f s  spans %s"
                      % (round_ + 1, variant, load, insert, upsert, spans), flush=True)
                if variant == "row triggers":
                    harness.psql(stack.super_url, DROP_ROW_TRIGGER_SQL)
                if variant != "statement triggers":
                    harness.psql(stack.super_url, defs)
        base = statistics.median(i for i, _ in results["no triggers"])
        base_up = statistics.median(u for _, u in results["no triggers"])
        print()
        print("| variant | insert (median) | upsert (median) | insert / no triggers |")
        print("|---|---|---|---|")
        for variant, xs in results.items():
            ins = statistics.median(i for i, _ in xs)
            ups = statistics.median(u for _, u in xs)
            print("| %s | %.2f s | %.2f s | %.2fx |" % (variant, ins, ups, ins / base))
        print("(no-trigger upsert median %.2f s)" % base_up)
    finally:
        stack.close()


if __name__ == "__main__":
    main()
