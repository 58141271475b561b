"""Outbox retention with more than one reader of an outbox (issue #16).

Enrolment's outbox is read by the gateway's webhook fan-out and by tandem-matching's
withdrawal follower (matching.enrolment_cursor), which ends the matches of withdrawn
participants. The gateway prunes outbox rows older than TANDEM_OUTBOX_RETENTION_HOURS:
proves that it deletes only rows every reader is past, so a follower that lags past
the retention (matching down) loses no withdrawal, and that the rows go once it has
caught up. The retention pass runs 5 s after the gateway starts, so each check
restarts the gateway; rows are made old by backdating their create_time.
"""
import unittest
import uuid

import harness
from harness import wait_for


class RetentionBehindEveryReader(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = harness.Stack("retention")
        cls.stack.start_all()

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    def call(self, method, path, body=None, tenant=None):
        status, answer = harness.rest(self.stack.addr("gateway"), method, path, body,
                                      self.stack.bootstrap_key, tenant)
        self.assertEqual(status, 200, (method, path, answer))
        return answer

    def sql(self, text):
        return harness.psql(self.stack.super_url, text)

    def rows(self, pid):
        return int(self.sql("SELECT count(*) FROM enrolment.outbox WHERE resource_id = '%s'"
                            % pid))

    def behind(self, cursor, pid):
        """How many of pid's outbox rows are at or behind a reader's cursor."""
        return int(self.sql(
            "SELECT count(*) FROM enrolment.outbox o, (SELECT * FROM %s) c"
            " WHERE o.resource_id = '%s'"
            " AND (o.xact_id, o.seq) <= (c.last_xact, c.last_seq)" % (cursor, pid)))

    def backdate(self, pid):
        self.sql("UPDATE enrolment.outbox SET create_time = now() - interval '200 hours'"
                 " WHERE resource_id = '%s'" % pid)

    def restart_gateway(self):
        self.stack.stop("gateway")
        self.stack.start("gateway", wait=False)

        def live():
            try:
                return self.stack.http("gateway", "/healthz")[0] == 200
            except OSError:
                return False
        wait_for(live, 60, "the gateway")

    def enrol(self, tenant, programme):
        return self.call("POST", "/v1/programmes/%s/participants" % programme,
                         {"externalId": "e-" + uuid.uuid4().hex[:8], "displayName": "Ada",
                          "role": "MENTOR"}, tenant=tenant)["id"]

    def test_a_lagging_follower_loses_nothing(self):
        gateway_cursor = "gateway.outbox_cursors"
        follower_cursor = "matching.enrolment_cursor"
        t = self.call("POST", "/v1/tenants", {"name": "Firm",
                                              "slug": "ret-" + uuid.uuid4().hex[:10]})["id"]
        p = self.call("POST", "/v1/programmes", {"name": "Reverse", "kind": "REVERSE",
                                                 "status": "ENROLLING"}, tenant=t)["id"]
        # Read by both readers before matching stops: may go once old.
        read = self.enrol(t, p)
        wait_for(lambda: self.behind(follower_cursor, read) == 1, 30, "the follower")
        self.stack.stop("matching")
        try:
            # Written while the follower is down: the fan-out reads it, the follower not.
            left = self.enrol(t, p)
            self.call("POST", "/v1/participants/%s:withdraw" % left, {}, tenant=t)
            wait_for(lambda: self.behind(gateway_cursor + " WHERE source = 'enrolment'",
                                         left) == 2, 30, "the fan-out")
            self.assertEqual(self.behind(follower_cursor, left), 0)
            self.backdate(read)
            self.backdate(left)
            self.restart_gateway()
            # The pass ran (the row both readers are past went) and kept the rows the
            # follower has not read.
            wait_for(lambda: self.rows(read) == 0, 30, "the retention pass")
            self.assertEqual(self.rows(left), 2, "rows the follower had not read were pruned")
        finally:
            self.stack.start("matching")
        # The follower catches up, withdrawal included; then the rows may go.
        wait_for(lambda: self.behind(follower_cursor, left) == 2, 30, "the follower to catch up")
        self.restart_gateway()
        wait_for(lambda: self.rows(left) == 0, 30, "the rows to be pruned once read by all")


if __name__ == "__main__":
    unittest.main()
