#!/usr/bin/python3
"""tools/bench/soak/setup.py - after `tandemctl demo --json` has told the story of one
programme (tenant, 300 generated lawyers, OPTIMAL matching approved, check-ins, survey,
report), prepare what the soak's wrk mix needs:

  - a tenant key with every scope and its rate limit out of the way,
  - a second, ENROLLING "intake" programme that the mix's enrolments go to (so the
    demo programme, which is re-matched during the soak, keeps its 300 people),
  - the ids the mix uses (participants, mentor/mentee pairs, matches),

and write them as a Lua table file (data.lua) that mix.lua loads.

  setup.py GATEWAY_ADDR PLATFORM_KEY DEMO_SUMMARY_JSON OUT_DIR
"""
import json
import sys
import time
import urllib.error
import urllib.request

GATEWAY, PLATFORM_KEY, SUMMARY, OUT = sys.argv[1:5]


def call(method, path, body=None, key=PLATFORM_KEY, tenant=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://%s%s" % (GATEWAY, path), data=data, method=method)
    req.add_header("Authorization", "Bearer " + key)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if tenant:
        req.add_header("X-Tandem-Tenant", tenant)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def must(status_body, what):
    status, body = status_body
    if status != 200:
        sys.exit("soak setup: %s failed: %s %s" % (what, status, body))
    return body


summary = json.load(open(SUMMARY))
tenant = summary["tenant"]["id"]
prog = summary["programme"]["id"]
key = must(call("POST", "/v1/tenants/%s/apiKeys" % tenant, {
    "displayName": "soak", "kind": "TENANT",
    "scopes": ["enrolment:read", "enrolment:write", "matching:read", "matching:write",
               "feedback:read", "feedback:write"],
    "rateLimit": {"requestsPerSecond": 1000000, "burst": 1000000}}), "create key")["secret"]
intake = must(call("POST", "/v1/programmes", {
    "name": "Autumn intake (soak enrolments)", "kind": "REVERSE", "status": "ENROLLING",
    "objectives": [{"key": "ai", "title": "AI and legal tech"}]}, key=key), "create intake")["id"]

people, token = [], ""
while True:
    page = must(call("GET", "/v1/programmes/%s/participants?pageSize=500&pageToken=%s"
                     % (prog, token), key=key), "list participants")
    people += page.get("participants", [])
    token = page.get("nextPageToken", "")
    if not token:
        break
matches = must(call("GET", "/v1/programmes/%s/matches?pageSize=500" % prog, key=key),
               "list matches").get("matches", [])
mentors = [p["id"] for p in people if p.get("role") == "MENTOR"]
mentees = [p["id"] for p in people if p.get("role") == "MENTEE"]
live = [m for m in matches if m.get("status") in ("ACTIVE", "ACCEPTED", "PROPOSED")]


def lua_list(xs):
    return "{" + ",".join(json.dumps(x) for x in xs) + "}"


# A check-in's occurredTime: yesterday (never in the future, well within 365 days).
occurred = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 86400))
with open("%s/data.lua" % OUT, "w") as f:
    f.write("return {\n")
    f.write("  key = %s,\n  programme = %s,\n  intake = %s,\n  occurred = %s,\n" % (
        json.dumps(key), json.dumps(prog), json.dumps(intake), json.dumps(occurred)))
    f.write("  participants = %s,\n" % lua_list([p["id"] for p in people]))
    f.write("  mentors = %s,\n  mentees = %s,\n" % (lua_list(mentors), lua_list(mentees)))
    f.write("  matches = %s,\n" % lua_list([m["id"] for m in live]))
    f.write("  match_mentors = %s,\n" % lua_list([m["mentorId"] for m in live]))
    f.write("}\n")
with open("%s/setup.env" % OUT, "w") as f:
    f.write("SOAK_KEY=%s\nSOAK_PROGRAMME=%s\nSOAK_INTAKE=%s\nSOAK_TENANT=%s\n" %
            (key, prog, intake, tenant))
print("soak setup: %d participants (%d mentors, %d mentees), %d matches, intake %s" %
      (len(people), len(mentors), len(mentees), len(live), intake))
