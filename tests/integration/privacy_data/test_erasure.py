"""Erasure that leaves nothing behind (issue #15, API.md), end to end through the
gateway with all four processes, a real PostgreSQL and a webhook receiver.

A person with a distinctive name, e-mail and external id enrols in two programmes
(Enrol and BatchEnrol), is matched in both, accepts one match and records a
check-in with notes there, answers a survey in free text, and declines the other
match with a reason; another participant names them in their reporting chain.
Every write carries an Idempotency-Key, and the tenant's webhook receiver is down
(answers 503) the whole time. Then ErasePerson. Afterwards:

- `pg_dump --data-only` of the whole database holds none of those strings, as text
  or inside a bytea (stored Idempotency-Key responses);
- no service's log holds them (every service logs at debug);
- once the receiver is back, no delivery about the person arrives, while an event
  about someone else enrolled after the erasure does;
- the audit names the person only by HMAC-SHA256(TANDEM_PERSON_HASH_KEY,
  tenant || external_id), not by the unkeyed SHA-256 anyone could recompute.
"""
import glob
import hashlib
import hmac
import os
import shutil
import subprocess
import time
import unittest
import uuid

import harness
import privacy_rest as pr

EVENTS = ["participant.enrolled", "participant.withdrawn", "matching_run.completed",
          "match.proposed", "match.accepted", "match.declined", "match.ended",
          "check_in.recorded", "match.at_risk"]


def pg_dump_path():
    found = shutil.which("pg_dump")
    if found:
        return found
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"))
    if not candidates:
        raise unittest.SkipTest("pg_dump is not installed")
    return candidates[-1]


