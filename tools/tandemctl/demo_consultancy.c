/*
 * demo_consultancy.c - `tandemctl demo consultancy`: the consultancy's view. It
 * designs one reverse-mentoring programme as a template (with a kick-off survey that
 * opens on the first day) and runs it at six fictional firms of different sizes and
 * cultures, each its own tenant with its own overrides (cadence, strictness of
 * matching) - the same story as `tandemctl demo`, told once per firm. Then it shows
 * that the template's survey opened at every firm (the scheduler did it), puts
 * the six firms side by side, and prints the template's benchmark across them once
 * the benchmark job has run after their activity.
 *
 * A platform key runs it (templates are the platform's); each firm's story uses that
 * firm's own tenant key. Everything shown comes from the API's answers.
 */
#include "demo.h"
#include "out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FIRMS               6
#define SURVEY_WAIT_S       60
#define FIRM_SEED_STEP      7919
#define CONSULTANCY_SEED    2027
#define KICKOFF_SURVEY_NAME "Kick-off: what do you expect?"
#define BENCHMARK_WAIT_S    180

typedef struct firm {
    const char *name, *slug_prefix, *email_domain, *culture;
    size_t people;
    int cadence_days, min_score;
} firm;

static const firm FIRMS_RUN[FIRMS] = {
    {"Ashdown Keble LLP", "ashdown-keble", "ashdownkeble.example",
     "large, formal, fortnightly check-ins", 160, 14, 0},
    {"Brightwater & Co", "brightwater", "brightwater.example", "boutique, informal, weekly", 36, 7,
     0},
    {"Carrow Lind", "carrow-lind", "carrowlind.example", "regional, partner-led, three-weekly", 80,
     21, 10},
    {"Dunmore Vance", "dunmore-vance", "dunmorevance.example",
     "international, process-driven, strict matching", 220, 14, 20},
    {"Elsworth Pike", "elsworth-pike", "elsworthpike.example", "tech-forward, every ten days", 60,
     10, 0},
    {"Fennimore Grey", "fennimore-grey", "fennimoregrey.example", "traditional, monthly", 40, 28,
     0},
};

static json_t *kickoff_survey(void)
{
    return json_pack("{si s{ss s[{ss ss ss} {ss ss ss}]}}", "openDay", 0, "survey", "title",
                     KICKOFF_SURVEY_NAME, "questions", "id", "expect", "text",
                     "How much do you expect to learn from your partner in the programme?", "kind",
                     "RATING_1_5", "id", "recommend", "text",
                     "How likely are you to recommend the programme to a colleague?", "kind",
                     "NPS_0_10");
}

static int create_template(ctl *c, json_t **out)
{
    json_t *objectives = json_pack(
        "[{ssss} {ssss} {ssss} {ssss}]", "key", GEN_OBJECTIVE_DIGITAL, "title", "Digital literacy",
        "key", GEN_OBJECTIVE_AI, "title", "AI and legal tech", "key", GEN_OBJECTIVE_INCLUSION,
        "title", "Inclusion", "key", GEN_OBJECTIVE_LEADERSHIP, "title", "Leadership of juniors");
    json_t *policy =
        json_pack("{sisisbsbsbss s{si}}", "defaultMentorCapacity", 1, "minScore", 0,
                  "forbidReportingLine", 1, "forbidSameDepartment", 1, "requireSharedLanguage", 1,
                  "objective", "MAX_PARTICIPATION", "seniorityGap", "min", 3);
    json_t *body = json_pack(
        "{ss ss ss so so si si s[o]}", "name", "Reverse Mentoring for Law Firms", "description",
        "Trainees and associates mentor partners on technology, AI, client expectations and "
        "inclusion.",
        "kind", "REVERSE", "objectives", objectives, "matchingPolicy", policy, "checkInCadenceDays",
        14, "anonymityThreshold", 5, "surveys", kickoff_survey());
    char idem[33];
    ctl_random_token(idem);
    int rc = ctl_rest(c, "create template", "POST", "/v1/templates", body, idem, out);
    json_decref(body);
    return rc;
}

/* Whether the template's kick-off survey has opened in the programme (as a platform
 * key acting for the firm's tenant). */
