"""Issue #15: a GET never writes and never emits; match.at_risk comes from a periodic
sweep in tandem-feedback, once per at-risk episode, however many replicas sweep.

Through the gateway's REST API against the four real processes and a real
PostgreSQL. The sweep's interval is TANDEM_AT_RISK_SWEEP_SECONDS (1 s here); the
time-based rule (no check-in for twice the cadence) is reached with
TANDEM_TEST_CLOCK_OFFSET, which moves the at-risk rules' "now" forward. Every wait is
on a condition: feedback.at_risk_sweeper counts the finished passes.
"""
import json
import unittest
import uuid

import harness
from test_privacy_access import Api, person, rfc3339

DAY_S = 86400


def count(stack, sql):
    return int(harness.psql(stack.super_url, sql) or 0)


def at_risk_events(stack, match_id):
    """match.at_risk events written for the match (feedback's outbox)."""
    return count(stack, "SELECT count(*) FROM feedback.outbox WHERE type = 'match.at_risk'"
                        " AND resource_id = '%s'" % match_id)


def open_episodes(stack, match_id):
    return count(stack, "SELECT count(*) FROM feedback.at_risk_episodes WHERE match_id = '%s'"
                        " AND close_time IS NULL" % match_id)


def passes(stack):
    return count(stack, "SELECT passes FROM feedback.at_risk_sweeper")


def wait_passes(stack, n=2):
    """Until n more sweeps have finished (whichever replica made them)."""
    start = passes(stack)
    harness.wait_until("%d more at-risk sweeps" % n, lambda: passes(stack) >= start + n,
                       timeout=90)


def deliveries(receiver, match_id):
    """match.at_risk webhook deliveries about the match, one per event id."""
    ids = set()
    for r in receiver.at("/hooks"):
        body = json.loads(r["body"])
        if body["type"] == "match.at_risk" and body["data"]["match"]["id"] == match_id:
            ids.add(body["id"])
    return len(ids)


def new_programme(stack, name):
    """A tenant, its admin, a webhook receiver, a programme with two pairs matched
    and approved. Returns (admin Api, programme, receiver, [match, match])."""
    platform = Api(stack, stack.bootstrap_key)
    tenant = platform.call("POST", "/v1/tenants", {
        "name": name, "slug": "%s-%s" % (name.lower(), uuid.uuid4().hex[:8])})
    k = platform.call("POST", "/v1/tenants/%s/apiKeys" % tenant["id"], {
        "displayName": "admin", "scopes": ["admin"], "kind": "TENANT"})
    admin = Api(stack, k["secret"])
    admin.tenant_id = tenant["id"]
    admin.platform = platform
    receiver = harness.WebhookReceiver()
    admin.call("POST", "/v1/webhooks", {"url": receiver.url("/hooks"),
                                        "events": ["match.at_risk", "check_in.recorded"]})
    prog = admin.call("POST", "/v1/programmes", {
        "name": name, "kind": "REVERSE", "status": "ENROLLING", "checkInCadenceDays": 14})
    admin.call("POST", "/v1/programmes/%s/participants:batchEnrol" % prog["id"], {
        "participants": [person("m1", "MENTOR", 1), person("m2", "MENTOR", 2),
                         person("e1", "MENTEE", 8), person("e2", "MENTEE", 9)]})
    run = admin.call("POST", "/v1/programmes/%s/matchingRuns" % prog["id"],
                     {"algorithm": "OPTIMAL"})
    run = harness.wait_until("the matching run", lambda: (lambda r: r if r["status"] not in (
        "QUEUED", "RUNNING") else None)(admin.call("GET", "/v1/matchingRuns/%s" % run["id"])))
    assert run["status"] == "SUCCEEDED", run
    admin.call("POST", "/v1/matchingRuns/%s:approve" % run["id"], {})
    matches = admin.call("GET", "/v1/programmes/%s/matches" % prog["id"])["matches"]
    assert len(matches) == 2, matches
    return admin, prog, receiver, matches


