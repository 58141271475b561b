/*
 * demo.c - `tandemctl demo`: the whole story of a reverse-mentoring programme at a
 * fictional law firm, told through the real REST API; and `tandemctl demo generate`,
 * the seeded people as a BatchEnrol body for benchmarks.
 *
 * The story, one numbered step each: create the firm's tenant and an API key for its
 * HR platform; create a REVERSE programme with four objectives; enrol the generated
 * lawyers (BatchEnrol); open matching; run it and follow it live; approve it; open the
 * programme; both sides answer their match (a few decline); pairs record check-ins;
 * a pulse survey is answered; the report is printed. A step that fails stops the demo
 * with the step's name and the HTTP error: nothing is ever made up on the client.
 *
 * Random choices in the story (who declines, ratings, answers) come from the same
 * seed as the people, so a demo run is reproducible too.
 */
#include "demo.h"
#include "out.h"
#include "rows.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEMO_DEFAULT_COUNT  300
#define DEMO_DEFAULT_SEED   2027
#define DEMO_MAX_COUNT      20000
#define DEMO_FIRM_NAME      "Harrow & Finch LLP"
#define DEMO_EMAIL_DOMAIN   "harrowfinch.example"
#define DEMO_CADENCE_DAYS   14
#define DEMO_DECLINE_PCT    4
#define DEMO_LOW_RATING_PCT 8
#define DEMO_SURVEY_PCT     70
#define DEMO_SHOW_PAIRS     10
#define DEMO_STEPS          11

static const char *str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s != NULL ? s : "";
}

/* Whether the story is told on stdout (not with --json, nor for a consultancy firm). */
static int demo_talks(const demo *d)
{
    return !d->c->json && !d->quiet;
}

static void step_begin(demo *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void step_begin(demo *d, const char *fmt, ...)
{
    d->step++;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->step_title, sizeof d->step_title, fmt, ap);
    va_end(ap);
    if (demo_talks(d)) {
        printf("\n[%d/%d] %s\n", d->step, DEMO_STEPS, d->step_title);
    }
    fflush(stdout);
}

static int step_failed(demo *d, int rc)
{
    fprintf(stderr, "tandemctl demo: step %d of %d (%s) failed (exit %d); the demo stops here.\n",
            d->step, DEMO_STEPS, d->step_title, rc);
    return rc;
}

/* One call whose failure ends the step; the answer is handed over in *out. */
static int demo_call(demo *d, const char *what, const char *method, const char *path, json_t *body,
                     int idempotent, json_t **out)
{
    char idem[64], token[33];
    if (idempotent) {
        ctl_random_token(token);
        snprintf(idem, sizeof idem, "tandemctl-demo-%s", token);
    }
    ctl_response resp;
    int rc = ctl_call(&d->c->client, method, path, body, idempotent ? idem : NULL, &resp);
    if (rc != CTL_EXIT_OK) {
        ctl_call_error(what, method, path, &resp);
    } else if (out != NULL) {
        *out = json_incref(resp.body);
    }
    ctl_response_free(&resp);
    return rc;
}

