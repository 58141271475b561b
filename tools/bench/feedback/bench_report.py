"""GetProgrammeReport for a programme of 10,000 participants, 5,000 matches and
100,000 check-ins (goal: <= 100 ms per report).

Two figures, from one scratch database (tests/integration/harness.py's Stack):
  * the whole call through gRPC: tandem-feedback reads the programme from the real
    tandem-enrolment, the 10,000 participants' columns from it
    (tandem.internal.v1.ParticipantColumnsService) and the 5,000 matches' columns
    from the real tandem-matching (MatchColumnsService), then runs the report
    statement with them as binary array parameters;
  * the report statement alone (services/feedback/report_sql.h, read from the
    source), executed by psql as the service role with the same array parameters,
    row-level security on, JIT off as the service sets it.

Participants are enrolled through BatchEnrol; matches are written into matching's
table by SQL (as ApproveRun and RespondToMatch leave them); check-ins, goal progress, the per-match
running totals and survey answers are written by SQL with the same shape
RecordCheckIn and SubmitSurveyResponse give them (recording 100,000 check-ins one
call at a time would only time the load); the report's per-respondent and
per-objective totals follow from those rows by feedback's triggers (migration 060).

TANDEM_BENCH_REPORT_BASELINE=<another report_sql.h> times that statement too, on the
same data just before (e.g. `git show 5b21685:services/feedback/report_sql.h`, the
statement that computed the whole report from 21 parameters), and, when both compute
the whole report, checks they give the same one;
TANDEM_BENCH_REPORT_EXPLAIN=1 prints each statement's plan with actual times.

Run (Debian python3, a PostgreSQL superuser URL, a build with the binaries and the
generated Python modules):
  TANDEM_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
  TANDEM_BUILD_DIR=build TANDEM_SOURCE_DIR=. \
  PYTHONPATH=tests/integration /usr/bin/python3 tools/bench/feedback/bench_report.py [runs]
"""
import json
import os
import random
import re
import statistics
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "tests", "integration"))
import harness  # noqa: E402

import grpc  # noqa: E402
from google.protobuf import timestamp_pb2  # noqa: E402
from tandem.internal.v1 import context_pb2  # noqa: E402
from tandem.v1 import common_pb2, enrolment_pb2, feedback_pb2, matching_pb2  # noqa: E402

E, F, M = enrolment_pb2, feedback_pb2, matching_pb2
PARTICIPANTS, MATCHES, CHECK_INS = 10000, 5000, 100000
OFFICES = ["London", "Paris", "Frankfurt", "New York", "Singapore", "Dubai", "Madrid"]
AREAS = ["Disputes", "Corporate", "Tax", "Real estate", "Employment", "IP", "Finance",
         "Competition", "Restructuring", "Regulatory", "Funds", "Energy", "Pro bono"]

def call(stack, svc, path, req, resp_type, tenant, timeout=120):
    ch = stack.channel(svc)
    try:
        fn = ch.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                            response_deserializer=resp_type.FromString)
        return fn(req, metadata=harness.Stack.context(tenant), timeout=timeout)
    finally:
        ch.close()


def report_sql(path=None):
    """FB_REPORT_SQL as the service sends it, from its header (or another copy of it)."""
    path = path or os.path.join(harness.SOURCE_DIR, "services", "feedback", "report_sql.h")
    text = open(path).read()
    body = text[text.index("FB_REPORT_SQL[] ="):].split("=", 1)[1]
    body = body[:body.index(";\n")]
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    tenant = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"
    out = []
    for tok in re.finditer(r'"((?:[^"\\]|\\.)*)"|FB_T', body):
        out.append(tenant if tok.group(0) == "FB_T" else tok.group(1).replace('\\"', '"'))
    return "".join(out)


def n_params(path=None):
    """FB_REPORT_NPARAMS of a report_sql.h: 21 for the statement that computed the whole
    report (up to 1088cdb), 3 for the one that reads feedback's totals only."""
    path = path or os.path.join(harness.SOURCE_DIR, "services", "feedback", "report_sql.h")
    return int(re.search(r"#define FB_REPORT_NPARAMS +([0-9]+)", open(path).read()).group(1))


