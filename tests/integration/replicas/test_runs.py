"""Matching runs with two replicas of tandem-matching on one PostgreSQL (API.md, "Many
replicas, one outcome"): whatever replica is killed, at whatever moment, each run ends
SUCCEEDED or FAILED exactly once.

The lease is made short (TANDEM_RUN_LEASE_MS=2000) and the programme large enough that
its solve outlasts it several times, so:
- a replica that holds a run renews its lease while it solves: the run is computed
  once, by the replica that started it (attempts 1), and no other replica takes it;
- kill -9 of the replica solving a run: the other takes it when the lease expires and
  the run SUCCEEDED once, with one set of proposals;
- SIGTERM of the replica solving a run: it hands the run back and the other replica
  starts it within about a second (its poll interval), the attempt not counted;
- a run whose every attempt dies with its replica ends FAILED after 3 attempts, with
  the reason;
- a replica whose lease was taken over stops computing the run at once.
Replicas are started by hand here (not by the harness) so they can be killed.
"""
import os
import random
import signal
import subprocess
import time
import unittest
import uuid

import grpc

import harness
from tandem.v1 import common_pb2, enrolment_pb2 as E, matching_pb2 as M

LEASE_MS = 2000
MENTORS, MENTEES = 1500, 4500


class Replica:
    """One tandem-matching process of the test's own."""

    def __init__(self, stack, name):
        self.stack = stack
        self.port = harness.free_port()
        self.addr = "127.0.0.1:%d" % self.port
        self.log_path = os.path.join(os.environ.get("TANDEM_TEST_TMP", "/tmp"),
                                     "%s-%s.log" % (stack.dbname, name))
        env = stack.env("matching", {"TANDEM_LISTEN": self.addr,
                                     "TANDEM_RUN_LEASE_MS": str(LEASE_MS),
                                     "TANDEM_LOG_LEVEL": "info"})
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([os.path.join(harness.BUILD_DIR, "bin",
                                                       "tandem-matching")],
                                         env=env, stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL)
        harness.await_ready(self.proc, self.addr, "replica " + name, self.log_path)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def started(self, run_id):
        """How many times this replica started the run."""
        return sum(1 for line in self.log().splitlines()
                   if "matching run started" in line and run_id in line)

    def kill(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=60)


def people(rng):
    out = []
    for i in range(MENTORS):
        out.append(E.Participant(
            external_id="m%d" % i, display_name="Mentor %d" % i, role=common_pb2.MENTOR,
            seniority_level=rng.randint(1, 4), office=rng.choice(["London", "Paris"]),
            skills=[E.Skill(name=s, level=rng.randint(1, 5))
                    for s in rng.sample(["AI", "data", "automation", "design"], 2)],
            interests=rng.sample(["chess", "music", "AI", "running"], 2),
            languages=["en"], capacity=3))
    for i in range(MENTEES):
        out.append(E.Participant(
            external_id="e%d" % i, display_name="Mentee %d" % i, role=common_pb2.MENTEE,
            seniority_level=rng.randint(5, 9), office=rng.choice(["London", "Paris"]),
            goals=rng.sample(["AI", "data", "automation", "design"], 2),
            interests=rng.sample(["chess", "music", "AI", "running"], 2), languages=["en"]))
    return out