def key(admin, stack, *scopes):
    k = admin.platform.call("POST", "/v1/tenants/%s/apiKeys" % admin.tenant_id, {
        "displayName": "key " + ",".join(scopes), "scopes": list(scopes), "kind": "TENANT"})
    return Api(stack, k["secret"])


def accept(admin, m):
    for side in ("mentorId", "menteeId"):
        admin.call("POST", "/v1/matches/%s:respond" % m["id"],
                   {"participantId": m[side], "accept": True})


def decline(admin, m):
    admin.call("POST", "/v1/matches/%s:respond" % m["id"], {
        "participantId": m["menteeId"], "accept": False, "reason": "we already work together"})


def check_in(api, m, seconds_ago, rating):
    return api.call("POST", "/v1/matches/%s/checkIns" % m["id"], {
        "participantId": m["menteeId"], "occurredTime": rfc3339(seconds_ago),
        "durationMinutes": 30, "rating": rating})


class ReadOnlyListing(unittest.TestCase):
    """ListAtRiskMatches wrote at_risk_notices and match.at_risk events while answering:
    a read-only key made webhooks fire. No sweep runs during the test (the default
    interval, 15 minutes, after the one at start), so anything written is the GET's."""

    @classmethod
    def setUpClass(cls):
        cls.stack = harness.Stack("arro")
        cls.stack.start_all()
        try:
            # The first sweep runs at start (none was made before); the next is 15
            # minutes away, so nothing at-risk below is written by a sweep.
            if harness.psql(cls.stack.super_url,
                            "SELECT to_regclass('feedback.at_risk_sweeper') IS NOT NULL") == "t":
                harness.wait_until("the first sweep", lambda: passes(cls.stack) >= 1)
            cls.admin, cls.prog, cls.receiver, (cls.active, cls.declined) = new_programme(
                cls.stack, "Readonly")
            accept(cls.admin, cls.active)
            decline(cls.admin, cls.declined)
        except Exception:
            cls.stack.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.receiver.close()
        cls.stack.close()

    def at_risk_rows(self):
        """Every row an at-risk listing could write, in whichever table holds them."""
        n = count(self.stack, "SELECT count(*) FROM feedback.outbox WHERE type = 'match.at_risk'")
        for table in ("at_risk_notices", "at_risk_episodes"):
            if harness.psql(self.stack.super_url,
                            "SELECT to_regclass('feedback.%s') IS NOT NULL" % table) == "t":
                n += count(self.stack, "SELECT count(*) FROM feedback.%s" % table)
        return n

    def test_read_only_key_listing_writes_nothing_and_emits_nothing(self):
        before = self.at_risk_rows()
        reader = key(self.admin, self.stack, "feedback:read")
        for _ in range(3):
            page = reader.call("GET", "/v1/programmes/%s/atRiskMatches" % self.prog["id"])
            self.assertIn(self.declined["id"], [x["match"]["id"] for x in page["atRiskMatches"]])
        self.assertEqual(self.at_risk_rows(), before, "the GET wrote at-risk rows or events")
        # Webhooks are fanned out in commit order: once the check-in written after the
        # GETs has been delivered, a match.at_risk written by them would have been too.
        c = check_in(self.admin, self.active, 600, 4)
        harness.wait_until("the check_in.recorded delivery", lambda: self.receiver.saw(c["id"]))
        self.assertEqual(deliveries(self.receiver, self.declined["id"]), 0)
        self.assertEqual(deliveries(self.receiver, self.active["id"]), 0)


