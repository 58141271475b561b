"""Anonymity that survives a determined reader (issue #15, API.md): each test is an
attack an ordinary tenant key could try through the gateway, and what stops it.

- the threshold: 3 to 1000, changed only with `admin`;
- programme-level figures (meanRating, nps) withheld below the threshold, named in
  `suppressed`;
- the "(not stated)" group, so no suppressed group is a total minus shown groups;
- survey figures that move only in steps of the threshold: two reports around one
  new response are identical.
"""
import unittest

import privacy_rest as pr


class Anonymity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = pr.start_stack("anon")
        cls.tenant, cls.admin = pr.new_tenant(cls.stack)
        cls.writer = pr.key_api(cls.stack, cls.tenant, ["enrolment:write", "enrolment:read"])

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    def programme(self, api=None, **fields):
        body = {"name": "Pilot", "kind": "REVERSE", "status": "ENROLLING"}
        body.update(fields)
        return (api or self.admin).call("POST", "/v1/programmes", body)

    def test_threshold_is_3_to_1000_and_only_admin_changes_it(self):
        # The attack: an enrolment:write key lowers the threshold to 2, then to 1.
        prog = self.programme(self.writer)
        self.assertEqual(prog["anonymityThreshold"], 5)
        path = "/v1/programmes/%s?updateMask=anonymityThreshold" % prog["id"]
        for low in (2, 1):
            err = self.writer.call("PATCH", path, {"anonymityThreshold": low}, expect=None)
            self.assertIn(err.get("code"), (3, 7), err)
            err = self.admin.call("PATCH", path, {"anonymityThreshold": low}, expect=400)
            self.assertEqual(err["details"][0]["field"], "programme.anonymity_threshold")
        # Even a valid value needs admin, up or down.
        err = self.writer.call("PATCH", path, {"anonymityThreshold": 3}, expect=403)
        self.assertEqual(err["details"][0]["field"], "programme.anonymity_threshold")
        err = self.writer.call("POST", "/v1/programmes", {
            "name": "Pilot", "kind": "REVERSE", "anonymityThreshold": 3}, expect=403)
        self.assertEqual(err["details"][0]["field"], "programme.anonymity_threshold")
        self.assertEqual(self.admin.call("GET", "/v1/programmes/" + prog["id"])
                         ["anonymityThreshold"], 5)
        # admin may, within 3..1000.
        self.admin.call("POST", "/v1/programmes", {"name": "x", "kind": "REVERSE",
                                                   "anonymityThreshold": 1001}, expect=400)
        self.assertEqual(self.admin.call("PATCH", path, {"anonymityThreshold": 3})
                         ["anonymityThreshold"], 3)
        # A non-admin update that does not touch the threshold still works, and a full
        # replacement that leaves it unset keeps it.
        self.writer.call("PATCH", "/v1/programmes/%s?updateMask=name" % prog["id"],
                         {"name": "Renamed"})
        self.assertEqual(self.admin.call("GET", "/v1/programmes/" + prog["id"])
                         ["anonymityThreshold"], 3)

    def report(self, prog):
        return self.admin.call("GET", "/v1/programmes/%s/report" % prog["id"])

    def test_programme_mean_rating_withheld_below_threshold_raters(self):
        # The attack: with two raters, the programme's mean rating and one's own
        # rating give away the other's.
        prog, matches, _ = pr.matched_programme(self.admin, 3, threshold=3)
        matches = pr.accept_all(self.admin, matches)
        self.assertEqual(len(matches), 3)
        ratings = [5, 1, 4]
        for i, m in enumerate(matches[:2]):
            self.admin.call("POST", "/v1/matches/%s/checkIns" % m["id"], {
                "participantId": m["mentorId"], "occurredTime": pr.iso(3600),
                "durationMinutes": 30, "rating": ratings[i]})
        rep = self.report(prog)
        self.assertEqual(rep["checkIns"], 2)
        self.assertNotIn("meanRating", rep, "a mean over two raters was shown")
        self.assertIn("meanRating", rep.get("suppressed", []))
        # The same person rating again is still two people.
        self.admin.call("POST", "/v1/matches/%s/checkIns" % matches[0]["id"], {
            "participantId": matches[0]["mentorId"], "occurredTime": pr.iso(1800),
            "durationMinutes": 30, "rating": 5})
        self.assertNotIn("meanRating", self.report(prog))
        # A third person: shown, and exact.
        self.admin.call("POST", "/v1/matches/%s/checkIns" % matches[2]["id"], {
            "participantId": matches[2]["menteeId"], "occurredTime": pr.iso(600),
            "durationMinutes": 30, "rating": ratings[2]})
        rep = self.report(prog)
        self.assertAlmostEqual(rep["meanRating"], (5 + 1 + 5 + 4) / 4.0, places=6)
        self.assertNotIn("meanRating", rep.get("suppressed", []))

    def survey(self, prog):
        return self.admin.call("POST", "/v1/programmes/%s/surveys" % prog["id"], {
            "title": "Pulse", "questions": [
                {"id": "nps", "text": "Would you recommend it?", "kind": "NPS_0_10"}]})

    def enrol(self, prog, n, **extra):
        people = [pr.person("p-%d-%s" % (i, prog["id"][:8]), "MENTOR" if i % 2 else "MENTEE",
                            **extra) for i in range(n)]
        out = self.admin.call("POST", "/v1/programmes/%s/participants:batchEnrol" % prog["id"],
                              {"participants": people})
        return [r["participant"] for r in out["results"]]

    def respond(self, survey, who, score):
        self.admin.call("POST", "/v1/surveys/%s/responses" % survey["id"], {
            "participantId": who["id"], "answers": [{"questionId": "nps", "score": score}]})

    def test_programme_nps_withheld_below_threshold_respondents(self):
        prog = self.programme(anonymityThreshold=3)
        people = self.enrol(prog, 4)
        survey = self.survey(prog)
        self.respond(survey, people[0], 10)
        self.respond(survey, people[1], 0)
        rep = self.report(prog)
        self.assertNotIn("nps", rep, "an NPS over two respondents was shown")
        self.assertIn("nps", rep.get("suppressed", []))
        self.respond(survey, people[2], 10)
        rep = self.report(prog)
        self.assertAlmostEqual(rep["nps"], 100.0 * (2 - 1) / 3, places=6)
        self.assertEqual(rep["surveyResponses"], 3)
        self.assertEqual(rep["surveyRespondents"], 3)

    def test_two_reports_around_one_new_response_are_identical(self):
        # The attack: read the report, let one known person answer, read it again;
        # the difference is that person's answer.
        prog = self.programme(anonymityThreshold=3)
        people = self.enrol(prog, 7)
        survey = self.survey(prog)
        for who in people[:3]:
            self.respond(survey, who, 10)
        before = self.report(prog)
        self.assertEqual(before["nps"], 100.0)
        self.respond(survey, people[3], 0)
        after = self.report(prog)
        for field in ("nps", "surveyResponses", "surveyRespondents", "surveyResponseRate",
                      "surveyFiguresAsOf"):
            self.assertEqual(after.get(field), before.get(field), field)
        self.assertEqual(after["surveyResponses"], 3)
        self.respond(survey, people[4], 0)
        self.assertEqual(self.report(prog).get("nps"), before["nps"])
        # The third new response completes a step: the figures move, by three people.
        self.respond(survey, people[5], 10)
        stepped = self.report(prog)
        self.assertEqual(stepped["surveyResponses"], 6)
        self.assertAlmostEqual(stepped["nps"], 100.0 * (4 - 2) / 6, places=6)
        self.assertGreater(stepped["surveyFiguresAsOf"], before["surveyFiguresAsOf"])

    def test_people_without_a_value_form_a_not_stated_group(self):
        # The attack: the office breakdown shows London (3) and Paris (3); the report
        # says 7 enrolled; the one person with no office is 7 - 3 - 3.
        prog = self.programme(anonymityThreshold=3)
        people = [pr.person("o-%d" % i, "MENTEE", office=office)
                  for i, office in enumerate(["London"] * 3 + ["Paris"] * 3 + [""])]
        for p in people:
            if not p["office"]:
                del p["office"]
        self.admin.call("POST", "/v1/programmes/%s/participants:batchEnrol" % prog["id"],
                        {"participants": people})
        rep = self.report(prog)
        total = rep.get("enrolledMentors", 0) + rep.get("enrolledMentees", 0)
        self.assertEqual(total, 7)
        for b in rep["breakdowns"]:
            shown = sum(g["count"] for g in b.get("groups", []))
            hidden = total - shown
            self.assertTrue(hidden == 0 or hidden >= 3,
                            "%s: %d people recoverable as total minus shown groups: %s"
                            % (b["dimension"], hidden, b))
        # Three people without a value are a group like any other, shown by name.
        more = [pr.person("q-%d" % i, "MENTEE") for i in range(2)]
        self.admin.call("POST", "/v1/programmes/%s/participants:batchEnrol" % prog["id"],
                        {"participants": more})
        office = next(b for b in self.report(prog)["breakdowns"] if b["dimension"] == "office")
        self.assertIn({"key": "(not stated)", "count": 3},
                      [{"key": g["key"], "count": g["count"]} for g in office["groups"]])

    def test_group_figures_need_threshold_contributors(self):
        # A large group with one respondent: its NPS would be that person's score.
        prog = self.programme(anonymityThreshold=3)
        people = self.enrol(prog, 6, office="Leeds")
        survey = self.survey(prog)
        for who, score in zip(people[:3], (0, 10, 10)):
            self.respond(survey, who, score)
        office = next(b for b in self.report(prog)["breakdowns"] if b["dimension"] == "office")
        leeds = next(g for g in office["groups"] if g["key"] == "Leeds")
        self.assertAlmostEqual(leeds["nps"], 100.0 / 3, places=6)
        self.assertIn("meanRating", leeds.get("suppressed", []))
        self.assertNotIn("nps", leeds.get("suppressed", []))


if __name__ == "__main__":
    unittest.main()
