"""A whole reverse-mentoring programme through the gateway's REST API, as an HR
platform drives it: tenant and key, programme, bulk enrolment, OPTIMAL matching,
approval, both sides accepting, check-ins, a survey, the report and the at-risk
list, then a person's export and erasure.

Every figure the services report is recomputed here from the inputs the test sent:
the hard constraints of every proposal, the maximum number of mentees that can be
matched (augmenting paths over the admissible pairs), the mean rating and the NPS,
and the suppression of groups smaller than the anonymity threshold.
"""
import json
import time
import unittest
import uuid

import harness

THRESHOLD = 3


Api = harness.Api


def person(ext, role, level, office, chain=(), goals=("ai",), skills=()):
    return {"externalId": ext, "displayName": "Person " + ext, "role": role,
            "seniorityLevel": level, "office": office, "practiceArea": "Corporate",
            "reportingChain": list(chain), "goals": list(goals),
            "skills": [{"name": s, "level": 4} for s in skills],
            "interests": ["legal tech"], "languages": ["en"],
            "consent": {"dataProcessing": True}}


def max_matching(mentors, mentees, admissible):
    """Most mentees matched, capacity 1 per mentor (Kuhn's augmenting paths)."""
    owner = {}

    def augment(mentee, seen):
        for mentor in mentors:
            if (mentor, mentee) in admissible and mentor not in seen:
                seen.add(mentor)
                if mentor not in owner or augment(owner[mentor], seen):
                    owner[mentor] = mentee
                    return True
        return False

    return sum(1 for m in mentees if augment(m, set()))


