"""Issue #15, the access half, tried as an attacker with an ordinary tenant API key
would: through the gateway's REST API, against the four real processes and a real
PostgreSQL.

One programme is set up once: two mentors, two mentees, an OPTIMAL run approved,
one match ACTIVE (both sides accepted) with a check-in whose notes are private to
the pair, one match declined by its mentee. Each test then attempts one way round a
promise of API.md ("Acting as a person", "Least privilege in every answer") and
checks that it is refused.
"""
import hashlib
import json
import time
import unittest
import uuid

import harness

NOTES = "private to the pair: worried about the partnership vote"


Api = harness.Api


def person(ext, role, level):
    return {"externalId": ext, "displayName": "Person " + ext, "role": role,
            "seniorityLevel": level, "office": "London", "languages": ["en"],
            "interests": ["legal tech"], "consent": {"dataProcessing": True}}


def rfc3339(seconds_ago):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - seconds_ago))


class PrivacyAccess(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = harness.Stack("pacc")
        cls.stack.start_all()
        try:
            cls._programme()
        except Exception:
            cls.stack.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    @classmethod
    def key(cls, *scopes):
        """A new tenant key with these scopes (an Api calling with it)."""
        k = cls.platform.call("POST", "/v1/tenants/%s/apiKeys" % cls.tenant["id"], {
            "displayName": "key " + ",".join(scopes), "scopes": list(scopes),
            "kind": "TENANT"})
        api = Api(cls.stack, k["secret"])
        api.id = k["id"]
        return api

    @classmethod
    def token(cls, participant_id, minter=None, ttl=None):
        """An Api calling with a new participant token of participant_id."""
        body = {"ttlSeconds": ttl} if ttl is not None else {}
        t = (minter or cls.admin).call("POST", "/v1/participants/%s:issueToken" % participant_id,
                                       body)
        api = Api(cls.stack, t["token"])
        api.expire_time = t["expireTime"]
        return api

    @classmethod
    def enrol(cls, ext):
        return cls.admin.call("POST", "/v1/programmes/%s/participants" % cls.prog["id"],
                              person(ext, "MENTEE", 7))

    @classmethod
    def _programme(cls):
        cls.platform = Api(cls.stack, cls.stack.bootstrap_key)
        cls.tenant = cls.platform.call("POST", "/v1/tenants", {
            "name": "Harrow LLP", "slug": "harrow-%s" % uuid.uuid4().hex[:8]})
        cls.admin = cls.key("admin")
        api = cls.admin
        cls.prog = api.call("POST", "/v1/programmes", {
            "name": "Reverse", "kind": "REVERSE", "status": "ENROLLING",
            "checkInCadenceDays": 14})
        people = [person("j1", "MENTOR", 1), person("j2", "MENTOR", 2),
                  person("s1", "MENTEE", 8), person("s2", "MENTEE", 9)]
        out = api.call("POST", "/v1/programmes/%s/participants:batchEnrol" % cls.prog["id"],
                       {"participants": people})
        cls.people = {r["participant"]["externalId"]: r["participant"] for r in out["results"]}
        run = api.call("POST", "/v1/programmes/%s/matchingRuns" % cls.prog["id"],
                       {"algorithm": "OPTIMAL"})
        deadline = time.monotonic() + 60
        while run["status"] in ("QUEUED", "RUNNING") and time.monotonic() < deadline:
            time.sleep(0.2)
            run = api.call("GET", "/v1/matchingRuns/%s" % run["id"])
        assert run["status"] == "SUCCEEDED", run
        api.call("POST", "/v1/matchingRuns/%s:approve" % run["id"], {})
        matches = api.call("GET", "/v1/programmes/%s/matches" % cls.prog["id"])["matches"]
        assert len(matches) == 2, matches
        cls.active, cls.declined = matches
        cls.active = api.call("POST", "/v1/matches/%s:respond" % cls.active["id"],
                              {"participantId": cls.active["mentorId"], "accept": True})
        # The mentee accepts through a participant token, naming no participant.
        cls.mentee_token = cls.token(cls.active["menteeId"])
        cls.accepted_by_token = cls.mentee_token.call(
            "POST", "/v1/matches/%s:respond" % cls.active["id"], {"accept": True})
        cls.active = api.call("GET", "/v1/matches/%s" % cls.active["id"])
        cls.declined = api.call("POST", "/v1/matches/%s:respond" % cls.declined["id"], {
            "participantId": cls.declined["menteeId"], "accept": False,
            "reason": "we already work together"})
        cls.check_in = api.call("POST", "/v1/matches/%s/checkIns" % cls.active["id"], {
            "participantId": cls.active["menteeId"], "occurredTime": rfc3339(3600),
            "durationMinutes": 30, "rating": 4, "notes": NOTES})

    # ---- notes -----------------------------------------------------------------------

    def test_no_api_key_reads_notes_whatever_participant_id_it_names(self):
        """ListCheckIns returned the notes to any feedback:read key naming a side's
        participant_id (learnt, e.g., from ListAtRiskMatches): asserted, not proven."""
        reader = self.key("feedback:read")
        path = "/v1/matches/%s/checkIns" % self.active["id"]
        for api in (reader, self.admin):
            for side in ("", self.active["mentorId"], self.active["menteeId"]):
                q = "?participantId=" + side if side else ""
                page = api.call("GET", path + q)
                self.assertGreaterEqual(len(page["checkIns"]), 1)
                self.assertNotIn(NOTES, json.dumps(page), "an API key read the notes")
        got = self.admin.call("GET", "/v1/checkIns/%s" % self.check_in["id"])
        self.assertNotIn(NOTES, json.dumps(got))

    def test_export_holds_the_notes_the_person_wrote_and_no_one_elses(self):
        """ExportPerson of the other side of the pair showed the notes too."""
        ext = {p["id"]: e for e, p in self.people.items()}
        writer = self.admin.call("GET", "/v1/people/%s:export" % ext[self.active["menteeId"]])
        self.assertIn(NOTES, json.dumps(writer))
        other = self.admin.call("GET", "/v1/people/%s:export" % ext[self.active["mentorId"]])
        self.assertIn(self.check_in["id"], json.dumps(other))
        self.assertNotIn(NOTES, json.dumps(other), "one person's export showed another's notes")

    # ---- least privilege ------------------------------------------------------------------

    AT_RISK_MATCH_FIELDS = {"id", "programmeId", "mentorId", "menteeId", "status", "startTime"}

    def test_feedback_read_key_gets_only_the_at_risk_fields(self):
        """feedback widened its peer calls with enrolment:read and matching:read, so a
        feedback:read key got whole matches (explanations, scores, decline reasons)."""
        reader = self.key("feedback:read")
        page = reader.call("GET", "/v1/programmes/%s/atRiskMatches" % self.prog["id"])
        risky = page["atRiskMatches"]
        self.assertIn(self.declined["id"], [x["match"]["id"] for x in risky])
        for x in risky:
            self.assertLessEqual(set(x["match"]), self.AT_RISK_MATCH_FIELDS, x)
            self.assertTrue(x["reasons"])
        self.assertNotIn("we already work together", json.dumps(page))
        # With matching:read as well, the whole match.
        both = self.key("feedback:read", "matching:read")
        page = both.call("GET", "/v1/programmes/%s/atRiskMatches" % self.prog["id"])
        whole = [x["match"] for x in page["atRiskMatches"] if x["match"]["id"] ==
                 self.declined["id"]][0]
        self.assertIn("explanation", whole)

    def test_feedback_keys_still_work_without_the_peers_scopes(self):
        """What feedback asks of its peers with the caller's own scopes is enough for
        the calls a feedback key may make."""
        writer = self.key("feedback:write")
        writer.call("POST", "/v1/matches/%s/checkIns" % self.active["id"], {
            "participantId": self.active["mentorId"], "occurredTime": rfc3339(900),
            "rating": 4})
        survey = writer.call("POST", "/v1/programmes/%s/surveys" % self.prog["id"], {
            "title": "Peers", "questions": [{"id": "q", "text": "How?", "kind": "NPS_0_10"}]})
        writer.call("POST", "/v1/surveys/%s/responses" % survey["id"], {
            "participantId": self.declined["mentorId"],
            "answers": [{"questionId": "q", "score": 9}]})
        reader = self.key("feedback:read")
        reader.call("GET", "/v1/matches/%s/checkIns" % self.active["id"])
        reader.call("GET", "/v1/programmes/%s/surveys" % self.prog["id"])
        report = reader.call("GET", "/v1/programmes/%s/report" % self.prog["id"])
        self.assertGreaterEqual(report.get("checkIns", 0), 1)
        # A feedback key reads no match, participant or programme list of its own.
        reader.call("GET", "/v1/matches/%s" % self.active["id"], expect=403)
        reader.call("GET", "/v1/participants/%s" % self.active["mentorId"], expect=403)
        reader.call("GET", "/v1/programmes/%s/participants" % self.prog["id"], expect=403)

    # ---- participant tokens --------------------------------------------------------------

    def test_token_reads_the_notes_of_its_own_match_and_nothing_of_others(self):
        me = self.mentee_token
        path = "/v1/matches/%s/checkIns" % self.active["id"]
        page = me.call("GET", path)
        self.assertEqual([c.get("notes") for c in page["checkIns"]][-1:], [NOTES])
        me.call("GET", path + "?participantId=" + self.active["menteeId"])
        err = me.call("GET", path + "?participantId=" + self.active["mentorId"], expect=403)
        self.assertEqual(err["code"], 7)
        # Its mentor's token reads them too: one side of the match.
        self.assertIn(NOTES, json.dumps(self.token(self.active["mentorId"]).call("GET", path)))
        # A person of another match reads none of this match's check-ins.
        stranger = self.token(self.declined["mentorId"])
        stranger.call("GET", path, expect=403)
        stranger.call("GET", "/v1/matches/%s" % self.active["id"], expect=403)

    def test_token_does_each_allowed_thing_for_itself(self):
        me = self.mentee_token
        mine = self.active["menteeId"]
        self.assertEqual(self.accepted_by_token["status"], "ACTIVE")
        self.assertEqual(me.call("GET", "/v1/participants/%s" % mine)["id"], mine)
        self.assertEqual(me.call("GET", "/v1/programmes/%s" % self.prog["id"])["id"],
                         self.prog["id"])
        listed = me.call("GET", "/v1/programmes/%s/matches" % self.prog["id"])["matches"]
        self.assertEqual([m["id"] for m in listed], [self.active["id"]])
        self.assertEqual(me.call("GET", "/v1/matches/%s" % self.active["id"])["id"],
                         self.active["id"])
        c = me.call("POST", "/v1/matches/%s/checkIns" % self.active["id"], {
            "occurredTime": rfc3339(600), "durationMinutes": 20, "rating": 5,
            "notes": "logged from the app"})
        self.assertEqual(c["participantId"], mine)
        survey = self.admin.call("POST", "/v1/programmes/%s/surveys" % self.prog["id"], {
            "title": "Pulse", "questions": [{"id": "q", "text": "How?", "kind": "RATING_1_5"}]})
        answer = {"answers": [{"questionId": "q", "score": 4}]}
        r = me.call("POST", "/v1/surveys/%s/responses" % survey["id"], answer)
        self.assertEqual(r["participantId"], mine)
        suggested = me.call("GET", "/v1/programmes/%s/suggestions" % self.prog["id"])
        self.assertIn("suggestions", suggested)
        me.call("GET", "/v1/programmes/%s/suggestions?menteeId=%s" % (self.prog["id"], mine))

    def test_token_may_not_act_as_anyone_else(self):
        me = self.mentee_token
        other = self.active["mentorId"]
        me.call("GET", "/v1/participants/%s" % other, expect=403)
        me.call("POST", "/v1/matches/%s/checkIns" % self.active["id"], {
            "participantId": other, "occurredTime": rfc3339(600), "rating": 1}, expect=403)
        me.call("POST", "/v1/matches/%s:respond" % self.active["id"],
                {"participantId": other, "accept": False}, expect=403)
        me.call("GET", "/v1/programmes/%s/matches?participantId=%s" % (self.prog["id"], other),
                expect=403)
        other_mentee = self.declined["menteeId"]
        me.call("GET", "/v1/programmes/%s/suggestions?menteeId=%s" % (self.prog["id"],
                                                                       other_mentee), expect=403)
        survey = self.admin.call("POST", "/v1/programmes/%s/surveys" % self.prog["id"], {
            "title": "Other", "questions": [{"id": "q", "text": "How?", "kind": "RATING_1_5"}]})
        me.call("POST", "/v1/surveys/%s/responses" % survey["id"], {
            "participantId": other_mentee, "answers": [{"questionId": "q", "score": 1}]},
            expect=403)

    def test_token_is_refused_everything_else(self):
        me = self.mentee_token
        prog = self.prog["id"]
        refused = [
            ("GET", "/v1/programmes", None),
            ("GET", "/v1/programmes/%s/participants" % prog, None),
            ("GET", "/v1/programmes/%s/participants?role=MENTOR" % prog, None),
            ("PATCH", "/v1/programmes/%s?updateMask=name" % prog, {"name": "x"}),
            ("POST", "/v1/programmes/%s/participants" % prog, person("sneak", "MENTEE", 3)),
            ("PATCH", "/v1/participants/%s?updateMask=displayName" % self.active["menteeId"],
             {"displayName": "x"}),
            ("POST", "/v1/participants/%s:withdraw" % self.active["menteeId"], {}),
            ("POST", "/v1/participants/%s:issueToken" % self.active["menteeId"], {}),
            ("GET", "/v1/programmes/%s/matchingRuns" % prog, None),
            ("POST", "/v1/programmes/%s/matchingRuns" % prog, {"algorithm": "GREEDY"}),
            ("POST", "/v1/matches/%s:end" % self.active["id"], {"reason": "x"}),
            ("GET", "/v1/programmes/%s/score?mentorId=%s&menteeId=%s" % (
                prog, self.active["mentorId"], self.active["menteeId"]), None),
            ("GET", "/v1/checkIns/%s" % self.check_in["id"], None),
            ("GET", "/v1/programmes/%s/report" % prog, None),
            ("GET", "/v1/programmes/%s/atRiskMatches" % prog, None),
            ("GET", "/v1/programmes/%s/surveys" % prog, None),
            ("POST", "/v1/programmes/%s/surveys" % prog, {"title": "x", "questions": []}),
            ("GET", "/v1/people/j1:export", None),
            ("POST", "/v1/people/j1:erase", {}),
            ("GET", "/v1/webhooks", None),
            ("GET", "/v1/tenants/%s" % self.tenant["id"], None),
            ("GET", "/v1/tenants/%s/apiKeys" % self.tenant["id"], None),
        ]
        for method, path, body in refused:
            err = me.call(method, path, body, expect=None)
            self.assertEqual(err.get("code"), 7, "%s %s -> %s" % (method, path, err))
        # Another tenant, named in X-Tandem-Tenant: refused too.
        other = self.platform.call("POST", "/v1/tenants", {
            "name": "Other LLP", "slug": "other-%s" % uuid.uuid4().hex[:8]})
        named = Api(self.stack, me.key, tenant=other["id"])
        named.call("GET", "/v1/participants/%s" % self.active["menteeId"], expect=403)

    def test_token_issue_rules(self):
        mine = self.active["menteeId"]
        path = "/v1/participants/%s:issueToken" % mine
        self.key("feedback:write", "matching:write").call("POST", path, {}, expect=403)
        t = self.key("enrolment:write").call("POST", path, {})
        self.assertTrue(t["token"].startswith("tpt_"))
        left = time.mktime(time.strptime(t["expireTime"][:19], "%Y-%m-%dT%H:%M:%S")) - \
            time.mktime(time.gmtime())
        self.assertTrue(800 <= left <= 1000, "default ttl is 900 s, got %s" % left)
        for ttl in (-1, 3601):
            err = self.admin.call("POST", path, {"ttlSeconds": ttl}, expect=400)
            self.assertEqual(err["details"][0]["field"], "ttl_seconds")
        self.admin.call("POST", "/v1/participants/%s:issueToken" % uuid.uuid4(), {}, expect=404)
        # Only its hash is kept, nowhere the token itself.
        dump = harness.psql(self.stack.super_url,
                            "SELECT encode(token_hash, 'hex') FROM enrolment.participant_tokens;"
                            "SELECT response::text FROM enrolment.idempotency_keys;")
        self.assertNotIn(t["token"], dump)
        self.assertIn(hashlib.sha256(t["token"].encode()).hexdigest(), dump)

    def test_token_expires(self):
        t = self.token(self.active["menteeId"], ttl=1)
        path = "/v1/participants/%s" % self.active["menteeId"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status = t.call("GET", path, expect=None)
            if status.get("code") == 16:
                break
            time.sleep(0.5)
        self.assertEqual(t.call("GET", path, expect=401)["code"], 16)

    def test_token_stops_when_the_participant_withdraws(self):
        p = self.enrol("leaver-%s" % uuid.uuid4().hex[:6])
        t = self.token(p["id"])
        t.call("GET", "/v1/participants/%s" % p["id"])
        self.admin.call("POST", "/v1/participants/%s:withdraw" % p["id"], {})
        t.call("GET", "/v1/participants/%s" % p["id"], expect=401)
        err = self.admin.call("POST", "/v1/participants/%s:issueToken" % p["id"], {}, expect=400)
        self.assertEqual(err["code"], 9)

    def test_token_stops_when_the_person_is_erased(self):
        ext = "erased-%s" % uuid.uuid4().hex[:6]
        p = self.enrol(ext)
        t = self.token(p["id"])
        t.call("GET", "/v1/participants/%s" % p["id"])
        self.admin.call("POST", "/v1/people/%s:erase" % ext, {})
        t.call("GET", "/v1/participants/%s" % p["id"], expect=401)

    def test_token_stops_when_the_minting_key_is_revoked(self):
        minter = self.key("enrolment:write")
        t = self.token(self.active["menteeId"], minter=minter)
        t.call("GET", "/v1/matches/%s" % self.active["id"])
        self.platform.call("POST", "/v1/apiKeys/%s:revoke" % minter.id, {})
        t.call("GET", "/v1/matches/%s" % self.active["id"], expect=401)
        t.call("GET", "/v1/matches/%s/checkIns" % self.active["id"], expect=401)

    def test_malformed_and_forged_tokens_are_unauthenticated(self):
        real = self.mentee_token.key
        forged = [real[:-1] + ("A" if real[-1] != "A" else "B"),
                  "tpt_" + str(uuid.uuid4()) + real[40:],
                  "tpt_not-a-token-at-all-but-long-enough"]
        for key in forged:
            Api(self.stack, key).call("GET", "/v1/participants/%s" % self.active["menteeId"],
                                      expect=401)


if __name__ == "__main__":
    unittest.main()
