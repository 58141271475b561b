"""Usage per tenant and month (issue #18; API.md "Programme templates, benchmarks and
usage"; docs/operations.md "Usage") through the gateway, against real PostgreSQL and
the four real services.

Proves: the counts of GetTenantUsage and ListUsage are those of the activity the test
generated - participants enrolled two months ago, one withdrawn last month (active in
both months, not in this one), one enrolled last month; matches made active and
check-ins recorded this month; API calls by scope, every one the test made for the
tenant - over REST and gRPC; the API-call counts held in memory reach the database on
SIGTERM and survive the gateway's restart; a flush the database refuses keeps its
counts for the next; two gateway replicas' counts add up;
erasing a person later leaves the months they were active in as they were; a tenant
key sees its own usage only (another tenant's is NOT_FOUND, ListUsage
PERMISSION_DENIED); a bad or future month is INVALID_ARGUMENT naming `month`; each
owning service answers its counts to its own read scope only; ListUsage pages;
`tandemctl usage --csv` writes the RFC 4180 CSV of every tenant.

The months are made with the session setting tandem.usage_clock_offset_s, given to
tandem-enrolment in its connection string (options=-c ...): enrolment is restarted
with its clock two months back, then one month back, then as it is.
"""
import collections
import csv
import datetime
import io
import os
import subprocess
import sys
import unittest
import urllib.parse
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402
from gateway_client import Gateway  # noqa: E402

import grpc  # noqa: E402
from tandem.internal.v1 import usage_pb2 as U  # noqa: E402
from tandem.v1 import tenant_pb2 as T  # noqa: E402

STACK = None
GW = None
ROOT = None
SCOPES = ["enrolment:read", "enrolment:write", "matching:read", "matching:write",
          "feedback:read", "feedback:write"]


def month_of(dt):
    return "%04d-%02d" % (dt.year, dt.month)


def months_back(n):
    """(the month n months before the current one (UTC) as "YYYY-MM", seconds from now
    to the middle of that month)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    y, m = now.year, now.month - n
    while m < 1:
        y, m = y - 1, m + 12
    mid = datetime.datetime(y, m, 15, 12, tzinfo=datetime.timezone.utc)
    return "%04d-%02d" % (y, m), int((mid - now).total_seconds())


def month_after(month):
    y, m = map(int, month.split("-"))
    return "%04d-%02d" % (y + m // 12, m % 12 + 1)


def restart_enrolment(offset_s):
    """tandem-enrolment again, its usage clock offset_s seconds from now."""
    STACK.stop("enrolment")
    url = STACK.url("tandem_enrolment")
    sep = "&" if "?" in url else "?"
    url += sep + "options=" + urllib.parse.quote("-c tandem.usage_clock_offset_s=%d" % offset_s)
    STACK.start("enrolment", extra_env={"TANDEM_DATABASE_URL": url})
    harness.wait_until("the gateway reaches enrolment again",
                       lambda: GW.rest("GET", "/v1/programmes?pageSize=1", key=ROOT,
                                       tenant=SPARE)[0] == 200)


GATEWAY_ENV = {"TANDEM_RATE_LIMIT_RPS": "10000", "TANDEM_RATE_LIMIT_BURST": "10000",
               "TANDEM_USAGE_FLUSH_MS": "200"}


def restart_gateway(flush_ms):
    """A new tandem-gateway (after SIGTERM, which must end it cleanly) that flushes its
    API-call counts every flush_ms."""
    assert STACK.stop("gateway") == 0
    STACK.start("gateway", extra_env=dict(GATEWAY_ENV, TANDEM_USAGE_FLUSH_MS=str(flush_ms)))
    GW.wait_up(ROOT)


SPARE = None  # a tenant the probe above reads, so its calls count for no tenant under test


def setUpModule():
    global STACK, GW, ROOT, SPARE
    STACK = harness.Stack("usage")
    STACK.start_all(extra_env={"gateway": GATEWAY_ENV})
    GW = Gateway(STACK)
    ROOT = STACK.bootstrap_key
    GW.wait_up(ROOT)
    SPARE, _ = GW.new_tenant(ROOT, ["enrolment:read"], prefix="spare")


def tearDownModule():
    if STACK is not None:
        STACK.close()


class Caller:
    """A tenant key's REST calls, each tallied under the scope its route needs."""

    def __init__(self, key):
        self.key = key
        self.calls = collections.Counter()

    def __call__(self, scope, method, path, body=None, expect=200):
        status, doc = GW.rest(method, path, body, key=self.key)
        self.calls[scope] += 1
        assert status == expect, (method, path, status, doc)
        return doc