static int kickoff_opened(ctl *c, const char *tenant_id, const char *programme_id, int *opened)
{
    char path[CTL_MAX_PATH];
    ctl_path(path, "/v1/programmes/%s/surveys", programme_id);
    c->client.tenant = tenant_id;
    json_t *page = NULL;
    int rc = ctl_rest(c, "list surveys", "GET", path, NULL, NULL, &page);
    c->client.tenant = NULL;
    *opened = 0;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(page, "surveys"), i, s)
    {
        *opened |= strcmp(ctl_str(s, "title"), KICKOFF_SURVEY_NAME) == 0;
    }
    json_decref(page);
    return rc;
}

/* A report figure with the given decimals, or "suppressed" when the report withheld
 * it (fewer people than the anonymity threshold). */
static void figure(char *buf, size_t size, const json_t *report, const char *field, int decimals)
{
    json_t *v = json_object_get(report, field);
    if (json_is_number(v)) {
        snprintf(buf, size, "%.*f", decimals, json_number_value(v));
    } else {
        snprintf(buf, size, "suppressed");
    }
}

static void firm_row(out_table *t, const firm *f, const json_t *report)
{
    char rating[32], nps[32];
    figure(rating, sizeof rating, report, "meanRating", 2);
    figure(nps, sizeof nps, report, "nps", 0);
    out_table_rowf(t, "%s|%zu|%lld|%lld|%lld|%s|%s", f->name, f->people,
                   json_integer_value(json_object_get(report, "matched")),
                   json_integer_value(json_object_get(report, "activeMatches")),
                   json_integer_value(json_object_get(report, "checkIns")), rating, nps);
}

/* Seconds since the epoch of an RFC 3339 UTC time ("2027-01-04T10:00:00.25Z"), or
 * -1 when it is not one. */