class RunsAcrossReplicas(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = harness.Stack("runs")
        cls.replicas = []
        try:
            cls.stack.start("enrolment")
            cls.tenant = str(uuid.uuid4())
            prog = E.Programme(name="National programme", kind=E.REVERSE,
                               status=E.Programme.MATCHING)
            cls.prog = cls.grpc(cls.stack.addr("enrolment"), "tandem.v1.EnrolmentService",
                                "CreateProgramme", E.CreateProgrammeRequest(programme=prog),
                                E.Programme).id
            cls.grpc(cls.stack.addr("enrolment"), "tandem.v1.EnrolmentService", "BatchEnrol",
                     E.BatchEnrolRequest(programme_id=cls.prog,
                                         participants=people(random.Random(11))),
                     E.BatchEnrolResponse)
        except Exception:
            cls.stack.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    def tearDown(self):
        for r in self.replicas:
            r.kill(signal.SIGKILL)
        self.replicas = []

    @classmethod
    def grpc(cls, addr, service, method, req, resp_type):
        with grpc.insecure_channel(addr) as ch:
            fn = ch.unary_unary("/%s/%s" % (service, method),
                                request_serializer=lambda m: m.SerializeToString(),
                                response_deserializer=resp_type.FromString)
            return fn(req, metadata=harness.Stack.context(cls.tenant), timeout=120)

    def replica(self, name):
        r = Replica(self.stack, name)
        self.replicas.append(r)
        return r

    def start_run(self, via):
        return self.grpc(via.addr, "tandem.v1.MatchingService", "StartMatchingRun",
                         M.StartMatchingRunRequest(programme_id=self.prog), M.MatchingRun).id

    def row(self, run_id):
        out = harness.psql(self.stack.super_url,
                           "SELECT status, attempts, coalesce(error_message, '') FROM matching.runs "
                           "WHERE id = '%s'" % run_id)
        status, attempts, error = out.split("|", 2)
        return int(status), int(attempts), error

    def proposals(self, run_id):
        return int(harness.psql(self.stack.super_url, "SELECT count(*) FROM matching.proposals "
                                "WHERE run_id = '%s'" % run_id))

    def wait(self, what, cond, timeout=300):
        return harness.wait_until(what, cond, timeout)

    def ended(self, run_id):
        status, attempts, error = self.row(run_id)
        if status in (M.MatchingRun.SUCCEEDED, M.MatchingRun.FAILED):
            return status, attempts, error
        return None

    def holder(self, run_id, replicas):
        """The replica that started the run last, once one has."""
        started = [r for r in replicas if r.proc.poll() is None and r.started(run_id)]
        return started[0] if len(started) == 1 else None

    def test_1_a_solve_longer_than_the_lease_stays_with_its_replica(self):
        a, b = self.replica("a"), self.replica("b")
        run = self.start_run(a)
        began = time.monotonic()
        status, attempts, error = self.wait("the run ended", lambda: self.ended(run))
        took = time.monotonic() - began
        self.assertEqual(status, M.MatchingRun.SUCCEEDED, error)
        self.assertGreater(took, 2 * LEASE_MS / 1000.0,
                           "the run took %.1f s: too short to prove the lease is renewed" % took)
        self.assertEqual(attempts, 1, "the run was taken over although its replica was alive")
        self.assertEqual(a.started(run) + b.started(run), 1)
        self.assertGreater(self.proposals(run), 0)

    def test_2_kill_9_mid_solve_the_other_replica_finishes_it_once(self):
        a, b = self.replica("a"), self.replica("b")
        run = self.start_run(a)
        holder = self.wait("a replica started the run", lambda: self.holder(run, [a, b]))
        other = b if holder is a else a
        time.sleep(1.0)  # into the computation
        holder.kill(signal.SIGKILL)
        status, attempts, error = self.wait("the run ended", lambda: self.ended(run))
        self.assertEqual(status, M.MatchingRun.SUCCEEDED, error)
        self.assertEqual(attempts, 2)
        self.assertEqual(other.started(run), 1)
        n = self.proposals(run)
        distinct = int(harness.psql(self.stack.super_url,
                                    "SELECT count(DISTINCT mentee_id) FROM matching.proposals "
                                    "WHERE run_id = '%s'" % run))
        self.assertEqual(n, distinct, "two sets of proposals were written")

    def test_3_sigterm_hands_the_run_back_at_once(self):
        a, b = self.replica("a"), self.replica("b")
        run = self.start_run(a)
        holder = self.wait("a replica started the run", lambda: self.holder(run, [a, b]))
        other = b if holder is a else a
        time.sleep(1.0)
        self.assertEqual(holder.kill(signal.SIGTERM), 0)
        stopped = time.monotonic()
        self.wait("the other replica started the run", lambda: other.started(run) > 0, 30)
        # Within its poll interval (1 s), not the lease; with room for a loaded machine.
        self.assertLess(time.monotonic() - stopped, LEASE_MS / 1000.0,
                        "the run waited for its lease to expire instead of being handed back")
        status, attempts, error = self.wait("the run ended", lambda: self.ended(run))
        self.assertEqual(status, M.MatchingRun.SUCCEEDED, error)
        self.assertEqual(attempts, 1, "a run handed back on SIGTERM counted as a failed attempt")

    def test_4_a_run_that_kills_every_replica_fails_after_three_attempts(self):
        run = None
        for attempt in range(1, 4):
            r = self.replica("crash%d" % attempt)
            if run is None:
                run = self.start_run(r)
            self.wait("attempt %d started" % attempt, lambda: r.started(run) > 0, 60)
            r.kill(signal.SIGKILL)
            self.assertEqual(self.row(run)[1], attempt)
        last = self.replica("last")
        status, attempts, error = self.wait("the run ended", lambda: self.ended(run), 60)
        self.assertEqual(status, M.MatchingRun.FAILED)
        self.assertIn("attempted 3 times", error)
        self.assertEqual(last.started(run), 0)
        self.assertEqual(self.proposals(run), 0)

    def test_5_a_lost_lease_cancels_the_solve(self):
        """Another replica took the run over (its claim replaced, as a takeover does):
        the replica that was computing it stops computing at once instead of finishing
        a solve whose result it may not write - it goes idle within seconds, while the
        solve left would take several leases."""
        a = self.replica("lost")
        run = self.start_run(a)
        # Past the fetch from enrolment (0.3), into the computation.
        self.wait("the computation started", lambda: float(harness.psql(
            self.stack.super_url, "SELECT progress FROM matching.runs WHERE id = '%s'" % run))
            >= 0.3, 120)
        harness.psql(self.stack.super_url,
                     "UPDATE matching.run_queue SET claim = gen_random_uuid(),"
                     " lease_until = now() + interval '1 hour' WHERE run_id = '%s'" % run)
        self.wait("the replica saw its lease lost",
                  lambda: "lease lost" in a.log(), 10 * LEASE_MS / 1000.0)
        lost = time.monotonic()
        idle = None
        while idle is None and time.monotonic() - lost < 4.0:
            before = cpu_seconds(a.proc.pid)
            time.sleep(1.0)
            if cpu_seconds(a.proc.pid) - before < 0.05:
                idle = time.monotonic() - lost
        self.assertIsNotNone(idle, "the replica kept computing a run it had lost")
        self.assertNotEqual(self.row(run)[0], M.MatchingRun.SUCCEEDED)
        self.assertEqual(self.proposals(run), 0)


def cpu_seconds(pid):
    """User + system CPU time of a process, every thread included."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    unittest.main()
