"""Programme templates through the gateway (issue #18, API.md "Programme templates,
benchmarks and usage"), against real PostgreSQL and the real tandem-gateway,
tandem-enrolment and tandem-feedback.

Proves: a platform key creates a template (version 1) and updates it (version 2,
version 1 unchanged and still readable); programmes made from it in several tenants
with overrides under an update mask record the template {id, version} they came
from, a programme from version 1 keeps version 1's values; the template's surveys are
scheduled on start_date + open_day; bad input is refused naming its field and
changes nothing; an Idempotency-Key makes one programme; tenant keys are refused on
every template method (REST 403, gRPC PERMISSION_DENIED).
"""
import os
import sys
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402
from gateway_client import Gateway  # noqa: E402

import grpc  # noqa: E402
from tandem.v1 import enrolment_pb2 as E  # noqa: E402

STACK = None
GW = None
ROOT = None
WRITE = ["enrolment:read", "enrolment:write"]


def setUpModule():
    global STACK, GW, ROOT
    STACK = harness.Stack("tpl")
    STACK.start_all(extra_env={"gateway": {"TANDEM_RATE_LIMIT_RPS": "1000",
                                           "TANDEM_RATE_LIMIT_BURST": "1000"}})
    GW = Gateway(STACK)
    ROOT = STACK.bootstrap_key
    GW.wait_up(ROOT)


def tearDownModule():
    if STACK is not None:
        STACK.close()


def survey(title, open_day):
    return {"openDay": open_day, "survey": {"title": title, "questions": [
        {"id": "nps", "text": "Would you recommend it?", "kind": "NPS_0_10"},
        {"id": "useful", "text": "How useful?", "kind": "RATING_1_5"}]}}


def template_body(name="Reverse mentoring for law firms"):
    return {
        "name": name, "kind": "REVERSE", "description": "Juniors mentor partners on legal tech.",
        "objectives": [{"key": "digital", "title": "Digital literacy"},
                       {"key": "inclusion", "title": "Inclusion"}],
        "checkInCadenceDays": 14, "anonymityThreshold": 5,
        "matchingPolicy": {"minScore": 10, "defaultMentorCapacity": 2},
        "surveys": [survey("Kick-off", 0), survey("Mid-point", 45)],
    }


def create_template(name="Reverse mentoring for law firms"):
    status, t = GW.rest("POST", "/v1/templates", template_body(name), key=ROOT)
    assert status == 200, (status, t)
    return t


def db(sql):
    return harness.psql(STACK.super_url, sql).strip()