def plan_cache_mode(path=None):
    """How the service runs the statement of a report_sql.h: FB_REPORT_PLAN_CACHE_MODE
    when the header names one (prepared, by its generic plan), else planned for each
    call's parameters (the service sent it unnamed)."""
    path = path or os.path.join(harness.SOURCE_DIR, "services", "feedback", "report_sql.h")
    found = re.search(r'#define FB_REPORT_PLAN_CACHE_MODE "([a-z_]+)"', open(path).read())
    return found.group(1) if found else "force_custom_plan"


def load(stack, t):
    prog = call(stack, "enrolment", "/tandem.v1.EnrolmentService/CreateProgramme",
                E.CreateProgrammeRequest(programme=E.Programme(
                    name="Bench", kind=E.REVERSE, status=E.Programme.ACTIVE,
                    anonymity_threshold=5, check_in_cadence_days=14,
                    objectives=[E.Objective(key=k, title=k) for k in
                                ("digital", "inclusion", "clients")])), E.Programme, t)
    rnd = random.Random(7)
    rows = []
    for i in range(PARTICIPANTS):
        div = None
        if i % 3 != 0:
            div = E.Diversity(gender=rnd.choice(["woman", "man", "non-binary"]),
                              ethnicity=rnd.choice(["a", "b", "c", "d", "e"]))
        rows.append(E.Participant(
            external_id="hr-%05d" % i, display_name="Person %d" % i,
            role=common_pb2.MENTOR if i % 2 == 0 else common_pb2.MENTEE,
            office=rnd.choice(OFFICES), practice_area=rnd.choice(AREAS),
            seniority_level=rnd.randint(0, 10), diversity=div,
            consent=E.Consent(data_processing=True, diversity_data=div is not None)))
    res = call(stack, "enrolment", "/tandem.v1.EnrolmentService/BatchEnrol",
               E.BatchEnrolRequest(programme_id=prog.id, participants=rows),
               E.BatchEnrolResponse, t, timeout=600)
    ids = [r.participant.id for r in res.results]
    now = time.time()
    matches = []
    for i in range(MATCHES):
        start = timestamp_pb2.Timestamp(seconds=int(now - rnd.uniform(10, 200) * 86400))
        status = M.Match.ACTIVE if i % 10 else rnd.choice([M.Match.ENDED, M.Match.DECLINED,
                                                           M.Match.ACCEPTED])
        matches.append(M.Match(id=str(uuid.uuid4()), programme_id=prog.id,
                               mentor_id=ids[2 * i], mentee_id=ids[2 * i + 1], status=status,
                               create_time=start, start_time=start))
    with open("/tmp/fb-bench-matches.csv", "w") as f:
        for m in matches:
            f.write("%s,%s,%s,%d,%d\n" % (m.id, m.mentor_id, m.mentee_id, m.status,
                                          m.start_time.seconds))
    sql = """
SET app.tenant_id = '{t}';
CREATE TEMP TABLE bm (id uuid, mentor uuid, mentee uuid, status int, start_s bigint);
\\copy bm FROM '/tmp/fb-bench-matches.csv' WITH (FORMAT csv)
INSERT INTO matching.matches (tenant_id, id, programme_id, mentor_id, mentee_id, score, status,
    mentor_response, mentee_response, create_time, start_time)
SELECT '{t}', bm.id, '{p}', bm.mentor, bm.mentee, 50, bm.status,
       CASE WHEN bm.status = 3 THEN 2 ELSE 1 END, 1, to_timestamp(bm.start_s),
       to_timestamp(bm.start_s)
  FROM bm ORDER BY bm.id;
INSERT INTO feedback.check_ins (tenant_id, match_id, programme_id, participant_id, mentor_id,
    mentee_id, occurred_time, duration_minutes, topics, rating, notes)
SELECT '{t}', bm.id, '{p}', CASE WHEN g % 2 = 0 THEN bm.mentor ELSE bm.mentee END,
       bm.mentor, bm.mentee, now() - random() * interval '300 days', 45, '{{AI}}',
       1 + floor(random() * 5)::int, 'private'
  FROM bm, generate_series(1, {per}) g;
INSERT INTO feedback.check_in_goal_progress (tenant_id, check_in_id, objective_key, percent)
SELECT c.tenant_id, c.id, k, floor(random() * 101)::int
  FROM feedback.check_ins c, unnest(ARRAY['digital', 'inclusion']) k
 WHERE c.tenant_id = '{t}' AND random() < 0.3;
INSERT INTO feedback.match_stats SELECT tenant_id, match_id, programme_id, count(*),
    sum(rating), max(occurred_time), (array_agg(create_time ORDER BY occurred_time DESC,
    create_time DESC))[1], (array_agg(rating ORDER BY occurred_time DESC, create_time DESC))[1],
    bool_or(participant_id = mentor_id), bool_or(participant_id = mentee_id)
  FROM feedback.check_ins WHERE tenant_id = '{t}' GROUP BY 1, 2, 3;
INSERT INTO feedback.goal_progress_latest
SELECT DISTINCT ON (c.match_id, g.objective_key) c.tenant_id, c.programme_id, c.match_id,
       g.objective_key, g.percent, c.occurred_time, c.create_time
  FROM feedback.check_in_goal_progress g JOIN feedback.check_ins c
    ON c.tenant_id = g.tenant_id AND c.id = g.check_in_id
 ORDER BY c.match_id, g.objective_key, c.occurred_time DESC, c.create_time DESC;
INSERT INTO feedback.surveys (tenant_id, id, programme_id, title)
VALUES ('{t}', '{s}', '{p}', 'Mid-term');
INSERT INTO feedback.survey_responses (tenant_id, survey_id, programme_id, participant_id)
SELECT '{t}', '{s}', '{p}', DISTINCT_ids.id FROM (SELECT unnest(ARRAY[{ids}]::uuid[]) AS id)
  DISTINCT_ids WHERE random() < 0.4;
INSERT INTO feedback.survey_answers (tenant_id, response_id, programme_id, question_id, kind,
    score)
SELECT tenant_id, id, programme_id, 'nps', 2, floor(random() * 11)::int
  FROM feedback.survey_responses WHERE tenant_id = '{t}';
ANALYZE;
""".format(t=t, p=prog.id, s=str(uuid.uuid4()), per=CHECK_INS // MATCHES,
           ids=",".join("'%s'" % i for i in ids))
    harness.psql(stack.super_url, sql)
    return prog, ids, matches


