// A programme from creation to report through the gateway, with a client generated
// from the served OpenAPI document: openapi-typescript writes ./tandem.d.ts (paths,
// components), openapi-fetch calls the gateway with those types, and `tsc --strict`
// checks this file against them, so a change to the document that breaks generated
// clients (a renamed parameter, a body that no longer fits, an untyped error) fails
// the build of this program, and one that breaks the API fails its run.
//
// usage: TANDEM_URL=http://127.0.0.1:8080 TANDEM_KEY=<platform key> node dist/programme_to_report.js
import createClient from "openapi-fetch";
import type { components, paths } from "./tandem.js";

type ApiError = components["schemas"]["Error"];

const baseUrl = requireEnv("TANDEM_URL");
const platformKey = requireEnv("TANDEM_KEY");
const RUN_TIMEOUT_MS = 60_000;

function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

// The data of a successful call; a failed one stops the program with its status and
// Error body (typed by the document's default and 4XX/5XX responses).
function ok<T>(what: string, result: { data?: T; error?: ApiError; response: Response }): T {
  if (result.error !== undefined || result.data === undefined) {
    throw new Error(`${what}: HTTP ${result.response.status} ` +
      `code ${result.error?.code}: ${result.error?.message} ${JSON.stringify(result.error?.details ?? [])}`);
  }
  return result.data;
}

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`check failed: ${what}`);
}

function present<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`missing: ${what}`);
  return value;
}