class Templates(unittest.TestCase):
    def test_created_updated_and_versions_kept(self):
        t = create_template()
        self.assertEqual(t["version"], 1)
        self.assertEqual(len(t["surveys"]), 2)
        self.assertEqual(t["surveys"][1]["openDay"], 45)
        status, t2 = GW.rest("PATCH", "/v1/templates/%s?updateMask=checkInCadenceDays,surveys"
                             % t["id"], {"checkInCadenceDays": 21,
                                         "surveys": [survey("Kick-off", 0)]}, key=ROOT)
        self.assertEqual(status, 200, t2)
        self.assertEqual((t2["id"], t2["version"], t2["checkInCadenceDays"]), (t["id"], 2, 21))
        self.assertEqual(len(t2["surveys"]), 1)
        self.assertEqual(t2["name"], t["name"])  # outside the mask: kept
        status, v1 = GW.rest("GET", "/v1/templates/%s?version=1" % t["id"], key=ROOT)
        self.assertEqual((status, v1["version"], v1["checkInCadenceDays"]), (200, 1, 14))
        self.assertEqual(len(v1["surveys"]), 2)
        status, latest = GW.rest("GET", "/v1/templates/%s" % t["id"], key=ROOT)
        self.assertEqual((status, latest["version"]), (200, 2))
        # Over gRPC too, and listed at its latest version.
        got = GW.rpc("EnrolmentService", "GetProgrammeTemplate",
                     E.GetProgrammeTemplateRequest(id=t["id"], version=1), E.ProgrammeTemplate,
                     ROOT)
        self.assertEqual((got.version, got.check_in_cadence_days), (1, 14))
        seen = {}
        token = ""
        while True:
            status, page = GW.rest("GET", "/v1/templates?pageSize=1&pageToken=" + token,
                                   key=ROOT)
            self.assertEqual(status, 200, page)
            for x in page.get("templates", []):
                self.assertNotIn(x["id"], seen)
                seen[x["id"]] = x["version"]
            token = page.get("nextPageToken", "")
            if not token:
                break
        self.assertEqual(seen[t["id"]], 2)

    def test_concurrent_updates_make_consecutive_versions(self):
        t = create_template("Concurrent")
        import concurrent.futures
        with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(lambda i: GW.rest(
                "PATCH", "/v1/templates/%s?updateMask=checkInCadenceDays" % t["id"],
                {"checkInCadenceDays": 10 + i}, key=ROOT), range(6)))
        self.assertEqual(sorted(r[1]["version"] for r in results), [2, 3, 4, 5, 6, 7])
        self.assertEqual(db("SELECT count(*) FROM enrolment.programme_template_versions "
                            "WHERE template_id = '%s'" % t["id"]), "7")

    def test_instantiated_in_several_tenants_with_overrides(self):
        t = create_template("Instantiated")
        status, _ = GW.rest("PATCH", "/v1/templates/%s?updateMask=checkInCadenceDays"
                            % t["id"], {"checkInCadenceDays": 28}, key=ROOT)
        self.assertEqual(status, 200)
        made = []
        for i, cadence in enumerate((7, 10, None)):
            tenant, key = GW.new_tenant(ROOT, WRITE, prefix="firm%d" % i)
            body = {"templateId": t["id"], "name": "Firm %d programme" % i,
                    "startDate": "2027-01-04", "endDate": "2027-06-30"}
            if cadence is not None:
                body["overrides"] = {"checkInCadenceDays": cadence,
                                     "matchingPolicy": {"minScore": 30}}
                body["updateMask"] = "checkInCadenceDays,matchingPolicy.minScore"
            status, p = GW.rest("POST", "/v1/programmes:fromTemplate", body, key=key)
            self.assertEqual(status, 200, p)
            self.assertEqual(p["template"], {"id": t["id"], "version": 2})
            self.assertEqual(p["checkInCadenceDays"], cadence or 28)
            self.assertEqual(p["matchingPolicy"].get("minScore"), 30 if cadence else 10)
            self.assertEqual(p["matchingPolicy"].get("defaultMentorCapacity"), 2)
            self.assertEqual(p["kind"], "REVERSE")
            self.assertEqual([o["key"] for o in p["objectives"]], ["digital", "inclusion"])
            self.assertEqual(p["name"], "Firm %d programme" % i)
            status, again = GW.rest("GET", "/v1/programmes/%s" % p["id"], key=key)
            self.assertEqual((status, again["template"]["version"]), (200, 2))
            made.append((tenant, p["id"]))
        # Each programme's surveys are scheduled on start_date + open_day, in its tenant.
        tenant, pid = made[0]
        self.assertEqual(db("SELECT string_agg(open_date::text, ',' ORDER BY ordinal) FROM "
                            "enrolment.scheduled_surveys WHERE programme_id = '%s'" % pid),
                         "2027-01-04,2027-02-18")
        self.assertEqual(db("SELECT count(DISTINCT tenant_id) FROM enrolment.scheduled_surveys "
                            "WHERE programme_id IN (%s)" %
                            ",".join("'%s'" % m[1] for m in made)), "3")

    def test_programme_from_version_1_keeps_version_1(self):
        t = create_template("Kept")
        GW.rest("PATCH", "/v1/templates/%s?updateMask=checkInCadenceDays,description"
                % t["id"], {"checkInCadenceDays": 30, "description": "v2"}, key=ROOT)
        _, key = GW.new_tenant(ROOT, WRITE, prefix="kept")
        p = GW.rpc("EnrolmentService", "CreateProgrammeFromTemplate",
                   E.CreateProgrammeFromTemplateRequest(template_id=t["id"], version=1,
                                                        name="From v1",
                                                        start_date="2027-02-01"),
                   E.Programme, key)
        self.assertEqual((p.template.id, p.template.version), (t["id"], 1))
        self.assertEqual(p.check_in_cadence_days, 14)
        self.assertEqual(p.description, "Juniors mentor partners on legal tech.")
        # A later update of the template leaves the programme as it was.
        GW.rest("PATCH", "/v1/templates/%s?updateMask=checkInCadenceDays" % t["id"],
                {"checkInCadenceDays": 40}, key=ROOT)
        status, again = GW.rest("GET", "/v1/programmes/%s" % p.id, key=key)
        self.assertEqual((status, again["checkInCadenceDays"], again["template"]["version"]),
                         (200, 14, 1))

    def test_idempotency_key_makes_one_programme(self):
        t = create_template("Keyed")
        tenant, key = GW.new_tenant(ROOT, WRITE, prefix="keyed")
        body = {"templateId": t["id"], "name": "Once", "startDate": "2027-03-01"}
        idem = uuid.uuid4().hex
        s1, p1 = GW.rest("POST", "/v1/programmes:fromTemplate", body, key=key, idem=idem)
        s2, p2 = GW.rest("POST", "/v1/programmes:fromTemplate", body, key=key, idem=idem)
        self.assertEqual((s1, s2, p1["id"]), (200, 200, p2["id"]))
        self.assertEqual(db("SELECT count(*) FROM enrolment.programmes WHERE tenant_id = '%s'"
                            % tenant), "1")
        self.assertEqual(db("SELECT count(*) FROM enrolment.scheduled_surveys "
                            "WHERE tenant_id = '%s'" % tenant), "2")

    def test_bad_input_is_refused_and_changes_nothing(self):
        t = create_template("Refusals")
        tenant, key = GW.new_tenant(ROOT, WRITE, prefix="bad")
        before = db("SELECT count(*) FROM enrolment.programme_templates")
        bad = template_body("")
        status, e = GW.rest("POST", "/v1/templates", bad, key=ROOT)
        self.assertEqual(status, 400, e)
        self.assertIn("template.name", [d["field"] for d in e["details"]])
        bad = template_body("Bad survey")
        bad["surveys"][1]["survey"]["questions"] = []
        bad["surveys"][0]["openDay"] = -1
        status, e = GW.rest("POST", "/v1/templates", bad, key=ROOT)
        fields = [d["field"] for d in e["details"]]
        self.assertEqual(status, 400, e)
        self.assertIn("template.surveys[1].survey.questions", fields)
        self.assertIn("template.surveys[0].open_day", fields)
        self.assertEqual(db("SELECT count(*) FROM enrolment.programme_templates"), before)
        status, e = GW.rest("PATCH", "/v1/templates/%s?updateMask=version" % t["id"],
                            {"version": 9}, key=ROOT)
        self.assertEqual((status, e["details"][0]["field"]), (400, "update_mask"))
        status, e = GW.rest("PATCH", "/v1/templates/%s?updateMask=checkInCadenceDays" % t["id"],
                            {"checkInCadenceDays": 400}, key=ROOT)
        self.assertEqual(status, 400, e)
        self.assertEqual(GW.rest("GET", "/v1/templates/%s" % t["id"], key=ROOT)[1]["version"], 1)
        # Surveys open relative to start_date: it is required.
        status, e = GW.rest("POST", "/v1/programmes:fromTemplate",
                            {"templateId": t["id"], "name": "No start"}, key=key)
        self.assertEqual((status, e["details"][0]["field"]), (400, "start_date"))
        status, e = GW.rest("POST", "/v1/programmes:fromTemplate",
                            {"templateId": t["id"], "name": "Bad mask", "startDate": "2027-01-01",
                             "overrides": {"name": "x"}, "updateMask": "name"}, key=key)
        self.assertEqual((status, e["details"][0]["field"]), (400, "update_mask"))
        status, e = GW.rest("POST", "/v1/programmes:fromTemplate",
                            {"templateId": str(uuid.uuid4()), "name": "Nothing",
                             "startDate": "2027-01-01"}, key=key)
        self.assertEqual(status, 404, e)
        status, e = GW.rest("POST", "/v1/programmes:fromTemplate",
                            {"templateId": t["id"], "version": 7, "name": "No such version",
                             "startDate": "2027-01-01"}, key=key)
        self.assertEqual(status, 404, e)
        self.assertEqual(db("SELECT count(*) FROM enrolment.programmes WHERE tenant_id = '%s'"
                            % tenant), "0")

    def test_tenant_keys_are_refused_on_templates(self):
        t = create_template("Platform only")
        _, key = GW.new_tenant(ROOT, ["admin"], prefix="tenantadmin")
        for method, path, body in (("POST", "/v1/templates", template_body()),
                                   ("GET", "/v1/templates", None),
                                   ("GET", "/v1/templates/%s" % t["id"], None),
                                   ("PATCH", "/v1/templates/%s" % t["id"], {"name": "Mine"})):
            status, e = GW.rest(method, path, body, key=key)
            self.assertEqual(status, 403, (method, path, e))
        self.assertEqual(GW.rpc_code("EnrolmentService", "GetProgrammeTemplate",
                                     E.GetProgrammeTemplateRequest(id=t["id"]),
                                     E.ProgrammeTemplate, key),
                         grpc.StatusCode.PERMISSION_DENIED)
        self.assertEqual(GW.rpc_code("EnrolmentService", "ListProgrammeTemplates",
                                     E.ListProgrammeTemplatesRequest(),
                                     E.ListProgrammeTemplatesResponse, key),
                         grpc.StatusCode.PERMISSION_DENIED)
        self.assertEqual(GW.rest("GET", "/v1/templates/%s" % t["id"], key=ROOT)[1]["name"],
                         "Platform only")


if __name__ == "__main__":
    unittest.main()