def usage(tenant_id, month, key=None):
    status, doc = GW.rest("GET", "/v1/tenants/%s/usage?month=%s" % (tenant_id, month),
                          key=key or ROOT)
    assert status == 200, (status, doc)
    return doc


def figures(doc):
    """(participants, matches, check-ins, API calls) of a TenantUsage document."""
    return (int(doc.get("activeParticipants", "0")), int(doc.get("activeMatches", "0")),
            int(doc.get("checkIns", "0")), int(doc.get("apiCalls", "0")))


def by_scope(doc):
    return {c["scope"]: int(c["count"]) for c in doc.get("apiCallsByScope", [])}


def usage_counts(svc, tenant, month, scopes):
    """tandem.internal.v1.UsageService/GetUsageCounts of one service, called directly
    with a request context of the tenant and scopes."""
    ch = STACK.channel(svc)
    try:
        fn = ch.unary_unary("/tandem.internal.v1.UsageService/GetUsageCounts",
                            request_serializer=lambda m: m.SerializeToString(),
                            response_deserializer=U.UsageCounts.FromString)
        return fn(U.GetUsageCountsRequest(month=month),
                  metadata=harness.Stack.context(tenant, scopes=scopes), timeout=30)
    finally:
        ch.close()


def person(ext, role, seniority):
    return {"externalId": ext, "displayName": ext, "role": role, "seniorityLevel": seniority,
            "capacity": 1 if role == "MENTOR" else 0, "office": "London",
            "languages": ["en"], "interests": ["AI"]}


