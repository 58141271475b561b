"""What the privacy_data tests share: a REST client of the gateway, a tenant with an
admin key and keys of narrower scopes, and a programme whose people are matched
(REVERSE, one run approved, both sides accepting), all through the public API."""
import time
import uuid

import harness


Api = harness.Api


def start_stack(name, extra_env=None):
    stack = harness.Stack(name)
    stack.start_all(extra_env)
    return stack


def new_tenant(stack):
    """(tenant, admin Api) of a fresh tenant."""
    platform = Api(stack, stack.bootstrap_key)
    slug = "firm-%s" % uuid.uuid4().hex[:8]
    tenant = platform.call("POST", "/v1/tenants", {"name": "Firm " + slug, "slug": slug})
    return tenant, key_api(stack, tenant, ["admin"])


def key_api(stack, tenant, scopes):
    platform = Api(stack, stack.bootstrap_key)
    key = platform.call("POST", "/v1/tenants/%s/apiKeys" % tenant["id"],
                        {"displayName": "test " + " ".join(scopes), "scopes": scopes,
                         "kind": "TENANT"})
    return Api(stack, key["secret"])


def person(ext, role, **extra):
    p = {"externalId": ext, "displayName": "Person " + ext, "role": role,
         "seniorityLevel": 1 if role == "MENTOR" else 8, "practiceArea": "Corporate",
         "languages": ["en"], "interests": ["legal tech"],
         "consent": {"dataProcessing": True}}
    p.update(extra)
    return p


def matched_programme(api, pairs, threshold=3, people_extra=None, idem=None):
    """A REVERSE programme with `pairs` mentors and mentees, matched and ACTIVE.
    people_extra(i, role) -> extra Participant fields; idem(name) -> an
    Idempotency-Key for each write (None: none). Returns (programme, matches,
    participants by external id)."""
    idem = idem or (lambda name: None)
    prog = api.call("POST", "/v1/programmes", {
        "name": "Reverse mentoring", "kind": "REVERSE", "status": "ENROLLING",
        "anonymityThreshold": threshold, "checkInCadenceDays": 14,
        "objectives": [{"key": "ai", "title": "AI"}]}, idempotency_key=idem("programme"))
    people = []
    for i in range(pairs):
        for role in ("MENTOR", "MENTEE"):
            extra = people_extra(i, role) if people_extra else {}
            people.append(person("%s-%d-%s" % (role.lower(), i, uuid.uuid4().hex[:6]), role,
                                 **extra))
    out = api.call("POST", "/v1/programmes/%s/participants:batchEnrol" % prog["id"],
                   {"participants": people}, idempotency_key=idem("batch"))
    by_ext = {}
    for r in out["results"]:
        if "participant" not in r:
            raise AssertionError("enrolment refused: %s" % r)
        by_ext[r["participant"]["externalId"]] = r["participant"]
    api.call("PATCH", "/v1/programmes/%s?updateMask=status" % prog["id"],
             {"status": "MATCHING"})
    run = api.call("POST", "/v1/programmes/%s/matchingRuns" % prog["id"],
                   {"algorithm": "OPTIMAL"}, idempotency_key=idem("run"))
    deadline = time.monotonic() + 120
    while run["status"] in ("QUEUED", "RUNNING"):
        if time.monotonic() > deadline:
            raise AssertionError("matching run did not finish: %s" % run)
        time.sleep(0.2)
        run = api.call("GET", "/v1/matchingRuns/%s" % run["id"])
    if run["status"] != "SUCCEEDED":
        raise AssertionError("matching run failed: %s" % run)
    api.call("POST", "/v1/matchingRuns/%s:approve" % run["id"], {},
             idempotency_key=idem("approve"))
    matches = api.call("GET", "/v1/programmes/%s/matches" % prog["id"])["matches"]
    return prog, matches, by_ext


def accept_all(api, matches, idem=None):
    idem = idem or (lambda name: None)
    out = []
    for m in matches:
        for side in (m["mentorId"], m["menteeId"]):
            m = api.call("POST", "/v1/matches/%s:respond" % m["id"],
                         {"participantId": side, "accept": True},
                         idempotency_key=idem("respond-" + side))
        out.append(m)
    return out


def iso(seconds_ago):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - seconds_ago))