class SweepEpisodes(unittest.TestCase):
    """The sweep, every second: once per episode; none while it lasts; none when it
    ends; again on a relapse."""

    @classmethod
    def setUpClass(cls):
        cls.stack = harness.Stack("arsw")
        cls.stack.start_all({"feedback": {"TANDEM_AT_RISK_SWEEP_SECONDS": "1"}})
        try:
            cls.admin, cls.prog, cls.receiver, (cls.active, cls.declined) = new_programme(
                cls.stack, "Sweep")
            accept(cls.admin, cls.active)
        except Exception:
            cls.stack.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.receiver.close()
        cls.stack.close()

    def test_a_declined_match_is_announced_once_by_the_sweep(self):
        self.assertEqual(at_risk_events(self.stack, self.declined["id"]), 0)
        decline(self.admin, self.declined)
        harness.wait_until("the sweep's match.at_risk",
                           lambda: at_risk_events(self.stack, self.declined["id"]) == 1)
        wait_passes(self.stack, 3)
        self.assertEqual(at_risk_events(self.stack, self.declined["id"]), 1)
        harness.wait_until("its delivery",
                           lambda: deliveries(self.receiver, self.declined["id"]) == 1)
        body = [json.loads(r["body"]) for r in self.receiver.at("/hooks")
                if self.declined["id"].encode() in r["body"]][0]
        self.assertEqual(body["data"]["reason"], "PARTICIPANT_DECLINED")
        self.assertEqual(body["data"]["reasons"], ["PARTICIPANT_DECLINED"])
        self.assertLessEqual(set(body["data"]["match"]), {
            "id", "programmeId", "mentorId", "menteeId", "status", "startTime"})
        for r in self.receiver.at("/hooks"):
            self.assertNotIn(b"we already work together", r["body"])

    def test_one_event_per_episode_and_again_after_a_recovery(self):
        m = self.active
        wait_passes(self.stack, 1)
        self.assertEqual(at_risk_events(self.stack, m["id"]), 0, "a healthy match")
        # Becomes at risk: one event.
        check_in(self.admin, m, 3000, 1)
        harness.wait_until("the first episode's event",
                           lambda: at_risk_events(self.stack, m["id"]) == 1)
        wait_passes(self.stack, 3)
        self.assertEqual(at_risk_events(self.stack, m["id"]), 1, "swept again: no new event")
        self.assertEqual(open_episodes(self.stack, m["id"]), 1)
        # Recovers (a later, good check-in): the sweep closes the episode, no event.
        check_in(self.admin, m, 2000, 5)
        harness.wait_until("the episode closed", lambda: open_episodes(self.stack, m["id"]) == 0)
        wait_passes(self.stack, 2)
        self.assertEqual(at_risk_events(self.stack, m["id"]), 1, "recovery emits nothing")
        # Relapses: a second event.
        check_in(self.admin, m, 1000, 2)
        harness.wait_until("the second episode's event",
                           lambda: at_risk_events(self.stack, m["id"]) == 2)
        wait_passes(self.stack, 3)
        self.assertEqual(at_risk_events(self.stack, m["id"]), 2)
        harness.wait_until("both delivered", lambda: deliveries(self.receiver, m["id"]) == 2)
        # Ends: no longer followed, its episode closed, nothing emitted.
        self.admin.call("POST", "/v1/matches/%s:end" % m["id"], {"reason": "the year is over"})
        harness.wait_until("the ended match forgotten", lambda: count(
            self.stack, "SELECT count(*) FROM feedback.at_risk_matches WHERE match_id = '%s'"
            % m["id"]) == 0 and open_episodes(self.stack, m["id"]) == 0)
        wait_passes(self.stack, 2)
        self.assertEqual(at_risk_events(self.stack, m["id"]), 2)