static double rfc3339_seconds(const char *s)
{
    struct tm tm;
    double sec = 0;
    memset(&tm, 0, sizeof tm);
    if (sscanf(s, "%d-%d-%dT%d:%d:%lf", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &sec) != 6) {
        return -1;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (double)timegm(&tm) + sec;
}

/* The template's benchmark once the benchmark job has run after every firm's
 * activity (its asOf later than the last firm's report, both the server's clock):
 * the job runs every TANDEM_BENCHMARK_INTERVAL_SECONDS (./deploy/up.sh --demo sets a
 * short one), so the demo waits for it rather than showing figures of before. */
static int print_benchmark(ctl *c, const char *template_id, const demo *runs)
{
    double after = 0;
    for (size_t i = 0; i < FIRMS; i++) {
        const json_t *report = json_object_get(runs[i].summary, "report");
        double t = rfc3339_seconds(ctl_str(report, "generateTime"));
        after = t > after ? t : after;
    }
    printf("\nThe template's cross-firm benchmark (GET /v1/templates/%s/benchmark),\n"
           "computed by the benchmark job; waiting for a run after the firms' activity...\n",
           template_id);
    char path[CTL_MAX_PATH];
    ctl_path(path, "/v1/templates/%s/benchmark", template_id);
    time_t until = time(NULL) + BENCHMARK_WAIT_S;
    json_t *b = NULL;
    int rc = CTL_EXIT_OK;
    for (;;) {
        json_decref(b);
        b = NULL;
        rc = ctl_rest(c, "template benchmark", "GET", path, NULL, NULL, &b);
        if (rc != CTL_EXIT_OK || rfc3339_seconds(ctl_str(b, "asOf")) > after ||
            time(NULL) >= until) {
            break;
        }
        sleep(2);
    }
    if (rc == CTL_EXIT_OK) {
        if (rfc3339_seconds(ctl_str(b, "asOf")) <= after) {
            printf("  The job has not run since the firms' activity within %d s (it runs every\n"
                   "  TANDEM_BENCHMARK_INTERVAL_SECONDS); the last benchmark it computed:\n",
                   BENCHMARK_WAIT_S);
        }
        printf("\n");
        ctl_print_template_benchmark(b);
        printf("\nEach firm sees its own programme beside it: tandemctl benchmark PROGRAMME_ID\n");
    }
    json_decref(b);
    return rc;
}

int demo_consultancy(ctl *c)
{
    long seed = CONSULTANCY_SEED;
    int rc = ctl_opt_long(c, "seed", 0, 4294967295L, &seed);
    if (rc == 0) {
        rc = ctl_done_args(c, 2, 2, "demo consultancy [--seed S]");
    }
    if (rc != 0) {
        return rc;
    }
    const char *platform_key = c->client.key;
    json_t *tpl = NULL;
    printf("Tandem demo, the consultancy's view: one programme design run at six firms\n");
    printf("\n[1/3] Designing the programme once, as a template (platform key)\n");
    rc = create_template(c, &tpl);
    if (rc != CTL_EXIT_OK) {
        fprintf(stderr, "tandemctl demo consultancy: creating the template failed.\n");
        json_decref(tpl);
        return rc;
    }
    printf("  template %s, version %lld: %s, kick-off survey on day 0\n", ctl_str(tpl, "id"),
           json_integer_value(json_object_get(tpl, "version")), ctl_str(tpl, "name"));

    printf("\n[2/3] Running it at six firms, each its own tenant with its own overrides\n");
    demo runs[FIRMS];
    json_t *overrides[FIRMS];
    memset(runs, 0, sizeof runs);
    memset(overrides, 0, sizeof overrides);
    size_t done = 0;
    for (size_t i = 0; i < FIRMS && rc == CTL_EXIT_OK; i++) {
        const firm *f = &FIRMS_RUN[i];
        c->client.key = platform_key;
        c->client.tenant = NULL;
        overrides[i] = json_pack("{ss si s{si}}", "status", "ENROLLING", "checkInCadenceDays",
                                 f->cadence_days, "matchingPolicy", "minScore", f->min_score);
        runs[i] = (demo){.c = c,
                         .count = f->people,
                         .seed = (uint64_t)seed + i * FIRM_SEED_STEP,
                         .firm_name = f->name,
                         .slug_prefix = f->slug_prefix,
                         .email_domain = f->email_domain,
                         .quiet = 1,
                         .template_id = ctl_str(tpl, "id"),
                         .overrides = overrides[i],
                         .mask = "status,checkInCadenceDays,matchingPolicy.minScore"};
        rc = demo_run_story(&runs[i]);
        done = i + 1;
        if (rc == CTL_EXIT_OK) {
            printf("  %-18s %3zu lawyers (%s; check-ins every %d days): %zu active matches, "
                   "%zu check-ins\n",
                   f->name, f->people, f->culture, f->cadence_days, runs[i].active,
                   runs[i].check_ins);
        }
    }
    c->client.key = platform_key;
    c->client.tenant = NULL;

    if (rc == CTL_EXIT_OK) {
        printf("\n[3/3] The template's kick-off survey, opened by the scheduler on day 0\n");
        size_t opened = 0;
        time_t until = time(NULL) + SURVEY_WAIT_S;
        for (size_t i = 0; i < FIRMS && rc == CTL_EXIT_OK; i++) {
            int yes = 0;
            while (rc == CTL_EXIT_OK && !yes) {
                rc = kickoff_opened(c, runs[i].tenant_id, runs[i].programme_id, &yes);
                if (rc == CTL_EXIT_OK && !yes && time(NULL) < until) {
                    sleep(1);
                } else {
                    break;
                }
            }
            opened += (size_t)yes;
        }
        printf("  open at %zu of %d firms\n", opened, FIRMS);
        printf("\nThe six firms side by side (each firm's own report):\n");
        out_table t;
        out_table_init(&t, "Firm|>People|>Matched|>Active|>Check-ins|>Mean rating|>NPS");
        for (size_t i = 0; i < FIRMS; i++) {
            firm_row(&t, &FIRMS_RUN[i], json_object_get(runs[i].summary, "report"));
        }
        out_table_print(&t, stdout);
        out_table_free(&t);
        rc = print_benchmark(c, ctl_str(tpl, "id"), runs);
    }
    for (size_t i = 0; i < done; i++) {
        demo_free(&runs[i]);
    }
    for (size_t i = 0; i < FIRMS; i++) {
        json_decref(overrides[i]);
    }
    json_decref(tpl);
    return rc;
}
