"""Outbox fan-out with several gateway replicas: one fans a source out at a time, and
the others do not wait for it.

Every gateway replica tries each outbox once a second. The cursor row is the lock that
keeps two of them from fanning out the same rows; a replica that finds it taken must
skip the tick (SKIP LOCKED), not hold a pool connection waiting on the lock - with N
replicas, N-1 connections would wait every second. Here a transaction stands for the
replica that holds the lock, and the gateway must not be seen waiting on it.
"""
import subprocess
import time
import unittest

import harness

HOLD_S = 5


class FanoutLock(unittest.TestCase):
    def setUp(self):
        self.stack = harness.Stack("fanout")
        self.stack.start_all()

    def tearDown(self):
        self.stack.close()

    def test_a_replica_does_not_wait_for_the_one_fanning_out(self):
        holder = subprocess.Popen(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", self.stack.super_url],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        holder.stdin.write("BEGIN; SELECT 1 FROM gateway.outbox_cursors FOR UPDATE;\n"
                           "SELECT pg_sleep(%d); COMMIT;\n" % HOLD_S)
        holder.stdin.close()
        waiting, deadline = 0, time.monotonic() + HOLD_S - 0.5
        time.sleep(0.5)
        while time.monotonic() < deadline:
            waiting = max(waiting, int(harness.psql(
                self.stack.super_url,
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND usename = 'tandem_gateway' AND wait_event_type = 'Lock'")))
            time.sleep(0.2)
        self.assertEqual(holder.wait(timeout=30), 0, holder.stderr.read())
        self.assertEqual(waiting, 0, "a gateway connection waited on the outbox cursor's lock")


if __name__ == "__main__":
    unittest.main()
