"""What migration 060's triggers (the report's maintained totals) cost the writes.

Backend CPU (from /proc, so independent of queueing) of N survey responses, each one
statement inserting the response and two answers (one NPS) as SubmitSurveyResponse
does, plus N goal-progress rows as RecordCheckIn writes them, each in its own
transaction, with the triggers disabled and then enabled; three rounds on a scratch
database of tests/integration/harness.py's Stack (tandem-feedback started to apply
the migrations). Only the statements' server CPU: a whole API call does much more.

Run (Debian python3, a PostgreSQL superuser URL, a build with the binaries):
  TANDEM_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
  TANDEM_BUILD_DIR=build TANDEM_SOURCE_DIR=. \
  PYTHONPATH=tests/integration /usr/bin/python3 tools/bench/feedback/bench_aggregate_writes.py
"""
import os
import sys
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "tests", "integration"))
import harness  # noqa: E402
stack = harness.Stack("fbwrites")
try:
    stack.start("feedback")
    t = str(uuid.uuid4()); p = str(uuid.uuid4()); s = str(uuid.uuid4())
    N = 1500
    def run(trig):
        sql = ["SET app.tenant_id = '%s';" % t]
        if not trig:
            sql += ["ALTER TABLE feedback.survey_responses DISABLE TRIGGER report_aggregates;",
                    "ALTER TABLE feedback.survey_answers DISABLE TRIGGER report_aggregates;",
                    "ALTER TABLE feedback.goal_progress_latest DISABLE TRIGGER report_aggregates;"]
        sql.append("INSERT INTO feedback.surveys (tenant_id, id, programme_id, title) VALUES ('%s', '%s', '%s', 'x') ON CONFLICT DO NOTHING;" % (t, s, p))
        sql += ["SELECT pg_backend_pid() AS bpid \\gset", "\\setenv BPID :bpid",
                "\\! cut -d' ' -f14,15 /proc/$BPID/stat > /tmp/fb-bench-writes-cpu.before"]
        for i in range(N):
            sql.append("WITH r AS (INSERT INTO feedback.survey_responses (tenant_id, survey_id, programme_id, participant_id) VALUES ('%s', '%s', '%s', gen_random_uuid()) RETURNING *) INSERT INTO feedback.survey_answers (tenant_id, response_id, programme_id, question_id, kind, score) SELECT r.tenant_id, r.id, r.programme_id, x.q, x.k, x.s FROM r, (VALUES ('nps', 2, %d), ('rate', 1, %d)) x(q, k, s);" % (t, s, p, i % 11, 1 + i % 5))
            sql.append("INSERT INTO feedback.goal_progress_latest (tenant_id, programme_id, match_id, objective_key, percent, occurred_time, create_time) VALUES ('%s', '%s', gen_random_uuid(), '%s', %d, now(), now());" % (t, p, "ab"[i % 2], i % 101))
        sql.append("\\! cut -d' ' -f14,15 /proc/$BPID/stat > /tmp/fb-bench-writes-cpu.after")
        sql.append("\\timing off")
        if not trig:
            sql += ["ALTER TABLE feedback.survey_responses ENABLE TRIGGER report_aggregates;",
                    "ALTER TABLE feedback.survey_answers ENABLE TRIGGER report_aggregates;",
                    "ALTER TABLE feedback.goal_progress_latest ENABLE TRIGGER report_aggregates;"]
        out = harness.psql(stack.super_url, "\n".join(sql) + "\n")
        ticks = [sum(int(x) for x in open("/tmp/fb-bench-writes-cpu.%s" % w).read().split()) for w in ("before", "after")]
        return (ticks[1] - ticks[0]) * 1000.0 / os.sysconf("SC_CLK_TCK")
    for rnd in range(3):
        a = run(False); b = run(True)
        print("round %d: %d responses (one statement each with 2 answers, and one progress row, each its own transaction): backend CPU without triggers %.0f ms, with %.0f ms: %.1f us more per response+progress; load %s" % (rnd, N, a, b, (b - a) * 1000 / N, open("/proc/loadavg").read().split()[0]))
finally:
    stack.close()
