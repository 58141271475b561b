"""The survey schedule of programmes made from templates (issue #18): surveys are
created and opened on their day, exactly once, with two replicas of tandem-enrolment
running the scheduler against one database, across restarts, with a survey.opened
webhook; the day is moved with TANDEM_TEST_CLOCK_OFFSET.

Proves: a survey due today opens once (one survey in feedback, one survey.opened
event, one webhook delivery) although both replicas look for it every 100 ms; a
survey due in three days stays closed until the replicas restart with the clock four
days on, then opens once; one due in forty days stays closed; a replica that died
after creating the survey in feedback but before recording it (its claim and lease
left behind) does not make a second survey: when the lease ends another replica
claims the row, feedback answers the same Idempotency-Key with the survey it already
made, and that survey is recorded and announced once.
"""
import datetime
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402
from gateway_client import Gateway  # noqa: E402

from google.protobuf import json_format  # noqa: E402
from tandem.v1 import feedback_pb2 as F  # noqa: E402

STACK = None
GW = None
ROOT = None
REPLICA = None
DAY_S = 86400


class Replica:
    """A second tandem-enrolment on the stack's database."""

    def __init__(self, stack, env):
        self.port, self.lock = harness.reserve_port()
        self.addr = "127.0.0.1:%d" % self.port
        self.log_path = os.path.join(os.environ.get("TANDEM_TEST_TMP", "/tmp"),
                                     "%s-enrolment-2.log" % stack.dbname)
        full = stack.env("enrolment", dict(env, TANDEM_LISTEN=self.addr))
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([os.path.join(harness.BUILD_DIR, "bin",
                                                       "tandem-enrolment")],
                                         env=full, stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL)
        harness.await_ready(self.proc, self.addr, "enrolment replica 2", self.log_path)

    def stop(self):
        self.proc.terminate()
        rc = self.proc.wait(timeout=60)
        self.lock.close()
        assert rc == 0, "replica 2 exited %s:\n%s" % (rc, harness.tail(self.log_path, 40))


def scheduler_env(offset_days):
    return {"TANDEM_SURVEY_SCHEDULER_INTERVAL_MS": "100",
            "TANDEM_TEST_CLOCK_OFFSET": str(offset_days * DAY_S)}


def start_enrolment(offset_days):
    """Both replicas, with the scheduler's clock offset_days on."""
    global REPLICA
    STACK.start("enrolment", extra_env=scheduler_env(offset_days))
    REPLICA = Replica(STACK, scheduler_env(offset_days))


def stop_enrolment():
    global REPLICA
    assert STACK.stop("enrolment") == 0, STACK.log_tail("enrolment")
    REPLICA.stop()
    REPLICA = None


def setUpModule():
    global STACK, GW, ROOT
    STACK = harness.Stack("sched")
    STACK.start("matching", wait=False)
    STACK.start("feedback", wait=False)
    start_enrolment(0)
    STACK.wait_ready("matching")
    STACK.wait_ready("feedback")
    STACK.start("gateway", extra_env={"TANDEM_RATE_LIMIT_RPS": "1000",
                                      "TANDEM_RATE_LIMIT_BURST": "1000"})
    GW = Gateway(STACK)
    ROOT = STACK.bootstrap_key
    GW.wait_up(ROOT)


def tearDownModule():
    if REPLICA is not None:
        REPLICA.stop()
    if STACK is not None:
        STACK.close()


def db(sql):
    return harness.psql(STACK.super_url, sql).strip()


def survey(title, open_day):
    return {"openDay": open_day, "survey": {"title": title, "questions": [
        {"id": "nps", "text": "Would you recommend it?", "kind": "NPS_0_10"}]}}


def programme_from_template(key, open_days, start):
    status, t = GW.rest("POST", "/v1/templates", {
        "name": "Scheduled", "kind": "REVERSE",
        "surveys": [survey("Day %d" % d, d) for d in open_days]}, key=ROOT)
    assert status == 200, (status, t)
    status, p = GW.rest("POST", "/v1/programmes:fromTemplate",
                        {"templateId": t["id"], "name": "Scheduled programme",
                         "startDate": start}, key=key)
    assert status == 200, (status, p)
    return p["id"]


def surveys_of(pid):
    return db("SELECT string_agg(title, ',' ORDER BY title) FROM feedback.surveys "
              "WHERE programme_id = '%s'" % pid)


def opened_events(pid):
    return int(db("SELECT count(*) FROM enrolment.outbox WHERE type = 'survey.opened' "
                  "AND ordering_key = '%s'" % pid))