def cpu_ms(pid):
    """User + system CPU time of a local process, in milliseconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")


def backend_cpu(stack):
    """{service: {backend pid: CPU ms}} of the services' PostgreSQL connections (the
    cluster runs on this machine, so /proc has them)."""
    rows = harness.psql(stack.super_url, "SELECT application_name, pid FROM pg_stat_activity "
                        "WHERE datname = current_database() AND application_name LIKE 'tandem-%'")
    out = {}
    for line in rows.splitlines():
        app, pid = line.split("|")
        try:
            out.setdefault(app[len("tandem-"):], {})[int(pid)] = cpu_ms(int(pid))
        except FileNotFoundError:  # the connection closed meanwhile
            pass
    return out


def time_grpc(stack, t, prog, runs):
    """Wall times of the calls, and CPU ms per call of the services and of their
    PostgreSQL backends (the report statement runs in feedback's)."""
    times = []
    rep = None
    procs = {svc: stack.procs[svc].pid for svc in ("feedback", "enrolment", "matching")}
    before = {svc: cpu_ms(pid) for svc, pid in procs.items()}
    backends_before = backend_cpu(stack)
    for _ in range(runs):
        t0 = time.perf_counter()
        rep = call(stack, "feedback", "/tandem.v1.FeedbackService/GetProgrammeReport",
                   F.GetProgrammeReportRequest(programme_id=prog.id), F.ProgrammeReport, t)
        times.append((time.perf_counter() - t0) * 1000)
    cpu = {svc: (cpu_ms(pid) - before[svc]) / runs for svc, pid in procs.items()}
    # A backend connected during the runs counts from zero (its connection included).
    for svc, pids in backend_cpu(stack).items():
        old = backends_before.get(svc, {})
        cpu[svc + " backends"] = sum(ms - old.get(pid, 0.0) for pid, ms in pids.items()) / runs
    return times, rep, cpu


def backend_cpu_lines(statement, runs):
    """psql lines running statement `runs` times between two readings of the
    backend's CPU time (into /tmp/fb-bench-cpu.before/after)."""
    lines = ["SELECT pg_backend_pid() AS bpid \\gset", "\\setenv BPID :bpid",
             "\\! cut -d' ' -f14,15 /proc/$BPID/stat > /tmp/fb-bench-cpu.before",
             "\\timing on"]
    lines += [statement] * runs
    lines.append("\\! cut -d' ' -f14,15 /proc/$BPID/stat > /tmp/fb-bench-cpu.after")
    return lines


def backend_cpu_ms(runs):
    ticks = [sum(int(x) for x in open("/tmp/fb-bench-cpu.%s" % w).read().split())
             for w in ("before", "after")]
    return (ticks[1] - ticks[0]) * 1000.0 / os.sysconf("SC_CLK_TCK") / runs


def calibration(stack):
    """CPU ms of a backend counting generate_series(1, 1000000): this machine's speed."""
    lines = ["SET jit = off;"] + backend_cpu_lines(
        "SELECT count(*) FROM generate_series(1, 1000000) \\g /dev/null", 5)
    harness.psql(stack.super_url, "\n".join(lines) + "\n")
    return backend_cpu_ms(5)


def time_sql(stack, t, prog, ids, matches, runs, sql=None, answer=None, plan="force_custom_plan",
             nparams=21):
    """The statement alone, as the service role, through psql's \\timing (and its
    answer, once, into the file `answer` when given). A 21-parameter statement gets
    the programme's people and matches as arrays; a 3-parameter one (the totals only)
    the programme, the threshold and the objectives."""
    rnd = random.Random(7)
    part_rows = []
    for i, pid in enumerate(ids):
        part_rows.append((pid, 1 if i % 2 == 0 else 2, 1, rnd.choice(OFFICES), rnd.choice(AREAS),
                          rnd.randint(0, 10), rnd.choice(["woman", "man", "non-binary"]),
                          rnd.choice(["a", "b", "c", "d", "e"])))

    def arr(vals, quote=True):
        return "{" + ",".join(('"%s"' % v) if quote else str(v) for v in vals) + "}"

    params = [prog.id, "5", "14", "{digital,inclusion,clients}",
              arr(r[0] for r in part_rows), arr((r[1] for r in part_rows), False),
              arr((r[2] for r in part_rows), False), arr(r[3] for r in part_rows),
              arr(r[4] for r in part_rows), arr((r[5] for r in part_rows), False),
              arr(r[6] for r in part_rows), arr(r[7] for r in part_rows),
              "{" + ",".join("NULL" for _ in part_rows) + "}",
              "{" + ",".join("NULL" for _ in part_rows) + "}",
              arr(m.id for m in matches), arr(m.mentor_id for m in matches),
              arr(m.mentee_id for m in matches), arr((m.status for m in matches), False),
              arr(time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(m.start_time.seconds))
                  for m in matches),
              arr(("t" if m.status == M.Match.DECLINED else "f" for m in matches), False),
              "true"]
    types = ["uuid", "int", "int", "text[]", "uuid[]", "int[]", "int[]", "text[]", "text[]",
             "int[]", "text[]", "text[]", "text[]", "text[]", "uuid[]", "uuid[]", "uuid[]",
             "int[]", "timestamptz[]", "bool[]", "bool"]
    if nparams == 3:
        params, types = [params[0], params[1], params[3]], ["uuid", "int", "text[]"]
    # plan_cache_mode as the service runs the statement (plan_cache_mode() above): a
    # statement sent unnamed is planned with each call's parameters, so without
    # force_custom_plan PREPARE's executions after the fifth could use a generic plan
    # (no array lengths known) that the service never ran; one the service prepares
    # runs by the mode its header names.
    lines = ["SET ROLE tandem_feedback;", "SET app.tenant_id = '%s';" % t, "SET jit = off;",
             "SET work_mem = '32MB';", "SET plan_cache_mode = %s;" % plan]
    for i, v in enumerate(params):
        path = "/tmp/fb-bench-p%d.txt" % i
        with open(path, "w") as f:
            f.write(v)
        lines.append("\\set p%d `cat %s`" % (i, path))
    lines.append("PREPARE rep(%s) AS %s;" % (", ".join(types), sql or report_sql()))
    args = ", ".join(":'p%d'" % i for i in range(len(params)))
    if answer:
        lines.append("\\pset tuples_only on")
        lines.append("EXECUTE rep(%s) \\g %s" % (args, answer))
        lines.append("\\pset tuples_only off")
    lines += backend_cpu_lines("EXECUTE rep(%s) \\g /dev/null" % args, runs)
    if os.environ.get("TANDEM_BENCH_REPORT_EXPLAIN"):
        # The plan of the last statement timed, with actual rows and times, to stderr.
        lines.append("EXPLAIN (ANALYZE, COSTS OFF) EXECUTE rep(%s);" % args)
    out = harness.psql(stack.super_url, "\n".join(lines) + "\n")
    if os.environ.get("TANDEM_BENCH_REPORT_EXPLAIN"):
        plan = out[:out.rfind("Execution Time")]
        print(plan[plan.rfind(" ms\n", 0, plan.rfind("Planning Time")) + 4:], file=sys.stderr)
        print("EXPLAIN ANALYZE (%s): %s" % (
            "baseline" if sql else "statement",
            ", ".join(re.findall(r"(?:Planning|Execution) Time: [0-9.]+ ms", out))),
            file=sys.stderr)
    # The timed runs' \timing lines only (not the EXPLAIN's, nor its "Planning Time").
    return ([float(x) for x in re.findall(r"^Time: ([0-9.]+) ms", out, flags=re.M)][:runs],
            backend_cpu_ms(runs))