class TwoReplicas(unittest.TestCase):
    """Two feedback replicas sweep every second, their lease expired again and again
    so their passes overlap: still one event per episode. The clock is 30 days ahead,
    so a match without a check-in is overdue (2 x 14 days) by time alone."""

    ENV = {"TANDEM_AT_RISK_SWEEP_SECONDS": "1", "TANDEM_TEST_CLOCK_OFFSET": str(30 * DAY_S)}

    @classmethod
    def setUpClass(cls):
        cls.stack = harness.Stack("ar2r")
        cls.stack.start_all({"feedback": cls.ENV})
        try:
            cls.stack.start("feedback", extra_env=dict(cls.ENV, TANDEM_LOG_LEVEL="info"),
                            name="feedback2")
            cls.admin, cls.prog, cls.receiver, (cls.silent, cls.declined) = new_programme(
                cls.stack, "Replicas")
        except Exception:
            cls.stack.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.receiver.close()
        cls.stack.close()

    def expire_lease(self):
        harness.psql(self.stack.super_url,
                     "UPDATE feedback.at_risk_sweeper SET held_until = now() - interval '1 s'")

    def sweep_with_expiring_leases(self, n):
        start = passes(self.stack)
        holders = set()  # the replicas seen holding the lease

        def done():
            self.expire_lease()
            holders.add(harness.psql(self.stack.super_url,
                                     "SELECT holder FROM feedback.at_risk_sweeper"))
            return passes(self.stack) >= start + n and len(holders - {""}) == 2

        harness.wait_until("%d sweeps by both replicas, the lease expiring" % n, done,
                           timeout=120, interval=0.05)

    def test_each_episode_once_across_replicas(self):
        accept(self.admin, self.silent)
        decline(self.admin, self.declined)
        # Until both replicas have held the lease and swept ten times between them.
        self.sweep_with_expiring_leases(10)
        for m in (self.silent, self.declined):
            self.assertEqual(at_risk_events(self.stack, m["id"]), 1, m)
            self.assertEqual(open_episodes(self.stack, m["id"]), 1, m)
            harness.wait_until("the delivery", lambda: deliveries(self.receiver, m["id"]) == 1)
        reasons = harness.psql(self.stack.super_url,
                               "SELECT payload->>'reason' FROM feedback.outbox"
                               " WHERE resource_id = '%s' AND type = 'match.at_risk'"
                               % self.silent["id"])
        self.assertEqual(reasons, "CHECK_IN_OVERDUE")
        # A read-only key's listing agrees with the sweep, and writes nothing.
        reader = key(self.admin, self.stack, "feedback:read")
        page = reader.call("GET", "/v1/programmes/%s/atRiskMatches" % self.prog["id"])
        got = {x["match"]["id"]: x["reasons"] for x in page["atRiskMatches"]}
        self.assertEqual(got[self.silent["id"]], ["CHECK_IN_OVERDUE"])
        self.assertIn("PARTICIPANT_DECLINED", got[self.declined["id"]])
        self.sweep_with_expiring_leases(4)
        for m in (self.silent, self.declined):
            self.assertEqual(at_risk_events(self.stack, m["id"]), 1, m)

    def test_the_gateway_sees_how_far_the_sweep_has_followed_matchings_outbox(self):
        """The gateway prunes matching's outbox only behind every reader's cursor: the
        sweeper's moves forward and the gateway's role may read it."""
        harness.wait_until("the sweeper's cursor past matching's events", lambda: int(
            harness.psql(self.stack.url("tandem_gateway"),
                         "SELECT last_seq FROM feedback.at_risk_sweeper")) > 0)
        # Feedback's role reads the order columns of matching's outbox, not payloads.
        with self.assertRaises(RuntimeError):
            harness.psql(self.stack.url("tandem_feedback"),
                         "SELECT payload FROM matching.outbox LIMIT 1")

    def test_z_a_stopping_replica_hands_the_lease_back(self):
        """SIGTERM releases the lease at once: the other replica need not wait for it
        to expire. (Named to run last: it stops feedback2.)"""
        with open(self.stack.logs["feedback2"]) as f:
            started = [json.loads(line) for line in f if "at-risk sweep started" in line]
        holder = started[0]["holder"]

        def held_by_it():
            if harness.psql(self.stack.super_url,
                            "SELECT holder FROM feedback.at_risk_sweeper") == holder:
                return True
            self.expire_lease()
            return False

        harness.wait_until("feedback2 holding the lease", held_by_it, interval=0.05)
        self.assertEqual(self.stack.stop("feedback2"), 0)
        self.assertNotEqual(harness.psql(self.stack.super_url,
                                         "SELECT holder FROM feedback.at_risk_sweeper"), holder)
        wait_passes(self.stack, 2)  # the other replica sweeps on


if __name__ == "__main__":
    unittest.main()