class UsageTest(unittest.TestCase):
    def test_usage_of_the_months(self):
        two_ago, offset2 = months_back(2)
        one_ago, offset1 = months_back(1)
        this, _ = months_back(0)
        # A flush interval longer than the test: the API calls stay in the gateway's
        # memory until it stops, and SIGTERM must write them.
        restart_gateway(600000)
        slug = "firm-%s" % uuid.uuid4().hex[:8]
        status, tenant = GW.rest("POST", "/v1/tenants", {"name": "Firm", "slug": slug}, key=ROOT)
        self.assertEqual(status, 200, tenant)
        tid = tenant["id"]
        status, k = GW.rest("POST", "/v1/tenants/%s/apiKeys" % tid,
                            {"displayName": "hr", "scopes": SCOPES, "kind": "TENANT"}, key=ROOT)
        self.assertEqual(status, 200, k)
        call = Caller(k["secret"])

        # Two months ago: a programme and four people.
        restart_enrolment(offset2)
        prog = call("enrolment:write", "POST", "/v1/programmes",
                    {"name": "Reverse", "kind": "REVERSE", "status": "ENROLLING",
                     "checkInCadenceDays": 14})
        rows = [person("mentor-0", "MENTOR", 1), person("mentor-1", "MENTOR", 1),
                person("mentee-0", "MENTEE", 9), person("mentee-1", "MENTEE", 9)]
        res = call("enrolment:write", "POST",
                   "/v1/programmes/%s/participants:batchEnrol" % prog["id"],
                   {"participants": rows})["results"]
        people = {r["participant"]["externalId"]: r["participant"]["id"] for r in res}
        self.assertEqual(len(people), 4, res)

        # Last month: mentee-1 withdraws (mid-month), mentee-2 joins.
        restart_enrolment(offset1)
        call("enrolment:write", "POST", "/v1/participants/%s:withdraw" % people["mentee-1"],
             {"reason": "moved firm"})
        late = call("enrolment:write", "POST", "/v1/programmes/%s/participants" % prog["id"],
                    person("mentee-2", "MENTEE", 8))
        people["mentee-2"] = late["id"]

        # This month: matching, both sides accept, two check-ins on one match.
        restart_enrolment(0)
        run = call("matching:write", "POST", "/v1/programmes/%s/matchingRuns" % prog["id"],
                   {"algorithm": "OPTIMAL"})

        def finished():
            r = call("matching:read", "GET", "/v1/matchingRuns/%s" % run["id"])
            return r if r.get("status") in ("SUCCEEDED", "FAILED") else None
        run = harness.wait_until("the matching run", finished)
        self.assertEqual(run["status"], "SUCCEEDED", run)
        call("matching:write", "POST", "/v1/matchingRuns/%s:approve" % run["id"], {})
        matches = call("matching:read", "GET",
                       "/v1/programmes/%s/matches" % prog["id"])["matches"]
        self.assertEqual(len(matches), 2, matches)
        for m in matches:
            for side in (m["mentorId"], m["menteeId"]):
                call("matching:write", "POST", "/v1/matches/%s:respond" % m["id"],
                     {"participantId": side, "accept": True})
        m = matches[0]
        now = (datetime.datetime.now(datetime.timezone.utc) -
               datetime.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        for rating in (4, 5):
            call("feedback:write", "POST", "/v1/matches/%s/checkIns" % m["id"],
                 {"participantId": m["menteeId"], "occurredTime": now, "rating": rating})

        # The services' counts are durable at once; the API calls are in the gateway's
        # memory (a 60 s flush interval) until it stops: SIGTERM writes them.
        self.assertEqual(figures(usage(tid, two_ago))[:3], (4, 0, 0))
        self.assertEqual(figures(usage(tid, one_ago))[:3], (5, 0, 0))
        self.assertEqual(figures(usage(tid, this)), (4, 2, 2, 0))
        restart_gateway(200)

        got = usage(tid, this)
        self.assertEqual(figures(got), (4, 2, 2, sum(call.calls.values())))
        self.assertEqual(by_scope(got), dict(call.calls))
        self.assertEqual((got["tenantId"], got["tenantSlug"], got["tenantName"], got["month"]),
                         (tid, slug, "Firm", this))
        # Earlier months: no API call then (the gateway's clock is not moved).
        self.assertEqual(figures(usage(tid, two_ago)), (4, 0, 0, 0))
        self.assertEqual(figures(usage(tid, one_ago)), (5, 0, 0, 0))

        # Erasing a person later does not rewrite the months they were active in.
        status, _ = GW.rest("POST", "/v1/people/mentee-1:erase", {}, key=ROOT, tenant=tid)
        self.assertEqual(status, 200)
        self.assertEqual(figures(usage(tid, one_ago))[:3], (5, 0, 0))

        # The same over gRPC, with the tenant's own key (any scope suffices).
        u = GW.rpc("TenantService", "GetTenantUsage",
                   T.GetTenantUsageRequest(tenant_id=tid, month=one_ago), T.TenantUsage,
                   key=k["secret"])
        self.assertEqual((u.active_participants, u.active_matches, u.check_ins), (5, 0, 0))

        # And in ListUsage, among every tenant.
        status, page = GW.rest("GET", "/v1/usage?month=%s&pageSize=500" % this, key=ROOT)
        self.assertEqual(status, 200, page)
        mine = [x for x in page["usage"] if x["tenantId"] == tid]
        self.assertEqual(len(mine), 1)
        self.assertEqual(figures(mine[0])[:3], (4, 2, 2))

    def test_api_calls_are_flushed_while_running(self):
        tid, key = GW.new_tenant(ROOT, ["feedback:read"], prefix="calls")
        this, _ = months_back(0)
        for _ in range(3):
            status, _ = GW.rest("GET", "/v1/programmes/%s/report" % uuid.uuid4(), key=key)
            self.assertNotIn(status, (401, 403, 429))
        status, _ = GW.rest("GET", "/v1/programmes", key=key)  # enrolment:read: refused,
        self.assertEqual(status, 403)                        # so not counted
        harness.wait_until("the calls counted", lambda: by_scope(usage(tid, this)) ==
                           {"feedback:read": 3})

    def test_a_failed_flush_keeps_its_counts(self):
        # The gateway may not write its table for a while (here: its grant taken away,
        # as a database that refuses writes would): the counts wait in memory and are
        # all written once it may again.
        tid, key = GW.new_tenant(ROOT, ["enrolment:read"], prefix="outage")
        this, _ = months_back(0)
        log = STACK.logs["gateway"]
        seen = os.path.getsize(log)
        harness.psql(STACK.super_url,
                     "REVOKE INSERT, UPDATE ON gateway.usage_api_calls FROM tandem_gateway")
        try:
            for _ in range(5):
                status, _ = GW.rest("GET", "/v1/participants/%s" % uuid.uuid4(), key=key)
                self.assertNotIn(status, (401, 403, 429))

            def refused():
                with open(log, "rb") as f:
                    f.seek(seen)
                    return b"could not record API usage" in f.read()
            harness.wait_until("a flush refused", refused)
            self.assertEqual(by_scope(usage(tid, this)), {})
        finally:
            harness.psql(STACK.super_url,
                         "GRANT INSERT, UPDATE ON gateway.usage_api_calls TO tandem_gateway")
        harness.wait_until("the kept counts written",
                           lambda: by_scope(usage(tid, this)) == {"enrolment:read": 5})

    def test_two_gateway_replicas_add_up(self):
        # Each replica counts what it admitted and adds it to the same rows: the month
        # holds the sum, neither replica's count overwrites the other's.
        tid, key = GW.new_tenant(ROOT, ["matching:read"], prefix="replicas")
        this, _ = months_back(0)
        STACK.start("gateway", extra_env=GATEWAY_ENV, name="gateway-2")
        try:
            for addr, n in ((STACK.addr("gateway"), 3), (STACK.addr("gateway-2"), 4)):
                for _ in range(n):
                    status, _ = harness.rest(addr, "GET", "/v1/matches/%s" % uuid.uuid4(),
                                             key=key)
                    self.assertNotIn(status, (401, 403, 429))
            harness.wait_until("both replicas' calls counted",
                               lambda: by_scope(usage(tid, this)) == {"matching:read": 7})
        finally:
            self.assertEqual(STACK.stop("gateway-2"), 0)
        self.assertEqual(by_scope(usage(tid, this)), {"matching:read": 7})

    def test_a_tenant_key_sees_its_own_usage_only(self):
        a, key_a = GW.new_tenant(ROOT, ["enrolment:read"], prefix="own")
        b, _ = GW.new_tenant(ROOT, ["enrolment:read"], prefix="other")
        this, _ = months_back(0)
        status, doc = GW.rest("GET", "/v1/tenants/%s/usage?month=%s" % (a, this), key=key_a)
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["tenantId"], a)
        status, doc = GW.rest("GET", "/v1/tenants/%s/usage?month=%s" % (b, this), key=key_a)
        self.assertEqual(status, 404, doc)
        status, doc = GW.rest("GET", "/v1/usage?month=%s" % this, key=key_a)
        self.assertEqual(status, 403, doc)
        self.assertEqual(GW.rpc_code("TenantService", "ListUsage",
                                     T.ListUsageRequest(month=this), T.ListUsageResponse,
                                     key=key_a), grpc.StatusCode.PERMISSION_DENIED)
        self.assertEqual(GW.rpc_code("TenantService", "GetTenantUsage",
                                     T.GetTenantUsageRequest(tenant_id=b, month=this),
                                     T.TenantUsage, key=key_a), grpc.StatusCode.NOT_FOUND)
        status, doc = GW.rest("GET", "/v1/tenants/%s/usage?month=%s" % (uuid.uuid4(), this),
                              key=ROOT)
        self.assertEqual(status, 404, doc)

    def test_a_bad_month_is_refused_naming_it(self):
        this, _ = months_back(0)
        future = month_after(this)
        for month in ("2027-13", "2027-1", "27-01", "", "2027-01-01", "1999-12", future):
            for path in ("/v1/usage?month=%s" % month,
                         "/v1/tenants/%s/usage?month=%s" % (SPARE, month)):
                status, doc = GW.rest("GET", path, key=ROOT)
                self.assertEqual(status, 400, (path, doc))
                self.assertEqual([d["field"] for d in doc.get("details", [])], ["month"],
                                 (path, doc))
        status, doc = GW.rest("GET", "/v1/usage?month=%s" % future, key=ROOT)
        self.assertIn("after the current month", doc["details"][0]["description"])

    def test_each_service_answers_its_counts_to_its_read_scope_only(self):
        # The gateway asks each owner with that owner's read scope alone; any other
        # scope is refused by the service itself, and so is a malformed month.
        this, _ = months_back(0)
        tenant = str(uuid.uuid4())
        owners = [("enrolment", 0x02, "active_participants"),
                  ("matching", 0x08, "active_matches"),
                  ("feedback", 0x20, "check_ins")]
        for svc, scope, metric in owners:
            got = usage_counts(svc, tenant, this, scope)
            self.assertEqual([(c.metric, c.count) for c in got.counts], [(metric, 0)])
            for other in (0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80):
                if other == scope:
                    continue
                with self.assertRaises(grpc.RpcError) as e:
                    usage_counts(svc, tenant, this, other)
                self.assertEqual(e.exception.code(), grpc.StatusCode.PERMISSION_DENIED, svc)
            with self.assertRaises(grpc.RpcError) as e:
                usage_counts(svc, tenant, "2027-1", scope)
            self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT, svc)

    def test_list_usage_pages_every_tenant_once(self):
        for _ in range(3):
            GW.new_tenant(ROOT, ["enrolment:read"], prefix="page")
        this, _ = months_back(0)
        status, tenants = GW.rest("GET", "/v1/tenants?pageSize=500", key=ROOT)
        self.assertEqual(status, 200)
        seen, token = [], ""
        while True:
            status, page = GW.rest("GET", "/v1/usage?month=%s&pageSize=2&pageToken=%s"
                                   % (this, token), key=ROOT)
            self.assertEqual(status, 200, page)
            self.assertLessEqual(len(page["usage"]), 2)
            seen += [u["tenantId"] for u in page["usage"]]
            token = page.get("nextPageToken", "")
            if not token:
                break
        self.assertEqual(seen, [t["id"] for t in tenants["tenants"]])

    def test_tandemctl_usage_csv(self):
        name = 'Smith, "Jones" & Co'
        slug = "csv-%s" % uuid.uuid4().hex[:8]
        status, t = GW.rest("POST", "/v1/tenants", {"name": name, "slug": slug}, key=ROOT)
        self.assertEqual(status, 200, t)
        this, _ = months_back(0)
        ctl = os.path.join(harness.BUILD_DIR, "bin", "tandemctl")
        out = subprocess.run([ctl, "--url", "http://" + STACK.addr("gateway"), "--key", ROOT,
                              "usage", "--month", this, "--csv"],
                             capture_output=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        text = out.stdout.decode()
        self.assertTrue(text.endswith("\r\n") and "\n" not in text.replace("\r\n", ""), text)
        rows = list(csv.reader(io.StringIO(text, newline="")))
        self.assertEqual(rows[0], [
            "month", "tenant_id", "tenant_slug", "tenant_name", "active_participants",
            "active_matches", "check_ins", "api_calls", "api_calls_admin",
            "api_calls_enrolment_read", "api_calls_enrolment_write", "api_calls_matching_read",
            "api_calls_matching_write", "api_calls_feedback_read", "api_calls_feedback_write",
            "api_calls_scim", "api_calls_any"])
        status, listed = GW.rest("GET", "/v1/usage?month=%s&pageSize=500" % this, key=ROOT)
        self.assertEqual([r[1] for r in rows[1:]], [u["tenantId"] for u in listed["usage"]])
        mine = [r for r in rows[1:] if r[1] == t["id"]]
        self.assertEqual(mine, [[this, t["id"], slug, name] + ["0"] * 13])
        for r, u in zip(rows[1:], listed["usage"]):
            self.assertEqual([int(x) for x in r[4:8]], list(figures(u)))
            scopes = by_scope(u)
            self.assertEqual(sum(int(x) for x in r[8:]), sum(scopes.values()))
        # One tenant, by id.
        out = subprocess.run([ctl, "--url", "http://" + STACK.addr("gateway"), "--key", ROOT,
                              "usage", "--month", this, "--tenant", t["id"], "--csv"],
                             capture_output=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        rows = list(csv.reader(io.StringIO(out.stdout.decode(), newline="")))
        self.assertEqual(len(rows), 2)
        self.assertEqual(rows[1][:4], [this, t["id"], slug, name])
        # A bad month: the server's refusal, exit 1.
        out = subprocess.run([ctl, "--url", "http://" + STACK.addr("gateway"), "--key", ROOT,
                              "usage", "--month", "2027-13", "--csv"],
                             capture_output=True, timeout=120)
        self.assertEqual(out.returncode, 1)
        self.assertIn("month", out.stderr.decode())


if __name__ == "__main__":
    unittest.main()