def summary(name, ms):
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    print("| %s | %d | %.1f | %.1f | %.1f | %.1f |" % (
        name, len(ms), ms[0], statistics.median(ms), p95, ms[-1]))


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    stack = harness.Stack("fbbench")
    try:
        stack.start("enrolment")
        stack.start("matching")
        stack.start("feedback")
        t = str(uuid.uuid4())
        t0 = time.perf_counter()
        prog, ids, matches = load(stack, t)
        print("loaded in %.1f s" % (time.perf_counter() - t0), file=sys.stderr)
        grpc_ms, rep, cpu = time_grpc(stack, t, prog, runs)
        # TANDEM_BENCH_REPORT_BASELINE: another report_sql.h (e.g. `git show
        # <commit>:services/feedback/report_sql.h`), timed on the same data just before.
        baseline = os.environ.get("TANDEM_BENCH_REPORT_BASELINE")
        if baseline:
            base_ms, base_cpu = time_sql(stack, t, prog, ids, matches, runs,
                                         sql=report_sql(baseline),
                                         answer="/tmp/fb-bench-answer-baseline.json",
                                         plan=plan_cache_mode(baseline),
                                         nparams=n_params(baseline))
        sql_ms, sql_cpu = time_sql(stack, t, prog, ids, matches, runs,
                                   answer="/tmp/fb-bench-answer.json", plan=plan_cache_mode(),
                                   nparams=n_params())
        # Two statements that compute the whole report (21 parameters) answer alike;
        # the totals-only one is checked against the whole report by
        # tests/integration/report_aggregates instead.
        if baseline and n_params(baseline) == n_params():
            # Both statements on the same data must give the same report.
            same = [json.loads(open("/tmp/fb-bench-answer%s.json" % w).read())
                    for w in ("-baseline", "")]
            print("the statement and the baseline give %s reports"
                  % ("the same" if same[0] == same[1] else "DIFFERENT"), file=sys.stderr)
        cal = calibration(stack)
        print("report: %d mentors, %d mentees, %d check-ins, %d active, %d at risk, "
              "%d breakdowns" % (rep.enrolled_mentors, rep.enrolled_mentees, rep.check_ins,
                                 rep.active_matches, rep.at_risk_count, len(rep.breakdowns)),
              file=sys.stderr)
        print("| measured | runs | min ms | median ms | p95 ms | max ms |")
        print("|---|---|---|---|---|---|")
        summary("GetProgrammeReport over gRPC (peers + SQL)", grpc_ms)
        if baseline:
            summary("baseline statement alone (%s)" % os.path.basename(baseline), base_ms)
        summary("report statement alone (psql, service role)", sql_ms)
        print()
        print("CPU per report: tandem-feedback %.1f ms, tandem-enrolment %.1f ms, "
              "tandem-matching %.1f ms; their PostgreSQL backends over gRPC: feedback's "
              "%.1f ms, enrolment's %.1f ms, matching's %.1f ms; the statement's backend "
              "alone (psql, text parameters) %.1f ms (planning included)."
              % (cpu["feedback"], cpu["enrolment"], cpu["matching"],
                 cpu.get("feedback backends", 0.0), cpu.get("enrolment backends", 0.0),
                 cpu.get("matching backends", 0.0), sql_cpu))
        if baseline:
            print("The baseline statement's backend: %.1f ms of CPU per report." % base_cpu)
        print("Machine: a backend counts generate_series(1, 1000000) in %.1f ms of CPU; "
              "load average %s." % (cal, " ".join(open("/proc/loadavg").read().split()[:3])))
    finally:
        stack.close()


if __name__ == "__main__":
    main()
