"""Deprovisioning benchmark (issue #17's "within a second"): how long after a person is
withdrawn their ACTIVE match ends and the match.ended webhook reaches the HR
platform, when the withdrawal comes from SCIM (PATCH active "False", as Entra ID
sends it) - and, as the baseline in the same run, from the REST WithdrawParticipant
call that existed before the directory.

One programme with BENCH_PAIRS mentors and mentees, all directory people, matched
(OPTIMAL), approved and accepted, so every pair is ACTIVE. Then, one person at a
time, alternately through the baseline and through SCIM, a mentor is withdrawn; the
script waits for the match.ended webhook before the next. Each latency is measured on
the services' clocks: from the participant's withdrawTime (PostgreSQL's now() in the
withdrawal's transaction) to the match's endTime (the same in matching's transaction)
and to the webhook's arrival at a receiver on this machine (wall clock).

Run from the repository with a built tree and a PostgreSQL superuser URL:
    TANDEM_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
    TANDEM_BUILD_DIR=build/release /usr/bin/python3 tools/bench/scim/bench_deprovision.py
BENCH_PAIRS (default 20) sets the pairs. Use a Release build: the sanitizers of
build/test make every figure several times slower.
"""
import calendar
import json
import os
import statistics
import sys
import time
import urllib.error
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "integration"))
import harness  # noqa: E402

PAIRS = int(os.environ.get("BENCH_PAIRS", "20"))
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
TANDEM = "urn:tandem:params:scim:schemas:extension:2.0:Person"


def rfc3339(text):
    whole, _, frac = text.rstrip("Z").partition(".")
    return calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + (
        float("0." + frac) if frac else 0.0)


class Client:
    def __init__(self, stack, key):
        self.base = "http://%s" % stack.addr("gateway")
        self.key = key

    def call(self, method, path, body=None, expect=(200, 201)):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.key)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        if status not in expect:
            raise SystemExit("%s %s -> %s %s" % (method, path, status, raw[:300]))
        return json.loads(raw) if raw else None


def wait_for(pred, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.005)
    raise SystemExit("timed out")


def summary(name, xs):
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]
    return "%-34s n=%-3d median %.3f s  p95 %.3f s  max %.3f s" % (
        name, len(xs), statistics.median(xs), p95, xs[-1])


def main():
    load_start = os.getloadavg()
    stack = harness.Stack("benchscim")
    receiver = harness.WebhookReceiver()
    try:
        stack.start_all({"gateway": {"TANDEM_WEBHOOK_SECRET_KEY": "k" * 32,
                                     "TANDEM_RATE_LIMIT_RPS": "100000",
                                     "TANDEM_RATE_LIMIT_BURST": "100000"}})
        platform = Client(stack, stack.bootstrap_key)
        tenant = platform.call("POST", "/v1/tenants", {"name": "bench",
                                                       "slug": "bench-" + uuid.uuid4().hex[:8]})

        def key(scopes):
            return Client(stack, platform.call("POST", "/v1/tenants/%s/apiKeys" % tenant["id"], {
                "displayName": "bench", "scopes": scopes, "kind": "TENANT"})["secret"])

        scim, hr = key(["scim"]), key(["admin"])
        hr.call("POST", "/v1/webhooks", {"url": receiver.url("/hooks"), "events": ["match.ended"]})
        users, parts = {}, {}
        prog = hr.call("POST", "/v1/programmes", {"name": "bench", "kind": "REVERSE",
                                                  "status": "ENROLLING"})
        for i in range(PAIRS):
            for role, level in (("MENTOR", 1), ("MENTEE", 8)):
                ext = "%s-%d" % (role, i)
                users[ext] = scim.call("POST", "/scim/v2/Users", {
                    "userName": ext + "@bench.example", "externalId": ext,
                    TANDEM: {"seniorityLevel": level}}, expect=(201,))
                parts[ext] = hr.call("POST", "/v1/programmes/%s/participants" % prog["id"], {
                    "externalId": ext, "displayName": ext, "role": role})
        hr.call("PATCH", "/v1/programmes/%s?updateMask=status" % prog["id"], {"status": "MATCHING"})
        run = hr.call("POST", "/v1/programmes/%s/matchingRuns" % prog["id"],
                      {"algorithm": "OPTIMAL"})
        wait_for(lambda: hr.call("GET", "/v1/matchingRuns/%s" % run["id"])["status"]
                 not in ("QUEUED", "RUNNING"))
        hr.call("POST", "/v1/matchingRuns/%s:approve" % run["id"], {})
        matches = hr.call("GET", "/v1/programmes/%s/matches?pageSize=500" % prog["id"])["matches"]
        if len(matches) != PAIRS:
            raise SystemExit("expected %d matches, got %d" % (PAIRS, len(matches)))
        by_mentor = {}
        for m in matches:
            for side in (m["mentorId"], m["menteeId"]):
                hr.call("POST", "/v1/matches/%s:respond" % m["id"],
                        {"participantId": side, "accept": True})
            by_mentor[m["mentorId"]] = m["id"]

        results = {"baseline": ([], []), "scim": ([], [])}
        for i in range(PAIRS):
            ext = "MENTOR-%d" % i
            part = parts[ext]
            kind = "baseline" if i % 2 == 0 else "scim"
            if kind == "baseline":
                hr.call("POST", "/v1/participants/%s:withdraw" % part["id"], {"reason": "left"})
            else:
                scim.call("PATCH", "/scim/v2/Users/%s" % users[ext]["id"], {
                    "schemas": [PATCH_OP],
                    "Operations": [{"op": "Replace", "path": "active", "value": "False"}]})
            withdrawn = rfc3339(hr.call("GET", "/v1/participants/%s" % part["id"])["withdrawTime"])
            match_id = by_mentor[part["id"]]
            hook = wait_for(lambda: [r for r in receiver.at("/hooks")
                                     if match_id.encode() in r["body"]])[0]
            match = hr.call("GET", "/v1/matches/%s" % match_id)
            results[kind][0].append(rfc3339(match["endTime"]) - withdrawn)
            results[kind][1].append(hook["wall_time"] - withdrawn)
        load_end = os.getloadavg()
        print("pairs %d, build %s, load (1 min) %.2f -> %.2f" % (
            PAIRS, harness.BUILD_DIR, load_start[0], load_end[0]))
        for kind, label in (("baseline", "REST WithdrawParticipant"),
                            ("scim", "SCIM PATCH active \"False\"")):
            print(summary(label + ": match ended", results[kind][0]))
            print(summary(label + ": webhook arrived", results[kind][1]))
    finally:
        stack.close()
        receiver.close()


if __name__ == "__main__":
    main()