async function main(): Promise<void> {
  // The consultancy's platform key creates a tenant and a key for it.
  const platform = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${platformKey}` } });
  const slug = `contract-${Date.now().toString(36)}`;
  const tenant = ok("createTenant", await platform.POST("/v1/tenants", {
    body: { name: "Harrow & Vale LLP", slug },
  }));
  const tenantId = present(tenant.id, "tenant.id");
  const key = ok("createApiKey", await platform.POST("/v1/tenants/{tenantId}/apiKeys", {
    params: { path: { tenantId } },
    body: {
      displayName: "contract test",
      scopes: ["enrolment:read", "enrolment:write", "matching:read", "matching:write",
        "feedback:read", "feedback:write"],
    },
  }));
  const secret = present(key.secret, "apiKey.secret");
  // A platform key acting for the tenant names it in the tenant security scheme's header.
  const seen = ok("getTenant", await platform.GET("/v1/tenants/{tenantId}", {
    params: { path: { tenantId } },
    headers: { "X-Tandem-Tenant": slug },
  }));
  check(seen.slug === slug, "getTenant answers the tenant");

  // From here on, the tenant's own key.
  const api = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${secret}` } });
  const programme = ok("createProgramme", await api.POST("/v1/programmes", {
    params: { header: { "Idempotency-Key": `programme-${slug}` } },
    body: {
      name: "Reverse mentoring 2027",
      kind: "REVERSE",
      status: "ENROLLING",
      checkInCadenceDays: 14,
      anonymityThreshold: 5, // the default: a tenant key without admin may not set another
      objectives: [{ key: "ai", title: "AI and legal tech" }],
    },
  }));
  const programmeId = present(programme.id, "programme.id");
  // GET and PATCH share one path item and one parameter name; an update's body holds
  // only the fields its mask names.
  const updated = ok("updateProgramme", await api.PATCH("/v1/programmes/{programmeId}", {
    params: { path: { programmeId }, query: { updateMask: "description" } },
    body: { description: "Juniors mentor partners on AI." },
  }));
  check(updated.description === "Juniors mentor partners on AI.", "updateProgramme applied the mask");
  const fetched = ok("getProgramme", await api.GET("/v1/programmes/{programmeId}", {
    params: { path: { programmeId } },
  }));
  check(fetched.description === updated.description, "getProgramme reads the update");

  // One mentor enrolled on their own, the rest in a batch.
  type Participant = components["schemas"]["Participant"];
  const person = (externalId: string, displayName: string, role: "MENTOR" | "MENTEE",
    seniorityLevel: number): Participant => ({
    externalId, displayName, role, seniorityLevel, capacity: role === "MENTOR" ? 1 : undefined,
    office: "London", languages: ["en"], interests: ["legal tech"], goals: role === "MENTEE" ? ["ai"] : [],
  });
  ok("enrol", await api.POST("/v1/programmes/{programmeId}/participants", {
    params: { path: { programmeId } },
    body: person("hr-1001", "Ama Owusu", "MENTOR", 1),
  }));
  const batch = ok("batchEnrol", await api.POST("/v1/programmes/{programmeId}/participants:batchEnrol", {
    params: { path: { programmeId } },
    body: {
      participants: [
        person("hr-1002", "Tomasz Nowak", "MENTOR", 2),
        person("hr-2001", "Richard Hale", "MENTEE", 9),
        person("hr-2002", "Helen Marsh", "MENTEE", 8),
      ],
    },
  }));
  check((batch.results ?? []).every((r) => r.participant !== undefined && r.error === undefined),
    "every batch row enrolled");

  // A matching run, waited for, then approved.
  let run = ok("startMatchingRun", await api.POST("/v1/programmes/{programmeId}/matchingRuns", {
    params: { path: { programmeId } },
    body: { algorithm: "OPTIMAL" },
  }));
  const matchingRunId = present(run.id, "matchingRun.id");
  const deadline = Date.now() + RUN_TIMEOUT_MS;
  while (run.status === undefined || run.status === "QUEUED" || run.status === "RUNNING") {
    check(Date.now() < deadline, "the matching run finished in time");
    await new Promise((resolve) => setTimeout(resolve, 200));
    run = ok("getMatchingRun", await api.GET("/v1/matchingRuns/{matchingRunId}", {
      params: { path: { matchingRunId } },
    }));
  }
  check(run.status === "SUCCEEDED", `the run succeeded (${run.status}: ${run.errorMessage ?? ""})`);
  const proposals = ok("listProposals", await api.GET("/v1/matchingRuns/{matchingRunId}/proposals", {
    params: { path: { matchingRunId }, query: { pageSize: 10 } },
  }));
  check((proposals.proposals ?? []).length === 2, "two pairs proposed");
  ok("approveRun", await api.POST("/v1/matchingRuns/{matchingRunId}:approve", {
    params: { path: { matchingRunId } },
    body: {},
  }));
  const matches = ok("listMatches", await api.GET("/v1/programmes/{programmeId}/matches", {
    params: { path: { programmeId } },
  })).matches ?? [];
  check(matches.length === 2, "approval made two matches");

  // Both sides of one pair accept; the mentee records a check-in.
  const match = matches[0];
  const matchId = present(match.id, "match.id");
  for (const participantId of [present(match.mentorId, "mentorId"), present(match.menteeId, "menteeId")]) {
    ok("respondToMatch", await api.POST("/v1/matches/{matchId}:respond", {
      params: { path: { matchId } },
      body: { participantId, accept: true },
    }));
  }
  const checkIn = ok("recordCheckIn", await api.POST("/v1/matches/{matchId}/checkIns", {
    params: { path: { matchId } },
    body: {
      participantId: present(match.menteeId, "menteeId"),
      occurredTime: new Date(Date.now() - 3_600_000).toISOString(),
      durationMinutes: 45,
      rating: 5,
      topics: ["prompting", "contract review tools"],
      goalProgress: [{ objectiveKey: "ai", percent: 40 }],
    },
  }));
  check(checkIn.matchId === matchId, "the check-in belongs to the match");

  const report = ok("getProgrammeReport", await api.GET("/v1/programmes/{programmeId}/report", {
    params: { path: { programmeId } },
  }));
  const shown = JSON.stringify(report);
  check(report.enrolledMentors === 2 && report.enrolledMentees === 2, `the report counts who enrolled: ${shown}`);
  check(report.matched === 4, `the report counts the four people matched: ${shown}`);
  check(report.activeMatches === 1, `the report counts the active match: ${shown}`);
  check(report.checkIns === 1, `the report counts the check-in: ${shown}`);

  // Errors are typed: a programme of no one is 404 with the Error body.
  const missing = await api.GET("/v1/programmes/{programmeId}", {
    params: { path: { programmeId: "00000000-0000-4000-8000-000000000000" } },
  });
  check(missing.response.status === 404, "an unknown programme is 404");
  const error: ApiError | undefined = missing.error;
  check(error?.code === 5 && typeof error.message === "string", "its body is {code: 5, message}");

  console.log(JSON.stringify({ tenant: slug, programmeId, matchingRunId, matches: matches.length,
    checkIns: report.checkIns, activeMatches: report.activeMatches }));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