static void iso_time(char *buf, size_t size, time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void iso_date(char *buf, size_t size, time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%d", &tm);
}

/* ---- the steps ------------------------------------------------------------------- */

static int create_tenant(demo *d)
{
    step_begin(d, "Creating the tenant of %s, a fictional law firm", d->firm_name);
    char token[33], slug[64];
    ctl_random_token(token);
    snprintf(slug, sizeof slug, "%s-%.8s", d->slug_prefix, token);
    json_t *body = json_pack("{ssss}", "name", d->firm_name, "slug", slug);
    json_t *tenant = NULL;
    int rc = demo_call(d, "create tenant", "POST", "/v1/tenants", body, 1, &tenant);
    json_decref(body);
    if (rc == CTL_EXIT_OK) {
        snprintf(d->tenant_id, sizeof d->tenant_id, "%s", str(tenant, "id"));
        json_object_set(d->summary, "tenant", tenant);
        if (demo_talks(d)) {
            printf("  tenant %s (%s)\n", d->tenant_id, slug);
        }
    }
    json_decref(tenant);
    return rc;
}

static int create_key(demo *d)
{
    step_begin(d, "Creating an API key for the firm's HR platform");
    char path[CTL_MAX_PATH];
    ctl_path(path, "/v1/tenants/%s/apiKeys", d->tenant_id);
    json_t *body =
        json_pack("{sss[s]sss{sisi}}", "displayName", "HR platform (demo)", "scopes", "admin",
                  "kind", "TENANT", "rateLimit", "requestsPerSecond", 1000, "burst", 2000);
    json_t *key = NULL;
    int rc = demo_call(d, "create API key", "POST", path, body, 1, &key);
    json_decref(body);
    if (rc == CTL_EXIT_OK) {
        d->tenant_key = strdup(str(key, "secret"));
        d->c->client.key = d->tenant_key;
        d->c->client.tenant = NULL; /* a tenant key names its own tenant */
        if (demo_talks(d)) {
            printf("  key %s (tenant scope admin); the rest of the demo uses it\n", str(key, "id"));
        }
    }
    json_decref(key);
    return rc;
}

static json_t *objective(const char *key, const char *title, const char *description)
{
    return json_pack("{ssssss}", "key", key, "title", title, "description", description);
}

/* The programme from the consultancy's template, with the firm's overrides. */
static int create_programme_from_template(demo *d, const char *start, const char *end)
{
    json_t *body = json_pack("{sssssssssOss}", "templateId", d->template_id, "name",
                             "Reverse Mentoring 2027", "startDate", start, "endDate", end,
                             "overrides", d->overrides, "updateMask", d->mask);
    int rc = demo_call(d, "create programme from template", "POST", "/v1/programmes:fromTemplate",
                       body, 1, &d->programme);
    json_decref(body);
    if (rc == CTL_EXIT_OK) {
        snprintf(d->programme_id, sizeof d->programme_id, "%s", str(d->programme, "id"));
    }
    return rc;
}

static int create_programme(demo *d)
{
    step_begin(d, "Creating the REVERSE programme");
    time_t now = time(NULL);
    char start[16], end[16];
    iso_date(start, sizeof start, now);
    iso_date(end, sizeof end, now + 365 * 86400);
    if (d->template_id != NULL) {
        return create_programme_from_template(d, start, end);
    }
    json_t *objectives = json_array();
    json_array_append_new(objectives,
                          objective(GEN_OBJECTIVE_DIGITAL, "Digital literacy",
                                    "Partners confident with the firm's digital tools"));
    json_array_append_new(objectives,
                          objective(GEN_OBJECTIVE_AI, "AI and legal tech",
                                    "Understand what AI and legal tech change for clients"));
    json_array_append_new(objectives,
                          objective(GEN_OBJECTIVE_INCLUSION, "Inclusion",
                                    "Hear what junior colleagues from every background face"));
    json_array_append_new(objectives,
                          objective(GEN_OBJECTIVE_LEADERSHIP, "Leadership of juniors",
                                    "Juniors build confidence and leadership by mentoring"));
    json_t *policy = json_pack("{sisisbsbsbss}", "defaultMentorCapacity", 1, "minScore", 0,
                               "forbidReportingLine", 1, "forbidSameDepartment", 1,
                               "requireSharedLanguage", 1, "objective", "MAX_PARTICIPATION");
    json_object_set_new(policy, "seniorityGap", json_pack("{si}", "min", 3));
    json_t *body = json_pack(
        "{sssssssosssssssisiso}", "name", "Reverse Mentoring 2027: Digital, AI and Inclusion",
        "description",
        "Trainees and associates mentor partners on technology, AI, client expectations and "
        "inclusion.",
        "kind", "REVERSE", "objectives", objectives, "status", "ENROLLING", "startDate", start,
        "endDate", end, "checkInCadenceDays", DEMO_CADENCE_DAYS, "anonymityThreshold", 5,
        "matchingPolicy", policy);
    int rc = demo_call(d, "create programme", "POST", "/v1/programmes", body, 1, &d->programme);
    json_decref(body);
    if (rc == CTL_EXIT_OK) {
        snprintf(d->programme_id, sizeof d->programme_id, "%s", str(d->programme, "id"));
        json_object_set(d->summary, "programme", d->programme);
        if (demo_talks(d)) {
            printf("  programme %s: %s\n", d->programme_id, str(d->programme, "name"));
            printf("  objectives: digital literacy, AI and legal tech, inclusion, leadership "
                   "of juniors\n");
        }
    }
    return rc;
}

static int enrol(demo *d)
{
    step_begin(d, "Enrolling %zu lawyers, trainees to senior partners (seed %llu)", d->count,
               (unsigned long long)d->seed);
    json_t *people = gen_people(d->count, d->seed, d->email_domain);
    if (people == NULL) {
        fprintf(stderr, "tandemctl demo: cannot generate %zu people\n", d->count);
        return CTL_EXIT_USAGE;
    }
    rows_set set;
    memset(&set, 0, sizeof set);
    set.rows = calloc(json_array_size(people), sizeof *set.rows);
    if (set.rows == NULL) {
        json_decref(people);
        return CTL_EXIT_USAGE;
    }
    size_t i;
    json_t *p;
    json_array_foreach(people, i, p)
    {
        set.rows[i] = (rows_row){json_incref(p), i + 1};
    }
    set.n_rows = set.cap_rows = set.seen = json_array_size(people);
    json_decref(people);
    size_t enrolled = 0;
    int rc = ctl_enrol_rows(d->c, d->programme_id, &set, 10000, &enrolled);
    if (rc == CTL_EXIT_OK) {
        size_t mentors = 0;
        for (i = 0; i < set.n_rows; i++) {
            mentors += strcmp(str(set.rows[i].participant, "role"), "MENTOR") == 0;
        }
        if (demo_talks(d)) {
            printf("  enrolled %zu of %zu (%zu juniors as mentors, %zu seniors as mentees)\n",
                   enrolled, set.seen, mentors, set.seen - mentors);
        }
        for (i = 0; i < set.n_errors; i++) {
            fprintf(stderr, "  row %lu (%s): %s%s%s\n", set.errors[i].origin,
                    set.errors[i].external_id ? set.errors[i].external_id : "?",
                    set.errors[i].field ? set.errors[i].field : "", set.errors[i].field ? ": " : "",
                    set.errors[i].message);
        }
        d->partial |= enrolled < set.seen;
        json_object_set_new(d->summary, "enrolled", json_integer((json_int_t)enrolled));
        json_object_set_new(d->summary, "refused", json_integer((json_int_t)(set.seen - enrolled)));
    }
    rows_free(&set);
    return rc;
}

static int set_status(demo *d, const char *status)
{
    char path[CTL_MAX_PATH];
    ctl_path(path, "/v1/programmes/%s?updateMask=status", d->programme_id);
    json_t *body = json_pack("{ss}", "status", status);
    json_t *p = NULL;
    int rc = demo_call(d, "update programme status", "PATCH", path, body, 0, &p);
    json_decref(body);
    if (rc == CTL_EXIT_OK && demo_talks(d)) {
        printf("  programme is now %s\n", str(p, "status"));
    }
    json_decref(p);
    return rc;
}

static int run_matching(demo *d)
{
    step_begin(d, "Closing enrolment and running OPTIMAL matching");
    int rc = set_status(d, "MATCHING");
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    json_t *request = json_pack("{sssssI}", "algorithm", "OPTIMAL", "scope", "ALL", "seed",
                                (json_int_t)(d->seed & 0xFFFFFFFFu));
    rc = ctl_run_matching(d->c, d->programme_id, request, 600, &d->run);
    json_decref(request);
    if (rc == CTL_EXIT_OK && demo_talks(d)) {
        rc = ctl_print_run_summary(d->c, d->programme_id, d->run, DEMO_SHOW_PAIRS);
    }
    return rc;
}

static int approve(demo *d)
{
    step_begin(d, "Approving the run: proposals become matches");
    char path[CTL_MAX_PATH];
    ctl_path(path, "/v1/matchingRuns/%s:approve", str(d->run, "id"));
    json_t *body = json_object();
    json_t *run = NULL;
    int rc = demo_call(d, "approve matching run", "POST", path, body, 0, &run);
    json_decref(body);
    if (rc == CTL_EXIT_OK) {
        json_object_update(d->run, run);
        json_decref(run);
        json_object_set(d->summary, "matchingRun", d->run);
        if (demo_talks(d)) {
            printf("  run %s approved\n", str(d->run, "id"));
        }
    }
    return rc;
}

static int open_programme(demo *d)
{
    step_begin(d, "Opening the programme");
    int rc = set_status(d, "ACTIVE");
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    char path[CTL_MAX_PATH];
    ctl_path(path, "/v1/programmes/%s/matches", d->programme_id);
    ctl_response resp;
    rc = ctl_list_all(&d->c->client, path, "matches", &d->matches, &resp);
    if (rc != CTL_EXIT_OK) {
        ctl_call_error("list matches", "GET", path, &resp);
    } else if (demo_talks(d)) {
        printf("  %zu matches proposed to their pairs\n", json_array_size(d->matches));
    }
    ctl_response_free(&resp);
    return rc;
}

static int respond_one(demo *d, const char *match_id, const char *participant_id, int accept,
                       const char *reason)
{
    char path[CTL_MAX_PATH];
    ctl_path(path, "/v1/matches/%s:respond", match_id);
    json_t *body = json_pack("{sssb}", "participantId", participant_id, "accept", accept);
    if (reason != NULL) {
        json_object_set_new(body, "reason", json_string(reason));
    }
    json_t *match = NULL;
    int rc = demo_call(d, "respond to match", "POST", path, body, 0, &match);
    json_decref(body);
    json_decref(match);
    return rc;
}

static int respond(demo *d)
{
    step_begin(d, "Pairs answer their match (most accept, a few decline)");
    size_t n = json_array_size(d->matches);
    unsigned char *active = calloc(n ? n : 1, 1);
    if (active == NULL) {
        return CTL_EXIT_USAGE;
    }
    int rc = CTL_EXIT_OK;
    for (size_t i = 0; i < n && rc == CTL_EXIT_OK; i++) {
        json_t *m = json_array_get(d->matches, i);
        int declines = gen_rng_below(&d->rng, 100) < DEMO_DECLINE_PCT;
        rc = respond_one(d, str(m, "id"), str(m, "mentorId"), 1, NULL);
        if (rc == CTL_EXIT_OK) {
            rc = respond_one(d, str(m, "id"), str(m, "menteeId"), !declines,
                             declines ? "Client commitments this quarter" : NULL);
        }
        active[i] = !declines;
        d->active += !declines;
        d->declined += declines;
        char detail[64];
        snprintf(detail, sizeof detail, "%zu/%zu matches", i + 1, n);
        out_progress(d->c->progress, "Responding", (double)(i + 1) / (double)n, detail);
    }
    out_progress_done(d->c->progress && n > 0);
    if (rc == CTL_EXIT_OK) {
        /* Keep only the active matches for the check-ins. */
        json_t *kept = json_array();
        for (size_t i = 0; i < n; i++) {
            if (active[i]) {
                json_array_append(kept, json_array_get(d->matches, i));
            }
        }
        json_decref(d->matches);
        d->matches = kept;
        if (demo_talks(d)) {
            printf("  %zu matches active, %zu declined\n", d->active, d->declined);
        }
    }
    free(active);
    return rc;
}

static const char *const TOPICS[] = {
    "Using generative AI for first drafts",
    "Legal tech the clients already use",
    "Teams etiquette and hybrid meetings",
    "What trainees wish partners knew",
    "Inclusive feedback",
    "Social media and the firm's voice",
    "Automating the closing bible",
    "Data rooms and e-discovery",
};

static const char *const OBJECTIVE_KEYS[] = {GEN_OBJECTIVE_DIGITAL, GEN_OBJECTIVE_AI,
                                             GEN_OBJECTIVE_INCLUSION, GEN_OBJECTIVE_LEADERSHIP};

static int record_check_in(demo *d, const json_t *m, int k, int low)
{
    char path[CTL_MAX_PATH], when[32];
    ctl_path(path, "/v1/matches/%s/checkIns", str(m, "id"));
    /* Sessions every cadence, the latest a few days ago; never in the future. */
    time_t t = time(NULL) - (time_t)(2 + k * DEMO_CADENCE_DAYS) * 86400 -
               (time_t)gen_rng_below(&d->rng, 36000);
    iso_time(when, sizeof when, t);
    int rating = low ? 2 : 4 + (int)gen_rng_below(&d->rng, 2);
    json_t *progress = json_array();
    for (size_t o = 0; o < 4; o++) {
        if (gen_rng_below(&d->rng, 2) == 0) {
            json_array_append_new(progress,
                                  json_pack("{sssi}", "objectiveKey", OBJECTIVE_KEYS[o], "percent",
                                            (int)(15 + 20 * (2 - k) + gen_rng_below(&d->rng, 20))));
        }
    }
    json_t *body = json_pack(
        "{sssssisisos[ss]ss}", "participantId", str(m, k % 2 ? "menteeId" : "mentorId"),
        "occurredTime", when, "durationMinutes", 30 + 15 * (int)gen_rng_below(&d->rng, 5), "rating",
        rating, "goalProgress", progress, "topics", TOPICS[gen_rng_below(&d->rng, 8)],
        TOPICS[gen_rng_below(&d->rng, 8)], "notes", "Private to the pair: never shown in reports.");
    int rc = demo_call(d, "record check-in", "POST", path, body, 1, NULL);
    json_decref(body);
    return rc;
}

static int check_ins(demo *d)
{
    step_begin(d, "Pairs record their check-ins");
    size_t n = json_array_size(d->matches);
    int rc = CTL_EXIT_OK;
    for (size_t i = 0; i < n && rc == CTL_EXIT_OK; i++) {
        json_t *m = json_array_get(d->matches, i);
        int sessions = (int)gen_rng_below(&d->rng, 4); /* 0-3, the oldest first */
        int low = gen_rng_below(&d->rng, 100) < DEMO_LOW_RATING_PCT;
        for (int k = sessions - 1; k >= 0 && rc == CTL_EXIT_OK; k--) {
            rc = record_check_in(d, m, k, low && k == 0);
            d->check_ins += rc == CTL_EXIT_OK;
        }
        char detail[64];
        snprintf(detail, sizeof detail, "%zu check-ins", d->check_ins);
        out_progress(d->c->progress, "Check-ins", (double)(i + 1) / (double)n, detail);
    }
    out_progress_done(d->c->progress && n > 0);
    if (rc == CTL_EXIT_OK && demo_talks(d)) {
        printf("  %zu check-ins recorded over %zu active matches\n", d->check_ins, n);
    }
    return rc;
}

static json_t *question(const char *id, const char *text, const char *kind)
{
    return json_pack("{sssssssb}", "id", id, "text", text, "kind", kind, "required", 0);
}

static const char *const CHOICES[] = {"Digital literacy", "AI and legal tech", "Inclusion",
                                      "Leadership of juniors"};

static const char *const COMMENTS[] = {
    "My mentor showed me how our clients already use AI.",
    "Eye-opening on what the first seat feels like today.",
    "We built a small automation together.",
    "I now run our team meetings differently.",
};

static int submit_response(demo *d, const char *path, const char *participant_id)
{
    json_t *answers = json_array();
    json_array_append_new(answers, json_pack("{sssi}", "questionId", "useful", "score",
                                             3 + (int)gen_rng_below(&d->rng, 3)));
    uint32_t r = gen_rng_below(&d->rng, 100);
    int nps = r < 60 ? 9 + (int)(r % 2) : r < 85 ? 7 + (int)(r % 2) : (int)(r % 7);
    json_array_append_new(answers, json_pack("{sssi}", "questionId", "recommend", "score", nps));
    json_array_append_new(answers, json_pack("{ssss}", "questionId", "objective", "choice",
                                             CHOICES[gen_rng_below(&d->rng, 4)]));
    if (gen_rng_below(&d->rng, 3) == 0) {
        json_array_append_new(answers, json_pack("{ssss}", "questionId", "comment", "text",
                                                 COMMENTS[gen_rng_below(&d->rng, 4)]));
    }
    json_t *body = json_pack("{ssso}", "participantId", participant_id, "answers", answers);
    int rc = demo_call(d, "submit survey response", "POST", path, body, 1, NULL);
    json_decref(body);
    return rc;
}

static int survey(demo *d)
{
    step_begin(d, "Running the mid-programme pulse survey");
    char path[CTL_MAX_PATH];
    ctl_path(path, "/v1/programmes/%s/surveys", d->programme_id);
    json_t *questions = json_array();
    json_array_append_new(questions,
                          question("useful", "How useful are your sessions?", "RATING_1_5"));
    json_array_append_new(questions,
                          question("recommend",
                                   "How likely are you to recommend the programme to a colleague?",
                                   "NPS_0_10"));
    json_t *choice = question("objective", "Which objective moved most for you?", "CHOICE");
    json_object_set_new(choice, "choices",
                        json_pack("[ssss]", CHOICES[0], CHOICES[1], CHOICES[2], CHOICES[3]));
    json_array_append_new(questions, choice);
    json_array_append_new(questions, question("comment", "Anything to share?", "TEXT"));
    json_t *body = json_pack("{ssssso}", "title", "Mid-programme pulse", "description",
                             "Five questions, two minutes.", "questions", questions);
    json_t *created = NULL;
    int rc = demo_call(d, "create survey", "POST", path, body, 1, &created);
    json_decref(body);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    ctl_path(path, "/v1/surveys/%s/responses", str(created, "id"));
    json_decref(created);
    size_t n = json_array_size(d->matches);
    /* One response per person: a mentor with two mentees answers once. */
    json_t *asked = json_object();
    for (size_t i = 0; i < n && rc == CTL_EXIT_OK; i++) {
        json_t *m = json_array_get(d->matches, i);
        const char *sides[2] = {str(m, "mentorId"), str(m, "menteeId")};
        for (int s = 0; s < 2 && rc == CTL_EXIT_OK; s++) {
            if (json_object_get(asked, sides[s]) != NULL) {
                continue;
            }
            json_object_set_new(asked, sides[s], json_true());
            if (gen_rng_below(&d->rng, 100) < DEMO_SURVEY_PCT) {
                rc = submit_response(d, path, sides[s]);
                d->responses += rc == CTL_EXIT_OK;
            }
        }
        char detail[64];
        snprintf(detail, sizeof detail, "%zu responses", d->responses);
        out_progress(d->c->progress, "Survey", (double)(i + 1) / (double)n, detail);
    }
    out_progress_done(d->c->progress && n > 0);
    if (rc == CTL_EXIT_OK && demo_talks(d)) {
        printf("  %zu responses from %zu people asked\n", d->responses, json_object_size(asked));
    }
    json_decref(asked);
    return rc;
}

static int report(demo *d)
{
    step_begin(d, "The programme report");
    char path[CTL_MAX_PATH];
    ctl_path(path, "/v1/programmes/%s/report", d->programme_id);
    json_t *r = NULL;
    int rc = demo_call(d, "programme report", "GET", path, NULL, 0, &r);
    if (rc == CTL_EXIT_OK) {
        json_object_set(d->summary, "report", r);
        if (demo_talks(d)) {
            ctl_print_report(d->programme, r);
        }
    }
    json_decref(r);
    return rc;
}

/* ---- commands -------------------------------------------------------------------- */

static int parse_seed_count(ctl *c, long *count, long *seed, long max_count)
{
    int rc = ctl_opt_long(c, "count", 1, max_count, count);
    if (rc == 0) {
        rc = ctl_opt_long(c, "seed", 0, 4294967295L, seed);
    }
    return rc;
}

static int demo_generate(ctl *c)
{
    long count = DEMO_DEFAULT_COUNT, seed = DEMO_DEFAULT_SEED;
    int rc = parse_seed_count(c, &count, &seed, GEN_MAX_COUNT);
    if (rc == 0) {
        rc = ctl_done_args(c, 2, 2, "demo generate --count N [--seed S]");
    }
    if (rc != 0) {
        return rc;
    }
    json_t *people = gen_people((size_t)count, (uint64_t)seed, DEMO_EMAIL_DOMAIN);
    if (people == NULL) {
        fprintf(stderr, "tandemctl: cannot generate %ld people (out of memory)\n", count);
        return CTL_EXIT_USAGE;
    }
    /* One row a line: diff-able and streamable, and still a BatchEnrol body. */
    fputs("{\"participants\": [\n", stdout);
    size_t i;
    json_t *p;
    json_array_foreach(people, i, p)
    {
        json_dumpf(p, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
        fputs(i + 1 < json_array_size(people) ? ",\n" : "\n", stdout);
    }
    fputs("]}\n", stdout);
    json_decref(people);
    return fflush(stdout) == 0 ? CTL_EXIT_OK : CTL_EXIT_USAGE;
}

int cmd_demo(ctl *c)
{
    if (c->n_words > 1 && strcmp(c->words[1], "generate") == 0) {
        return demo_generate(c);
    }
    if (c->n_words > 1 && strcmp(c->words[1], "consultancy") == 0) {
        return demo_consultancy(c);
    }
    long count = DEMO_DEFAULT_COUNT, seed = DEMO_DEFAULT_SEED;
    int rc = parse_seed_count(c, &count, &seed, DEMO_MAX_COUNT);
    if (rc == 0) {
        rc = ctl_done_args(c, 1, 1, "demo [--seed S] [--count N] | demo generate --count N");
    }
    if (rc != 0) {
        return rc;
    }
    demo d = {.c = c,
              .count = (size_t)count,
              .seed = (uint64_t)seed,
              .firm_name = DEMO_FIRM_NAME,
              .slug_prefix = "harrow-finch",
              .email_domain = DEMO_EMAIL_DOMAIN};
    if (!c->json) {
        printf("Tandem demo: a year of reverse mentoring at %s, told through the API at %s\n",
               DEMO_FIRM_NAME, c->client.base_url);
    }
    rc = demo_run_story(&d);
    if (rc == CTL_EXIT_OK) {
        json_object_set_new(d.summary, "activeMatches", json_integer((json_int_t)d.active));
        json_object_set_new(d.summary, "declinedMatches", json_integer((json_int_t)d.declined));
        json_object_set_new(d.summary, "checkIns", json_integer((json_int_t)d.check_ins));
        json_object_set_new(d.summary, "surveyResponses", json_integer((json_int_t)d.responses));
        if (c->json) {
            out_json(d.summary);
        } else {
            printf("\nThe demo firm is tenant %s; explore it with a platform key and\n"
                   "  tandemctl --tenant %s report %s\n",
                   d.tenant_id, d.tenant_id, d.programme_id);
        }
        if (d.partial) {
            rc = CTL_EXIT_PARTIAL;
        }
    }
    demo_free(&d);
    return rc;
}

int demo_run_story(demo *d)
{
    gen_rng_seed(&d->rng, d->seed ^ 0xD3E0ULL);
    d->summary = json_object();
    static int (*const steps[])(demo *) = {
        create_tenant,  create_key, create_programme, enrol,  run_matching, approve,
        open_programme, respond,    check_ins,        survey, report};
    int rc = CTL_EXIT_OK;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0] && rc == CTL_EXIT_OK; i++) {
        rc = steps[i](d);
        if (rc != CTL_EXIT_OK) {
            step_failed(d, rc);
        }
    }
    return rc;
}

void demo_free(demo *d)
{
    json_decref(d->summary);
    json_decref(d->programme);
    json_decref(d->run);
    json_decref(d->matches);
    free(d->tenant_key);
}