class WholeProgramme(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = harness.Stack("e2e")
        try:
            for svc in ("enrolment", "matching", "feedback"):
                cls.stack.start(svc, wait=False)
            for svc in ("enrolment", "matching", "feedback"):
                cls.stack.wait_ready(svc)
            cls.stack.start("gateway")
        except Exception:
            cls.stack.close()
            raise
        platform = Api(cls.stack, cls.stack.bootstrap_key)
        slug = "harrow-%s" % uuid.uuid4().hex[:8]
        cls.tenant = platform.call("POST", "/v1/tenants", {"name": "Harrow LLP", "slug": slug})
        key = platform.call("POST", "/v1/tenants/%s/apiKeys" % cls.tenant["id"],
                            {"displayName": "hr platform", "scopes": ["admin"], "kind": "TENANT"})
        cls.api = Api(cls.stack, key["secret"])

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    def test_a_programme_from_enrolment_to_report(self):
        api = self.api
        prog = api.call("POST", "/v1/programmes", {
            "name": "Reverse mentoring 2027", "kind": "REVERSE", "status": "ENROLLING",
            "anonymityThreshold": THRESHOLD, "checkInCadenceDays": 14,
            "objectives": [{"key": "ai", "title": "AI and legal tech"},
                           {"key": "inclusion", "title": "Inclusion"}]})
        # Juniors mentor seniors. s-r1 is in j-r1's reporting chain (their manager),
        # so that pair is forbidden; j-hi is more senior than every mentee, so a
        # REVERSE programme never gives them one. Five mentees, four usable mentors:
        # one mentee must be left out, with a reason.
        people = [
            person("j1", "MENTOR", 1, "London", skills=["generative AI"]),
            person("j2", "MENTOR", 2, "London", skills=["legal tech platforms"]),
            person("j3", "MENTOR", 0, "Paris", skills=["generative AI"]),
            person("j-r1", "MENTOR", 2, "Paris", chain=["s-r1"]),
            person("j-hi", "MENTOR", 10, "Berlin"),
            person("s1", "MENTEE", 8, "London"),
            person("s2", "MENTEE", 9, "London"),
            person("s3", "MENTEE", 7, "Paris"),
            person("s-r1", "MENTEE", 9, "Paris"),
            person("s-lone", "MENTEE", 6, "Madrid"),
        ]
        out = api.call("POST", "/v1/programmes/%s/participants:batchEnrol" % prog["id"],
                       {"participants": people + [{"externalId": "", "role": "MENTOR"}]})
        results = out["results"]
        self.assertEqual(len(results), len(people) + 1)
        self.assertIn("error", results[-1])  # the bad row, with its reason
        self.assertEqual(results[-1]["error"]["code"], 3)
        by_ext = {r["participant"]["externalId"]: r["participant"] for r in results[:-1]}
        level = {p["id"]: p.get("seniorityLevel", 0) for p in by_ext.values()}
        chain = {p["id"]: p.get("reportingChain", []) for p in by_ext.values()}
        ext = {p["id"]: e for e, p in by_ext.items()}
        mentors = [p["id"] for p in by_ext.values() if p["role"] == "MENTOR"]
        mentees = [p["id"] for p in by_ext.values() if p["role"] == "MENTEE"]
        admissible = {(a, b) for a in mentors for b in mentees
                      if level[a] <= level[b] and ext[b] not in chain[a]
                      and ext[a] not in chain[b]}

        api.call("PATCH", "/v1/programmes/%s?updateMask=status" % prog["id"],
                 {"status": "MATCHING"})
        run = api.call("POST", "/v1/programmes/%s/matchingRuns" % prog["id"],
                       {"algorithm": "OPTIMAL"})
        deadline = time.monotonic() + 60
        while run["status"] in ("QUEUED", "RUNNING") and time.monotonic() < deadline:
            time.sleep(0.2)
            run = api.call("GET", "/v1/matchingRuns/%s" % run["id"])
        self.assertEqual(run["status"], "SUCCEEDED", run)
        proposals = api.call("GET", "/v1/matchingRuns/%s/proposals" % run["id"])["proposals"]
        for p in proposals:
            self.assertIn((p["mentorId"], p["menteeId"]), admissible,
                          "inadmissible pair proposed: %s" % p)
            self.assertTrue(p["explanation"], "a pair without an explanation")
            self.assertGreaterEqual(p["score"], 0)
        self.assertEqual(len({p["mentorId"] for p in proposals}), len(proposals))
        self.assertEqual(len(proposals), max_matching(mentors, mentees, admissible))
        matched = {p["menteeId"] for p in proposals}
        unmatched = run["stats"].get("unmatchedMentees", [])
        self.assertEqual({u["menteeId"] for u in unmatched}, set(mentees) - matched)
        reasons = {"NO_ADMISSIBLE_MENTOR", "ALL_ADMISSIBLE_MENTORS_FULL", "BELOW_MIN_SCORE",
                   "EXCLUDED"}
        for u in unmatched:
            self.assertIn(u.get("reason"), reasons, u)

        api.call("POST", "/v1/matchingRuns/%s:approve" % run["id"], {})
        matches = api.call("GET", "/v1/programmes/%s/matches" % prog["id"])["matches"]
        self.assertEqual(len(matches), len(proposals))
        for m in matches:
            for side in (m["mentorId"], m["menteeId"]):
                m = api.call("POST", "/v1/matches/%s:respond" % m["id"],
                             {"participantId": side, "accept": True})
            self.assertEqual(m["status"], "ACTIVE")

        # Check-ins: one rating of 2 puts its match at risk.
        now = time.time()
        ratings = []
        for i, m in enumerate(matches):
            for j, rating in enumerate((5, 4) if i else (4, 2)):
                when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 3600 * (10 - j)))
                api.call("POST", "/v1/matches/%s/checkIns" % m["id"], {
                    "participantId": m["mentorId"], "occurredTime": when,
                    "durationMinutes": 45, "rating": rating, "topics": ["AI"],
                    "notes": "private to the pair"})
                ratings.append(rating)
        survey = api.call("POST", "/v1/programmes/%s/surveys" % prog["id"], {
            "title": "Pulse", "questions": [
                {"id": "nps", "text": "Would you recommend it?", "kind": "NPS_0_10"}]})
        scores = [10, 9, 3, 8]
        respondents = [m["menteeId"] for m in matches] + [m["mentorId"] for m in matches]
        for who, score in zip(respondents, scores):
            api.call("POST", "/v1/surveys/%s/responses" % survey["id"], {
                "participantId": who, "answers": [{"questionId": "nps", "score": score}]})
        # Survey figures move in steps of the threshold: the first k * THRESHOLD
        # responses, in arrival order, are counted.
        answered = min(len(scores), len(respondents))
        used = scores[:answered - answered % THRESHOLD]

        report = api.call("GET", "/v1/programmes/%s/report" % prog["id"])
        self.assertEqual(report["enrolledMentors"], len(mentors))
        self.assertEqual(report["enrolledMentees"], len(mentees))
        self.assertEqual(report["checkIns"], len(ratings))
        self.assertAlmostEqual(report["meanRating"], sum(ratings) / len(ratings), places=6)
        promoters = sum(1 for s in used if s >= 9)
        detractors = sum(1 for s in used if s <= 6)
        self.assertAlmostEqual(report["nps"], 100.0 * (promoters - detractors) / len(used),
                               places=6)
        self.assertNotIn("private to the pair", json.dumps(report))
        offices = next(b for b in report["breakdowns"] if b["dimension"] == "office")
        for g in offices["groups"]:
            self.assertGreaterEqual(g["count"], THRESHOLD, "a group below the threshold shown")
        shown = {g["key"] for g in offices["groups"]}
        self.assertNotIn("Madrid", shown)   # one person
        self.assertNotIn("Berlin", shown)   # one person
        self.assertGreaterEqual(offices.get("suppressedGroups", 0), 2)

        at_risk = api.call("GET", "/v1/programmes/%s/atRiskMatches" % prog["id"])
        low = [a for a in at_risk["atRiskMatches"] if "LOW_RATING" in a["reasons"]]
        self.assertEqual([a["match"]["id"] for a in low], [matches[0]["id"]])

        # GDPR: export shows the person; after erasure nothing does.
        export = api.call("GET", "/v1/people/s-lone:export")
        self.assertIn("Person s-lone", json.dumps(export))
        api.call("POST", "/v1/people/s-lone:erase", {})
        api.call("GET", "/v1/people/s-lone:export", expect=404)
        listing = api.call("GET", "/v1/programmes/%s/participants?pageSize=500" % prog["id"])
        self.assertNotIn("Person s-lone", json.dumps(listing))


if __name__ == "__main__":
    unittest.main()