class SurveySchedule(unittest.TestCase):
    def test_surveys_open_on_their_day_once_across_replicas_and_restarts(self):
        tenant, key = GW.new_tenant(ROOT, ["admin"], prefix="sched")
        receiver = harness.WebhookReceiver()
        self.addCleanup(receiver.close)
        status, hook = GW.rest("POST", "/v1/webhooks", {"url": receiver.url("/hook"),
                                                        "events": ["survey.opened"]}, key=key)
        self.assertEqual(status, 200, hook)
        today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
        pid = programme_from_template(key, [0, 3, 40], today)

        harness.wait_until("the day-0 survey", lambda: surveys_of(pid) == "Day 0")
        harness.wait_until("its webhook", lambda: len(receiver.at("/hook")) >= 1)
        time.sleep(3)  # thirty passes of each replica: nothing more may happen
        self.assertEqual(surveys_of(pid), "Day 0")
        self.assertEqual(opened_events(pid), 1)
        deliveries = receiver.at("/hook")
        self.assertEqual(len(deliveries), 1)
        body = json.loads(deliveries[0]["body"])
        self.assertEqual(body["type"], "survey.opened")
        self.assertEqual(body["data"]["survey"]["title"], "Day 0")
        self.assertEqual(body["data"]["survey"]["programmeId"], pid)
        self.assertEqual(body["tenantId"], tenant)
        self.assertEqual(db("SELECT survey_id::text FROM enrolment.scheduled_surveys "
                            "WHERE programme_id = '%s' AND ordinal = 0" % pid),
                         body["data"]["survey"]["id"])
        # The tenant sees it through the API.
        status, listed = GW.rest("GET", "/v1/programmes/%s/surveys" % pid, key=key)
        self.assertEqual((status, [s["title"] for s in listed["surveys"]]), (200, ["Day 0"]))

        # Four days on, after a restart of both replicas: the day-3 survey opens once.
        stop_enrolment()
        start_enrolment(4)
        harness.wait_until("the day-3 survey", lambda: surveys_of(pid) == "Day 0,Day 3")
        harness.wait_until("its webhook", lambda: len(receiver.at("/hook")) >= 2)
        time.sleep(3)
        self.assertEqual(surveys_of(pid), "Day 0,Day 3")
        self.assertEqual(opened_events(pid), 2)
        self.assertEqual(len(receiver.at("/hook")), 2)
        self.assertEqual(db("SELECT count(*) FROM enrolment.scheduled_surveys WHERE "
                            "programme_id = '%s' AND survey_id IS NULL" % pid), "1")

    def test_a_replica_that_died_after_creating_the_survey_makes_no_second_one(self):
        tenant, key = GW.new_tenant(ROOT, ["admin"], prefix="died")
        pid = programme_from_template(key, [0], "2031-01-06")  # not due yet
        row_id, survey_json = db(
            "SELECT id::text || '|' || survey::text FROM enrolment.scheduled_surveys "
            "WHERE programme_id = '%s'" % pid).split("|", 1)
        # What the dead replica did: CreateSurvey in feedback with the row's key...
        survey = json_format.Parse(survey_json, F.Survey())
        ch = STACK.channel("feedback")
        self.addCleanup(ch.close)
        create = ch.unary_unary("/tandem.v1.FeedbackService/CreateSurvey",
                                request_serializer=lambda m: m.SerializeToString(),
                                response_deserializer=F.Survey.FromString)
        scopes = 2 | 64  # enrolment:read | feedback:write, as the scheduler sends
        made = create(F.CreateSurveyRequest(programme_id=pid, survey=survey),
                      metadata=STACK.context(tenant, scopes=scopes, principal_id="survey-scheduler")
                      + [("idempotency-key", row_id)], timeout=30)
        # ...after claiming the row, whose lease runs out in two seconds; it is due.
        db("UPDATE enrolment.scheduled_surveys SET open_date = current_date - 1,"
           " claim_id = gen_random_uuid(), lease_until = now() + interval '2 s',"
           " attempts = 1 WHERE id = '%s'" % row_id)
        harness.wait_until("the row recorded", lambda: db(
            "SELECT survey_id IS NOT NULL FROM enrolment.scheduled_surveys "
            "WHERE id = '%s'" % row_id) == "t", timeout=60)
        self.assertEqual(db("SELECT survey_id::text FROM enrolment.scheduled_surveys "
                            "WHERE id = '%s'" % row_id), made.id)
        self.assertEqual(db("SELECT count(*) FROM feedback.surveys WHERE programme_id = '%s'"
                            % pid), "1")
        self.assertEqual(opened_events(pid), 1)


if __name__ == "__main__":
    unittest.main()
