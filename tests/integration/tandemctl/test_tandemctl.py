"""tandemctl against the running stack: the gateway, tandem-enrolment (and
tandem-matching and tandem-feedback when built) over real PostgreSQL.

Proves: every command's --json output parses and says what the server holds; the
exit codes scripts rely on (0 ok, 1 API error with the HTTP status and message, 2
usage, 3 connection failure, 4 some rows refused); a CSV import reports each
malformed row by line and field, still enrols the good rows, and exits 4; a large
file goes in chunks and re-importing it upserts; `match run`, `report` and `demo`
either work end to end or, while a service is missing, stop with the failing step
and its HTTP error (the test then skips, saying which).
"""
import json
import os
import re
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request
import uuid

import harness

TANDEMCTL = os.environ.get("TANDEMCTL", os.path.join(harness.BUILD_DIR, "bin", "tandemctl"))
MISSING_SERVICE_MARKERS = ("HTTP 501", "HTTP 503", "HTTP 404 NOT_FOUND: unknown route",
                           "UNIMPLEMENTED", "UNAVAILABLE")


class Tandemctl(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = harness.Stack("ctl")
        # The survey scheduler looks often, so the consultancy demo's day-0 survey opens
        # within a second.
        # The benchmark job runs every second, so the consultancy demo's benchmark comes
        # from a run after the firms' activity without a long wait.
        cls.stack.start("enrolment", extra_env={"TANDEM_SURVEY_SCHEDULER_INTERVAL_MS": "200",
                                                "TANDEM_BENCHMARK_INTERVAL_SECONDS": "1"})
        for svc in ("matching", "feedback"):
            if os.path.exists(os.path.join(harness.BUILD_DIR, "bin", "tandem-" + svc)):
                try:
                    cls.stack.start(svc)
                except RuntimeError:
                    pass  # not ready yet: the tests that need it skip with the reason
        cls.stack.start("gateway", extra_env={"TANDEM_RATE_LIMIT_RPS": "5000",
                                              "TANDEM_RATE_LIMIT_BURST": "5000"}, wait=False)
        cls.url = "http://" + cls.stack.addr("gateway")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                req = urllib.request.Request(cls.url + "/v1/tenants")
                req.add_header("Authorization", "Bearer " + cls.stack.bootstrap_key)
                with urllib.request.urlopen(req, timeout=2) as r:
                    if r.status == 200:
                        break
            except (OSError, urllib.error.HTTPError):
                pass
            time.sleep(0.2)
        cls.tmp = tempfile.TemporaryDirectory()
        cls.tenant = cls.json_ok("tenants", "create", "--name", "Firm A",
                                 "--slug", "firm-a-" + uuid.uuid4().hex[:8])

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()
        cls.tmp.cleanup()

    # ---- helpers ---------------------------------------------------------------------

    @classmethod
    def run_ctl(cls, *args, key=None, tenant=None, url=None, timeout=300):
        env = {k: v for k, v in os.environ.items()
               if k not in ("TANDEM_URL", "TANDEM_KEY", "TANDEM_TENANT")}
        env["TANDEM_URL"] = url or cls.url
        if key != "":
            env["TANDEM_KEY"] = key or cls.stack.bootstrap_key
        if tenant:
            env["TANDEM_TENANT"] = tenant
        return subprocess.run([TANDEMCTL, *args], env=env, capture_output=True, text=True,
                              timeout=timeout)

    @classmethod
    def json_ok(cls, *args, **kw):
        out = cls.run_ctl(*args, "--json", **kw)
        assert out.returncode == 0, (args, out.returncode, out.stderr)
        return json.loads(out.stdout)

    def new_programme(self, name="Reverse 2027"):
        return self.json_ok("programmes", "create", "--name", name, "--kind", "REVERSE",
                            "--status", "ENROLLING", "--objective", "ai-legal-tech=AI and legal tech",
                            "--objective", "inclusion=Inclusion", tenant=self.tenant["id"])

    def write(self, name, text):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    # ---- exit codes and errors -------------------------------------------------------

    def test_help_documents_the_exit_codes(self):
        out = self.run_ctl("--help")
        self.assertEqual(out.returncode, 0)
        for line in ("0  success", "1  API error", "2  usage error", "3  connection failure",
                     "4  partial failure"):
            self.assertIn(line, out.stdout)

    def test_usage_errors_exit_2(self):
        self.assertEqual(self.run_ctl("frobnicate").returncode, 2)
        out = self.run_ctl("tenants", "list", "--colour", "red")
        self.assertEqual(out.returncode, 2)
        self.assertIn("unknown option --colour", out.stderr)
        out = self.run_ctl("tenants", "list", key="")
        self.assertEqual(out.returncode, 2)
        self.assertIn("TANDEM_KEY", out.stderr)
        self.assertEqual(self.run_ctl("participants", "import", "p",
                                      "/nonexistent/file.csv").returncode, 2)

    def test_connection_failure_exits_3(self):
        out = self.run_ctl("tenants", "list", url="http://127.0.0.1:%d" % harness.free_port())
        self.assertEqual(out.returncode, 3, out.stderr)
        self.assertIn("GET /v1/tenants", out.stderr)

    def test_api_error_exits_1_with_status_and_message(self):
        out = self.run_ctl("programmes", "show", str(uuid.uuid4()), tenant=self.tenant["id"])
        self.assertEqual(out.returncode, 1)
        self.assertIn("HTTP 404 NOT_FOUND", out.stderr)
        # A platform key must name its tenant on tenant-scoped routes.
        out = self.run_ctl("programmes", "list")
        self.assertEqual(out.returncode, 1)
        self.assertIn("HTTP 400 INVALID_ARGUMENT", out.stderr)
        self.assertIn("X-Tandem-Tenant", out.stderr)

    # ---- tenants, keys, programmes ---------------------------------------------------

    def test_tenants_create_and_list(self):
        slug = "firm-b-" + uuid.uuid4().hex[:8]
        t = self.json_ok("tenants", "create", "--name", "Firm B", "--slug", slug)
        self.assertEqual(t["slug"], slug)
        listed = self.json_ok("tenants", "list")["tenants"]
        self.assertIn(t["id"], [x["id"] for x in listed])
        text = self.run_ctl("tenants", "list")
        self.assertEqual(text.returncode, 0)
        self.assertIn(slug, text.stdout)
        dup = self.run_ctl("tenants", "create", "--name", "Again", "--slug", slug)
        self.assertEqual(dup.returncode, 1)
        self.assertIn("HTTP 409 ALREADY_EXISTS", dup.stderr)

    def test_keys_create_list_revoke(self):
        tid = self.tenant["id"]
        k = self.json_ok("keys", "create", tid, "--name", "hr-sync",
                         "--scopes", "enrolment:read,enrolment:write")
        self.assertTrue(k["secret"].startswith("tdm_"))
        self.assertEqual(sorted(k["scopes"]), ["enrolment:read", "enrolment:write"])
        listed = self.json_ok("keys", "list", tid)["apiKeys"]
        mine = [x for x in listed if x["id"] == k["id"]]
        self.assertEqual(len(mine), 1)
        self.assertNotIn("secret", mine[0])
        # The new key works on its own (a tenant key needs no --tenant)...
        self.assertEqual(self.run_ctl("programmes", "list", key=k["secret"]).returncode, 0)
        revoked = self.json_ok("keys", "revoke", k["id"])
        self.assertIn("revokeTime", revoked)
        # ...and not after revocation.
        out = self.run_ctl("programmes", "list", key=k["secret"])
        self.assertEqual(out.returncode, 1)
        self.assertIn("HTTP 401", out.stderr)

    def test_programmes_create_list_show_set_status(self):
        p = self.new_programme("Show me")
        self.assertEqual(p["kind"], "REVERSE")
        self.assertEqual([o["key"] for o in p["objectives"]], ["ai-legal-tech", "inclusion"])
        shown = self.json_ok("programmes", "show", p["id"], tenant=self.tenant["id"])
        self.assertEqual(shown["id"], p["id"])
        self.assertEqual(shown["name"], "Show me")
        listed = self.json_ok("programmes", "list", tenant=self.tenant["id"])["programmes"]
        self.assertIn(p["id"], [x["id"] for x in listed])
        text = self.run_ctl("programmes", "show", p["id"], tenant=self.tenant["id"])
        self.assertIn("AI and legal tech", text.stdout)
        moved = self.json_ok("programmes", "set-status", p["id"], "MATCHING",
                             tenant=self.tenant["id"])
        self.assertEqual(moved["status"], "MATCHING")
        back = self.run_ctl("programmes", "set-status", p["id"], "ENROLLING",
                            tenant=self.tenant["id"])
        self.assertEqual(back.returncode, 1, back.stderr)
        self.assertIn("HTTP 400", back.stderr)

    # ---- participants token ----------------------------------------------------------

    def test_participants_token_prints_a_token_that_acts_as_the_person(self):
        p = self.new_programme("Tokens")
        path = self.write("one.csv", "external_id,display_name,role\r\nt1,Tara Token,MENTEE\r\n")
        self.assertEqual(self.run_ctl("participants", "import", p["id"], path,
                                      tenant=self.tenant["id"]).returncode, 0)
        people = self.json_ok("participants", "list", p["id"], tenant=self.tenant["id"])
        pid = people["participants"][0]["id"]
        out = self.run_ctl("participants", "token", pid, "--ttl", "60", tenant=self.tenant["id"])
        self.assertEqual(out.returncode, 0, out.stderr)
        token = out.stdout.strip()
        self.assertTrue(token.startswith("tpt_"), out.stdout)
        self.assertIn("expires", out.stderr)
        me = harness.Api(self.stack, token).call("GET", "/v1/participants/%s" % pid)
        self.assertEqual(me["displayName"], "Tara Token")
        bad = self.run_ctl("participants", "token", pid, "--ttl", "4000", tenant=self.tenant["id"])
        self.assertEqual(bad.returncode, 2, bad.stderr)

    def test_templates_and_programmes_from_a_template(self):
        path = self.write("template.json", json.dumps({
            "name": "Reverse mentoring", "kind": "REVERSE", "checkInCadenceDays": 14,
            "objectives": [{"key": "ai", "title": "AI and legal tech"}],
            "surveys": [{"openDay": 30, "survey": {"title": "Month one", "questions": [
                {"id": "nps", "text": "Recommend?", "kind": "NPS_0_10"}]}}]}))
        t = self.json_ok("templates", "create", "--file", path, "--name", "Reverse for firms")
        self.assertEqual((t["version"], t["name"]), (1, "Reverse for firms"))
        changes = self.write("changes.json", json.dumps({"checkInCadenceDays": 21}))
        t2 = self.json_ok("templates", "update", t["id"], "--file", changes,
                          "--mask", "checkInCadenceDays")
        self.assertEqual((t2["version"], t2["checkInCadenceDays"]), (2, 21))
        v1 = self.json_ok("templates", "show", t["id"], "--version", "1")
        self.assertEqual(v1["checkInCadenceDays"], 14)
        listed = self.json_ok("templates", "list")["templates"]
        self.assertIn((t["id"], 2), [(x["id"], x["version"]) for x in listed])
        text = self.run_ctl("templates", "show", t["id"])
        self.assertEqual(text.returncode, 0, text.stderr)
        self.assertIn("day 30", text.stdout)
        overrides = self.write("overrides.json", json.dumps({"checkInCadenceDays": 7}))
        p = self.json_ok("programmes", "create", "--from-template", t["id"], "--version", "1",
                         "--name", "Firm A reverse", "--start", "2027-01-04",
                         "--overrides", overrides, "--mask", "checkInCadenceDays",
                         tenant=self.tenant["id"])
        self.assertEqual(p["template"], {"id": t["id"], "version": 1})
        self.assertEqual(p["checkInCadenceDays"], 7)
        shown = self.run_ctl("programmes", "show", p["id"], tenant=self.tenant["id"])
        self.assertIn("version 1", shown.stdout)
        missing = self.run_ctl("programmes", "create", "--from-template", t["id"],
                               tenant=self.tenant["id"])
        self.assertEqual(missing.returncode, 2, missing.stderr)
        no_start = self.run_ctl("programmes", "create", "--from-template", t["id"], "--name",
                                "No start", tenant=self.tenant["id"])
        self.assertEqual(no_start.returncode, 1, no_start.stderr)
        self.assertIn("HTTP 400", no_start.stderr)

    # ---- participants import ---------------------------------------------------------

    def test_csv_import_reports_each_bad_row_and_exits_4(self):
        p = self.new_programme("CSV import")
        csv = ("external_id,display_name,role,seniority_level,skills,email,"
               "consent_diversity_data,gender\r\n"
               "a1,\"Okafor, Amara\",MENTOR,1,\"Generative AI:5;Python:3\",,,\r\n"   # 2 ok
               "a2,Oliver Smith,MENTEE,9,Negotiation:4,,,\r\n"                     # 3 ok
               "a3,Priya Patel,BOSS,3,,,,\r\n"                                     # 4 role
               "a4,James Jones,MENTOR,eleven,,,,\r\n"                              # 5 level
               "a5,Chloe \"CJ\" Dubois,MENTOR,1,,,,\r\n"                           # 6 quote
               "a6,Mohammed Khan,MENTOR,2,,not-an-address,,\r\n"                   # 7 server
               "a7,Sophie Williams,MENTEE,8,,,false,Woman\r\n"                     # 8 server
               "a8,Daniel Müller,MENTEE,7,,daniel@firm.example,true,Man\r\n")      # 9 ok
        path = self.write("people.csv", csv)
        out = self.run_ctl("participants", "import", p["id"], path, "--json",
                           tenant=self.tenant["id"])
        self.assertEqual(out.returncode, 4, out.stderr)
        report = json.loads(out.stdout)
        self.assertEqual(report["rows"], 8)
        self.assertEqual(report["enrolled"], 3)
        self.assertEqual(report["refused"], 5)
        by_line = {}
        for e in report["errors"]:
            by_line.setdefault(e["line"], []).append(e)
        self.assertEqual(sorted(by_line), [4, 5, 6, 7, 8])
        self.assertEqual(by_line[4][0]["field"], "role")
        self.assertEqual(by_line[4][0]["source"], "file")
        self.assertEqual(by_line[5][0]["field"], "seniority_level")
        self.assertIn("quote", by_line[6][0]["message"])
        self.assertEqual(by_line[7][0]["source"], "server")
        self.assertEqual(by_line[7][0]["externalId"], "a6")
        self.assertEqual(by_line[8][0]["codeName"], "FAILED_PRECONDITION")
        self.assertIn("line 4 (a3): field role:", out.stderr)
        self.assertIn("line 5 (a4): field seniority_level:", out.stderr)
        listed = self.json_ok("participants", "list", p["id"],
                              tenant=self.tenant["id"])["participants"]
        self.assertEqual(sorted(x["externalId"] for x in listed), ["a1", "a2", "a8"])
        a1 = [x for x in listed if x["externalId"] == "a1"][0]
        self.assertEqual(a1["displayName"], "Okafor, Amara")
        self.assertEqual({s["name"]: s["level"] for s in a1["skills"]},
                         {"Generative AI": 5, "Python": 3})

    def test_csv_with_a_bad_header_is_refused_whole(self):
        p = self.new_programme("Bad header")
        path = self.write("bad.csv", "external_id,display_name,role,shoe_size\nx,y,MENTOR,44\n")
        out = self.run_ctl("participants", "import", p["id"], path, tenant=self.tenant["id"])
        self.assertEqual(out.returncode, 2)
        self.assertIn("line 1: field shoe_size: unknown column", out.stderr)

    def test_generated_json_goes_in_chunks_and_reimport_upserts(self):
        p = self.new_programme("Bulk")
        gen = self.run_ctl("demo", "generate", "--count", "250", "--seed", "5", key="")
        self.assertEqual(gen.returncode, 0, gen.stderr)
        self.assertEqual(len(json.loads(gen.stdout)["participants"]), 250)
        path = self.write("people.json", gen.stdout)
        for _ in range(2):
            report = self.json_ok("participants", "import", p["id"], path, "--chunk", "100",
                                  tenant=self.tenant["id"])
            self.assertEqual((report["rows"], report["enrolled"], report["refused"]),
                             (250, 250, 0))
        listed = self.json_ok("participants", "list", p["id"], tenant=self.tenant["id"])
        self.assertEqual(len(listed["participants"]), 250)
        shown = self.json_ok("programmes", "show", p["id"], tenant=self.tenant["id"])
        self.assertEqual(shown.get("mentorCount", 0) + shown.get("menteeCount", 0), 250)

    def test_import_into_a_missing_programme_is_an_api_error(self):
        path = self.write("one.csv", "external_id,display_name,role\nz,Zoe,MENTOR\n")
        out = self.run_ctl("participants", "import", str(uuid.uuid4()), path,
                           tenant=self.tenant["id"])
        self.assertEqual(out.returncode, 1)
        self.assertIn("HTTP 404 NOT_FOUND", out.stderr)

    # ---- matching, report, demo (while those services land, they may be missing) ----

    def skip_if_service_missing(self, out, what):
        if out.returncode != 0 and any(m in out.stderr for m in MISSING_SERVICE_MARKERS):
            self.skipTest("%s: the service is not there yet (%s)" %
                          (what, out.stderr.strip().splitlines()[0]))

    def test_match_run_and_report(self):
        p = self.new_programme("Matching")
        gen = self.run_ctl("demo", "generate", "--count", "60", "--seed", "11", key="")
        path = self.write("sixty.json", gen.stdout)
        self.json_ok("participants", "import", p["id"], path, tenant=self.tenant["id"])
        out = self.run_ctl("match", "run", p["id"], "--approve", "--json",
                           tenant=self.tenant["id"])
        self.skip_if_service_missing(out, "match run")
        self.assertEqual(out.returncode, 0, out.stderr)
        doc = json.loads(out.stdout)
        self.assertEqual(doc["run"]["status"], "SUCCEEDED")
        self.assertGreater(len(doc["proposals"]), 0)
        for prop in doc["proposals"]:
            self.assertTrue(0 <= prop["score"] <= 100)
        text = self.run_ctl("match", "run", p["id"], "--dry-run", "--scope", "UNMATCHED",
                            tenant=self.tenant["id"])
        self.assertEqual(text.returncode, 0, text.stderr)
        self.assertIn("Matching run", text.stdout)

    def test_demo_consultancy_runs_one_template_at_six_firms(self):
        out = self.run_ctl("demo", "consultancy", "--seed", "7")
        self.skip_if_service_missing(out, "demo consultancy")
        self.assertEqual(out.returncode, 0, out.stderr)
        firms = ("Ashdown Keble LLP", "Brightwater & Co", "Carrow Lind", "Dunmore Vance",
                 "Elsworth Pike", "Fennimore Grey")
        for name in firms:
            self.assertEqual(out.stdout.count(name), 2, (name, out.stdout))  # story and table
        self.assertIn("open at 6 of 6 firms", out.stdout)
        tpl_id = re.search(r"template ([0-9a-f-]{36}), version 1", out.stdout).group(1)
        with open(os.path.join(self.tmp.name, "consultancy.txt"), "w") as f:
            f.write(out.stdout)
        self.assertIn("Mean rating", out.stdout)
        # Six programmes in six tenants, each recording the template's version 1.
        tenants = self.json_ok("tenants", "list")["tenants"]
        made = [t for t in tenants if t["name"] in firms]
        self.assertEqual(len(made), 6)
        for t in made:
            progs = self.json_ok("programmes", "list", tenant=t["id"])["programmes"]
            self.assertEqual([p["template"] for p in progs], [{"id": tpl_id, "version": 1}])
        # The demo ends with the template's benchmark across the six firms, computed by
        # the job after their activity (published: six tenants, at least five needed).
        self.assertIn("Benchmark of template %s" % tpl_id, out.stdout)
        self.assertIn("Published: 6 tenants, 6 programmes", out.stdout)
        self.assertNotIn("has not run since", out.stdout)
        bench = self.json_ok("benchmark", tpl_id)
        self.assertEqual((bench["published"], bench["contributingTenants"]), (True, 6))
        self.assertIn("asOf", bench)
        # Participants: the mean of the six firms' enrolled people (36 to 220 each).
        self.assertTrue(36 <= bench["figures"]["participants"] <= 220, bench)
        # A firm's own programme beside it (a platform key acting for the firm).
        firm = made[0]
        prog = self.json_ok("programmes", "list", tenant=firm["id"])["programmes"][0]
        mine = self.json_ok("benchmark", prog["id"], tenant=firm["id"])
        self.assertEqual(mine["programmeId"], prog["id"])
        self.assertEqual(mine["benchmark"]["figures"], bench["figures"])
        self.assertIn("participants", mine["programme"])
        text = self.run_ctl("benchmark", prog["id"], tenant=firm["id"])
        self.assertEqual(text.returncode, 0, text.stderr)
        self.assertIn("This programme", text.stdout)
        missing = self.run_ctl("benchmark", str(uuid.uuid4()))
        self.assertEqual(missing.returncode, 1, missing.stdout)

    def test_report(self):
        p = self.new_programme("Report")
        gen = self.run_ctl("demo", "generate", "--count", "40", "--seed", "12", key="")
        path = self.write("forty.json", gen.stdout)
        self.json_ok("participants", "import", p["id"], path, tenant=self.tenant["id"])
        rep = self.run_ctl("report", p["id"], "--json", tenant=self.tenant["id"])
        self.skip_if_service_missing(rep, "report")
        self.assertEqual(rep.returncode, 0, rep.stderr)
        report = json.loads(rep.stdout)
        self.assertEqual(report.get("enrolledMentors", 0) + report.get("enrolledMentees", 0), 40)
        text = self.run_ctl("report", p["id"], tenant=self.tenant["id"])
        self.assertEqual(text.returncode, 0, text.stderr)
        self.assertIn("Enrolled mentors", text.stdout)
        missing = self.run_ctl("report", str(uuid.uuid4()), tenant=self.tenant["id"])
        self.assertEqual(missing.returncode, 1)
        self.assertIn("HTTP 404", missing.stderr)

    def test_demo_tells_the_whole_story_or_names_the_failing_step(self):
        out = self.run_ctl("demo", "--count", "80", "--seed", "3", "--json", timeout=600)
        if out.returncode != 0:
            # Never fake output: a missing service stops the demo at a named step with
            # the HTTP error, and nothing is printed on stdout as if it had worked.
            self.assertEqual(out.returncode, 1, out.stderr)
            self.assertRegex(out.stderr, r"tandemctl demo: step \d+ of \d+ \(.+\) failed")
            self.assertRegex(out.stderr, r"(POST|GET|PATCH) /v1/\S+: HTTP \d{3}")
            self.assertEqual(out.stdout, "")
            self.skip_if_service_missing(out, "demo")
            self.fail("demo failed: " + out.stderr)
        doc = json.loads(out.stdout)
        self.assertEqual(doc["enrolled"], 80)
        self.assertEqual(doc["refused"], 0)
        self.assertEqual(doc["matchingRun"]["status"], "SUCCEEDED")
        self.assertGreater(doc["checkIns"], 0)
        self.assertIn("report", doc)


if __name__ == "__main__":
    unittest.main()