class Erasure(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.receiver = harness.WebhookReceiver()
        debug = {"TANDEM_LOG_LEVEL": "debug"}
        cls.stack = pr.start_stack("erase", {
            "gateway": dict(debug, TANDEM_WEBHOOK_RETRY_BASE_MS="50"),
            "enrolment": debug, "matching": debug, "feedback": debug})
        cls.tenant, cls.admin = pr.new_tenant(cls.stack)

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()
        cls.receiver.close()

    def idem(self):
        return "idem-" + uuid.uuid4().hex

    def programme(self, name):
        return self.admin.call("POST", "/v1/programmes", {
            "name": name, "kind": "REVERSE", "status": "ENROLLING", "anonymityThreshold": 3,
            "checkInCadenceDays": 14}, idempotency_key=self.idem())

    def run_and_approve(self, prog):
        api = self.admin
        api.call("PATCH", "/v1/programmes/%s?updateMask=status" % prog["id"],
                 {"status": "MATCHING"})
        run = api.call("POST", "/v1/programmes/%s/matchingRuns" % prog["id"],
                       {"algorithm": "OPTIMAL"}, idempotency_key=self.idem())
        deadline = time.monotonic() + 120
        while run["status"] in ("QUEUED", "RUNNING") and time.monotonic() < deadline:
            time.sleep(0.2)
            run = api.call("GET", "/v1/matchingRuns/%s" % run["id"])
        self.assertEqual(run["status"], "SUCCEEDED", run)
        api.call("POST", "/v1/matchingRuns/%s:approve" % run["id"], {},
                 idempotency_key=self.idem())
        matches = api.call("GET", "/v1/programmes/%s/matches" % prog["id"])["matches"]
        self.assertEqual(len(matches), 1, matches)
        return matches[0]

    def test_nothing_about_the_person_is_left(self):
        api = self.admin
        tag = uuid.uuid4().hex[:10]
        ext = "hr-ZQX-%s" % tag
        secrets_of_person = {
            "external id": ext,
            "name": "Zebulon Quartermaine-%s" % tag,
            "e-mail": "zebulon.%s@quartermaine.example" % tag,
            "notes": "NOTES-we-discussed-the-merger-%s" % tag,
            "free text": "FREETEXT-my-manager-is-unfair-%s" % tag,
            "decline reason": "DECLINE-REASON-conflict-of-interest-%s" % tag,
        }
        hook = api.call("POST", "/v1/webhooks", {"url": self.receiver.url("/hook"),
                                                 "events": EVENTS},
                        idempotency_key=self.idem())
        self.assertTrue(hook["id"])
        # The receiver is down: it answers 503 to everything until it comes back.
        with self.receiver.lock:
            self.receiver.scripts["/hook"] = ["503"] * 100000

        target = {"externalId": ext, "displayName": secrets_of_person["name"],
                  "email": secrets_of_person["e-mail"], "role": "MENTOR", "seniorityLevel": 1,
                  "office": "Gdansk-%s" % tag, "languages": ["en"],
                  "interests": ["competition law"], "consent": {"dataProcessing": True}}

        # Programme A: Enrol; matched, accepted, a check-in with notes, a survey.
        prog_a = self.programme("A")
        me_a = api.call("POST", "/v1/programmes/%s/participants" % prog_a["id"], target,
                        idempotency_key=self.idem())
        api.call("POST", "/v1/programmes/%s/participants" % prog_a["id"],
                 pr.person("partner-a-" + tag, "MENTEE"), idempotency_key=self.idem())
        match_a = self.run_and_approve(prog_a)
        self.assertEqual(match_a["mentorId"], me_a["id"])
        for side in (match_a["mentorId"], match_a["menteeId"]):
            api.call("POST", "/v1/matches/%s:respond" % match_a["id"],
                     {"participantId": side, "accept": True}, idempotency_key=self.idem())
        api.call("POST", "/v1/matches/%s/checkIns" % match_a["id"], {
            "participantId": me_a["id"], "occurredTime": pr.iso(3600), "durationMinutes": 45,
            "rating": 4, "topics": ["merger"], "notes": secrets_of_person["notes"]},
            idempotency_key=self.idem())
        survey = api.call("POST", "/v1/programmes/%s/surveys" % prog_a["id"], {
            "title": "Pulse", "questions": [
                {"id": "nps", "text": "Recommend?", "kind": "NPS_0_10"},
                {"id": "say", "text": "Anything else?", "kind": "TEXT"}]},
            idempotency_key=self.idem())
        api.call("POST", "/v1/surveys/%s/responses" % survey["id"], {
            "participantId": me_a["id"], "answers": [
                {"questionId": "nps", "score": 9},
                {"questionId": "say", "text": secrets_of_person["free text"]}]},
            idempotency_key=self.idem())

        # Programme B: BatchEnrol; matched, and the person declines with a reason.
        prog_b = self.programme("B")
        out = api.call("POST", "/v1/programmes/%s/participants:batchEnrol" % prog_b["id"],
                       {"participants": [target, pr.person("partner-b-" + tag, "MENTEE")]},
                       idempotency_key=self.idem())
        me_b = out["results"][0]["participant"]
        match_b = self.run_and_approve(prog_b)
        self.assertEqual(match_b["mentorId"], me_b["id"])
        api.call("POST", "/v1/matches/%s:respond" % match_b["id"], {
            "participantId": me_b["id"], "accept": False,
            "reason": secrets_of_person["decline reason"]}, idempotency_key=self.idem())

        # Programme C: someone whose manager the person is.
        prog_c = self.programme("C")
        api.call("POST", "/v1/programmes/%s/participants" % prog_c["id"],
                 pr.person("report-" + tag, "MENTEE", reportingChain=[ext]),
                 idempotency_key=self.idem())

        # Everything is stored (the test would prove nothing otherwise), and the
        # receiver has been refusing deliveries about the person.
        before = self.dump()
        for what, text in secrets_of_person.items():
            self.assertTrue(self.holds(before, text), "%s not stored before the erasure" % what)
        # Stored Idempotency-Key responses hold it too (bytea, dumped as hex).
        self.assertIn(secrets_of_person["notes"].encode().hex(), before)
        self.wait(lambda: self.receiver.saw(me_a["id"]), "a delivery attempt about the person")

        erased = api.call("POST", "/v1/people/%s:erase" % ext, {})
        self.assertEqual(erased["enrolment"]["participants"], 2)
        ids = {me_a["id"], me_b["id"]}

        # The receiver comes back (after any attempt already in flight when the erasure
        # answered has been refused); an event about someone else follows the erasure.
        time.sleep(1)
        with self.receiver.lock:
            self.receiver.scripts["/hook"] = []
            back = len(self.receiver.requests)
        other = api.call("POST", "/v1/programmes/%s/participants" % prog_c["id"],
                         pr.person("sentinel-" + tag, "MENTEE"), idempotency_key=self.idem())
        self.wait(lambda: self.receiver.saw(other["id"]), "the delivery about someone else")
        self.wait(lambda: self.pending() == 0, "no pending delivery left")
        time.sleep(1)
        with self.receiver.lock:
            after = [r["body"].decode() for r in self.receiver.requests[back:]]
        # Every way the person survives is collected, so that one run shows them all.
        problems = []
        for body in after:
            for pid in ids:
                if pid in body:
                    problems.append("a delivery about the erased person: %s" % body[:300])
            for what, text in secrets_of_person.items():
                if text in body:
                    problems.append("%s delivered after the erasure" % what)

        dump = self.dump()
        for what, text in secrets_of_person.items():
            if self.holds(dump, text):
                problems.append("%s left in the database: %s" % (
                    what, self.context(dump, text if text in dump else text.encode().hex())))
        for svc, path in self.stack.logs.items():
            with open(path, errors="replace") as f:
                log = f.read()
            self.assertIn('"level"', log, "tandem-%s logged nothing at debug" % svc)
            for what, text in secrets_of_person.items():
                if text in log:
                    problems.append("%s in tandem-%s's log: %s" % (what, svc,
                                                                   self.context(log, text)))

        # The audit: the keyed hash, not the unkeyed one anyone could recompute.
        keyed = hmac.new(self.stack.person_hash_key.encode(),
                         (self.tenant["id"] + ext).encode(), hashlib.sha256).hexdigest()
        unkeyed = hashlib.sha256((self.tenant["id"] + ":" + ext).encode()).hexdigest()
        audit = harness.psql(self.stack.super_url,
                             "SELECT string_agg(encode(person_hash, 'hex'), ',')"
                             " FROM enrolment.person_data_audit WHERE action = 'erase'")
        if audit != keyed:
            problems.append("the audit names the person by %s, not by the keyed hash%s" % (
                audit, " (the unkeyed SHA-256)" if audit == unkeyed else ""))
        self.assertEqual(problems, [], "\n".join(problems))

        # A retried erasure answers, and an Idempotency-Key whose response named the
        # person is no longer replayed (its record is gone).
        api.call("POST", "/v1/people/%s:erase" % ext, {})

    # ---- helpers -------------------------------------------------------------------

    def dump(self):
        out = subprocess.run([pg_dump_path(), "--data-only", "--no-owner",
                              "--dbname", self.stack.super_url],
                             capture_output=True, check=True, timeout=120)
        return out.stdout.decode("utf-8", errors="replace")

    def pending(self):
        return int(harness.psql(self.stack.super_url,
                                "SELECT count(*) FROM gateway.webhook_deliveries"
                                " WHERE status = 1"))

    @staticmethod
    def holds(dump, text):
        """Whether the dump holds text, as text or inside a bytea (hex)."""
        return text in dump or text.encode().hex() in dump

    @staticmethod
    def context(text, needle):
        i = text.find(needle)
        return text[max(0, i - 200):i + len(needle) + 60]

    def wait(self, cond, what, timeout=300):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(0.2)
        self.fail("timed out waiting for %s" % what)


if __name__ == "__main__":
    unittest.main()
